"""``[observability]``: health, metrics, logs and authentication events
(santeid.observability, santeid.health, docs/operations.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from santeid.settings.base import MAX_DURATION_DAYS
from santeid.settings.base import Days
from santeid.settings.base import FractionalSeconds
from santeid.settings.base import Section

#: The standard level names (https://docs.python.org/3/library/logging.html#logging-levels),
#: which Python's logging and Granian's ``--log-level`` both take.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: The longest look back into the events, in days (a century): a retention, ``santeid events
#: purge --older-than`` and ``santeid events list --since`` stay within it.
MAX_EVENT_DAYS = MAX_DURATION_DAYS


class ObservabilitySettings(Section):
    #: Seconds each dependency check of ``/health/ready`` may take before it counts as down.
    health_check_timeout: FractionalSeconds = 1.0
    #: Client addresses (comma-separated IPs or CIDR networks) allowed to read ``/metrics``;
    #: empty = ``/metrics`` answers 404 to everyone.
    metrics_allowed_addresses: str = "127.0.0.1/32, ::1/128"
    #: ``text`` (one human-readable line per record) or ``json`` (one JSON object per line).
    log_format: Literal["text", "json"] = "text"
    #: Python logging level: one of :data:`LOG_LEVELS`, in any case (kept in capitals).
    log_level: str = "INFO"
    #: Days authentication events are kept; ``santeid events purge`` deletes older ones.
    events_retention_days: Days = 90

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            names = f"{', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]}"
            raise ValueError(f"must be {names} (any case), got {value!r}")
        return level

    @field_validator("metrics_allowed_addresses")
    @classmethod
    def _networks(cls, value: str) -> str:
        from santeid.observability.access import parse_networks

        parse_networks(value)  # raises, naming the bad entry
        return value
