"""``santeid serve --access-log`` never writes a query string (``id_token_hint``, ``code``,
``access_token``, ``state``…) to its output, in every server layout it runs: the one-process
Werkzeug server (``make run``), Granian with several workers, gunicorn with several workers over
direct TLS (docs/security.md, "Logs"; docs/operations.md, "Logs").

Each layout gets requests whose query carries planted values — well-formed ones, a Referer
holding a relying party's callback URL with its code, and malformed request lines the server
refuses (which Werkzeug and gunicorn report in their error log even without ``--access-log``) —
then the whole process output is searched for the planted values. The access lines must still
be there, with the path. The suite's log scan (tests/support/log_scan.py) reads these outputs
too: the planted values are ``…SECRET`` constants."""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

import pytest
import requests

from tests.support.security import EVERY_LAYOUT
from tests.support.servers import REALM
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

ID_TOKEN_HINT_SECRET = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.cGxhbnRlZC1zaWduYXR1cmU"
CODE_SECRET = "planted-code-Zq7xW2kP9mLr4T"
ACCESS_TOKEN_SECRET = "planted-access-token-Hk3Vb8Nq2"
STATE_SECRET = "planted-state-Rt5Yc1Xw0Pj"
REFERER_CODE_SECRET = "planted-referer-code-Lm6Dq4"
MALFORMED_SECRET = "planted-malformed-line-Gs9Fe3"
PLANTED_SECRETS = (
    ID_TOKEN_HINT_SECRET,
    CODE_SECRET,
    ACCESS_TOKEN_SECRET,
    STATE_SECRET,
    REFERER_CODE_SECRET,
    MALFORMED_SECRET,
)
LOGOUT = f"{REALM}/protocol/openid-connect/logout"
USERINFO = f"{REALM}/protocol/openid-connect/userinfo"


@pytest.fixture(scope="module", params=EVERY_LAYOUT)
def server(request, serve_layout):
    with serve_layout(request.param, db=11, args=["--sandbox", "--access-log"]) as process:
        yield process


def _raw_request(server, request_line: str) -> bytes:
    """``request_line`` sent as is, on a connection of its own; what the server answered."""
    host, port = "127.0.0.1", server.port
    sock = socket.create_connection((host, port), timeout=10)
    if server.base.startswith("https:"):
        context = ssl.create_default_context(cafile=server.ca)
        sock = context.wrap_socket(sock, server_hostname=host)
    with sock:
        sock.sendall(f"{request_line}\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def _output_once_logged(server, marker: str) -> str:
    """The server's output once ``marker`` is in it (workers write their lines a little
    after answering)."""
    deadline = time.monotonic() + 10
    while True:
        text = server.log.read_text(errors="replace")
        if marker in text or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def test_no_query_string_reaches_the_process_output(server):
    session = requests.Session()
    session.trust_env = False
    session.verify = server.ca or True
    base = server.base
    answers = [
        session.get(f"{base}{LOGOUT}", params={"id_token_hint": ID_TOKEN_HINT_SECRET,
                                                "state": STATE_SECRET}),
        session.get(f"{base}/ecps/devices", params={"code": CODE_SECRET}),
        session.get(f"{base}{USERINFO}", params={"access_token": ACCESS_TOKEN_SECRET}),
        session.get(f"{base}/health/live",
                    headers={"Referer": f"https://rp.example.org/cb?code={REFERER_CODE_SECRET}"}),
    ]  # fmt: skip
    assert all(answer.status_code < 500 for answer in answers), [a.status_code for a in answers]
    for line in (
        f"GET /health?code={MALFORMED_SECRET} extra HTTP/1.1",  # too many words
        f"GET /health?code={MALFORMED_SECRET} HTTP/9.9",  # unknown version
        f"G@T /health?code={MALFORMED_SECRET} HTTP/1.1",  # invalid method
        f"GET /health?code={MALFORMED_SECRET}",  # no version (HTTP/0.9)
        f"GET /health?code={MALFORMED_SECRET}\x00 HTTP/1.1",  # a byte no URL holds
    ):
        _raw_request(server, line)
    session.get(f"{base}/health?last=1")  # logged after the others: they are all in by then
    output = _output_once_logged(server, '"GET /health HTTP/1.1" 200')

    for secret in PLANTED_SECRETS:
        assert secret not in output, output
    assert "?" not in "".join(line for line in output.splitlines() if "GET " in line), output
    # The access log is on, and says which paths were asked for.
    assert f"GET {LOGOUT} HTTP/1.1" in output, output
    assert "GET /ecps/devices HTTP/1.1" in output, output
    assert f"GET {USERINFO} HTTP/1.1" in output, output


def test_the_one_process_server_keeps_malformed_request_lines_out_of_its_errors(tmp_path: Path):
    """Without ``--access-log``, Werkzeug still reports the request lines it refuses."""
    with santeid_process(tmp_path) as server:
        answer = _raw_request(server, f"GET /health?code={MALFORMED_SECRET} extra HTTP/1.1")
        assert b"400" in answer  # an HTTP/0.9 answer: no status line, the page says it
        output = _output_once_logged(server, "Bad request syntax")
    assert "Bad request syntax" in output, output
    assert MALFORMED_SECRET not in output, output
