"""The real thing: ``santeid serve --workers 2`` (Granian) on a real Redis, driven over HTTP
by Authlib's relying-party client, with the ID token checked against the published JWKS, and an
e-CPS event stream (Server-Sent Events) read through the same server."""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support.redis_server import free_port
from tests.support.servers import REALM
from tests.support.servers import SANTEID
from tests.support.servers import refused_start
from tests.support.servers import running_server
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis]

REDIRECT_URI = "https://rp.example.org/callback"
SECRET = "a-long-secret-for-the-process-test-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server):
    client = {
        "client_id": "rp-process",
        "client_name": "RP de test",
        "client_secret": SECRET,
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token", "urn:openid:params:grant-type:ciba"],
        "backchannel_token_delivery_mode": "poll",
        "token_endpoint_auth_method": "client_secret_basic",
    }
    with santeid_process(
        tmp_path_factory.mktemp("server"),
        args=["--workers", "2"],
        clients=[client],
        SANTEID_STORE_URL=redis_server.url.rsplit("/", 1)[0] + "/5",
        SANTEID_SANDBOX_APPROVAL_DELAY="0.3",
    ) as server:
        yield server


def _browser_login(authorization_url: str, national_id: str) -> str:
    """What a browser does: follow to the login page, submit the identifier, wait, continue.
    The redirect to the client's callback, which the browser would follow, is returned."""
    browser = requests.Session()
    response = browser.get(authorization_url, allow_redirects=False)
    assert response.status_code == 302
    login_url = urljoin(authorization_url, response.headers["Location"])
    origin = f"{urlsplit(login_url).scheme}://{urlsplit(login_url).netloc}"
    page = browser.get(login_url)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    posted = browser.post(
        login_url,
        data={"national_id": national_id, "csrf_token": csrf},
        allow_redirects=False,
    )
    assert posted.status_code == 303
    # The waiting page — or, when the sandbox approved before the browser asked for it (a
    # loaded machine), the completion already, leading to the client.
    url = urljoin(login_url, posted.headers["Location"])
    while True:
        answer = browser.get(url, allow_redirects=False)
        if answer.status_code not in (302, 303):
            break
        url = urljoin(url, answer.headers["Location"])
        if not url.startswith(f"{origin}/"):
            return url
    assert "Validation en cours" in answer.text
    tx = parse_qs(urlsplit(login_url).query)["tx"][0]
    realm = urlsplit(login_url).path.split("/login-actions/")[0]
    for _ in range(50):
        state = browser.get(f"{origin}{realm}/login-actions/status", params={"tx": tx}).json()[
            "state"
        ]
        if state == "approved":
            break
        time.sleep(0.1)
    done = browser.get(
        f"{origin}{realm}/login-actions/complete", params={"tx": tx}, allow_redirects=False
    )
    assert done.status_code == 302
    return done.headers["Location"]


def test_authlib_relying_party_logs_in_through_two_workers(server):
    discovery = requests.get(
        f"{server.issuer}/.well-known/wallet-openid-configuration", timeout=5
    ).json()
    assert discovery["issuer"] == server.issuer
    jwks = KeySet.import_key_set(requests.get(discovery["jwks_uri"], timeout=5).json())
    directory = server.cli("directory", "list", "--sandbox", "--json")
    national_id = json.loads(directory.stdout)[0]["national_id"]

    # Several complete logins: with two workers behind one port, consecutive requests of a
    # login land on different processes, which only works if all state is in Redis.
    for _ in range(4):
        rp = OAuth2Session(
            "rp-process",
            SECRET,
            scope="openid scope_all",
            redirect_uri=REDIRECT_URI,
            token_endpoint_auth_method="client_secret_basic",
            code_challenge_method="S256",
        )
        nonce = generate_token(20)
        verifier = generate_token(48)
        url, state = rp.create_authorization_url(
            discovery["authorization_endpoint"],
            nonce=nonce,
            acr_values="eidas1",
            code_verifier=verifier,
        )
        callback = _browser_login(url, national_id)
        token = rp.fetch_token(
            discovery["token_endpoint"], authorization_response=callback, code_verifier=verifier
        )
        id_token = jwt.decode(token["id_token"], jwks, algorithms=["RS256"])
        claims = id_token.claims
        assert id_token.header["alg"] == "RS256" and id_token.header["kid"]
        assert claims["iss"] == server.issuer
        assert claims["aud"] == "rp-process"
        assert claims["nonce"] == nonce
        assert claims["SubjectNameID"] == national_id
        assert claims["exp"] > time.time()

        userinfo = rp.get(discovery["userinfo_endpoint"]).json()
        assert userinfo["SubjectNameID"] == national_id
        assert userinfo["sub"] == claims["sub"]
        assert userinfo["SubjectRefPro"]["exercices"]

        refreshed = rp.refresh_token(discovery["token_endpoint"])
        assert refreshed["access_token"] != token["access_token"]


