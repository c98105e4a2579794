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
from tests.support.browser import wait_for
from tests.support.concurrency import race
from tests.support.postgres_server import PostgresServer
from tests.support.postgres_server import _binaries

pytestmark = pytest.mark.postgres

#: Seconds a test waits before calling a request hung (the fix bounds it at a few seconds).
HUNG = 40.0
#: ``health_check_timeout`` of the readiness test, in whole seconds as the log writes it.
READINESS_DEADLINE = 3
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


def _settings(tmp_path, url: str, **changes) -> Settings:
    """A sandbox application's settings on the database ``url``, its files under ``tmp_path``."""
    return Settings(data_dir=str(tmp_path / "var"), keys_dir=str(tmp_path / "k"),
                    sandbox=True, database_url=url, **changes)  # fmt: skip


def _app(server: PostgresServer, tmp_path):
    url = server.admin_url
    app = create_app(_settings(tmp_path, url), store=MemoryStore())
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
    which gives up within ``health_check_timeout``), as docs/operations.md says. The deadline
    is 3 s, not the default 1 s: on a loaded machine a test process can wait a whole second
    for a core, and the store's check then misses a 1 s deadline too."""
    url = own_postgres.admin_url
    settings = _settings(tmp_path, url, health_check_timeout=READINESS_DEADLINE)
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
        # The ping gives up after the deadline, or the readiness deadline (the same) is reached
        # first on a loaded machine: either way the log says the database did not answer in time.
        assert (
            f"did not answer within {READINESS_DEADLINE} s" in caplog.text
            or "readiness check database is timeout: no answer within health_check_timeout "
            f"({READINESS_DEADLINE} s)"
            in caplog.text
        )
        # Back in the rotation within seconds (docs/operations.md): a probe arriving while the
        # outage's last check still runs shares that check's answer, the next one starts anew.
        wait_for(
            lambda: app.test_client().get("/health/ready").status_code == 200,
            timeout=10,
            what="/health/ready answering 200 once the server is back",
        )
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


# -- a worker started during an outage (santeid.startup) --------------------------------------

#: Seconds within which Granian takes a worker that ends after its start for a crash loop and
#: stops the whole server (5.5 s, ``granian.server.common``); gunicorn stops at once when a
#: worker fails to boot. A worker still running after this has started.
CRASH_LOOP = 6.5
#: A client of the server processes (client_credentials: each token needs the database).
RP = {
    "client_id": "rp-restart",
    "client_name": "rp-restart",
    "client_secret": SECRET,
    "redirect_uris": ["https://rp.example/cb"],
    "grant_types": ["client_credentials", "authorization_code"],
}


def _fetch(server, method: str, path: str, **kwargs):
    """One request on a connection of its own (``Connection: close``), so that requests are
    shared between the workers as new clients' are."""
    import requests

    headers = {"Connection": "close", **kwargs.pop("headers", {})}
    return requests.request(
        method,
        f"{server.base}{path}",
        headers=headers,
        verify=server.ca or True,
        timeout=HUNG,
        allow_redirects=False,
        **kwargs,
    )


def _token(server):
    return _fetch(
        server,
        "POST",
        f"{TOKEN}",
        data={"grant_type": "client_credentials"},
        auth=(RP["client_id"], SECRET),
    )


def _authorize(server):
    query = "response_type=code&scope=openid&redirect_uri=https%3A%2F%2Frp.example%2Fcb"
    path = "/auth/realms/esante-wallet/protocol/openid-connect/auth"
    return _fetch(server, "GET", f"{path}?client_id={RP['client_id']}&{query}")


def _live_but_not_ready(server, *, down: str, up: str) -> None:
    """``/health/live`` answers 200, ``/health/ready`` 503 naming ``down`` (and not ``up``)."""
    assert _fetch(server, "GET", "/health/live").status_code == 200
    ready = _fetch(server, "GET", "/health/ready")
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks[down]["status"] in ("down", "timeout"), checks
    assert checks[up]["status"] == "up", checks


