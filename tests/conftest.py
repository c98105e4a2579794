"""Shared fixtures: settings in a temporary folder, the app on either store, and a ``Flow``
(see ``tests/support/oidc_flow.py``) driving the browser side of the authorization code flow.
The plugins of ``tests/support`` (real Redis and PostgreSQL servers) are declared here.

Signing keys: every test gets its own ``keys_dir``, a copy of one key set generated once per
test process (``session_keys_dir``), the one every real server of the process gets too
(``tests/support/servers.py``).  A test that must start from an empty key folder asks for
``tmp_path`` itself.

Data folder: likewise, each test's ``var`` starts as a copy of the folder a first start of the
sandbox left (``session_data_dir``): schemas created, demo directory seeded. The tests of a
first start build their settings on a folder of their own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from santeid import create_app
from santeid.clock import ManualClock
from santeid.settings import Settings
from santeid.storage import MemoryStore
from santeid.storage import store_from_url
from tests.support.oidc_flow import ISSUER
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import register_client

#: xdist workers per core for ``-n auto``: the suite mostly waits (server processes starting,
#: long polls, slow-client attacks, browsers), so two workers per core keep the cores busy.
WORKERS_PER_CORE = 2


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto`` (``make test``): ``SANTEID_TEST_WORKERS`` when set, else two per core."""
    configured = os.environ.get("SANTEID_TEST_WORKERS")
    if configured:
        return int(configured)
    return WORKERS_PER_CORE * (len(os.sched_getaffinity(0)) or 1)


pytest_plugins = [
    "tests.support.redis_server",
    "tests.support.postgres_server",
    "tests.support.log_scan",
    "tests.support.rewrite_ahead",
]


@pytest.fixture(scope="session")
def session_keys_dir() -> Path:
    """The sandbox's signing key set (RS256), generated once per test process, the same the
    real servers get (``tests.support.servers.session_keys``). Read it only through a copy
    (``keys_dir``): tests that rotate or add keys change their own copy."""
    # Imported here: at this module's import it would import the Redis plugin (declared in
    # pytest_plugins above) before pytest could rewrite its assertions.
    from tests.support.servers import session_keys

    return session_keys()


@pytest.fixture
def keys_dir(session_keys_dir, tmp_path) -> Path:
    """This test's key folder: a copy of the session's keys."""
    keys = tmp_path / "keys"
    shutil.copytree(session_keys_dir, keys)
    return keys


def _sandbox_settings(home: Path, keys: Path) -> Settings:
    return Settings(
        issuer=ISSUER,
        data_dir=str(home / "var"),
        keys_dir=str(keys),
        sandbox=True,
        sandbox_approval_delay=0,
    )


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory, session_keys_dir) -> Path:
    """A sandbox data folder as a first start leaves it — every component's SQLite file at its
    current schema, the demo directory seeded — made once per test process. Creating those
    files is a third to a half of what building an app costs (``create_app``: 18–28 ms of CPU
    on a new folder, 13 ms on a copy); each test starts from a copy (``settings``). Not copied:
    the installation's ``secret_key`` (each test's app makes its own) and SQLite's ``-wal`` and
    ``-shm`` files (``VACUUM INTO`` writes each database whole, what its WAL holds included:
    https://www.sqlite.org/lang_vacuum.html#vacuuminto)."""
    home = tmp_path_factory.mktemp("first-start")
    keys = home / "keys"
    shutil.copytree(session_keys_dir, keys)
    create_app(_sandbox_settings(home, keys), store=MemoryStore())
    data = home / "var"
    template = tmp_path_factory.mktemp("data-template") / "var"
    template.mkdir()
    for database in data.glob("*.sqlite3"):
        with contextlib.closing(sqlite3.connect(database)) as conn:
            conn.execute(f"VACUUM INTO '{template / database.name}'")
    return template


@pytest.fixture
def settings(tmp_path, keys_dir, session_data_dir) -> Settings:
    shutil.copytree(session_data_dir, tmp_path / "var")
    return _sandbox_settings(tmp_path, keys_dir)


@pytest.fixture
def app(settings):
    return create_app(settings, store=MemoryStore())


@pytest.fixture
def clock() -> ManualClock:
    """The wall clock of ``clocked_app``: it moves only when the test says so."""
    return ManualClock()


@pytest.fixture
def clocked_app(settings, clock):
    """The sandbox app on ``clock`` (its memory store's TTLs too): a test reaches an expiry
    with ``clock.advance(seconds)`` instead of sleeping."""
    return create_app(settings, store=MemoryStore(clock=clock), clock=clock)


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
