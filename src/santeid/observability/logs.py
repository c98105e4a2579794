"""``log_format = "json"``: one JSON object per line, with the request's id, client, endpoint,
status and duration when the record belongs to a request.

What a record may hold is decided where it is written: the access record carries only the
fields listed in ``web._finish`` (never a parameter value, header or body), and the rest of the
code logs identifiers, never tokens, secrets, PINs, codes or identity traits (a test runs a
full flow with JSON logs and scans them for every such value it used)."""

from __future__ import annotations

import json
import logging
from datetime import UTC
from datetime import datetime

#: Extra fields copied from a record into its JSON object when present.
FIELDS = ("request_id", "client_id", "endpoint", "method", "status", "duration_ms")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = _current_request_id()
        if request_id:
            entry["request_id"] = request_id
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _current_request_id() -> str | None:
    from flask import g
    from flask import has_app_context

    if not has_app_context():
        return None
    return g.get("request_id")


#: One line per record under ``log_format = "text"``.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(observability) -> None:
    """The process's logging as ``observability`` (the settings' section) says: its
    ``log_format`` and ``log_level``. ``santeid serve`` calls it before it builds anything, so
    that the start-up lines (keys, store) are in that format too (docs/operations.md, "Logs")."""
    if observability.log_format == "json":
        configure_json_logging(observability.log_level)
    else:
        logging.basicConfig(level=observability.log_level.upper(), format=TEXT_FORMAT)


def configure_json_logging(level: str = "INFO") -> None:
    """Every record of the process as JSON lines on standard error (idempotent)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler.formatter, JsonFormatter):
            return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root.handlers = [handler]
    root.setLevel(level.upper())