def _wait_for_both_workers(server) -> None:
    """Until both workers of ``server`` hold a socket listening on its port (the server
    answered its readiness probe from one of them): under Granian (a socket of its own per
    worker) once its application is built; under gunicorn (the master's socket) from the
    start, a connection waiting for a worker ready to accept it."""
    from tests.support.servers import LISTENING
    from tests.support.servers import child_pids
    from tests.support.servers import tcp_sockets

    def listens(pid: int) -> bool:
        return any(
            local == server.port and state == LISTENING for local, _, state in tcp_sockets(pid)
        )

    deadline = time.monotonic() + HUNG
    while len(workers := child_pids(server.process.pid)) != 2 or not all(map(listens, workers)):
        assert time.monotonic() < deadline, "the workers did not both start"
        time.sleep(0.05)


def _kill_a_worker_and_watch(server, during) -> int:
    """SIGKILL one worker of ``server``; until its replacement has outlived :data:`CRASH_LOOP`,
    ``during()`` is called again and again (the probes of the outage). The master, the other
    worker and the replacement must all be running at the end. Returns the replacement."""
    import os
    import signal

    from tests.support.servers import child_pids

    victim, survivor = child_pids(server.process.pid)
    os.kill(victim, signal.SIGKILL)
    replaced = time.monotonic()
    replacement = None
    while time.monotonic() - replaced < HUNG:
        others = set(child_pids(server.process.pid)) - {victim, survivor}
        if others:
            replacement = others.pop()
            break
        assert server.process.poll() is None, server.log.read_text()[-3000:]
        time.sleep(0.05)
    assert replacement is not None, "no worker started in place of the one killed"
    started = time.monotonic()
    while time.monotonic() - started < CRASH_LOOP:
        during()
    assert server.process.poll() is None, "the server stopped: " + server.log.read_text()[-3000:]
    assert child_pids(server.process.pid) == sorted([survivor, replacement])
    return replacement


def _tls_args(tmp_path) -> tuple[list[str], str]:
    """``--tls-cert``/``--tls-key`` of a development certificate, and its authority."""
    from tests.support.servers import santeid_home

    tls = tmp_path / "tls"
    santeid_home(tmp_path / "tls-home").cli("tls", "dev-cert", "--out", str(tls))
    return ["--tls-cert", str(tls / "cert.pem"), "--tls-key", str(tls / "key.pem")], str(
        tls / "ca.pem"
    )


