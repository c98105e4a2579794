"""CIBA fixtures: a session-wide signing key, cheap PIN hashes, phones, fast retries."""

from __future__ import annotations

import pytest

from tests.support.ecps_phone import CHEAP_PINS
from tests.support.ecps_phone import PIN
from tests.support.ecps_phone import Phone
from tests.support.oidc_flow import sandbox_professional


@pytest.fixture(scope="session")
def ciba_keys_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("ciba-keys"))


@pytest.fixture
def settings(settings, ciba_keys_dir):
    # One signing key for the whole run: generating an RSA key per test is slow.
    return settings.replace(ecps_long_poll=1, keys_dir=ciba_keys_dir)


def _prepare(app):
    svc = app.extensions["santeid"]
    svc.ecps.pins = CHEAP_PINS
    # Retries after 10 ms, not seconds: the retry tests stay short.
    svc.ciba.notifier.backoff = (0.01, 0.02, 0.04)
    return app


@pytest.fixture
def app(app):
    return _prepare(app)


@pytest.fixture
def any_store_app(any_store_app):
    return _prepare(any_store_app)


@pytest.fixture
def clocked_app(clocked_app):
    return _prepare(clocked_app)


@pytest.fixture
def auto_id(app) -> str:
    """A sandbox auto-approving professional (no device)."""
    return sandbox_professional(app)


@pytest.fixture
def plain_id(app) -> str:
    """An active professional without a sandbox phone (no scenario: e-CPS or card only)."""
    svc = app.extensions["santeid"]
    return next(
        p.national_id
        for p in svc.directory.list()
        if p.is_active and svc.sandbox.scenario_for(p) is None
    )


@pytest.fixture
def phone(app, client, plain_id) -> Phone:
    return Phone.register(app, client, plain_id, pin=PIN)
