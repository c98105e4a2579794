"""Shared fixtures of the INSi tests (core, REST, FHIR, and the SOAP colleague's).

One small civil-status base is generated once per session; every app built by the root
``conftest.py`` fixtures (``app``, ``client``, ``flow``) answers INSi calls from it, because the
``settings`` fixture is overridden here with ``insi_base`` set.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from santeid.civil_status.generate import generate
from santeid.insi.service import InsiService
from santeid.settings import Settings
from tests.support.insi import REST_CTX  # noqa: F401 - re-exported; import from insi_helpers
from tests.support.insi import SOAP_CTX  # noqa: F401 - re-exported; import from insi_helpers
from tests.support.oidc_flow import ISSUER

#: Small enough to keep the suite fast, large enough for twins, homonyms, NIA and children.
INSI_PERSONS = 4000
INSI_SEED = 3
AS_OF = date(2026, 1, 1)


@pytest.fixture(scope="session")
def insi_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("insi") / "civil-status.sqlite3"
    generate(path, INSI_PERSONS, INSI_SEED, as_of=AS_OF, chunk_size=2000)
    return path


@pytest.fixture
def base_db(insi_base: Path) -> Iterator[sqlite3.Connection]:
    """The base, read-only, rows as ``sqlite3.Row``."""
    conn = sqlite3.connect(f"{insi_base.as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def insi_keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Signing keys made once for the session (generating RSA keys for every app is slow)."""
    return tmp_path_factory.mktemp("insi-keys")


@pytest.fixture
def settings(tmp_path, insi_base: Path, insi_keys_dir: Path) -> Settings:
    """The root fixture's settings, plus the session's civil-status base and signing keys."""
    return Settings(
        issuer=ISSUER,
        data_dir=str(tmp_path / "var"),
        keys_dir=str(insi_keys_dir),
        sandbox=True,
        sandbox_approval_delay=0,
        insi_base=str(insi_base),
    )


@pytest.fixture
def service(tmp_path, insi_base: Path) -> InsiService:
    """The core alone, with its own audit file."""
    return InsiService(insi_base, tmp_path / "insi.sqlite3")


@pytest.fixture
def token(flow) -> str:
    """An access token of a sandbox professional (authMode MOBILE, santeid.psc.proofs)."""
    return flow.full_login()["access_token"]


@pytest.fixture
def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