@pytest.mark.server
@pytest.mark.redis
@pytest.mark.parametrize("layout", ["granian", "gunicorn"])
def test_a_worker_restarted_during_an_outage_serves_and_every_worker_recovers(
    own_postgres, redis_server, tmp_path, layout
):
    """``santeid serve --workers 2`` on PostgreSQL, both layouts (Granian over HTTP, gunicorn
    over direct TLS): while the database is stopped, one worker is killed. The server starts
    another, which starts through the outage: the master and the other worker keep running,
    ``/health/live`` answers 200 and ``/health/ready`` 503 naming the database, what needs the
    database answers its 503 (never a 500), what does not is served. Once the database is
    back, every worker serves everything, nothing restarted by hand (docs/deployment.md,
    "Outages"; santeid.startup)."""
    from tests.support.postgres_server import fresh_schema
    from tests.support.servers import santeid_process
    from tests.support.servers import tcp_sockets

    args, ca = ["--sandbox", "--workers", "2"], None
    if layout == "gunicorn":
        tls, ca = _tls_args(tmp_path)
        args += tls
    store = redis_server.url.rsplit("/", 1)[0] + "/11"
    with (
        fresh_schema(own_postgres.admin_url) as url,
        santeid_process(
            tmp_path,
            args=args,
            ca=ca,
            clients=[RP],
            log_name=f"{layout}.log",
            SANTEID_DATABASE_URL=url,
            SANTEID_STORE_URL=store,
            SANTEID_HEALTH_CHECK_TIMEOUT="1",
        ) as server,
    ):
        _wait_for_both_workers(server)
        assert _token(server).status_code == 200
        own_postgres.shut_down()
        try:

            def during() -> None:
                _live_but_not_ready(server, down="database", up="store")
                jwks = _fetch(
                    server, "GET", "/auth/realms/esante-wallet/protocol/openid-connect/certs"
                )
                assert jwks.status_code == 200
                token = _token(server)
                assert token.status_code == 503, token.text
                assert token.json()["error"] == "temporarily_unavailable"
                assert token.headers["Retry-After"] == "5"
                assert _authorize(server).status_code == 503

            replacement = _kill_a_worker_and_watch(server, during)
        finally:
            own_postgres.start_again()
        back = time.monotonic()
        while _token(server).status_code != 200 and time.monotonic() - back < RECOVERY:
            time.sleep(0.2)
        # Every worker: each request on a new connection, any worker's to take.
        statuses = [(_token(server).status_code, _authorize(server).status_code) for _ in range(24)]
        assert set(statuses) == {(200, 302)}, statuses
        assert _fetch(server, "GET", "/health/ready").status_code == 200
        # The worker started during the outage among them: connected to the database since.
        assert own_postgres.port in {remote for _, remote, _ in tcp_sockets(replacement)}
        assert "start-up: checking the schemas skipped: the database is unavailable" in (
            server.log.read_text()
        )


def test_a_worker_starts_through_an_outage_and_serves_once_the_database_is_back(
    own_postgres, tmp_path
):
    """The rule of santeid.startup, in one process: while the database is stopped, a first
    start stops, naming it; a worker's start goes on, and its requests needing the database
    answer 503 until it is back, then succeed — the tables made on first use, as no start
    made them (a new schema)."""
    from santeid.settings import ConfigurationError
    from tests.support.postgres_server import fresh_schema

    with fresh_schema(own_postgres.admin_url) as url:
        settings = _settings(tmp_path, url)
        own_postgres.shut_down()
        try:
            with pytest.raises(
                ConfigurationError, match="the database is unavailable, and a first start"
            ):
                create_app(settings, store=MemoryStore())
            db.close_shared(url)
            app = create_app(settings, store=MemoryStore(), first_start=False)
            client = app.test_client()
            assert client.get("/health/live").status_code == 200
            assert client.get("/health/ready").get_json()["checks"]["database"]["status"] != "up"
            clients = app.extensions["santeid"].clients
            with pytest.raises(db.DatabaseUnavailable):
                clients.get("anyone")
            answer = client.post(
                TOKEN,
                data={"grant_type": "client_credentials"},
                headers={"Authorization": "Basic cnA6c2VjcmV0"},
            )
            assert answer.status_code == 503
            assert answer.get_json()["error"] == "temporarily_unavailable"
        finally:
            own_postgres.start_again()
        try:
            clients.add(
                {
                    "client_id": "rp",
                    "client_secret": SECRET,
                    "redirect_uris": ["https://rp/cb"],
                    "grant_types": ["client_credentials"],
                }
            )
            basic = base64.b64encode(f"rp:{SECRET}".encode()).decode()
            answer = client.post(
                TOKEN,
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {basic}"},
            )
            assert answer.status_code == 200, answer.get_json()
            assert client.get("/health/ready").status_code == 200
        finally:
            db.close_shared(url)


def test_a_configuration_error_still_stops_a_worker(own_postgres, tmp_path):
    """An outage is all a worker's start gets past: a schema behind this santeid with
    ``database_auto_upgrade`` off stops it as it stops a first start."""
    from santeid.db import SchemaOutdated
    from tests.support.postgres_server import fresh_schema

    with fresh_schema(own_postgres.admin_url) as url:
        settings = _settings(tmp_path, url, database_auto_upgrade=False)
        try:
            for first_start in (True, False):
                with pytest.raises(SchemaOutdated, match="run `santeid db upgrade`"):
                    create_app(settings, store=MemoryStore(), first_start=first_start)
        finally:
            db.close_shared(url)


