"""santeid's RSGI layer under Granian (:class:`santeid.serving.BufferedRSGI`), driven directly
through the RSGI interface (https://github.com/emmett-framework/granian/blob/master/docs/spec/RSGI.md):
the WSGI environ it builds (PEP 3333, https://peps.python.org/pep-3333/), the responses it
hands to Granian, its body deadline and its limit per address. Under a real Granian, with the
slow clients they protect against: tests/e2e/security/test_slow_clients.py."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterable

import pytest
from granian.rsgi import ProtocolClosed

from santeid.serving import MAX_BUFFERED_BODY
from santeid.serving import WAITING_PATHS
from santeid.serving import BufferedRSGI
from santeid.serving import client_gone
from santeid.settings import Settings


class Headers:
    """Granian's ``RSGIHeaders``: ``in``, ``get`` and ``items``, a repeated name repeated."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def __contains__(self, name: str) -> bool:
        return any(key == name for key, _ in self.pairs)

    def get(self, name: str, default=None):
        return next((value for key, value in self.pairs if key == name), default)

    def items(self) -> list[tuple[str, str]]:
        return list(self.pairs)


class Scope:
    proto, http_version, scheme = "http", "1.1", "http"

    def __init__(self, method="GET", path="/", query="", headers=(), client="127.0.0.1:40000"):
        self.method, self.path, self.query_string = method, path, query
        self.headers = Headers([("host", "127.0.0.1:8000"), *headers])
        self.server, self.client = "127.0.0.1:8000", client


class Protocol:
    """What Granian hands the application for one request: the body (awaited whole, or its
    chunks one by one: ``chunks``, counted in ``pulled``; ``failure``: raised where the
    whole body was awaited), the answer."""

    def __init__(
        self,
        body: bytes = b"",
        *,
        body_never_ends: bool = False,
        chunks: Iterable[bytes] = (),
        failure: Exception | None = None,
    ) -> None:
        self.body, self.body_never_ends, self.failure = body, body_never_ends, failure
        self.chunks, self.pulled = iter(chunks), 0
        self.answer: tuple | None = None
        self.streamed: list[bytes] = []
        self.disconnected = asyncio.Event()

    async def __call__(self) -> bytes:
        if self.body_never_ends:
            await asyncio.Event().wait()
        if self.failure is not None:
            raise self.failure
        return self.body

    def __aiter__(self):
        return self

    async def __anext__(self) -> bytes:
        chunk = next(self.chunks, None)
        if chunk is None:
            raise StopAsyncIteration
        self.pulled += 1
        return chunk

    async def client_disconnect(self) -> None:
        await self.disconnected.wait()

    def response_bytes(self, status, headers, body) -> None:
        assert self.answer is None, "answered twice"
        self.answer = (status, headers, body)

    def response_stream(self, status, headers):
        assert self.answer is None, "answered twice"
        self.answer = (status, headers, None)
        protocol = self

        class Transport:
            async def send_bytes(self, data: bytes) -> None:
                protocol.streamed.append(data)

        return Transport()


def serve(app, scope: Scope, protocol: Protocol, settings: Settings | None = None) -> None:
    adapter = BufferedRSGI(app, settings or Settings(), threads=2)
    asyncio.run(adapter.__rsgi__(scope, protocol))


def recording_app(seen: list, status="200 OK", headers=None, body=(b"done",)):
    def app(environ, start_response):
        seen.append(dict(environ, **{"body": environ["wsgi.input"].read()}))
        length = str(sum(map(len, body)))
        start_response(
            status, headers or [("Content-Type", "text/plain"), ("Content-Length", length)]
        )
        return list(body)

    return app


