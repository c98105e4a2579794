"""Attacks reproduced against real server processes: ``santeid serve`` in each shipped layout,
a real nginx in front, a real Redis for the multi-process servers."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from click.testing import CliRunner

from santeid.cli import main
from tests.support.servers import SHARED_STORE_LAYOUTS
from tests.support.servers import SanteidProcess
from tests.support.servers import layout_process
from tests.support.servers import santeid_home


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> dict[str, str]:
    """A development certificate for a server's direct TLS (``santeid tls dev-cert``): the
    paths of its ``cert``, ``key`` and ``ca`` PEM files."""
    home = santeid_home(tmp_path_factory.mktemp("tls"))
    result = CliRunner().invoke(
        main, ["tls", "dev-cert", "--out", str(home.home / "tls")], env=home.env
    )
    assert result.exit_code == 0, result.output
    return {name: str(home.home / "tls" / f"{name}.pem") for name in ("cert", "key", "ca")}


@pytest.fixture(scope="module")
def serve_layout(
    request, tmp_path_factory, tls_files
) -> Callable[..., AbstractContextManager[SanteidProcess]]:
    """``with serve_layout(layout, db=N, **options) as process``: ``santeid serve`` in the
    server layout named ``layout`` (``tests.support.servers.LAYOUTS``: ``werkzeug``,
    ``werkzeug-and-tls-port``, ``granian``, ``gunicorn-tls``), in a folder of its own named
    after it, with the certificate of :func:`tls_files`. The layouts of several processes share
    db ``db`` of the suite's Redis server as their store, and so does the one-process server
    with ``every_layout_on_redis`` (the CLI a test runs beside it reaches that store); the
    Redis server is started only for them. ``options``: ``layout_process``'s (``args``,
    ``clients``…) and ``SANTEID_*`` settings; a ``SANTEID_STORE_URL`` among them is the
    store of a layout not on Redis."""

    def serve(
        layout: str, *, db: int, every_layout_on_redis: bool = False, **options
    ) -> AbstractContextManager[SanteidProcess]:
        store_url = None
        if layout in SHARED_STORE_LAYOUTS or every_layout_on_redis:
            redis_server = request.getfixturevalue("redis_server")
            store_url = f"{redis_server.url.rsplit('/', 1)[0]}/{db}"
        home = tmp_path_factory.mktemp(layout)
        return layout_process(layout, home, tls=tls_files, store_url=store_url, **options)

    return serve
