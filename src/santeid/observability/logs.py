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
from typing import cast

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


#: santeid's JSON lines in a ``logging.config.dictConfig`` configuration.
_JSON = {"()": f"{__name__}.JsonFormatter"}


def granian_log_config(observability) -> dict | None:
    """Granian's ``log_dictconfig`` under ``log_format = "json"``: its own lines (logger
    ``_granian``: its start, its workers') as santeid's JSON records, where Granian writes them
    (standard output); its request lines keep their format. Granian merges it into its
    ``granian.log.LOGGING_CONFIG`` (a key given replaces that key), in its main process and in
    each worker. ``None`` under ``"text"``: Granian's own configuration."""
    if observability.log_format != "json":
        return None
    from granian.log import LOGGING_CONFIG

    formatters = cast(dict, LOGGING_CONFIG["formatters"])
    return {"formatters": {**formatters, "generic": _JSON}}


def gunicorn_log_config(observability) -> dict | None:
    """gunicorn's ``logconfig_dict`` under ``log_format = "json"``: its own lines (logger
    ``gunicorn.error``: its start, its workers') go to santeid's JSON handler on standard
    error; its request lines (``gunicorn.access``) stay text on standard output. gunicorn
    merges it into its ``CONFIG_DEFAULTS`` (a key given replaces that key), whose root logger
    would otherwise write every record of the process as text: the root is set here as
    :func:`configure_json_logging` sets it. ``None`` under ``"text"``: gunicorn's own."""
    if observability.log_format != "json":
        return None
    level = observability.log_level.upper()
    return {
        "root": {"level": level, "handlers": ["json"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
        },
        "handlers": {
            "json": {"class": "logging.StreamHandler", "formatter": "json"},
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "stream": "ext://sys.stdout",
            },
        },
        "formatters": {"json": _JSON, "access": {"format": "%(message)s"}},
    }


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
