"""Several hosts sharing PostgreSQL, upgraded one after the other (docs/deployment.md, "Schema
versions and upgrades"): a host of the newer release migrates the schema while hosts of this
one still serve. Migration steps only add, so those keep serving — a worker of theirs that
starts again (a crash, a recycled worker) included; only a server's own start refuses a schema
newer than it knows."""

from __future__ import annotations

import psycopg
import pytest

from tests.db.test_outages import RP
from tests.db.test_outages import _kill_a_worker_and_watch
from tests.db.test_outages import _tls_args
from tests.db.test_outages import _token
from tests.db.test_outages import _wait_for_both_workers

pytestmark = pytest.mark.postgres


def _newer_release_upgrades(url: str) -> None:
    """What the next release's ``santeid db upgrade`` does: a step that adds a column with a
    default to every component's table it names, and each component's version one higher."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE client ADD COLUMN added_later TEXT NOT NULL DEFAULT ''")
        conn.execute("UPDATE santeid_schema SET version = version + 1")


@pytest.mark.server
@pytest.mark.redis
@pytest.mark.parametrize("layout", ["granian", "gunicorn"])
def test_a_worker_restarted_after_a_newer_release_migrated_serves_on(
    postgres_url, redis_server, tmp_path, layout
):
    """``santeid serve --workers 2`` of this release; a newer release migrates the shared
    database; one worker is killed. The server starts another, which serves, and the server
    goes on. Before, the new worker's start refused the newer schema and ended at once:
    Granian (a worker ending within 5.5 s of its start) and gunicorn (a worker that fails to
    boot) stopped the whole server, the worker still serving included — a host of the previous
    release went down during the roll-out the docs say it serves through."""
    from tests.support.servers import santeid_process

    args, ca = ["--sandbox", "--workers", "2"], None
    if layout == "gunicorn":
        tls, ca = _tls_args(tmp_path)
        args += tls
    store = redis_server.url.rsplit("/", 1)[0] + "/12"
    with santeid_process(
        tmp_path,
        args=args,
        ca=ca,
        clients=[RP],
        log_name=f"{layout}.log",
        SANTEID_DATABASE_URL=postgres_url,
        SANTEID_STORE_URL=store,
    ) as server:
        _wait_for_both_workers(server)
        assert _token(server).status_code == 200
        _newer_release_upgrades(postgres_url)

        def during() -> None:
            token = _token(server)
            assert token.status_code == 200, token.text

        _kill_a_worker_and_watch(server, during)
        log = server.log.read_text()
        assert "newer than the" in log and "this worker serves on" in log, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
