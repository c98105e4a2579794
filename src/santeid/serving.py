"""Slow clients: no unauthenticated client holds a server thread longer than a short, set time.

A request body sent one byte every half second holds the thread reading it for as long as the
client likes ("Slowloris", "slow POST"). ``santeid serve`` therefore never lets application
threads wait on a client's network:

* **Werkzeug** (one process, and its ``--tls-port`` listener) and **gunicorn** (several
  processes over direct TLS) read in the thread that will run the application. There, a
  :class:`Deadlines` watchdog shuts the connection down when the TLS handshake, request line
  and headers take longer than ``request_header_timeout``, or the body longer than
  ``request_body_timeout``; the body (chunked too) is read whole, into memory, *before* the
  application runs (so the application never reads the network, and never sees a half body).
  Each process also bounds the connections one address holds open
  (``max_connections_per_address``). gunicorn's close of a connection it does not keep,
  which waits for the client's side, runs in a thread of that connection's own too, never
  in the worker's loop that accepts and closes the others.
* **Granian** (several processes over HTTP) parses HTTP in Rust, asynchronously. santeid runs
  behind it as an RSGI application (:class:`BufferedRSGI`): the body is awaited without any
  thread (``request_body_timeout``), then the WSGI application runs in a pool of ``--threads``
  threads. Granian's own ``header_read_timeout`` bounds the headers.

In every layout a body over :data:`MAX_BUFFERED_BODY` is never received: announced so by its
``Content-Length``, it is not read; sent in chunks, no further than the limit and one byte.
The application runs with its length alone and answers 413; the connection is closed after
that answer. A chunked body within the limit reaches the application as a body of known
length (``CONTENT_LENGTH``, no ``Transfer-Encoding``).

Waiting endpoints (e-CPS long polls and event streams) learn that their client went away
through :func:`client_gone`, and stop at once instead of holding their thread to the end.

docs/decisions/slow-clients.md says why this layout and what was measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import logging
import os
import queue
import re
import select
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import IO
from typing import Any
from typing import cast
from urllib.parse import urlsplit

from santeid.settings import Settings
from santeid.tls import is_trusted_proxy

log = logging.getLogger(__name__)

#: WSGI environ key of a callable telling whether the client has gone away.
CLIENT_GONE_KEY = "santeid.client_gone"
#: Largest request body santeid accepts (bytes). Every layout receives a body up to this size
#: whole, into memory, before the application runs; a longer one is never received: the
#: application runs with its length alone (announced by ``Content-Length``, or what the chunks
#: reached when they passed this limit) and refuses it with 413 (Flask's ``MAX_CONTENT_LENGTH``,
#: set from this in santeid.security), and the connection is closed after that answer.
MAX_BUFFERED_BODY = 256 * 1024
#: How often the watchdog looks at its deadlines (seconds).
WATCHDOG_PERIOD = 0.25
_SOCKET_KEYS = ("werkzeug.socket", "gunicorn.socket")
#: A chunk size: hexadecimal digits, no sign, prefix or separator (RFC 9112 §7.1); 16 make
#: 2**64 - 1, far past any body santeid receives.
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
#: Room in a chunk-size line for its size and the whitespace before its extensions (RFC 9112
#: §7.1.1 allows whitespace there only, "BWS"): a longer run is refused, not read on.
_CHUNK_SIZE_ROOM = 64
#: Paths of the endpoints that wait (e-CPS long poll and event stream): under Granian only
#: they are told when their client goes away.
WAITING_PATHS = ("/ecps/device/requests",)
#: How long a worker has, after the server's SIGTERM, to finish the requests it serves
#: before it is killed (Granian's ``workers_kill_timeout``, gunicorn's ``graceful_timeout``).
WORKER_STOP_SECONDS = 8
#: The longest a SIGTERM takes to stop ``santeid serve --workers N``, at any moment: the
#: workers' :data:`WORKER_STOP_SECONDS`, then the main process's own end; within the 10 s
#: ``docker stop`` waits before its SIGKILL (docs/deployment.md, "Stopping").
STOP_SECONDS = 10
#: The signals that stop a server: SIGTERM (systemd, ``docker stop``, ``kill``) and SIGINT
#: (Ctrl-C).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: The start of an absolute-form request target (RFC 9112 §3.2.2): a scheme, then an authority.
_ABSOLUTE_FORM = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def request_target_is_served(target: str) -> bool:
    """Whether Werkzeug's server may serve ``target``: origin-form (a path, RFC 9112 §3.2.1),
    asterisk-form, or absolute-form with an authority that parses (§3.2.2). Werkzeug takes the
    path of any URI (``http:/sandbox%2Fapi/…``, ``x:/auth/…``), which a proxy's rule on the
    path (``/sandbox/api/…``) does not read as that path, nor ``santeid.raw_paths`` find;
    and drops the connection on an authority it cannot split (``http://[x]/``). gunicorn and
    Granian answer such targets 400 themselves."""
    if target.startswith("/") or target == "*":
        return True
    if not _ABSOLUTE_FORM.match(target):
        return False
    try:
        urlsplit(target).port  # noqa: B018 - the port is checked when read
    except ValueError:  # a bracketed host that is no IP address, a port that is no number
        return False
    return True


# -- what every layout shares ----------------------------------------------------------------
class AddressLimiter:
    """Connections held at once per client address (one process). Trusted proxies are exempt:
    they carry every client's connections."""

    def __init__(self, limit: int, trusted_proxies: str = "") -> None:
        self.limit = limit
        self.trusted_proxies = trusted_proxies
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()

    def acquire(self, address: str) -> bool:
        if self.limit <= 0 or is_trusted_proxy(address, self.trusted_proxies):
            return True
        with self._lock:
            if self._held[address] >= self.limit:
                return False
            self._held[address] += 1
            return True

    def release(self, address: str) -> None:
        if self.limit <= 0 or is_trusted_proxy(address, self.trusted_proxies):
            return
        with self._lock:
            self._held[address] -= 1
            if self._held[address] <= 0:
                del self._held[address]


class Deadlines:
    """A watchdog thread that shuts a connection down when its deadline passes: the thread
    blocked reading it then sees the end of the connection and lets it go.

    Connections are known by file descriptor, which stays the same when a TLS layer wraps
    the socket. The shutdown happens under the lock :meth:`disarm` takes, so once disarmed
    (before the connection is closed and its number reused) a connection is never touched."""

    def __init__(self) -> None:
        self._due: dict[int, float] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="deadlines", daemon=True)
        self._thread.start()

    def arm(self, sock: socket.socket, seconds: float) -> int:
        """Shut ``sock`` down in ``seconds``; returns the descriptor :meth:`disarm` takes."""
        fileno = sock.fileno()
        with self._lock:
            self._due[fileno] = time.monotonic() + seconds
        return fileno

    def disarm(self, fileno: int) -> None:
        with self._lock:
            self._due.pop(fileno, None)

    def _watch(self) -> None:
        while True:
            time.sleep(WATCHDOG_PERIOD)
            now = time.monotonic()
            with self._lock:
                for fileno in [fd for fd, due in self._due.items() if due <= now]:
                    del self._due[fileno]
                    _shutdown(fileno)