def test_memory_store_with_two_workers_is_refused(tmp_path):
    result = refused_start(tmp_path, "--workers", "2", SANTEID_STORE_URL="memory://")
    assert result.returncode != 0
    assert "memory://" in result.stderr and "SANTEID_STORE_URL=redis://" in result.stderr


def test_refuses_to_start_without_keys_outside_sandbox(tmp_path):
    result = refused_start(tmp_path, SANTEID_SANDBOX="false")
    assert result.returncode != 0
    assert "santeid keys generate" in result.stderr


def test_an_unknown_log_level_is_a_settings_error(tmp_path):
    result = refused_start(tmp_path, SANTEID_LOG_LEVEL="verbose")
    assert result.returncode != 0
    assert "log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_an_ecps_event_stream_delivers_a_request_as_it_arrives(server, tmp_path):
    """Granian streams a response body chunk by chunk: the phone's SSE connection gets the
    request while the stream stays open (docs/ecps-device-protocol.md §3)."""
    from santeid.ecps.simulator import DeviceFile
    from santeid.ecps.simulator import DeviceSimulator

    phone_home = server.with_settings(SANTEID_DEVICE_FILE=str(tmp_path / "device.json"))
    uri = json.loads(phone_home.cli("ecps", "activate", "810000000004", "--json").stdout)["uri"]
    phone_home.cli("device", "enroll", "--activation-uri", uri, "--pin", "123456")
    phone = DeviceSimulator(DeviceFile.load(tmp_path / "device.json"))
    events = phone.stream(timeout=30)
    opened = time.monotonic()
    asked = requests.post(
        f"{server.issuer}/protocol/openid-connect/ext/ciba/auth",
        auth=("rp-process", SECRET),
        data={"scope": "openid", "login_hint": "810000000004", "binding_message": "42"},
        timeout=10,
    )
    assert asked.status_code == 200, asked.text
    data = next(data for event, data in events if event == "request")
    assert data["kind"] == "ciba" and data["binding_message"] == "42"
    assert time.monotonic() - opened < 10  # delivered live, not when the stream ended


def test_access_log_only_when_asked(server, redis_server, tmp_path):
    """No request lines by default (as gunicorn and Granian); --access-log prints them."""
    requests.get(f"{server.base}/health", timeout=10)
    assert "/health" not in server.log.read_text()
    with santeid_process(
        tmp_path,
        args=["--workers", "2", "--access-log"],
        SANTEID_STORE_URL=redis_server.url.rsplit("/", 1)[0] + "/7",
    ) as logging_server:
        requests.get(f"{logging_server.base}/insi/openapi.json", timeout=10)
        deadline = time.monotonic() + 5
        while (
            "/insi/openapi.json" not in logging_server.log.read_text()
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)
    assert '"GET /insi/openapi.json HTTP/1.1" 200' in logging_server.log.read_text()


def test_json_logs_from_the_first_line(tmp_path, redis_server):
    """With ``log_format = "json"``, the lines written while the server starts (keys generated,
    the Redis store without persistence) are JSON too (docs/operations.md, "Logs"): the format
    is applied before anything is built. Only what ``santeid serve`` prints itself on standard
    output (``santeid serving …``) is text."""
    with santeid_process(
        tmp_path,
        fresh_keys=True,
        SANTEID_STORE_URL=redis_server.url.rsplit("/", 1)[0] + "/6",
        SANTEID_LOG_FORMAT="json",
    ) as server:
        requests.get(f"{server.base}/health/live", timeout=10)
        lines = server.log.read_text().splitlines()
    records = []
    for line in lines:
        if line.startswith("santeid serving "):
            continue
        record = json.loads(line)  # fails on any other line that is not JSON
        if record["logger"] == "santeid.access":
            break  # the first request: the start-up is over
        records.append(record)
    messages = [(record["logger"], record["level"], record["message"]) for record in records]
    assert any(
        logger == "santeid.keystore" and message.startswith("generated RS256 signing key")
        for logger, _, message in messages
    ), messages
    assert any(
        level == "WARNING" and "the Redis store does not persist its data" in message
        for _, level, message in messages
    ), messages


