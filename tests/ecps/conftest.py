"""e-CPS fixtures: short waits, a cheap PIN hash, and phones (``ecps_phone.Phone``)."""

from __future__ import annotations

import pytest

from tests.support.ecps_phone import CHEAP_PINS
from tests.support.ecps_phone import PIN
from tests.support.ecps_phone import Phone
from tests.support.oidc_flow import sandbox_professional


@pytest.fixture(scope="session")
def ecps_keys_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("ecps-keys"))


@pytest.fixture
def settings(settings, ecps_keys_dir):
    # Long polls of at most 2 s keep the waiting tests short; one signing key for the whole
    # run saves generating an RSA key per test (these tests never rotate keys).
    return settings.replace(ecps_long_poll=2, keys_dir=ecps_keys_dir)


def _cheapen(app):
    app.extensions["santeid"].ecps.pins = CHEAP_PINS
    return app


@pytest.fixture
def app(app):
    return _cheapen(app)


@pytest.fixture
def any_store_app(any_store_app):
    return _cheapen(any_store_app)


@pytest.fixture
def ecps(app):
    return app.extensions["santeid"].ecps


@pytest.fixture
def national_id(app) -> str:
    return sandbox_professional(app)


@pytest.fixture
def other_national_id(app, national_id) -> str:
    directory = app.extensions["santeid"].directory
    return next(p.national_id for p in directory.list() if p.national_id != national_id)


@pytest.fixture
def phone(app, client, national_id) -> Phone:
    """A device registered for ``national_id`` with PIN ``ecps_phone.PIN``."""
    return Phone.register(app, client, national_id, pin=PIN)
