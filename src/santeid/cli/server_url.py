"""Which running server a command talks to (``santeid cps approve`` and any command that calls a
server over HTTP).

The server the user started, found from the same settings as ``santeid serve``:

1. ``--server URL`` (an issuer URL, or a bare ``scheme://host:port`` to which the realm path
   of the settings is added);
2. the configured issuer (``SANTEID_ISSUER`` or ``issuer`` in the TOML file), which is what the
   server serves;
3. otherwise the issuer that a running ``santeid serve`` recorded in
   ``{data_dir}/serving.json`` when it started (``serve --port 8443`` moves the issuer when none
   is configured); the record counts only while that process lives;
4. the default issuer (``http://127.0.0.1:5000/auth/realms/esante-wallet``).

The command says which server it talked to and why that one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from santeid.settings import Settings

RECORD_FILE = "serving.json"


def _record_path(settings: Settings) -> Path:
    return settings.data_path / RECORD_FILE


def record_serving(settings: Settings) -> None:
    """Written by ``santeid serve`` once its settings are final (best effort: a read-only data
    directory only means commands fall back to the configured issuer)."""
    path = _record_path(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"issuer": settings.issuer, "pid": os.getpid()}))
    except OSError:
        pass


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def _recorded_issuer(settings: Settings) -> str | None:
    try:
        record = json.loads(_record_path(settings).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not _alive(record.get("pid")):
        return None
    issuer = record.get("issuer")
    return issuer if isinstance(issuer, str) and issuer else None


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
