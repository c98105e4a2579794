"""Shared fixtures: settings in a temporary folder, the app on either store, and a ``Flow``
(see ``oidc_flow.py``) driving the browser side of the authorization code flow."""

from __future__ import annotations

import pytest

from oidc_flow import ISSUER
from oidc_flow import Flow
from oidc_flow import register_client
from santeid import create_app
from santeid.settings import Settings
from santeid.storage import MemoryStore
from santeid.storage import store_from_url

pytest_plugins = ["fixtures_redis", "fixtures_postgres"]


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        issuer=ISSUER,
        data_dir=str(tmp_path / "var"),
        keys_dir=str(tmp_path / "keys"),
        sandbox=True,
        sandbox_approval_delay=0,
    )


@pytest.fixture
def app(settings):
    return create_app(settings, store=MemoryStore())


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def any_store_app(request, settings):
    """The app on the embedded store and on a real Redis: same behaviour expected."""
    if request.param == "memory":
        store = MemoryStore()
    else:
        url = request.getfixturevalue("redis_url")
        settings = settings.replace(store_url=url)
        store = store_from_url(url)
    yield create_app(settings, store=store)
    store.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def flow(app, client):
    return Flow(app, client, register_client(app))