@pytest.mark.parametrize("layout", ["granian", "gunicorn"])
def test_json_logs_of_the_server_running_several_workers(tmp_path, redis_server, layout):
    """With ``log_format = "json"``, the own lines of Granian and gunicorn (their start, their
    workers') are JSON records too, through the logging configuration each of them takes
    (docs/operations.md, "Logs"); their request lines (``--access-log``) stay their text."""
    args = ["--sandbox", "--workers", "2", "--access-log"]
    ca = None
    if layout == "gunicorn":
        tls, ca = santeid_home(tmp_path).dev_tls()
        args += tls
    with santeid_process(
        tmp_path,
        args=args,
        ca=ca,
        SANTEID_STORE_URL=redis_server.url.rsplit("/", 1)[0] + "/5",
        SANTEID_LOG_FORMAT="json",
    ) as server:
        requests.get(f"{server.base}/health/live", timeout=10, verify=ca or True)
        deadline = time.monotonic() + 5
        while "/health/live" not in server.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        lines = server.log.read_text().splitlines()
    loggers = set()
    for line in lines:
        if line.startswith(("santeid serving ", "TLS: ")):
            continue
        if re.search(r'"GET /health(/live)? HTTP/1.1" 200', line):  # a request line: text
            assert not line.startswith("{"), line
            continue
        record = json.loads(line)  # fails on any other line that is not JSON
        assert {"time", "level", "logger", "message"} <= set(record), record
        loggers.add(record["logger"])
    own = "_granian" if layout == "granian" else "gunicorn.error"
    assert own in loggers, lines


def test_the_store_password_never_reaches_the_output(tmp_path, redis_server):
    """``santeid serve`` says which store it uses, without the password of its URL."""
    import redis

    password = "store-password-" + generate_token(12)
    with redis.Redis.from_url(redis_server.url) as admin:
        admin.execute_command(
            "ACL", "SETUSER", "santeid-output", "on", f">{password}", "~*", "&*", "+@all"
        )
    try:
        store_url = f"redis://santeid-output:{password}@127.0.0.1:{redis_server.port}/14"
        with santeid_process(tmp_path, SANTEID_STORE_URL=store_url) as server:
            assert requests.get(f"{server.base}/health/ready", timeout=10).status_code == 200
            output = server.log.read_text()
        assert f"redis://santeid-output:***@127.0.0.1:{redis_server.port}/14" in output
        assert password not in output
    finally:
        with redis.Redis.from_url(redis_server.url) as admin:
            admin.execute_command("ACL", "DELUSER", "santeid-output")


@pytest.mark.parametrize("layout", ["werkzeug", "granian", "gunicorn"])
def test_a_serve_on_the_port_of_a_running_server_is_refused(server, tmp_path, layout):
    """Granian's socket lets several processes listen on one port (``SO_REUSEPORT``): a
    second ``santeid serve`` on the address of a running one used to start and take half of
    its connections. Every layout refuses it, in one line, before building anything
    (docs/configuration.md, "Serving")."""
    args = ["--workers", "2"] if layout != "werkzeug" else []
    if layout == "gunicorn":
        args += santeid_home(tmp_path).dev_tls()[0]
    refused = refused_start(tmp_path, *args, port=server.port, SANTEID_STORE_URL=server.store_url)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert refused.stderr.splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{server.port}: the address is in use by another"
        " process (stop it, or serve on another --port)"
    ], refused.stderr
    assert requests.get(f"{server.base}/health", timeout=5).status_code == 200


def _link_local_address() -> str | None:
    """An IPv6 link-local address of this machine with its zone (``fe80::…%eth0``), if any."""
    try:
        lines = Path("/proc/net/if_inet6").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        hexa, _, _, scope, _, name = line.split()
        if scope == "20":  # link
            groups = ":".join(hexa[i : i + 4] for i in range(0, 32, 4))
            return f"{ipaddress.IPv6Address(groups)}%{name}"
    return None


