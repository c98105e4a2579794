"""Fixtures for CPS cards: a seeded directory, the test authority, and a card factory."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import pytest

from santeid.cps.cards import CPS_TEST_CA_NAME
from santeid.cps.cards import card_authority
from santeid.cps.cards import issue_test_card
from santeid.cps.registry import CardRegistry
from santeid.directory import Directory
from santeid.directory import Professional
from santeid.pki import TestAuthority
from santeid.settings import Settings
from tests.support.cps import ACTIVE_ID


@pytest.fixture(scope="session")
def session_card_authority(tmp_path_factory) -> Path:
    """The test CPS authority (an RSA 3072 key), made once per test process."""
    folder = tmp_path_factory.mktemp("cps-authority")
    card_authority(Settings(keys_dir=str(folder)))
    return folder


def _install_session_authority(settings: Settings, session_card_authority: Path) -> None:
    """Put a copy of the session's test CPS authority where ``card_authority`` looks for it, so
    that it is loaded rather than generated (a test that wants no authority asks for neither
    ``authority`` nor ``make_card``)."""
    settings.keys_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in TestAuthority.paths(session_card_authority, CPS_TEST_CA_NAME):
        shutil.copy2(path, settings.keys_path / path.name)


@pytest.fixture
def directory(settings):
    store = Directory.for_settings(settings)
    store.seed_demo()
    yield store
    store.close()


@pytest.fixture
def registry(settings) -> CardRegistry:
    return CardRegistry.for_settings(settings)


@pytest.fixture
def authority(settings, session_card_authority) -> TestAuthority:
    _install_session_authority(settings, session_card_authority)
    return card_authority(settings)


@pytest.fixture
def make_card(settings, directory, registry, session_card_authority):
    """``make_card(national_id, *, expired=False, not_yet_valid=False)`` → IssuedCard."""
    _install_session_authority(settings, session_card_authority)

    def make(national_id: str = ACTIVE_ID, *, expired: bool = False, not_yet_valid: bool = False):
        professional = directory.get(national_id) or Professional(
            national_id=national_id, id_type="8", local_id=national_id[1:], family_name="X"
        )
        now = datetime.datetime.now(datetime.UTC)
        kwargs = {}
        if expired:
            kwargs = {
                "not_before": now - datetime.timedelta(days=30),
                "not_after": now - datetime.timedelta(days=1),
            }
        if not_yet_valid:
            kwargs = {
                "not_before": now + datetime.timedelta(days=1),
                "not_after": now + datetime.timedelta(days=30),
            }
        return issue_test_card(settings, professional, registry=registry, **kwargs)

    return make
