"""Every component's schema, for ``santeid db`` and the start-up upgrade (imported lazily:
the repositories import :mod:`santeid.db`, not the other way round)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from santeid.db import DatabaseError
from santeid.db import DatabaseUnavailable
from santeid.db import Schema
from santeid.db import database_for
from santeid.db import ensure
from santeid.db import redact
from santeid.settings import ConfigurationError

if TYPE_CHECKING:
    from santeid.settings import Settings


def all_schemas() -> tuple[Schema, ...]:
    from santeid.cps.registry import SCHEMA as CARDS
    from santeid.ecps.devices import SCHEMA as DEVICES
    from santeid.insi.audit import SCHEMA as INSI
    from santeid.messaging import OUTBOX_SCHEMA
    from santeid.observability.events import SCHEMA as EVENTS
    from santeid.oidc.clients import SCHEMA as CLIENTS

    return (CLIENTS, OUTBOX_SCHEMA, DEVICES, CARDS, INSI, EVENTS)


def prepare(settings: Settings, *, first_start: bool = True) -> None:
    """At start-up: upgrade every component's schema (``database_auto_upgrade``), or check it
    is current; raises :class:`~santeid.db.SchemaError` with what to do otherwise. A database
    that cannot be used now raises its outage (``DatabaseUnavailable``), which
    :class:`santeid.startup.Start` judges: a first start stops, a worker goes on.

    A schema newer than this santeid stops a first start, and only that: a worker
    (``first_start`` false) starts after its server's first start found the schemas usable, so
    a newer one means a newer release migrated the database since — a roll-out under way, whose
    steps only add — and it logs it and serves, as the server's other workers do. Refused, it
    ended at once and Granian or gunicorn stopped the whole server (:mod:`santeid.startup`).
    Each database is told so before any is checked: a worker that starts during an outage
    checks its schemas on their first use (:func:`~santeid.db.ensure`), by the same rule."""
    databases = [(schema, database_for(settings, schema.component)) for schema in all_schemas()]
    for _, database in databases:
        database.newer_served = not first_start
    for schema, database in databases:
        try:
            ensure(database, schema)
        except DatabaseUnavailable as exc:
            # Still an outage, for santeid.startup to judge; its message names the database.
            named = f"database {redact(database.url)} ({schema.component.name}): {exc}"
            raise type(exc)(named) from exc
        except DatabaseError as exc:
            raise ConfigurationError(
                f"database {redact(database.url)} ({schema.component.name}) is not usable: {exc}"
            ) from None
