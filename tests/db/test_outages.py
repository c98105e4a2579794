"""PostgreSQL outages seen by a running santeid (docs/deployment.md, "Outages"): a frozen
server gives a 503 instead of holding requests, and a restarted one is used again without a
single failed request. On a server of the module's own (never the shared one): it is frozen
(SIGSTOP) and restarted."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from santeid import create_app
from santeid import db
from santeid.db.backends import PostgresUnavailable
from santeid.settings import Settings
from santeid.storage import MemoryStore
from tests.support.concurrency import race
from tests.support.postgres_server import PostgresServer
from tests.support.postgres_server import _binaries

pytestmark = pytest.mark.postgres

#: Seconds a test waits before calling a request hung (the fix bounds it at a few seconds).
HUNG = 40.0
TOKEN = "/auth/realms/esante-wallet/protocol/openid-connect/token"
SECRET = "secret-secret-secret"


def _free_port() -> int:
    for port in range(27000, 28000):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 27000-27999")


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    binaries = _binaries()
    if binaries is None:
        pytest.skip("no initdb here (apt-get install postgresql)")
    server = PostgresServer(binaries, port=_free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _within(seconds: float, call):
    """``call()``'s result or exception, or a failure if it has not returned by then."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 (handed to the test)
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still waiting after {seconds} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_a_frozen_server_makes_a_statement_unavailable_instead_of_hanging(own_postgres):
    database = db.PostgresDatabase(own_postgres.admin_url, timeout=2)
    try:
        assert database.execute("SELECT 1").scalar() == 1  # a pooled connection, idle
        own_postgres.pause()
        try:
            with pytest.raises(PostgresUnavailable, match="did not answer"):
                _within(HUNG, lambda: database.execute("SELECT 1"))
            with pytest.raises(db.DatabaseUnavailable):
                _within(HUNG, lambda: database.execute("SELECT 2"))
            assert _within(HUNG, database.ping) is False
        finally:
            own_postgres.resume()
        assert database.execute("SELECT 3").scalar() == 3
    finally:
        database.close()


def test_a_long_transaction_is_not_cut_by_the_request_timeout(own_postgres):
    """Schema upgrades may wait for another host's: the deadline is for requests."""
    database = db.PostgresDatabase(own_postgres.admin_url, timeout=2)
    try:
        with database.long_transaction() as conn:
            conn.execute("SELECT pg_sleep(2.5)")
        # The server stops a slow statement first, and says so (the connection stays usable).
        assert database.execute("SHOW statement_timeout").scalar() == "1s"
        with pytest.raises(db.DatabaseError, match="statement timeout"):
            database.execute("SELECT pg_sleep(2.5)")
        assert database.execute("SELECT 1").scalar() == 1
    finally:
        database.close()


def _app(server: PostgresServer, tmp_path):
    url = server.admin_url
    settings = Settings(data_dir=str(tmp_path / "var"), keys_dir=str(tmp_path / "k"),
                        sandbox=True, database_url=url)  # fmt: skip
    app = create_app(settings, store=MemoryStore())
    app.extensions["santeid"].clients.add(
        {"client_id": f"rp-{tmp_path.name}", "client_secret": SECRET,
         "redirect_uris": ["https://rp/cb"], "grant_types": ["client_credentials"]}
    )  # fmt: skip
    basic = base64.b64encode(f"rp-{tmp_path.name}:{SECRET}".encode()).decode()
    client = app.test_client()

    def token():
        return client.post(
            TOKEN,
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        )

    return url, token


def test_a_request_to_a_frozen_server_is_a_503(own_postgres, tmp_path):
    url, token = _app(own_postgres, tmp_path)
    try:
        assert token().status_code == 200
        own_postgres.pause()
        try:
            answer = _within(HUNG, token)
        finally:
            own_postgres.resume()
        assert answer.status_code == 503
        assert answer.get_json()["error"] == "temporarily_unavailable"
        assert answer.headers["Retry-After"] == "5"
        assert token().status_code == 200
    finally:
        db.close_shared(url)


def test_after_a_restart_no_request_fails(own_postgres, tmp_path):
    """Every idle pooled connection was ended by the restart: each is replaced before use."""
    url, token = _app(own_postgres, tmp_path)
    try:
        database = db.database_for(
            Settings(data_dir=str(tmp_path / "var"), database_url=url), db.CLIENTS
        )
        # Fill the pool: as many connections as it holds, all idle afterwards.
        held = [database.connect() for _ in range(database.pool_size)]
        for conn in held:
            conn.__enter__().execute("SELECT 1")
        for conn in held:
            conn.__exit__(None, None, None)
        own_postgres.restart()
        statuses = [token().status_code for _ in range(database.pool_size + 3)]
        assert statuses == [200] * (database.pool_size + 3)
    finally:
        db.close_shared(url)


#: Seconds the server is down: psycopg_pool's default backoff (1, 2, 4, 8, 16… s between
#: attempts, up to 5 minutes) would next try 15 s after this outage.
OUTAGE = 16.0
#: Seconds within which a request succeeds once the server is back.
RECOVERY = 4.0


