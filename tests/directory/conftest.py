"""Fixtures of the national-scale directory tests: small synthetic sets and extract files."""

from __future__ import annotations

import pytest

from santeid.directory import Directory
from santeid.directory import synthetic


@pytest.fixture(scope="session")
def synthetic_people():
    """300 synthetic professionals (seed 11), as values; built once per session."""
    return tuple(synthetic.professionals(300, 11))


@pytest.fixture
def store(tmp_path):
    directory = Directory(tmp_path / "directory.sqlite3")
    yield directory
    directory.close()
