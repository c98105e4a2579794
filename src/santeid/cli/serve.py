"""``santeid serve``: one process with Werkzeug's threaded server, or several worker processes;
HTTP, or HTTPS with optional client certificates (CPS cards, docs/cps-card.md).

Several workers over plain HTTP run under Granian, whose HTTP/1.1 parsing, keep-alive and
access log are Rust: per request it costs about a third of gunicorn's Python HTTP layer
(docs/performance.md). Over direct TLS they run under gunicorn, because the provider must read
each connection's client certificate (CPS cards, INSi establishment certificates) and only
gunicorn hands the socket to the application (``gunicorn.socket``)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import ssl

import click

from santeid.cli import COMMANDS
from santeid.cli import Integer
from santeid.cli import get_settings
from santeid.cli import stop_on_sigterm
from santeid.cli.server_url import forget_serving
from santeid.cli.server_url import record_serving
from santeid.db.backends import redact
from santeid.settings import DEFAULT_REALM_PATH
from santeid.settings import MAX_WORKERS
from santeid.settings import ConfigurationError
from santeid.settings import Settings
from santeid.settings.base import authority_host
from santeid.settings.base import bracketed
from santeid.settings.base import listen_host
from santeid.settings.base import url_host


def _effective_settings(
    settings: Settings,
    host: str,
    port: int,
    workers: int | None,
    sandbox: bool,
    tls: bool = False,
):
    changes: dict = {}
    if sandbox:
        changes["sandbox"] = True
    if workers is not None:
        changes["workers"] = workers
    if settings.issuer == Settings().issuer and (tls or (host, port) != ("127.0.0.1", 5000)):
        # No issuer configured: follow the address we serve on so that discovery is right.
        scheme = "https" if tls else "http"
        changes["issuer"] = f"{scheme}://{url_host(host)}:{port}{DEFAULT_REALM_PATH}"
    try:
        return settings.replace(**changes)  # validated: --workers 2 with memory:// stops here
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None


def _client_authorities(settings: Settings, client_ca: str | None) -> list[str]:
    """PEM files of the authorities whose client certificates the TLS layer accepts:
    ``--client-ca`` alone when given; otherwise the CPS card authorities (``cps_ca_file``, else
    in sandbox mode the test CPS authority: ``trusted_authorities_file``) and the INSi
    establishment authorities (``insi_ca_file``, else in sandbox mode the test INSi authority:
    ``insi_ca_path``), and those of ``tls_client_auth`` clients (``tls_client_auth_ca_file``).
    In sandbox mode the two test authorities are created at start-up, so that test cards and
    ``santeid insi issue-cert`` certificates work at once; outside it neither is used. Each
    check in the application verifies the issuer against its own file whatever the TLS layer
    accepted."""
    if client_ca:
        return [client_ca]
    # The same files the application checks certificates against, so the two cannot differ.
    from santeid.cps.cards import card_authority
    from santeid.cps.cards import trusted_authorities_file
    from santeid.insi.auth import insi_ca_path
    from santeid.insi.auth import insi_test_authority
    from santeid.oidc.tls_client_auth import client_authorities_file

    if settings.sandbox.enabled and not settings.cps.ca_file:
        card_authority(settings)  # created on first use
    if settings.sandbox.enabled and not settings.insi.ca_file:
        insi_test_authority(settings)
    authorities = []
    cards = trusted_authorities_file(settings)
    if cards is not None:
        authorities.append(str(cards))
    establishments = insi_ca_path(settings)
    if establishments is not None:
        authorities.append(str(establishments))
    machines = client_authorities_file(settings)
    if machines is not None:
        authorities.append(str(machines))
    return authorities


def _card_issuers(settings: Settings) -> list:
    """Subjects of the CPS card authorities (their certificates' validity periods are checked
    by the card login, which explains a refusal)."""
    from santeid.cps.cards import trusted_authorities

    return [authority.subject for authority in trusted_authorities(settings)]


def _listen_host(value: str) -> str:
    try:
        return listen_host(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command(help=COMMANDS["serve"])
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    callback=lambda _ctx, _param, value: _listen_host(value),
    help="Address to listen on (an IPv6 address with or without its brackets).",
)
@click.option("--port", default=5000, show_default=True, type=Integer(1, 65535))
@click.option(
    "--workers",
    type=Integer(1, MAX_WORKERS),
    help="Processes (Granian when > 1 over HTTP, gunicorn over TLS). Default: setting workers.",
)
@click.option(
    "--threads",
    default=4,
    show_default=True,
    type=Integer(1, 256),
    help="Threads per worker process (requests served at once by each; each waiting e-CPS "
    "long poll or event stream holds one). See docs/configuration.md, 'Serving'.",
)
@click.option(
    "--access-log/--no-access-log",
    default=False,
    show_default=True,
    help="One line per request on standard output. Off by default, as in gunicorn and Granian: "
    "in production the TLS proxy in front logs requests, and the line costs a tenth of a "
    "request's CPU (docs/performance.md).",
)
@click.option("--sandbox", is_flag=True, help="Sandbox mode (test conveniences, visibly marked).")
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False),
    help="Serve HTTPS with this PEM certificate (chain) — e.g. from `santeid tls dev-cert`.",
)
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="Its private key.")
@click.option(
    "--client-ca",
    type=click.Path(exists=True, dir_okay=False),
    help="PEM authorities of the client certificates the TLS layer accepts (CPS cards, INSi "
    "establishment certificates, tls_client_auth clients); requested, never required. "
    "Default: cps_ca_file, insi_ca_file and tls_client_auth_ca_file (in sandbox mode the test "
    "CPS and INSi authorities for the first two when empty).",
)
@click.option(
    "--tls-port",
    type=Integer(1, 65535),
    help="One-process server only: serve HTTP on --port and, with --tls-cert/--tls-key, HTTPS "
    "on this port too (same application and store; the issuer stays the HTTP address).",
)
def serve(**options) -> None:
    # SIGTERM (systemd, docker stop) stops like Ctrl-C from the first moment on — a server
    # stopped while it starts leaves nothing behind either (the workers' metrics directory,
    # its entry in serving.json) — until the server in charge installs its own handlers.
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        _serve(**options)
    except KeyboardInterrupt:
        click.echo("santeid stopped (signal received while it started)", err=True)


def _serve(
    host: str,
    port: int,
    workers: int | None,
    threads: int,
    access_log: bool,
    sandbox: bool,
    tls_cert: str | None,
    tls_key: str | None,
    client_ca: str | None,
    tls_port: int | None,
) -> None:
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if client_ca and not tls_cert:
        raise click.UsageError("--client-ca needs --tls-cert and --tls-key")
    if tls_port is not None and not tls_cert:
        raise click.UsageError("--tls-port needs --tls-cert and --tls-key")
    if tls_port is not None and tls_port == port:
        raise click.UsageError("--tls-port must differ from --port")
    # With --tls-port the main port stays HTTP, and so does the issuer.
    tls_on_main_port = bool(tls_cert) and tls_port is None
    settings = _effective_settings(get_settings(), host, port, workers, sandbox, tls_on_main_port)
    if tls_port is not None and settings.workers != 1:
        raise click.UsageError(
            "--tls-port needs the one-process server (--workers 1): with several workers, serve "
            "HTTPS on --port with --tls-cert/--tls-key, or put a TLS proxy in front"
        )
    if tls_port is not None and not settings.mtls_base_url:
        # Clients authenticating with their certificate are sent to the HTTPS listener
        # (discovery's mtls_endpoint_aliases, RFC 8705 §5).
        settings = settings.replace(mtls_base_url=f"https://{url_host(host)}:{tls_port}")
    # Before anything is built: an address another process listens on is refused at once.
    for listened in (port, tls_port):
        if listened is not None:
            _refuse_if_taken(host, listened)
    # Before anything is built: the start-up lines are in the configured format too.
    from santeid.observability.logs import configure_logging

    configure_logging(settings.observability)
    if settings.workers > 1:
        # Before prometheus_client is imported: each worker's metrics in files /metrics sums.
        from santeid.observability.multiproc import prepare_multiprocess_dir

        prepare_multiprocess_dir()
    from santeid import create_app
    from santeid.tls import server_ssl_context

    ssl_context = None
    authorities: list[str] = []
    if tls_cert and tls_key:  # both or neither (checked above)
        try:
            authorities = _client_authorities(settings, client_ca)
            # Sandbox: expired and not-yet-valid test cards reach the card page, which
            # explains them (``server_ssl_context``).
            ssl_context = server_ssl_context(
                tls_cert,
                tls_key,
                authorities,
                period_checked_by_app=_card_issuers(settings) if settings.sandbox.enabled else None,
            )
        except ConfigurationError as exc:
            raise click.ClickException(str(exc)) from None
        if authorities:
            click.echo(
                "TLS: client certificates requested (optional), authorities "
                + ", ".join(authorities)
            )
        else:
            click.echo("TLS: no client authority configured, client certificates not requested")

    if settings.workers == 1:
        try:
            app = create_app(settings)
        except ConfigurationError as exc:
            raise click.ClickException(str(exc)) from None
        if not access_log:
            # Werkzeug logs each request at INFO on its own logger; nothing else of it is used.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        _serve_one_process(app, settings, host, port, ssl_context, tls_port)
        return

    _build_once_in_a_child(settings)
    if ssl_context is None:
        _serve_with_granian(settings, host, port, threads, access_log)
        return
    from gunicorn.app.base import BaseApplication

    from santeid.observability.logs import gunicorn_log_config
    from santeid.observability.metrics import worker_exited
    from santeid.serving import GUNICORN_ACCESS_FORMAT
    from santeid.serving import WORKER_STOP_SECONDS
    from santeid.serving import gunicorn_worker_class
    from santeid.serving import keep_query_strings_out_of

    # Inherited by the forked workers; gunicorn replaces these loggers' handlers, not filters.
    keep_query_strings_out_of("gunicorn.access", "gunicorn.error")

    class SanteidGunicorn(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{bracketed(host)}:{port}")
            self.cfg.set("workers", settings.workers)
            # gthread, with deadlines for handshake, headers and body (santeid.serving).
            self.cfg.set("worker_class", gunicorn_worker_class(settings))
            self.cfg.set("threads", threads)
            self.cfg.set("timeout", 60)
            # After SIGTERM, workers still serving are killed then (santeid.serving).
            self.cfg.set("graceful_timeout", WORKER_STOP_SECONDS)
            self.cfg.set("accesslog", "-" if access_log else None)
            # The path without the query string (santeid.serving, docs/operations.md).
            self.cfg.set("access_log_format", GUNICORN_ACCESS_FORMAT)
            # Its own lines as santeid's JSON records under log_format = "json".
            self.cfg.set("logconfig_dict", gunicorn_log_config(settings.observability) or {})
            self.cfg.set("child_exit", lambda server, worker: worker_exited(worker.pid))
            # The arbiter listens from here on (its pid is this process's).
            self.cfg.set("when_ready", lambda server: record_serving(settings))
            self.cfg.set("on_exit", lambda server: forget_serving(settings))
            if ssl_context is not None:
                self.cfg.set("certfile", tls_cert)
                self.cfg.set("keyfile", tls_key)
                if authorities:
                    # Informative only: the context below already holds every authority.
                    self.cfg.set("ca_certs", authorities[0])
                    self.cfg.set("cert_reqs", ssl.CERT_OPTIONAL)
                # The same context as the one-process server (TLS >= 1.2), built once instead
                # of gunicorn's default of one per connection.
                self.cfg.set("ssl_context", _reuse_context)

        def load(self):
            # In each worker, after the first start (_build_once_in_a_child): an outage does
            # not stop it (santeid.startup).
            return create_app(settings, first_start=False)

    def _reuse_context(config, default_ssl_context_factory):
        return ssl_context

    click.echo(
        f"santeid serving {settings.issuer} on https://{authority_host(host)}:{port}/ "
        f"with {settings.workers} gunicorn workers (store {redact(settings.store.url)})"
    )
    SanteidGunicorn().run()


def _cannot_listen(host: str, port: int, reason: str) -> click.ClickException:
    """The one error of a ``serve`` that cannot listen (docs/configuration.md, "Serving")."""
    return click.ClickException(f"cannot listen on {bracketed(host)}:{port}: {reason}")


def _refuse_if_taken(host: str, port: int) -> None:
    from santeid.serving import why_cannot_listen

    reason = why_cannot_listen(host, port)
    if reason is not None:
        raise _cannot_listen(host, port, reason)


def _build_once_in_a_child(settings: Settings) -> None:
    """Build the application once before the workers start — a configuration error is told
    here, once, rather than by every worker, and first-start work (keys, schemas) is not
    raced by several workers — in a forked child, so that the master process, which only
    supervises the workers, does not keep the whole application in memory (about 55 MiB of
    RSS; docs/performance.md, "At national scale")."""
    from santeid.serving import STOP_SIGNALS
    from santeid.serving import WORKER_STOP_SECONDS

    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_build_and_report, args=(settings, sender), daemon=True)
    # A stop signal arriving while the child is forked waits (blocked) until each process is
    # ready for it: in the child, inside _build_and_report's try; not in Python's after-fork
    # code, nor before the child reports.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        child.start()
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    try:
        sender.close()
        outcome = receiver.recv()
    except EOFError:  # the child died without a word (killed)
        outcome = "the application could not be built (its process ended abruptly)"
    except KeyboardInterrupt:  # a stop signal: the build stops too
        child.terminate()
        child.join(WORKER_STOP_SECONDS)
        if child.is_alive():
            child.kill()
        raise
    child.join()
    if isinstance(outcome, KeyboardInterrupt):  # the child was the one signalled
        raise outcome
    if outcome is not None:
        raise click.ClickException(outcome)


def _build_and_report(settings: Settings, sender) -> None:
    """In the forked child: build the app, send ``None``, what went wrong, or the stop signal
    it received (as ``KeyboardInterrupt``, which the server raises in turn), and leave at once
    (``os._exit``: the app's background threads and atexit hooks belong to no one here)."""
    from santeid.serving import STOP_SIGNALS

    outcome: str | KeyboardInterrupt | None = None
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked by the parent
        from santeid import create_app

        create_app(settings)
    except KeyboardInterrupt as exc:
        outcome = exc
    except ConfigurationError as exc:
        outcome = str(exc)
    except Exception:  # noqa: BLE001 - shown in full, then reported to the parent
        import traceback

        traceback.print_exc()
        outcome = "the application could not be built (traceback above)"
    try:
        sender.send(outcome)
    finally:
        os._exit(0)


def _serve_one_process(app, settings: Settings, host, port, ssl_context, tls_port) -> None:
    """Werkzeug's threaded server: one process, so the ``memory://`` store is shared by every
    request; with ``tls_port``, a second listener serves the same application over HTTPS."""
    import threading

    from santeid.serving import werkzeug_server

    main_scheme = "https" if ssl_context is not None and tls_port is None else "http"
    main_context = ssl_context if tls_port is None else None
    try:
        main = werkzeug_server(host, port, app, settings, ssl_context=main_context)
    except OSError as exc:
        raise _cannot_listen(host, port, str(exc)) from None
    secure = None
    if tls_port is not None:
        try:
            secure = werkzeug_server(host, tls_port, app, settings, ssl_context=ssl_context)
        except OSError as exc:
            main.server_close()
            raise _cannot_listen(host, tls_port, str(exc)) from None
    # Both listeners are bound: commands that call the server find it (cli/server_url.py).
    record_serving(settings)
    click.echo(
        f"santeid serving {settings.issuer} on {main_scheme}://{authority_host(host)}:{port}/ "
        f"(store {redact(settings.store.url)})"
    )
    if secure is not None:
        secure_url = f"https://{authority_host(host)}:{tls_port}/"
        click.echo(f"santeid also serving {secure_url} (same application)")
        threading.Thread(target=secure.serve_forever, name="https", daemon=True).start()
    # SIGTERM (systemd, docker stop) stops like Ctrl-C, so the interpreter exits normally and
    # the INSi audit rows still queued are written (santeid.insi.audit).
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        main.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        forget_serving(settings)
        main.server_close()
        if secure is not None:
            secure.shutdown()
            secure.server_close()


def _serve_with_granian(
    settings: Settings, host: str, port: int, threads: int, access_log: bool
) -> None:
    """Serve over plain HTTP with ``settings.workers`` Granian worker processes.

    Granian imports the application in each worker by name, so the settings this command
    decided (sandbox, workers, issuer) travel to the workers as ``SANTEID_*`` variables,
    the highest-priority source of :func:`santeid.settings.load_settings`. The application
    is santeid's RSGI layer (:class:`santeid.serving.BufferedRSGI`): bodies are awaited
    without a thread, then the WSGI application runs in ``threads`` threads per worker."""
    from granian import Granian
    from granian.constants import HTTPModes
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    from santeid.observability.logs import granian_log_config
    from santeid.serving import GRANIAN_ACCESS_FORMAT
    from santeid.serving import WORKER_STOP_SECONDS
    from santeid.serving import defer_stops_in_workers

    os.environ["SANTEID_SANDBOX"] = "true" if settings.sandbox.enabled else "false"
    os.environ["SANTEID_WORKERS"] = str(settings.workers)
    os.environ["SANTEID_ISSUER"] = settings.issuer
    os.environ["SANTEID_SERVE_THREADS"] = str(threads)
    click.echo(
        f"santeid serving {settings.issuer} on http://{authority_host(host)}:{port}/ "
        f"with {settings.workers} Granian workers (store {redact(settings.store.url)})"
    )
    server = Granian(
        "santeid.serving:rsgi_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.RSGI,
        workers=settings.workers,
        websockets=False,
        # HTTP/1.1 only: the header and body deadlines and the size limit are HTTP/1.1's, and
        # cleartext HTTP/2 (prior knowledge) would be a path around them; proxies speak
        # HTTP/1.1 to their upstreams (docs/decisions/slow-clients.md).
        http=HTTPModes.http1,
        # Request line and headers within request_header_timeout (Granian's are in ms).
        http1_settings=HTTP1Settings(
            header_read_timeout=int(settings.http.request_header_timeout * 1000)
        ),
        log_access=access_log,
        # Written out rather than left to Granian's default: the path, never the query string.
        log_access_format=GRANIAN_ACCESS_FORMAT,
        log_level=LogLevels(settings.observability.log_level.lower()),
        # Its own lines as santeid's JSON records under log_format = "json".
        log_dictconfig=granian_log_config(settings.observability),
        respawn_failed_workers=True,
        # After SIGTERM, workers still serving are killed then; without it Granian waits for
        # them for ever (santeid.serving).
        workers_kill_timeout=WORKER_STOP_SECONDS,
    )
    listening: list[bool] = []

    def listens() -> None:
        # Startup hooks run in the main process once the listening socket is built and
        # Granian's signal handlers are installed, before the workers start
        # (cli/server_url.py).
        listening.append(True)
        record_serving(settings)
        defer_stops_in_workers()

    server.on_startup(listens)
    server.on_shutdown(lambda: forget_serving(settings))
    try:
        server.serve()
    except RuntimeError as exc:
        if listening:
            raise
        # Granian's socket could not be built (port in use, address not available); its
        # message goes on with a Rust backtrace.
        reason = (str(exc).splitlines() or ["?"])[0]
        raise _cannot_listen(host, port, reason) from None