@pytest.mark.server
@pytest.mark.redis
def test_a_first_start_during_an_outage_stops_and_says_why(own_postgres, redis_server, tmp_path):
    """``santeid serve --workers 2`` while the database is stopped: the first start cannot
    check the configuration that lives there (schemas, registered clients), so it stops with
    one line naming the database, before any worker starts."""
    from tests.support.servers import refused_start

    own_postgres.shut_down()
    try:
        result = refused_start(
            tmp_path,
            "--workers",
            "2",
            SANTEID_DATABASE_URL=own_postgres.admin_url,
            SANTEID_STORE_URL=redis_server.url.rsplit("/", 1)[0] + "/11",
        )
    finally:
        own_postgres.start_again()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Error: the database is unavailable, and a first start needs it" in (result.stderr)
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.server
@pytest.mark.redis
def test_a_worker_restarted_while_the_store_is_down_serves_and_every_worker_recovers(
    disposable_redis, tmp_path
):
    """The same with the token store (Redis) stopped instead: no start-up work needs it, so a
    worker started meanwhile serves what does not need the store, ``/health/ready`` answers 503
    naming the store, and every worker serves everything once Redis is back."""
    from tests.support.servers import santeid_process

    args = ["--sandbox", "--workers", "2"]
    with santeid_process(
        tmp_path,
        args=args,
        clients=[RP],
        SANTEID_STORE_URL=disposable_redis.url,
        SANTEID_HEALTH_CHECK_TIMEOUT="1",
    ) as server:
        _wait_for_both_workers(server)
        assert _authorize(server).status_code == 302
        disposable_redis.stop()
        try:

            def during() -> None:
                _live_but_not_ready(server, down="store", up="database")
                assert _token(server).status_code == 200  # a signed token, nothing stored
                assert _authorize(server).status_code == 503  # a login transaction

            _kill_a_worker_and_watch(server, during)
        finally:
            disposable_redis.start()
        statuses = {_authorize(server).status_code for _ in range(24)}
        assert statuses == {302}, statuses
        assert _fetch(server, "GET", "/health/ready").status_code == 200


def test_a_worker_started_during_an_outage_serves_on_a_schema_migrated_meanwhile(
    own_postgres, tmp_path
):
    """A worker that started while the database was stopped checked no schema; a newer
    release migrated the database before it came back (a roll-out under way). On first use
    the worker finds the schema newer than it knows and serves on, as a worker whose start
    found it so (santeid.db.schemas.prepare); every request needing the database answered 500
    instead, until the worker was restarted."""
    from tests.db.test_rolling_upgrade import _newer_release_upgrades
    from tests.support.postgres_server import fresh_schema

    with fresh_schema(own_postgres.admin_url) as url:
        settings = _settings(tmp_path, url)
        first = create_app(settings, store=MemoryStore())
        first.extensions["santeid"].clients.add(
            {"client_id": "rp", "client_secret": SECRET, "redirect_uris": ["https://rp/cb"],
             "grant_types": ["client_credentials"]}
        )  # fmt: skip
        db.close_shared(url)
        own_postgres.shut_down()
        try:
            worker = create_app(settings, store=MemoryStore(), first_start=False)
        finally:
            own_postgres.start_again()
        try:
            _newer_release_upgrades(url)
            basic = base64.b64encode(f"rp:{SECRET}".encode()).decode()
            answer = worker.test_client().post(
                TOKEN,
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {basic}"},
            )
            assert answer.status_code == 200, answer.get_data(as_text=True)
        finally:
            db.close_shared(url)