def test_the_environ_is_pep_3333_with_the_request_bytes_as_latin_1():
    seen: list = []
    scope = Scope(
        "POST",
        "/caf\u00e9/x",
        "q=\u00e9",
        [("content-type", "application/x-www-form-urlencoded"), ("content-length", "3"),
         ("x-forwarded-for", "10.0.0.1"), ("x-forwarded-for", "10.0.0.2"),
         ("user-agent", "t\u00e9st")],
        client="[::1]:40000",
    )  # fmt: skip
    serve(recording_app(seen), scope, Protocol(b"a=1"))
    environ = seen[0]
    assert environ["REQUEST_METHOD"] == "POST"
    # The UTF-8 bytes of "é", each as one Latin-1 character (PEP 3333 "native strings").
    assert environ["PATH_INFO"] == "/caf\u00c3\u00a9/x"
    assert environ["QUERY_STRING"] == "q=\u00c3\u00a9"
    assert environ["HTTP_USER_AGENT"] == "t\u00c3\u00a9st"
    assert environ["SCRIPT_NAME"] == ""
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("127.0.0.1", "8000")
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["REMOTE_ADDR"] == "::1"
    assert environ["HTTP_HOST"] == "127.0.0.1:8000"
    assert environ["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert environ["CONTENT_LENGTH"] == "3" and environ["body"] == b"a=1"
    assert "HTTP_CONTENT_TYPE" not in environ and "HTTP_CONTENT_LENGTH" not in environ
    assert environ["HTTP_X_FORWARDED_FOR"] == "10.0.0.1,10.0.0.2"  # one line, in order
    assert environ["wsgi.url_scheme"] == "http" and environ["wsgi.input_terminated"] is True
    assert environ["wsgi.multithread"] is True and environ["wsgi.run_once"] is False


def test_a_header_whose_name_holds_an_underscore_never_reaches_the_environ():
    """``X_SSL_Client_Cert`` would be ``HTTP_X_SSL_CLIENT_CERT``, the header a trusted proxy
    vouches for, merged with it or alone (docs/security.md, "Transport and proxies")."""
    seen: list = []
    scope = Scope(headers=[("x_ssl_client_cert", "forged"), ("x-ssl_client-cert", "forged"),
                           ("x-forwarded-proto", "https"), ("x_forwarded_proto", "http"),
                           ("x-other", "kept")])  # fmt: skip
    serve(recording_app(seen), scope, Protocol())
    environ = seen[0]
    assert "HTTP_X_SSL_CLIENT_CERT" not in environ
    assert environ["HTTP_X_FORWARDED_PROTO"] == "https"
    assert environ["HTTP_X_OTHER"] == "kept"


def test_each_request_gets_an_environ_of_its_own():
    """Nothing of one request's environ (headers, body) shows in the next one's."""
    seen: list = []
    app = recording_app(seen)
    first = Scope("POST", "/a", headers=[("content-length", "1"), ("x-one", "1")])
    serve(app, first, Protocol(b"1"))
    serve(app, Scope("GET", "/b"), Protocol())
    assert "HTTP_X_ONE" not in seen[1] and seen[1]["body"] == b""
    assert seen[1]["CONTENT_LENGTH"] == "" and seen[1]["PATH_INFO"] == "/b"


def test_a_whole_response_is_handed_over_at_once_with_lowercase_header_names():
    closed = []

    class Body(list):
        def close(self) -> None:
            closed.append(True)

    def app(environ, start_response):
        start_response("201 Created", [("Content-Type", "text/plain"), ("Content-Length", "4"),
                                       ("X-Trace", "t")])  # fmt: skip
        return Body([b"ab", b"cd"])

    protocol = Protocol()
    serve(app, Scope(), protocol)
    assert protocol.answer == (
        201,
        [("content-type", "text/plain"), ("content-length", "4"), ("x-trace", "t")],
        b"abcd",
    )
    assert closed == [True]  # PEP 3333: the server closes what the application returned


def test_a_response_of_unknown_length_is_streamed_chunk_by_chunk_then_closed():
    closed = []

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/event-stream")])

        def chunks():
            try:
                yield b"one"
                yield b""
                yield b"two"
            finally:
                closed.append(True)

        return chunks()

    protocol = Protocol()
    serve(app, Scope(), protocol)
    assert protocol.answer == (200, [("content-type", "text/event-stream")], None)
    assert protocol.streamed == [b"one", b"two"]
    assert closed == [True]


def test_a_body_not_received_in_time_is_a_408_and_never_reaches_the_application():
    seen: list = []
    settings = Settings().replace(request_body_timeout=0.2)
    protocol = Protocol(body_never_ends=True)
    scope = Scope("POST", "/token", headers=[("content-length", "40")])
    serve(recording_app(seen), scope, protocol, settings)
    status, headers, _ = protocol.answer
    assert status == 408 and ("connection", "close") in headers
    assert seen == []


def test_connections_beyond_the_limit_per_address_are_refused_with_a_503():
    """Two requests in progress from one address with a limit of one: the second is refused
    while the first is still in the application, then the address is free again."""
    settings = Settings().replace(max_connections_per_address=1)
    entered, release = threading.Event(), threading.Event()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            entered.set()
            release.wait(10)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    adapter = BufferedRSGI(app, settings, threads=2)

    async def scenario():
        slow, refused, later = Protocol(), Protocol(), Protocol()
        first = asyncio.ensure_future(adapter.__rsgi__(Scope(path="/slow"), slow))
        await asyncio.get_running_loop().run_in_executor(None, entered.wait, 10)
        await adapter.__rsgi__(Scope(path="/other"), refused)
        release.set()
        await first
        await adapter.__rsgi__(Scope(path="/other"), later)
        return slow.answer[0], refused.answer[0], later.answer[0]

    assert asyncio.run(scenario()) == (200, 503, 200)


def test_a_waiting_endpoint_hears_that_its_client_went_away():
    heard: list = []

    def app(environ, start_response):
        heard.append(client_gone(environ))
        deadline = time.monotonic() + 10
        while not client_gone(environ) and time.monotonic() < deadline:
            time.sleep(0.01)
        heard.append(client_gone(environ))
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    adapter = BufferedRSGI(app, Settings(), threads=1)

    async def scenario():
        protocol = Protocol()
        request = asyncio.ensure_future(adapter.__rsgi__(Scope(path=WAITING_PATHS[0]), protocol))
        await asyncio.sleep(0.2)
        protocol.disconnected.set()
        await asyncio.wait_for(request, 15)

    asyncio.run(scenario())
    assert heard == [False, True]


def test_chunks_are_handed_over_as_one_body_of_known_length():
    """``Transfer-Encoding: chunked``: the application reads a body of known length, with no
    chunked encoding left to decode."""
    seen: list = []
    scope = Scope("POST", "/token", headers=[("transfer-encoding", "chunked")])
    # Granian 2.8's parts of a whole chunked body: the chunks, then one empty part.
    serve(recording_app(seen), scope, Protocol(chunks=[b"grant_", b"type=x", b""]))
    assert seen[0]["body"] == b"grant_type=x" and seen[0]["CONTENT_LENGTH"] == "12"
    assert "HTTP_TRANSFER_ENCODING" not in seen[0]


@pytest.mark.parametrize(
    "parts",
    [
        [b"grant_type=x", b"", b""],  # a malformed chunk size, or the client's side closed
        [b"", b""],  # closed before any chunk
        [b"gra", b"", b""],  # closed inside a chunk
    ],
)
def test_a_chunked_body_that_did_not_arrive_whole_never_reaches_the_application(parts):
    """Granian stops its parts without an error when chunks are malformed or cut short (more
    than the one empty part that ends a whole body): 400, the connection closed, and the
    application never runs on the part received (RFC 9112 §8, an incomplete message)."""
    seen: list = []
    protocol = Protocol(chunks=parts)
    scope = Scope("POST", "/token", headers=[("transfer-encoding", "chunked")])
    serve(recording_app(seen), scope, protocol)
    assert_refused_unread(seen, protocol)


def assert_refused_unread(seen: list, protocol: Protocol) -> None:
    """The application never ran; the server answered 400 and closes the connection."""
    assert seen == []
    assert protocol.answer is not None and protocol.answer[0] == 400
    assert ("connection", "close") in protocol.answer[1]


def test_a_body_cut_short_of_its_length_never_reaches_the_application():
    """Fewer bytes than ``Content-Length`` announced, then the client's side closed: Granian
    reports the connection's end (``ProtocolClosed``) instead of a body; 400, the connection
    closed, the application never run — not Granian's 500 for an application that gave no
    answer."""
    seen: list = []
    protocol = Protocol(failure=ProtocolClosed("RSGI transport is closed"))
    scope = Scope("POST", "/token", headers=[("content-length", "100")])
    serve(recording_app(seen), scope, protocol)
    assert_refused_unread(seen, protocol)


def test_a_body_announced_too_large_is_never_received():
    """Its length alone reaches the application (which refuses it, 413); the connection is
    closed after the answer, the body unread."""
    seen: list = []
    protocol = Protocol(failure=AssertionError("the body was received"))
    scope = Scope("POST", "/token", headers=[("content-length", "1000000000")])
    serve(recording_app(seen, "413 Request Entity Too Large"), scope, protocol)
    assert seen[0]["body"] == b"" and seen[0]["CONTENT_LENGTH"] == "1000000000"
    status, headers, _ = protocol.answer
    assert status == 413 and ("connection", "close") in headers


def test_chunks_are_received_no_further_than_the_limit():
    """Endless chunks: received until they pass the limit, then the application gets the
    length they reached (over the limit) and no body."""
    seen: list = []
    block = b"a" * 65536
    protocol = Protocol(chunks=itertools.repeat(block))
    scope = Scope("POST", "/token", headers=[("transfer-encoding", "chunked")])
    serve(recording_app(seen, "413 Request Entity Too Large"), scope, protocol)
    assert protocol.pulled == MAX_BUFFERED_BODY // len(block) + 1
    assert seen[0]["body"] == b""
    assert seen[0]["CONTENT_LENGTH"] == str(protocol.pulled * len(block))
    assert "HTTP_TRANSFER_ENCODING" not in seen[0]
    assert ("connection", "close") in protocol.answer[1]
