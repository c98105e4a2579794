"""The ``database`` fixture: every repository contract runs on an SQLite file and on a real
PostgreSQL database (a fresh schema per test, ``tests/support/postgres_server.py``)."""

from __future__ import annotations

import pytest

from santeid import db


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request, tmp_path):
    if request.param == "sqlite":
        database = db.SqliteDatabase(tmp_path / "contract.sqlite3")
    else:
        database = db.PostgresDatabase(request.getfixturevalue("postgres_url"))
    yield database
    database.close()