def test_the_lines_printed_for_a_zoned_address_write_its_zone_as_a_uri_does(tmp_path):
    """``santeid serve --host fe80::…%eth0``: the address the server prints is a URL, its zone
    ``%25eth0`` (RFC 6874 §2), as in the issuer — it printed ``http://[fe80::…%eth0]:…``."""
    host = _link_local_address()
    if host is None:
        pytest.skip("no IPv6 link-local address on this machine")
    prepared = santeid_home(tmp_path, SANTEID_ISSUER=None)
    port = free_port()
    base = f"http://[{host.replace('%', '%25')}]:{port}"
    command = [SANTEID, "serve", "--sandbox", "--host", host, "--port", str(port)]
    server = subprocess.Popen(command, env=prepared.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        assert server.stdout is not None
        printed = next((line for line in server.stdout if "santeid serving" in line), "")
    finally:
        server.terminate()
        server.communicate(timeout=15)  # the rest of its output, and its pipe closed
    assert f"santeid serving {base}{REALM} on {base}/ " in printed, printed


@pytest.mark.parametrize(
    ("layout", "host"),
    [
        ("werkzeug", "::1"),
        ("granian", "::1"),
        ("gunicorn", "::1"),
        ("werkzeug", "[::1]"),
        ("granian", "[::1]"),
        ("gunicorn", "[::1]"),
    ],
)
def test_serves_on_an_ipv6_address_with_the_issuer_in_brackets(
    tmp_path, redis_server, layout, host
):
    """``santeid serve --host ::1`` (an address to listen on, README's "Command line"): the
    issuer that follows the address writes the IPv6 literal in brackets (RFC 3986 §3.2.2), as
    do the lines the server prints. It was ``http://::1:PORT/…``, which the issuer's check
    refuses: the server did not start. ``--host [::1]``, the address as a URL writes it, is
    the same address: it was refused for an issuer ``http://[[::1]]:PORT/…`` nobody set."""
    prepared = santeid_home(
        tmp_path, SANTEID_ISSUER=None, SANTEID_STORE_URL=redis_server.url.rsplit("/", 1)[0] + "/7"
    )
    port = free_port()
    args, verify, scheme = [], "", "http"
    if layout != "werkzeug":
        args += ["--workers", "2"]
    if layout == "gunicorn":
        tls = tmp_path / "tls"
        prepared.cli("tls", "dev-cert", "--out", str(tls), "--host", "::1")
        args += ["--tls-cert", str(tls / "cert.pem"), "--tls-key", str(tls / "key.pem")]
        verify, scheme = str(tls / "ca.pem"), "https"
    base = f"{scheme}://[::1]:{port}"
    command = [SANTEID, "serve", "--sandbox", "--host", host, "--port", str(port), *args]
    log = tmp_path / "server.log"
    with running_server(command, prepared.env, log, f"{base}/health", verify=verify or True):
        probe = requests.Session()
        probe.trust_env = False
        probe.verify = verify or True
        discovery = probe.get(f"{base}{REALM}/.well-known/openid-configuration", timeout=10)
        assert discovery.json()["issuer"] == f"{base}{REALM}"
    assert f"santeid serving {base}{REALM} on {base}/" in log.read_text()


def test_a_host_name_in_capitals_makes_a_lower_case_issuer(tmp_path):
    """``santeid serve --host LOCALHOST``: the issuer writes the host in lower case, as every
    URL parser normalises it (RFC 3986 §6.2.2.1; the WHATWG URL host parser, browsers and
    ``new URL()``), since a relying party compares issuers as strings (OpenID Connect Discovery
    1.0 §4.3): it was ``http://LOCALHOST:…``, which the ID tokens carried and which no URL a
    browser or a library normalised ever equals."""
    prepared = santeid_home(tmp_path, SANTEID_ISSUER=None)
    port = free_port()
    base = f"http://localhost:{port}"
    command = [SANTEID, "serve", "--sandbox", "--host", "LOCALHOST", "--port", str(port)]
    with running_server(command, prepared.env, tmp_path / "server.log", f"{base}/health"):
        discovery = requests.get(f"{base}{REALM}/.well-known/openid-configuration", timeout=10)
        assert discovery.json()["issuer"] == f"{base}{REALM}"
