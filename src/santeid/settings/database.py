"""``[database]``: where durable data lives (santeid.db, docs/deployment.md)."""

from __future__ import annotations

from pydantic import Field
from pydantic import field_validator

from santeid.settings.base import Count
from santeid.settings.base import Flag
from santeid.settings.base import Section


class DatabaseSettings(Section):
    flat_prefix = "database_"

    #: Durable data (clients, e-CPS devices, CPS cards, INSi software/audit/statistics, sandbox
    #: outbox): empty = one SQLite file per component under ``data_dir`` (embedded);
    #: ``sqlite:///path`` = one SQLite file; ``postgresql://user:password@host:5432/db`` = one
    #: PostgreSQL database shared by several hosts (TLS: ``?sslmode=verify-full&sslrootcert=…``).
    url: str = Field(default="", repr=False)  # may hold a password
    #: Connections each server process may open to PostgreSQL.
    pool_size: Count = 10
    #: Let psycopg prepare a statement run often on a connection (protocol-level named
    #: prepared statements); false behind a PgBouncer in transaction pooling mode that does
    #: not track them (before 1.21, or ``max_prepared_statements = 0``: docs/deployment.md).
    prepared_statements: Flag = True
    #: Apply missing schema migrations at start-up; false = refuse to start until
    #: ``santeid db upgrade`` has run.
    auto_upgrade: Flag = True

    @field_validator("url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value:  # the one check of a database_url, open_url's own
            from santeid.db.backends import check_url
            from santeid.settings import ConfigurationError

            try:
                check_url(value)
            except ConfigurationError as exc:
                raise ValueError(str(exc).removeprefix("database_url ")) from None
        return value