def test_once_the_server_is_back_requests_succeed_within_seconds(own_postgres, tmp_path):
    """The pool's attempts to replace lost connections do not back off beyond a few seconds
    (docs/deployment.md, "Outages"): after an outage long enough for psycopg_pool's default
    backoff to grow to 16 s, requests succeed again within seconds of the server's return."""
    url, token = _app(own_postgres, tmp_path)
    try:
        assert token().status_code == 200
        own_postgres.shut_down()
        try:
            down = time.monotonic()
            while time.monotonic() - down < OUTAGE:  # requests keep coming, as probes do
                assert _within(HUNG, token).status_code == 503
        finally:
            own_postgres.start_again()
        back = time.monotonic()
        statuses = []
        while time.monotonic() - back < RECOVERY:
            statuses.append(_within(HUNG, token).status_code)
            if statuses[-1] == 200:
                break
        assert statuses[-1] == 200, f"{statuses} in {time.monotonic() - back:.1f} s"
        assert token().status_code == 200
    finally:
        db.close_shared(url)


def test_a_health_check_on_a_frozen_server_gives_up_after_the_ping_timeout(own_postgres, caplog):
    database = db.PostgresDatabase(own_postgres.admin_url)  # requests wait 5 s
    try:
        assert database.execute("SELECT 1").scalar() == 1  # a pooled connection, idle
        own_postgres.pause()
        try:
            assert _within(HUNG, database.ping) is False
        finally:
            own_postgres.resume()
        assert f"did not answer within {database.PING_TIMEOUT:g} s" in caplog.text
        assert database.ping() is True
    finally:
        database.close()


def test_readiness_during_a_freeze_blames_the_database_alone(own_postgres, tmp_path, caplog):
    """Six concurrent ``/health/ready`` probes while the server is frozen: the database is
    down in every answer and the store and the keys up (one database check for all of them,
    which gives up within ``health_check_timeout``), as docs/operations.md says."""
    url = own_postgres.admin_url
    settings = Settings(data_dir=str(tmp_path / "var"), keys_dir=str(tmp_path / "k"),
                        sandbox=True, database_url=url, health_check_timeout=1)  # fmt: skip
    app = create_app(settings, store=MemoryStore())
    try:
        assert app.test_client().get("/health/ready").status_code == 200
        answers: list = []

        def probe() -> None:
            answers.append(app.test_client().get("/health/ready").get_json()["checks"])

        own_postgres.pause()
        try:
            probes = [threading.Thread(target=probe) for _ in range(6)]
            for thread in probes:
                thread.start()
            for thread in probes:
                thread.join(HUNG)
        finally:
            own_postgres.resume()
        assert len(answers) == 6
        for checks in answers:
            states = {name: check["status"] for name, check in checks.items()}
            assert states["database"] != "up"
            assert (states["store"], states["signing_keys"]) == ("up", "up"), states
        # The ping gives up after 1 s, or the readiness deadline (also 1 s) is reached first on
        # a loaded machine: either way the log says the database did not answer within 1 s.
        assert (
            "did not answer within 1 s" in caplog.text
            or "readiness check database is timeout: no answer within health_check_timeout (1 s)"
            in caplog.text
        )
        assert app.test_client().get("/health/ready").status_code == 200
    finally:
        db.close_shared(url)


def test_a_ping_on_a_pool_not_yet_open_keeps_to_its_timeout(own_postgres):
    """A process whose pool is not open yet (a new ``PostgresDatabase``, a forked child) makes
    a first connection before the pool: a ping waits for it no longer than its own timeout
    (psycopg's shortest ``connect_timeout``, 2 s, for a shorter one), and pings at the same
    time do not queue behind each other's attempts."""
    database = db.PostgresDatabase(own_postgres.admin_url)  # requests wait 5 s

    def ping(_: int) -> tuple[bool, float]:
        started = time.monotonic()
        return database.ping(timeout=1), time.monotonic() - started

    try:
        own_postgres.pause()
        try:
            answers = race(ping, threads=3)
        finally:
            own_postgres.resume()
        assert [ok for ok, _ in answers] == [False] * 3
        assert max(seconds for _, seconds in answers) < 3, answers
        assert database.ping(timeout=1) is True
    finally:
        database.close()


def test_a_running_server_is_not_ready_during_an_outage_and_ready_after_it(own_postgres, tmp_path):
    """A ``santeid serve`` process while its PostgreSQL is stopped: ``/health/ready`` answers
    within ``health_check_timeout`` that the database is not ready (``/health`` within its
    2 s), and ready again once the server is back, the process never restarted
    (docs/operations.md, "Health endpoints")."""
    import requests

    from tests.support.servers import santeid_process

    settings = {"SANTEID_DATABASE_URL": own_postgres.admin_url, "SANTEID_HEALTH_CHECK_TIMEOUT": "1"}
    with santeid_process(tmp_path, **settings) as server:

        def probe(path: str) -> tuple[int, dict, float]:
            started = time.monotonic()
            answer = requests.get(f"{server.base}{path}", timeout=HUNG)
            return answer.status_code, answer.json(), time.monotonic() - started

        assert probe("/health/ready")[0] == 200
        own_postgres.shut_down()
        try:
            for _ in range(3):
                status, body, seconds = probe("/health/ready")
                assert (status, body["checks"]["store"]["status"]) == (503, "up")
                assert body["checks"]["database"]["status"] in ("down", "timeout")
                assert seconds < 1.5, seconds
            status, body, seconds = probe("/health")
            assert (status, body["database"]) == (503, "unavailable")
            assert seconds < 2.5, seconds
        finally:
            own_postgres.start_again()
        back = time.monotonic()
        while (status := probe("/health/ready")[0]) != 200 and time.monotonic() - back < RECOVERY:
            time.sleep(0.2)
        assert status == 200, f"not ready {time.monotonic() - back:.1f} s after the outage"
        assert server.process.poll() is None
