"""Fixtures for CPS cards: a seeded directory, the test authority, and a card factory."""

from __future__ import annotations

import datetime

import pytest
from cps_helpers import ACTIVE_ID

from santeid.cps.cards import card_authority
from santeid.cps.cards import issue_test_card
from santeid.cps.registry import CardRegistry
from santeid.directory import Directory
from santeid.directory import Professional
from santeid.pki import TestAuthority


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
def authority(settings) -> TestAuthority:
    return card_authority(settings)


@pytest.fixture
def make_card(settings, directory, registry):
    """``make_card(national_id, *, expired=False, not_yet_valid=False)`` → IssuedCard."""

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