def _shutdown(fileno: int) -> None:
    """Shut both directions of the connection ``fileno`` without closing the descriptor (the
    owner closes it), under whatever TLS layer wraps it."""
    with contextlib.suppress(OSError):
        sock = socket.socket(fileno=fileno)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.detach()


def _peer_gone(sock) -> bool:
    """Whether the peer of ``sock`` has closed its side (Linux ``POLLRDHUP``; elsewhere a
    readable socket with nothing to read)."""
    try:
        fileno = sock.fileno()
    except (OSError, ValueError):
        return True
    if fileno < 0:
        return True
    flags = getattr(select, "POLLRDHUP", 0)
    poller = select.poll()
    poller.register(fileno, select.POLLIN | select.POLLHUP | select.POLLERR | flags)
    for _, events in poller.poll(0):
        if events & (select.POLLHUP | select.POLLERR | flags):
            return True
        if not flags and events & select.POLLIN:
            with contextlib.suppress(OSError):
                return socket.socket.recv(sock, 1, socket.MSG_PEEK) == b""
    return False


def _read_limited(read: Callable[[int], bytes]) -> bytes:
    """A chunked body (``Transfer-Encoding: chunked``, of no announced length) through
    ``read``, until it ends or passes :data:`MAX_BUFFERED_BODY`: at most one byte more than
    the limit is ever held, which tells a body too large without receiving it."""
    parts: list[bytes] = []
    size = 0
    while size <= MAX_BUFFERED_BODY:
        part = read(MAX_BUFFERED_BODY + 1 - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def client_gone(environ: dict[str, Any]) -> bool:
    """Whether the client of this request has gone away (for waits that would outlive it)."""
    check = environ.get(CLIENT_GONE_KEY)
    if check is not None:
        return check()
    for key in _SOCKET_KEYS:
        sock = environ.get(key)
        if sock is not None:
            return _peer_gone(sock)
    return False


#: A URL's query string in a log message: from ``?`` to the next space or quote.
_QUERY = re.compile(r"\?[^\s'\"]*")
#: What every server layout's access line shows of a request: its method, path (never the
#: query string, which carries ``id_token_hint``, ``code``, ``state``… — docs/security.md,
#: "Logs") and protocol. Granian's own format (``%(path)s`` is the path alone) and gunicorn's
#: default one without ``%(r)s`` (the raw request line) or ``%(f)s`` (the Referer, a URL of
#: another site which may carry its own codes): https://docs.gunicorn.org/en/stable/settings.html#access-log-format
GRANIAN_ACCESS_FORMAT = (
    '[%(time)s] %(addr)s - "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).3f'
)
GUNICORN_ACCESS_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s"'


def without_query(text: str) -> str:
    """``text`` with the query string of every URL and request line in it removed."""
    return _QUERY.sub("", text)


class NoQueryStrings(logging.Filter):
    """Removes query strings from the records of a server's own loggers: Werkzeug's request
    lines (``werkzeug``) and the request lines gunicorn quotes when it refuses a malformed
    request (``gunicorn.error``), which are logged whether or not ``--access-log`` is on."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg, record.args = without_query(message), None
        return True


def keep_query_strings_out_of(*loggers: str) -> None:
    """Install :class:`NoQueryStrings` on ``loggers`` (once each)."""
    for name in loggers:
        logger = logging.getLogger(name)
        if not any(isinstance(f, NoQueryStrings) for f in logger.filters):
            logger.addFilter(NoQueryStrings())


def why_cannot_listen(host: str, port: int) -> str | None:
    """Why ``santeid serve`` could not listen on ``host:port``, or ``None`` when it can: the
    address is bound for a moment, as every layout binds it but without ``SO_REUSEPORT``.
    Granian sets that option on its socket, and Linux then lets any other socket that sets it
    too listen on the same address: a second ``santeid serve --workers N`` started on the
    port of a running one would start and take half of its connections. Bound without the
    option, the address is refused while any process listens on it, whichever its options;
    ``SO_REUSEADDR`` (which each layout sets) keeps a port whose last connections are in
    ``TIME_WAIT`` free (https://man7.org/linux/man-pages/man7/socket.7.html)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except OSError as exc:
        return str(exc)
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    "the address is in use by another process (stop it, or serve on another --port)"
                )
            return exc.strerror or str(exc)
    return None


# -- Werkzeug: one process, one thread per connection ----------------------------------------
def werkzeug_server(host: str, port: int, app, settings: Settings, ssl_context=None):
    """Werkzeug's threaded server with deadlines, whole bodies and a limit per address."""
    from werkzeug.serving import DechunkedInput
    from werkzeug.serving import ThreadedWSGIServer
    from werkzeug.serving import WSGIRequestHandler

    deadlines = Deadlines()
    limiter = AddressLimiter(
        settings.http.max_connections_per_address, settings.http.trusted_proxies
    )

    class Dechunked(DechunkedInput):
        """Werkzeug's decoder of chunks, where a chunk-size line may carry chunk extensions,
        ignored, and the last chunk a trailer section, discarded (Werkzeug's own reading of
        the line refuses both): RFC 9112 §7.1.1 ("A recipient MUST ignore unrecognized chunk
        extensions") and §7.1.2, https://www.rfc-editor.org/rfc/rfc9112#section-7.1.1. The
        bytes ignored — everything in a chunk-size line but its size, every trailer field —
        count against :data:`MAX_BUFFERED_BODY` (per body): a line or section that never
        ends, or lines padded again and again, are refused at that bound, not read until the
        body deadline. Whitespace after the size is taken only before extensions, and no more
        than :data:`_CHUNK_SIZE_ROOM` bytes of size and whitespace (§7.1.1's grammar, as
        gunicorn reads it). A line ends with CRLF, or LF alone as Werkzeug reads it; any
        other CR in it is refused."""

        def __init__(self, rfile: IO[bytes]) -> None:
            super().__init__(rfile)
            self._ignored = 0

        def read_chunk_len(self) -> int:
            line = self._line()
            size, semicolon, _ = line.partition(b";")
            digits = size.rstrip(b" \t") if semicolon else size
            if not _CHUNK_SIZE.fullmatch(digits) or len(size) > _CHUNK_SIZE_ROOM:
                raise OSError("Invalid chunk header")
            self._ignore(len(line) - len(digits))
            if int(digits, 16) == 0:
                while trailer_field := self._line():
                    self._ignore(len(trailer_field))
                # Werkzeug reads the line ending the body next: the empty one, read above.
                self._rfile = io.BytesIO(b"\r\n")
            return int(digits, 16)

        def _line(self) -> bytes:
            line = self._rfile.readline(MAX_BUFFERED_BODY - self._ignored + _CHUNK_SIZE_ROOM)
            if not line.endswith(b"\n"):
                raise OSError("Chunk-size line or trailer section too long, or cut short")
            line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
            if b"\r" in line:
                raise OSError("CR alone in a chunk-size line or trailer field")
            return line

        def _ignore(self, count: int) -> None:
            self._ignored += count
            if self._ignored > MAX_BUFFERED_BODY:
                raise OSError("Chunk extensions, whitespace and trailer fields over the limit")

    # Its request lines (``--access-log``) and its errors about malformed ones.
    keep_query_strings_out_of("werkzeug")

    class GuardedHandler(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Werkzeug's threaded server has it

        def handle_one_request(self) -> None:
            # From the first byte awaited (an idle keep-alive connection included) to the
            # last header; the TLS handshake, on the first read, is inside too.
            fileno = deadlines.arm(self.connection, settings.http.request_header_timeout)
            try:
                super().handle_one_request()
            finally:
                deadlines.disarm(fileno)

        def make_environ(self) -> dict[str, Any]:
            # http.server decodes the request line as ISO-8859-1 and Werkzeug encodes the
            # target it takes from it as UTF-8 for PATH_INFO and QUERY_STRING: a raw UTF-8
            # byte of the target (curl sends ``given=Hélène`` as typed) would reach the
            # application encoded twice (``HÃ©lÃ¨ne``). Read as UTF-8 first, as Granian hands
            # it over (invalid bytes as U+FFFD, santeid.serving._wsgi_string), the target
            # becomes its own bytes again in the environ (PEP 3333).
            received = self.path
            if not received.isascii():
                self.path = received.encode("latin-1").decode("utf-8", "replace")
            try:
                environ = super().make_environ()
            finally:
                self.path = received
            # http.server reduces a target's leading slashes to one before anything reads
            # it (its file server's guard against open redirects), so RAW_URI is the
            # target as received, from the request line (already a WSGI string: ISO-8859-1):
            # ``//auth/…`` is refused (santeid.raw_paths), not served as ``/auth/…``.
            words = self.requestline.split()
            if len(words) == 3:
                environ["RAW_URI"] = words[1]
            return environ

        def run_wsgi(self) -> None:
            deadlines.disarm(self.connection.fileno())  # the headers are in
            if not request_target_is_served(self.path):
                # Before the body is read, so the connection closes after this answer; not
                # send_error, whose request log line splits the target again.
                answer = b"Bad request target\n"
                self.send_response_only(400)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(answer)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(answer)
                return
            body = self._read_body()
            if body is None:
                self.close_connection = True
                return
            # The application reads the body received, never the network. (Werkzeug closes
            # every connection after its answer, without reading any more of it from here.)
            original = self.rfile
            self.rfile = io.BufferedReader(io.BytesIO(body))
            try:
                super().run_wsgi()
            finally:
                self.rfile = original

        def handle_expect_100(self) -> bool:
            return True  # 100 Continue is sent once the body is wanted (_read_body), if it is

        def _read_body(self) -> bytes | None:
            """The body, received whole within ``request_body_timeout``; an empty one when
            it is too large (over :data:`MAX_BUFFERED_BODY`, announced or reached by its
            chunks: its length is left in ``Content-Length``); ``None`` when the client was
            too slow or its chunks malformed (the connection is then shut)."""
            headers = self.headers
            expects = headers.get("Expect", "").lower().strip(" \t") == "100-continue"
            del headers["Expect"]  # answered here, not by Werkzeug
            chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
            length = 0
            if not chunked:
                with contextlib.suppress(ValueError):  # Werkzeug reads it as no body
                    length = int(headers.get("Content-Length") or 0)
                if length <= 0 or length > MAX_BUFFERED_BODY:
                    return b""  # (too large: no 100 Continue, the answer is final)
            if expects and self.request_version >= "HTTP/1.1":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            fileno = deadlines.arm(self.connection, settings.http.request_body_timeout)
            try:
                if chunked:
                    body = _read_limited(Dechunked(cast(IO[bytes], self.rfile)).read)
                else:
                    body = self.rfile.read(length)
            except OSError:  # shut by the deadline, or (chunks) malformed or cut short
                if chunked:  # malformed: told so, as gunicorn and Granian tell it
                    with contextlib.suppress(OSError):  # (shut: nothing to tell)
                        self.send_error(400, explain="Malformed chunked body")
                return None
            finally:
                deadlines.disarm(fileno)
            if not chunked:
                return body if len(body) == length else None
            # The application sees a body of known length: no chunks left to decode.
            del headers["Transfer-Encoding"], headers["Content-Length"]
            headers["Content-Length"] = str(len(body))
            return body if len(body) <= MAX_BUFFERED_BODY else b""

    class GuardedServer(ThreadedWSGIServer):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            # Connection → address it was counted under (the peer may be gone at release).
            self._admitted: dict[int, str] = {}

        def verify_request(self, request, client_address) -> bool:
            address = client_address[0] if isinstance(client_address, tuple) else ""
            if limiter.acquire(address):
                self._admitted[id(request)] = address
                return True
            log.warning("connection from %s refused: %d already open", address, limiter.limit)
            return False

        def shutdown_request(self, request) -> None:
            address = self._admitted.pop(id(request), None)
            if address is not None:
                limiter.release(address)
            super().shutdown_request(request)

    return GuardedServer(host, port, app, handler=GuardedHandler, ssl_context=ssl_context)


# -- gunicorn gthread: several processes over direct TLS -------------------------------------
def gunicorn_worker_class(settings: Settings) -> type:
    """gunicorn's ``gthread`` worker where the pool of ``--threads`` only runs the
    application: each connection's TLS handshake, headers and body are received first by a
    thread of its own, under the deadlines, and only a complete request enters the pool."""
    from gunicorn.http.errors import NoMoreData
    from gunicorn.workers import gthread

    class GuardedThreadWorker(gthread.ThreadWorker):
        def init_process(self) -> None:
            self.deadlines = Deadlines()
            self.limiter = AddressLimiter(
                settings.http.max_connections_per_address, settings.http.trusted_proxies
            )
            super().init_process()

        def accept(self, listener) -> None:
            try:
                client_sock, client_addr = listener.accept()
            except OSError:
                return
            address = client_addr[0] if isinstance(client_addr, tuple) else ""
            if not self.limiter.acquire(address):
                client_sock.close()
                return
            self.nr_conns += 1
            client_sock.setblocking(True)
            conn = _limited_conn(gthread.TConn)(
                self.cfg, client_sock, client_addr, listener.getsockname()
            )
            conn.release_address = lambda: self.limiter.release(address)
            conn.close_aside = self._close_aside
            self.enqueue_req(conn)

        def _close_aside(self, close: Callable[[], None]) -> None:
            """Run ``close``, a lingering close, in a thread of its own. gunicorn closes a
            connection it does not keep (``Connection: close``, an error) on the worker's
            loop, and that close waits up to 2 s for the client to close its side too (so
            that the answer's last bytes are not lost to a reset, RFC 9112 §9.6,
            https://www.rfc-editor.org/rfc/rfc9112#section-9.6): meanwhile the loop
            accepted no connection and closed no other, so clients that kept their side open
            held every other client of the worker, 2 s each in turn. The connection still
            counts (``worker_connections``; a stop waits for it) until it is closed."""
            self.nr_conns += 1  # on the loop, as every change to it

            def lingering() -> None:
                try:
                    close()
                finally:
                    self.method_queue.defer(self._closed_aside)

            threading.Thread(target=lingering, name="close", daemon=True).start()

        def _closed_aside(self) -> None:
            self.nr_conns -= 1

        def enqueue_req(self, conn) -> None:
            threading.Thread(target=self._receive, args=(conn,), daemon=True).start()

        def _receive(self, conn) -> None:
            """Handshake, headers and body, in this connection's own thread; then the pool.
            Any failure is kept and raised where gunicorn expects it (``handle``), which
            answers or closes as it always does."""
            conn.received = None
            fileno = self.deadlines.arm(conn.sock, settings.http.request_header_timeout)
            try:
                conn.sock.setblocking(True)
                conn.init()
                if not conn.is_http2:
                    request = next(conn.parser)
                    self.deadlines.arm(conn.sock, settings.http.request_body_timeout)
                    body = _read_gunicorn_body(request, conn.sock)
                    if body is None:
                        raise NoMoreData(b"")
                    request.body = io.BytesIO(body)
                    conn.received = request
            except BaseException as exc:  # noqa: BLE001 — re-raised in handle()
                conn.received = exc
            finally:
                self.deadlines.disarm(fileno)
            super().enqueue_req(conn)

        def handle(self, conn):
            received, conn.received = getattr(conn, "received", None), None
            if received is None:
                return super().handle(conn)
            parser = conn.parser
            conn.parser = _Received(parser, received)
            try:
                return super().handle(conn)
            finally:
                conn.parser = parser

    return GuardedThreadWorker


class _Received:
    """gunicorn's parser, whose next request (or failure) was already received."""

    def __init__(self, parser, received) -> None:
        self.parser, self.received = parser, received

    def __iter__(self):
        return self

    def __next__(self):
        received, self.received = self.received, None
        if isinstance(received, BaseException):
            raise received
        return received if received is not None else next(self.parser)

    def __getattr__(self, name: str):
        return getattr(self.parser, name)


def _limited_conn(base: type) -> type:
    class LimitedConn(base):
        #: Gives the connection's place back to its address (once it is closed).
        release_address: Callable[[], None] | None = None
        #: Runs a lingering close off the worker's loop (``_close_aside``).
        close_aside: Callable[[Callable[[], None]], None] | None = None

        def close(self, graceful: bool = False) -> None:
            # gunicorn asks for a lingering close on the worker's loop, its main thread.
            on_loop = threading.current_thread() is threading.main_thread()
            if graceful and on_loop and self.close_aside is not None:
                self.close_aside(self._linger)
            else:
                self._close(graceful)

        def _linger(self) -> None:
            try:
                self._close(graceful=True)
            except Exception:  # noqa: BLE001 — its socket closed already (an error's answer)
                self._close(graceful=False)  # as gunicorn does then: errors ignored

        def _close(self, graceful: bool) -> None:
            release, self.release_address = self.release_address, None
            try:
                if graceful:
                    super().close(graceful=True)
                else:
                    super().close()
            finally:
                if release is not None:
                    release()

    return LimitedConn


def _read_gunicorn_body(req, sock) -> bytes | None:
    """The body of gunicorn's request ``req``, received whole from ``sock``; an empty one when
    it is too large (over :data:`MAX_BUFFERED_BODY`, announced or reached by its chunks: its
    length is left in ``Content-Length``, and the connection closes after the answer);
    ``None`` when the client was too slow or went away. Malformed chunks raise gunicorn's
    error, which it answers (400)."""
    from gunicorn.http.errors import ParseException

    # gunicorn refused any other transfer coding, and an invalid or doubled Content-Length.
    chunked = any(name == "TRANSFER-ENCODING" for name, _ in req.headers)
    length = next((int(value) for name, value in req.headers if name == "CONTENT-LENGTH"), 0)
    if not chunked and length > MAX_BUFFERED_BODY:
        return _unread(req, length)
    if not chunked and not length:
        return b""
    if req._expected_100_continue:  # now, rather than once the body is in (gunicorn's time)
        req._expected_100_continue = False
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    try:
        body = _read_limited(req.body.read) if chunked else req.body.read(length)
    except ParseException:
        raise
    except Exception:  # noqa: BLE001 — any other failure to read is a client gone or too slow
        return None
    if not chunked:
        return body if len(body) == length else None
    if len(body) > MAX_BUFFERED_BODY:
        return _unread(req, len(body))
    # The application sees a body of known length: no chunks left to decode.
    _set_length(req, len(body))
    return body


def _unread(req, length: int) -> bytes:
    """The empty body the application gets for one of ``length`` bytes, too large to be
    received: it refuses it from that length, and the connection closes after the answer."""
    _set_length(req, length)
    req._expected_100_continue = False  # the answer is final
    req.force_close()
    return b""


def _set_length(req, length: int) -> None:
    req.headers = [
        (name, value)
        for name, value in req.headers
        if name not in ("TRANSFER-ENCODING", "CONTENT-LENGTH")
    ] + [("CONTENT-LENGTH", str(length))]


# -- Granian: several processes over HTTP ----------------------------------------------------
#: A stop signal a Granian worker received before it could act on it (while it built the
#: application): :meth:`BufferedRSGI.__rsgi_init__` sends it again once Granian listens.
_deferred_stop: int | None = None


def defer_stops_in_workers() -> None:
    """In Granian's main process, once it has installed its signal handlers and before it
    forks its workers: a worker inherits them, and until Granian's loop takes over in it
    (after the worker has built the application, which takes seconds) they only set a flag
    of the main process's copy, so a SIGTERM received while it builds was lost — the main
    process then waited for that worker for ever. Each handler is wrapped: in the main
    process it is Granian's; in a worker it keeps the signal for :meth:`BufferedRSGI.__rsgi_init__`,
    which sends it again once Granian's own handler is there, so the worker stops as Granian
    stops it (the requests it serves finished, the INSi audit rows it queued written)."""
    main = os.getpid()
    for signum in STOP_SIGNALS:
        granian_handler = signal.getsignal(signum)

        def handler(received, frame, granian_handler=granian_handler) -> None:
            global _deferred_stop
            if os.getpid() != main:
                _deferred_stop = received
            elif callable(granian_handler):
                granian_handler(received, frame)

        signal.signal(signum, handler)


class BufferedRSGI:
    """An RSGI application (Granian's native interface) running a WSGI application: the body
    is awaited on Granian's event loop, with a deadline, before a thread of the pool runs the
    application. ``santeid.serving:rsgi_app`` builds one per worker process."""

    def __init__(self, wsgi_app, settings: Settings, threads: int) -> None:
        self.wsgi_app = wsgi_app
        self.settings = settings
        self.pool = _Pool(threads)
        self.limiter = AddressLimiter(
            settings.http.max_connections_per_address, settings.http.trusted_proxies
        )

    def __rsgi_init__(self, loop) -> None:
        """Granian's hook in the worker once its loop handles the stop signals: a stop
        received earlier (:func:`defer_stops_in_workers`) is sent again, now to that loop."""
        if _deferred_stop is not None:
            log.info("worker %s: stopping (signal received while it started)", os.getpid())
            os.kill(os.getpid(), _deferred_stop)

    async def __rsgi__(self, scope, protocol) -> None:
        if scope.proto != "http":
            return
        address = scope.client.rsplit(":", 1)[0].strip("[]")
        if not self.limiter.acquire(address):
            protocol.response_bytes(
                503, [("content-type", "text/plain"), ("retry-after", "5")], b"too busy\n"
            )
            return
        try:
            await self._serve(scope, protocol)
        finally:
            self.limiter.release(address)

    async def _serve(self, scope, protocol) -> None:
        headers = scope.headers
        body = b""
        length = None
        if "content-length" in headers or "transfer-encoding" in headers:
            try:
                async with asyncio.timeout(self.settings.http.request_body_timeout):
                    body, length = await _receive(headers, protocol)
            except TimeoutError:
                refusal = [("content-type", "text/plain"), ("connection", "close")]
                protocol.response_bytes(408, refusal, b"request timeout\n")
                return
            except BrokenBody:
                # (A client gone altogether reads nothing: this answer is for the one that
                # closed its side only, and waits for it.)
                refusal = [("content-type", "text/plain"), ("connection", "close")]
                protocol.response_bytes(400, refusal, b"malformed or incomplete body\n")
                return
        gone = threading.Event()
        watcher = None
        if scope.path.startswith(WAITING_PATHS):
            # Only waits need to hear of a departure; it costs a task per request.
            watcher = asyncio.ensure_future(protocol.client_disconnect())
            watcher.add_done_callback(lambda _: gone.set())
        environ = _environ(scope, body, gone.is_set)
        if length is not None:  # chunks received, or a body too large: its length only
            environ["CONTENT_LENGTH"] = str(length)
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        loop = asyncio.get_running_loop()
        try:
            status, headers, chunks, iterator = await self.pool.run(
                loop, _start, self.wsgi_app, environ
            )
            if length is not None and length > MAX_BUFFERED_BODY:
                headers.append(("connection", "close"))  # the rest of the body is unread
            if iterator is None:
                protocol.response_bytes(status, headers, b"".join(chunks))
                return
            transport = protocol.response_stream(status, headers)
            try:
                for chunk in chunks:
                    await transport.send_bytes(chunk)
                while not gone.is_set():
                    chunk = await self.pool.run(loop, next, iterator, None)
                    if chunk is None:
                        break
                    if chunk:
                        await transport.send_bytes(chunk)
            except Exception:  # noqa: BLE001 — the client went away while reading
                gone.set()
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    await self.pool.run(loop, close)
        finally:
            if watcher is not None:
                watcher.cancel()


async def _receive(headers, protocol) -> tuple[bytes, int | None]:
    """A request's body from Granian, and the length the application is to see when it
    differs from ``Content-Length``: a body too large (over :data:`MAX_BUFFERED_BODY`) is not
    received (announced so) or no further than the limit (chunks), and is handed over empty
    with its length; chunks received whole are handed over with theirs. A body that does
    not arrive whole raises :class:`BrokenBody`."""
    from granian.rsgi import ProtocolClosed

    if "transfer-encoding" not in headers:
        try:
            announced = int(headers.get("content-length") or 0)
        except ValueError:  # Granian refuses it first (400)
            announced = 0
        if announced > MAX_BUFFERED_BODY:
            return b"", announced
        try:
            return await protocol(), None
        except ProtocolClosed:
            # Fewer bytes than announced, then the connection's end (the client's side
            # closed, or all of it): RFC 9112 §8, an incomplete message.
            raise BrokenBody from None
    parts: list[bytes] = []
    size = 0
    ended = False
    async for part in protocol:
        if ended:
            # Granian 2.8 ends a whole chunked body with one empty part; a malformed or cut
            # one (and one with a trailer section, which it reports alike) yields more parts
            # after it, then stops without an error (RFC 9112 §8: an incomplete message).
            raise BrokenBody
        ended = not part
        parts.append(part)
        size += len(part)
        if size > MAX_BUFFERED_BODY:
            return b"", size
    return b"".join(parts), size


class BrokenBody(Exception):
    """A body that did not arrive whole (cut short of its ``Content-Length``, chunks
    malformed or cut): never handed to the application, answered 400."""


class _Pool:
    """Threads running calls for an event loop: one queue, one loop wake-up per result (what
    ``run_in_executor`` does, without its two layers of futures)."""

    def __init__(self, threads: int) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        for number in range(threads):
            threading.Thread(target=self._work, name=f"wsgi-{number}", daemon=True).start()

    def run(self, loop, function, *args) -> asyncio.Future:
        future = loop.create_future()
        self._queue.put((loop, future, function, args))
        return future

    def _work(self) -> None:
        get = self._queue.get
        while True:
            loop, future, function, args = get()
            try:
                result = function(*args)
            except BaseException as exc:  # noqa: BLE001 — handed to the awaiting coroutine
                loop.call_soon_threadsafe(_settle, future, None, exc)
            else:
                loop.call_soon_threadsafe(_settle, future, result, None)


def _settle(future: asyncio.Future, result, exc) -> None:
    if future.cancelled():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


def _environ(scope, body: bytes, gone: Callable[[], bool]) -> dict[str, Any]:
    server_host, _, server_port = scope.server.rpartition(":")
    client_host = scope.client.rpartition(":")[0].strip("[]")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": _wsgi_string(scope.path),
        "QUERY_STRING": _wsgi_string(scope.query_string),
        "SERVER_NAME": server_host.strip("[]"),
        "SERVER_PORT": server_port,
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
        "REMOTE_ADDR": client_host,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": _STDERR,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        CLIENT_GONE_KEY: gone,
    }
    for name, value in scope.headers.items():
        if "_" in name:
            # Dropped: with hyphens turned into underscores (RFC 3875 §4.1.18),
            # ``X_SSL_Client_Cert`` would be ``HTTP_X_SSL_CLIENT_CERT`` as much as
            # ``X-SSL-Client-Cert`` is, and a proxy that replaces the certificate or
            # ``X-Forwarded-*`` header it vouches for forwards the other spelling untouched: a
            # forged card would log in (docs/security.md, "Transport and proxies"). Werkzeug's
            # server, gunicorn (https://docs.gunicorn.org/en/stable/settings.html#header-map)
            # and nginx (``underscores_in_headers off``) drop them too.
            continue
        key = name.upper().replace("-", "_")
        value = _wsgi_string(value)
        if key == "CONTENT_TYPE" or key == "CONTENT_LENGTH":
            environ[key] = value
            continue
        key = "HTTP_" + key
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    environ["CONTENT_LENGTH"] = str(len(body)) if body else environ.get("CONTENT_LENGTH", "")
    return environ


def _wsgi_string(text: str) -> str:
    """PEP 3333 "native strings": the request's bytes as Latin-1 characters. Granian hands
    path, query and headers over decoded as UTF-8 (the path percent-decoded, invalid bytes as
    U+FFFD); WSGI applications expect the bytes."""
    return text if text.isascii() else text.encode("utf-8").decode("latin-1")


class _Stderr(io.TextIOBase):
    def write(self, text: str) -> int:
        log.error("%s", text.rstrip())
        return len(text)


_STDERR = _Stderr()


def _start(app, environ):
    """Run the WSGI application up to its first chunk (all of it if it gave a length)."""
    response: dict[str, Any] = {}

    def start_response(status, headers, exc_info=None):
        response["status"], response["headers"] = status, headers
        return lambda data: response.setdefault("written", []).append(data)

    result = app(environ, start_response)
    status = int(response["status"].split(" ", 1)[0])
    headers = [(name.lower(), value) for name, value in response["headers"]]
    written = response.get("written", [])
    if any(name == "content-length" for name, _ in headers) or isinstance(result, list):
        try:
            chunks = written + list(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return status, headers, chunks, None
    iterator = iter(result)
    first = next(iterator, b"")
    return status, headers, [*written, first], _Closing(iterator, result)


class _Closing:
    """An iterator that closes the WSGI result it came from (PEP 3333 ``close``)."""

    def __init__(self, iterator, result) -> None:
        self.iterator, self.result = iterator, result

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.iterator)

    def close(self) -> None:
        close = getattr(self.result, "close", None)
        if close is not None:
            close()


def rsgi_app() -> BufferedRSGI:
    """Granian's factory in each worker process: the app with the settings of the
    ``SANTEID_*`` variables ``santeid serve`` exported, and ``SANTEID_SERVE_THREADS``. A
    worker's start, after the server's first (santeid.startup): an outage does not stop it."""
    from santeid import create_app
    from santeid.settings import load_settings

    settings = load_settings()
    threads = int(os.environ.get("SANTEID_SERVE_THREADS", "4"))
    return BufferedRSGI(create_app(settings, first_start=False), settings, threads)
