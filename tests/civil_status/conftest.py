"""Shared fixtures: one small generated base for the whole civil-status test session."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from santeid.civil_status.generate import GenerationSummary
from santeid.civil_status.generate import generate

#: Small enough to keep the suite fast, large enough for twins, homonyms and NIA to show up.
SMALL_PERSONS = 5000
SMALL_SEED = 42
AS_OF = date(2026, 1, 1)


@pytest.fixture(scope="session")
def small_base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationSummary]:
    path = tmp_path_factory.mktemp("civil") / "civil-status.sqlite3"
    summary = generate(path, SMALL_PERSONS, SMALL_SEED, as_of=AS_OF, chunk_size=2500)
    return path, summary


@pytest.fixture
def db(small_base: tuple[Path, GenerationSummary]) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"{small_base[0].as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    yield conn
    conn.close()
