"""Which running server a command talks to (``santeid cps approve``, the links of ``santeid
ecps activate``, and any command that calls a server over HTTP).

The server the user started, found from the same settings as ``santeid serve``:

1. ``--server URL`` (an issuer URL, or a bare ``scheme://host:port`` to which the realm path
   of the settings is added);
2. the configured issuer (``SANTEID_ISSUER`` or ``issuer`` in the TOML file), which is what the
   server serves;
3. otherwise the issuer of a running ``santeid serve``, as recorded in
   ``{data_dir}/serving.json`` (``serve --port 8443`` moves the issuer when none is
   configured). Each server adds itself once it listens — a ``serve`` that could not listen
   (port in use) records nothing — and removes itself when it stops; the record keeps every
   running server, and counts only those whose process lives. With several, the one started
   last wins. A malformed record or entry counts as no running server;
4. the default issuer (``http://127.0.0.1:5000/auth/realms/esante-wallet``).

The command says which server it talked to and why that one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import click

from santeid.settings import Settings
from santeid.settings.base import absolute_http_url

RECORD_FILE = "serving.json"
#: Help of the ``--server`` option of the commands that name a server.
SERVER_HELP = (
    "The server: its issuer URL, or scheme://host:port (default: the configured issuer, "
    "else the running santeid serve, else http://127.0.0.1:5000)."
)


def _record_path(settings: Settings) -> Path:
    return settings.data_path / RECORD_FILE


@contextlib.contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    """Exclusive section for read-modify-write: servers starting together keep every entry."""
    fd = os.open(settings.data_path / f".{RECORD_FILE}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _entries(settings: Settings) -> list[dict]:
    """``[{"issuer", "pid"}, …]`` oldest first; nothing for a missing or unreadable record. A
    malformed record or entry (hand-edited, half-written by an older version…) counts as
    absent, never as an error, and the next :func:`record_serving` writes it anew."""
    try:
        record = json.loads(_record_path(settings).read_text())
    except (OSError, ValueError, RecursionError):  # RecursionError: nesting deeper than Python
        return []
    if isinstance(record, dict):
        record = record.get("servers", [record])  # one server: the earlier form of the record
    if not isinstance(record, list):
        return []
    return [
        {"issuer": entry["issuer"], "pid": entry["pid"]}
        for entry in record
        if isinstance(entry, dict) and _is_issuer(entry.get("issuer")) and _alive(entry.get("pid"))
    ]


def _is_issuer(value: object) -> bool:
    """Whether ``value`` is an issuer the settings would take (:func:`absolute_http_url`)."""
    if not isinstance(value, str) or not value:
        return False
    try:
        absolute_http_url(value)
    except ValueError:
        return False
    return True


def _rewrite(settings: Settings, change: Callable[[list[dict]], list[dict]]) -> None:
    """Apply ``change`` to the running servers' entries (best effort: a read-only data
    directory only means commands fall back to the configured issuer)."""
    path = _record_path(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(settings):
            entries = change(_entries(settings))
            temporary = path.with_name(f".{RECORD_FILE}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps({"servers": entries}))
            os.replace(temporary, path)
    except OSError:
        pass


def record_serving(settings: Settings) -> None:
    """Called by ``santeid serve`` once it listens: this process serves ``settings.issuer``."""
    pid = os.getpid()
    _rewrite(
        settings,
        lambda entries: (
            [e for e in entries if e["pid"] != pid] + [{"issuer": settings.issuer, "pid": pid}]
        ),
    )


def forget_serving(settings: Settings) -> None:
    """Called by ``santeid serve`` as it stops: this process serves no more."""
    pid = os.getpid()
    _rewrite(settings, lambda entries: [e for e in entries if e["pid"] != pid])


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: past any pid (pid_t)
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def _recorded_issuer(settings: Settings) -> str | None:
    entries = _entries(settings)
    return entries[-1]["issuer"] if entries else None


def _from_option(server: str, settings: Settings) -> str:
    parts = urlsplit(server.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--server must be an http(s) URL, got {server!r}")
    if parts.path.strip("/"):
        return server.strip().rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{settings.issuer_path}"


def server_issuer(settings: Settings, server: str | None = None) -> tuple[str, str]:
    """``(issuer, why)`` of the server to talk to; ``ValueError`` for a bad ``--server``."""
    if server:
        return _from_option(server, settings), "--server"
    if settings.issuer != Settings().issuer:
        return settings.issuer, "the configured issuer"
    recorded = _recorded_issuer(settings)
    if recorded:
        return recorded, f"the running santeid serve ({_record_path(settings)})"
    return settings.issuer, "the default issuer"


def server_option(function):
    """The ``--server`` option (alias ``--issuer``) of the commands that name a server."""
    return click.option("--server", "--issuer", "server", help=SERVER_HELP)(function)


def chosen_server(settings: Settings, server: str | None) -> tuple[str, str]:
    """:func:`server_issuer` for a command: a bad ``--server`` is a usage error."""
    try:
        return server_issuer(settings, server)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--server") from None
