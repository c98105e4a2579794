"""Schema versions and migrations (``santeid.db``), ``santeid db upgrade|status`` and
``santeid db migrate-from-sqlite``, on SQLite and a real PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner

from santeid import create_app
from santeid import db
from santeid.cli import main
from santeid.db import copy
from santeid.db.schemas import all_schemas
from santeid.ecps.devices import DeviceRepository
from santeid.insi.audit import AuditLog
from santeid.insi.audit import SoftwareRegistry
from santeid.insi.model import CallContext
from santeid.messaging import Message
from santeid.messaging import OutboxSender
from santeid.oidc.clients import SCHEMA as CLIENTS_SCHEMA
from santeid.oidc.clients import ClientRegistry
from santeid.settings import ConfigurationError
from santeid.settings import Settings
from santeid.settings import validate
from santeid.storage import MemoryStore

#: The clients tables' current version (each new column a step).
CLIENTS = CLIENTS_SCHEMA.version

#: The width of the table names in ``migrate-from-sqlite``'s report.
WIDTH = max(len(table.name) for table in copy.copied_tables())

SAMPLE = db.Schema(
    db.Component("sample", "sample.sqlite3"),
    (
        db.Step(("CREATE TABLE sample (id TEXT PRIMARY KEY)",)),
        db.Step(("ALTER TABLE sample ADD COLUMN note TEXT NOT NULL DEFAULT ''",)),
    ),
)


def test_upgrade_applies_the_missing_steps_once(database):
    first = db.Schema(SAMPLE.component, SAMPLE.steps[:1])
    assert db.upgrade(database, first) == (0, 1)
    database.execute("INSERT INTO sample (id) VALUES (?)", ("kept",))
    assert db.upgrade(database, SAMPLE) == (1, 2)
    assert db.upgrade(database, SAMPLE) == (2, 2)
    assert database.execute("SELECT id, note FROM sample").rows == [("kept", "")]
    assert db.current_version(database, SAMPLE) == 2


def test_a_failing_step_changes_nothing(database):
    broken = db.Schema(
        SAMPLE.component,
        (*SAMPLE.steps, db.Step(("CREATE TABLE extra (x TEXT)", "THIS IS NOT SQL"))),
    )
    with pytest.raises(db.DatabaseError):
        db.upgrade(database, broken)
    assert db.current_version(database, SAMPLE) == 0
    # Nothing of the failed upgrade remains: the first steps apply cleanly afterwards.
    assert db.upgrade(database, SAMPLE) == (0, 2)


def test_a_schema_newer_than_known_is_refused_with_what_to_do(database):
    db.upgrade(database, SAMPLE)
    older = db.Schema(SAMPLE.component, SAMPLE.steps[:1])
    with pytest.raises(db.SchemaTooNew, match="version 2, newer than the 1 this santeid knows"):
        db.upgrade(database, older)
    with pytest.raises(db.SchemaTooNew):
        db.ensure(database, older)


def test_without_auto_upgrade_an_outdated_schema_is_refused(database):
    database.auto_upgrade = False
    with pytest.raises(db.SchemaOutdated, match="run `santeid db upgrade`"):
        db.ensure(database, SAMPLE)
    database.auto_upgrade = True
    db.ensure(database, SAMPLE)
    assert db.current_version(database, SAMPLE) == 2


def test_postgresql_placeholders_leave_quoted_text_alone():
    assert db.backends.postgres_sql("SELECT '?', \"a?\" FROM t WHERE x = ? AND y LIKE 'a%'") == (
        "SELECT '?', \"a?\" FROM t WHERE x = %s AND y LIKE 'a%%'"
    )


def test_database_url_forms(tmp_path):
    assert isinstance(db.open_url(f"sqlite:///{tmp_path}/x.sqlite3"), db.SqliteDatabase)
    assert db.open_url(f"sqlite:///{tmp_path}/x.sqlite3").path == tmp_path / "x.sqlite3"
    assert isinstance(db.open_url("postgresql://u:p@h/d?sslmode=verify-full"), db.PostgresDatabase)
    for bad in ("mysql://h/d", "sqlite://host/x"):
        with pytest.raises(ConfigurationError):
            db.open_url(bad)
    assert db.redact("postgresql://u:secret@h/d") == "postgresql://u:***@h/d"
    with pytest.raises(ConfigurationError, match="database_url"):
        validate(Settings(database_url="mysql://x"))


# -- the command line and the start-up -----------------------------------------------------


def _run(env: dict, *args: str, ok: bool = True):
    result = CliRunner().invoke(main, list(args), env={"SANTEID_CONFIG": "", **env})
    assert (result.exit_code == 0) == ok, result.output
    return result


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return ""  # the embedded files
    return request.getfixturevalue("postgres_url")


def test_db_upgrade_and_status(database_url, tmp_path):
    env = {"SANTEID_DATA_DIR": str(tmp_path / "var"), "SANTEID_DATABASE_URL": database_url}
    out = _run(env, "db", "status").output
    assert f"clients  0 of {CLIENTS} (" in out and "run `santeid db upgrade`)" in out
    out = _run(env, "db", "upgrade").output
    for schema in all_schemas():
        assert f"{schema.component.name:<8} version {schema.version} (upgraded from 0)" in out
    out = _run(env, "db", "upgrade").output
    assert "(up to date)" in out and "upgraded" not in out
    assert "of 1 (current)" in _run(env, "db", "status").output


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://u:secret@[bad/db", "'postgresql://… (not a valid URL)' is not a valid URL"),
        ("postgresql://u:secret@host:99999/db", "is not a valid URL: Port out of range"),
        ("sqlite:///", "write sqlite:///relative/path or sqlite:////absolute/path"),
    ],
)
@pytest.mark.parametrize("command", ["status", "upgrade"])
def test_db_commands_refuse_a_database_url_they_cannot_open_without_a_traceback(
    tmp_path, url, says, command
):
    result = _run({"SANTEID_DATA_DIR": str(tmp_path / "var"), "SANTEID_DATABASE_URL": url},
                  "db", command, ok=False)  # fmt: skip
    assert says in result.output
    assert "secret" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    with pytest.raises(ConfigurationError, match="database_url"):
        Settings(database_url=url)


@pytest.mark.postgres
@pytest.mark.parametrize("command", ["status", "upgrade"])
def test_db_commands_on_a_postgresql_database_not_created_yet(
    postgres_admin_url, tmp_path, command
):
    """santeid never creates a PostgreSQL database (its administrator does, with the role
    owning it: docs/deployment.md), so one not created yet is no "version 0, run santeid db
    upgrade" as a missing SQLite file is: both commands say what libpq says, naming the
    database once (not as the error of one component), exit status 1, and create nothing."""
    import psycopg

    name = f"santeid_absent_{uuid.uuid4().hex[:8]}"
    url = postgres_admin_url.rsplit("/", 1)[0] + f"/{name}"
    result = _run({"SANTEID_DATA_DIR": str(tmp_path / "var"), "SANTEID_DATABASE_URL": url},
                  "db", command, ok=False)  # fmt: skip
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.output.splitlines()[0] == f"database: {url}"
    error = result.output.splitlines()[1:]
    assert len(error) == 1 and error[0].startswith(f"Error: {url}: connection failed: "), error
    assert f'database "{name}" does not exist' in error[0]
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchall()
    assert found == []


def test_db_status_check_exits_non_zero_unless_every_schema_is_current(database_url, tmp_path):
    """A deployment script asks ``db status --check`` before starting servers (as
    ``manage.py migrate --check`` or ``alembic check``): exit 1 while an upgrade is due,
    0 once current; without ``--check`` the command only shows (exit 0)."""
    env = {"SANTEID_DATA_DIR": str(tmp_path / "var"), "SANTEID_DATABASE_URL": database_url}
    _run(env, "db", "status")
    due = _run(env, "db", "status", "--check", ok=False)
    assert due.exit_code == 1 and "run `santeid db upgrade`" in due.output
    _run(env, "db", "upgrade")
    assert "(current)" in _run(env, "db", "status", "--check").output


def test_db_status_only_reads(tmp_path):
    """A database that does not exist is shown at version 0, and still does not exist."""
    missing = tmp_path / "nowhere" / "x.sqlite3"
    out = _run({"SANTEID_DATA_DIR": str(tmp_path / "var"), "SANTEID_DATABASE_URL":
                f"sqlite:///{missing}"}, "db", "status").output  # fmt: skip
    assert f"clients  0 of {CLIENTS} (no database yet: run `santeid db upgrade`)" in out
    assert not (tmp_path / "nowhere").exists()
    out = _run({"SANTEID_DATA_DIR": str(tmp_path / "var"), "SANTEID_DATABASE_URL": ""},
               "db", "status").output  # fmt: skip
    assert "no database yet" in out
    assert not list((tmp_path / "var").glob("*.sqlite3"))
    # An existing file without the version table: read, not written.
    import sqlite3

    existing = tmp_path / "other.sqlite3"
    sqlite3.connect(existing).close()
    out = _run({"SANTEID_DATA_DIR": str(tmp_path / "var"), "SANTEID_DATABASE_URL":
                f"sqlite:///{existing}"}, "db", "status").output  # fmt: skip
    assert f"clients  0 of {CLIENTS} (run `santeid db upgrade`)" in out
    tables = sqlite3.connect(existing).execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == []


def test_a_server_refuses_to_start_on_a_newer_schema(tmp_path):
    settings = Settings(data_dir=str(tmp_path / "var"), keys_dir=str(tmp_path / "k"), sandbox=True)
    clients = db.database_for(settings, db.CLIENTS)
    db.upgrade(clients, all_schemas()[0])
    clients.execute("UPDATE santeid_schema SET version = 99 WHERE component = 'clients'")
    with pytest.raises(ConfigurationError, match=f"newer than the {CLIENTS} this santeid knows"):
        create_app(settings, store=MemoryStore())
    env = {"SANTEID_DATA_DIR": settings.data_dir, "SANTEID_DATABASE_URL": ""}
    assert f"newer than the {CLIENTS}" in _run(env, "db", "upgrade", ok=False).output


def test_db_status_on_a_newer_schema_still_lists_every_component_and_says_what_is_needed(
    tmp_path,
):
    """The versions found, every component's, and which release can use them: a newer one
    than this, that knows the version found; exit status 1, with --check or not."""
    settings = Settings(data_dir=str(tmp_path / "var"), keys_dir=str(tmp_path / "k"), sandbox=True)
    for schema in all_schemas():
        db.upgrade(db.database_for(settings, schema.component), schema)
    clients = db.database_for(settings, db.CLIENTS)
    clients.execute("UPDATE santeid_schema SET version = 99 WHERE component = 'clients'")
    env = {"SANTEID_DATA_DIR": settings.data_dir, "SANTEID_DATABASE_URL": ""}
    known = {schema.component.name: schema.version for schema in all_schemas()}
    for check in ((), ("--check",)):
        out = _run(env, "db", "status", *check, ok=False).output
        assert f"clients  99 of {known['clients']} (newer than this santeid knows" in out, out
        for name, version in known.items():
            if name != "clients":
                assert f"{name:<8} {version} of {version} (current)" in out, out
        assert "a santeid release newer than this one" in out
        assert "that knows version 99 of clients" in out
        assert "Traceback" not in out


def test_a_server_with_auto_upgrade_off_needs_db_upgrade_first(tmp_path):
    settings = Settings(
        data_dir=str(tmp_path / "var"),
        keys_dir=str(tmp_path / "k"),
        sandbox=True,
        database_auto_upgrade=False,
    )
    with pytest.raises(ConfigurationError, match="santeid db upgrade"):
        create_app(settings, store=MemoryStore())
    _run({"SANTEID_DATA_DIR": settings.data_dir}, "db", "upgrade")
    create_app(settings, store=MemoryStore())


# -- migrate-from-sqlite ---------------------------------------------------------------------


@pytest.mark.postgres
def test_migrate_from_sqlite_copies_everything_once(tmp_path, postgres_url):
    embedded = Settings(data_dir=str(tmp_path / "var"))
    ClientRegistry.for_settings(embedded).add(
        {"client_id": "rp", "client_secret": "s" * 20, "redirect_uris": ["https://rp/cb"]}
    )
    devices = DeviceRepository.for_settings(embedded)
    device = devices.create(
        national_id="810000000001",
        public_jwk={"kty": "EC"},
        jwk_thumbprint="t1",
        pin_hash="h",
        totp_secret="s",
    )
    devices.revoke(device.device_id)
    from santeid.cps.registry import CardRegistry

    CardRegistry.for_settings(embedded).revoke("ABCD", "stolen")
    audit = AuditLog(db.database_for(embedded, db.INSI), key_path=tmp_path / "k")
    SoftwareRegistry(audit.db).add("LOGICIEL-A", "A")
    ctx = CallContext("LOGICIEL-A", None, None, "rest", "bearer")
    for _ in range(3):
        audit.record(ctx, "rechercherInsAvecTraitsIdentite", "00")
    audit.flush()
    month = audit.rows()[0]["at"][:7]
    OutboxSender.for_settings(embedded).send(Message("sms", "+33600000000", "", "code 1"))

    env = {"SANTEID_DATA_DIR": str(tmp_path / "other"), "SANTEID_DATABASE_URL": postgres_url}
    out = _run(env, "db", "migrate-from-sqlite", str(tmp_path / "var")).output
    for table, count in (("client", 1), ("devices", 1), ("cards", 1), ("software", 1),
                         ("audit", 3), ("outbox", 1)):  # fmt: skip
        assert f"{table:<{WIDTH}} {count:>8} rows in the source, {count:>8} copied" in out, out

    target = Settings(data_dir=str(tmp_path / "other"), database_url=postgres_url)
    assert ClientRegistry.for_settings(target).get("rp") is not None
    assert DeviceRepository.for_settings(target).get(device.device_id).status == "revoked"
    assert CardRegistry.for_settings(target).get("ABCD").revocation_reason == "stolen"
    copied = AuditLog(db.database_for(target, db.INSI), key_path=tmp_path / "k")
    assert copied.stats(None, month)["total"] == 3
    # Identity columns continue after the copied ids.
    copied.record(ctx, "rechercherInsAvecTraitsIdentite", "01")
    assert copied.rows()[0]["id"] == 4
    outbox = OutboxSender.for_settings(target)
    outbox.send(Message("sms", "+33600000000", "", "code 2"))
    assert [m.body for m in outbox.latest()] == ["code 2", "code 1"]

    again = _run(env, "db", "migrate-from-sqlite", str(tmp_path / "var")).output
    assert (
        f"{'audit':<{WIDTH}} {3:>8} rows in the source, {0:>8} copied, {3:>8} already there"
    ) in again
    assert copied.stats(None, month)["total"] == 4  # 3 copied once, plus the new call


@pytest.mark.postgres
def test_copying_again_before_switching_over_carries_revocations_and_removals(
    tmp_path, postgres_url
):
    """docs/deployment.md: the copy is run once more just before switching over, "to pick up
    what arrived since". What changed since is also a revoked device or card, a removed client
    or INSi software number: the second copy carries them, as it carries new rows. Before, a
    row already copied was "already there" whatever its values: the revoked phone and card were
    active again once the hosts served from PostgreSQL, the removed client could log in."""
    from santeid.cps.registry import CardRegistry
    from santeid.ecps.push import PushSubscription
    from santeid.ecps.push import PushSubscriptionRepository
    from tests.db.test_repository_contracts import _certificate

    source = Settings(data_dir=str(tmp_path / "var"))
    clients = ClientRegistry.for_settings(source)
    for client_id in ("rp-kept", "rp-removed"):
        clients.add(
            {"client_id": client_id, "client_secret": "s" * 20, "redirect_uris": ["https://rp/cb"]}
        )
    devices = DeviceRepository.for_settings(source)
    phone = devices.create(
        national_id="810000000001",
        public_jwk={"kty": "EC"},
        jwk_thumbprint="t1",
        pin_hash="h",
        totp_secret="s",
    )
    subscriptions = PushSubscriptionRepository(devices.db)
    subscriptions.put(PushSubscription(phone.device_id, "https://push.example/1", "k", "a"))
    cards = CardRegistry.for_settings(source)
    cards.record_issued(_certificate(0xABCD), "810000000001")
    software = SoftwareRegistry(db.database_for(source, db.INSI))
    software.add("LOGICIEL-A", "A")

    env = {"SANTEID_DATA_DIR": str(tmp_path / "other"), "SANTEID_DATABASE_URL": postgres_url}
    _run(env, "db", "migrate-from-sqlite", str(tmp_path / "var"))
    # The embedded installation goes on serving until the switch-over.
    devices.revoke(phone.device_id)
    subscriptions.delete(phone.device_id)
    cards.revoke("ABCD", "stolen")
    clients.remove("rp-removed")
    software.remove("LOGICIEL-A")
    out = _run(env, "db", "migrate-from-sqlite", str(tmp_path / "var")).output

    target = Settings(data_dir=str(tmp_path / "other"), database_url=postgres_url)
    assert DeviceRepository.for_settings(target).get(phone.device_id).status == "revoked"
    assert CardRegistry.for_settings(target).get("ABCD").revocation_reason == "stolen"
    target_clients = ClientRegistry.for_settings(target)
    assert target_clients.get("rp-removed") is None
    assert target_clients.get("rp-kept") is not None
    target_insi = db.database_for(target, db.INSI)
    assert target_insi.execute("SELECT count(*) FROM software").scalar() == 0
    assert target_insi.execute("SELECT count(*) FROM push_subscriptions").scalar() == 0
    for table, source_rows, updated, removed in (
        ("devices", 1, 1, 0),
        ("cards", 1, 1, 0),
        ("client", 1, 0, 1),
        ("software", 0, 0, 1),
        ("push_subscriptions", 0, 0, 1),
    ):
        assert (
            f"{table:<{WIDTH}} {source_rows:>8} rows in the source, {0:>8} copied, "
            f"{source_rows - updated:>8} already there, {updated:>8} updated, "
            f"{removed:>8} removed"
        ) in out, out


@pytest.mark.postgres
def test_migrate_from_sqlite_refuses_files_of_a_newer_release_before_copying_anything(
    tmp_path, postgres_url
):
    """Files a newer santeid upgraded, copied by this one: refused at once with the version
    found and what to do, nothing copied. Before, the copy went table by table until the first
    column it did not know (``column "…" does not exist``), the tables before it copied."""
    source = Settings(data_dir=str(tmp_path / "var"))
    ClientRegistry.for_settings(source).add(
        {"client_id": "rp", "client_secret": "s" * 20, "redirect_uris": ["https://rp/cb"]}
    )
    devices = DeviceRepository.for_settings(source)
    devices.create(
        national_id="810000000001",
        public_jwk={"kty": "EC"},
        jwk_thumbprint="t1",
        pin_hash="h",
        totp_secret="s",
    )
    with devices.db.transaction() as conn:  # what a newer release's step would do
        conn.execute("ALTER TABLE devices ADD COLUMN added_later TEXT NOT NULL DEFAULT ''")
        conn.execute("UPDATE santeid_schema SET version = version + 1 WHERE component = 'ecps'")
    env = {"SANTEID_DATA_DIR": str(tmp_path / "other"), "SANTEID_DATABASE_URL": postgres_url}
    out = _run(env, "db", "migrate-from-sqlite", str(tmp_path / "var"), ok=False).output
    assert "the ecps tables of sqlite:///" in out and "ecps.sqlite3 are at schema version" in out
    assert "newer than the" in out and "Traceback" not in out, out
    target = db.open_url(postgres_url)
    try:
        copied = target.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'client'"
            " AND table_schema = current_schema()"
        ).scalar()
        assert not copied or target.execute("SELECT count(*) FROM client").scalar() == 0
    finally:
        target.close()


@pytest.mark.postgres
def test_migrate_from_sqlite_refuses_a_folder_without_an_installation(tmp_path, postgres_url):
    """The installation's home given instead of its data_dir (``/var/lib/santeid`` for
    ``/var/lib/santeid/var``), or a mistyped path: no file of any component is there. Refused,
    exit 1, nothing written; it printed "0 rows in the source" for every table and exited 0,
    and the hosts were switched over to an empty database."""
    source = Settings(data_dir=str(tmp_path / "var"))
    ClientRegistry.for_settings(source).add(
        {"client_id": "rp", "client_secret": "s" * 20, "redirect_uris": ["https://rp/cb"]}
    )
    env = {"SANTEID_DATA_DIR": str(tmp_path / "other"), "SANTEID_DATABASE_URL": postgres_url}
    out = _run(env, "db", "migrate-from-sqlite", str(tmp_path), ok=False).output
    assert f"{tmp_path} holds no file of an embedded installation" in out, out
    assert "santeid.sqlite3" in out and "Traceback" not in out, out
    target = db.open_url(postgres_url)
    try:
        created = target.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'client'"
            " AND table_schema = current_schema()"
        ).scalar()
        assert not created
    finally:
        target.close()


@pytest.mark.postgres
def test_a_second_installation_s_rows_never_vanish_under_the_first_s_ids(tmp_path, postgres_url):
    """Two embedded installations number their audit rows alike: the second copy stops on a
    row whose id the first's already holds, naming it, instead of counting it "already
    there"; true duplicates (the first installation copied again) still are."""
    ctx = CallContext("LOGICIEL-A", None, None, "rest", "bearer")
    for name, results in (("one", ("00", "01")), ("two", ("00", "02", "02"))):
        audit = AuditLog(
            db.database_for(Settings(data_dir=str(tmp_path / name)), db.INSI),
            key_path=tmp_path / "k",
        )
        for result in results:
            audit.record(ctx, f"call-{name}", result)
        audit.flush()
    env = {"SANTEID_DATA_DIR": str(tmp_path / "other"), "SANTEID_DATABASE_URL": postgres_url}
    _run(env, "db", "migrate-from-sqlite", str(tmp_path / "one"))
    out = _run(env, "db", "migrate-from-sqlite", str(tmp_path / "two"), ok=False).output
    assert "audit: 2 rows of the source have an id the database already gives to a" in out
    assert "(ids 1, 2)" in out and "Traceback" not in out
    target = db.database_for(Settings(data_dir=str(tmp_path / "o"), database_url=postgres_url),
                             db.INSI)  # fmt: skip
    assert [r[0] for r in target.execute("SELECT operation FROM audit ORDER BY id")] == [
        "call-one",
        "call-one",
    ]
    again = _run(env, "db", "migrate-from-sqlite", str(tmp_path / "one")).output
    assert f"{'audit':<{WIDTH}} {2:>8} rows in the source, {0:>8} copied, {2:>8} already" in again


def _fill_every_table(settings: Settings, key_path) -> None:
    """At least one row in every table of every component, through the repositories."""
    from santeid.cps.registry import CardRegistry
    from santeid.ecps.push import PushSubscription
    from santeid.ecps.push import PushSubscriptionRepository
    from santeid.observability.events import Event
    from santeid.observability.events import EventStore

    ClientRegistry.for_settings(settings).add(
        {"client_id": "rp", "client_secret": "s" * 20, "redirect_uris": ["https://rp/cb"]}
    )
    OutboxSender.for_settings(settings).send(Message("sms", "+33600000000", "", "code 1"))
    devices = DeviceRepository.for_settings(settings)
    for n in (1, 2):
        device = devices.create(
            national_id=f"81000000000{n}",
            public_jwk={"kty": "EC", "n": n},
            jwk_thumbprint=f"t{n}",
            pin_hash="h",
            totp_secret="s",
        )
        PushSubscriptionRepository(devices.db).put(
            PushSubscription(device.device_id, f"https://push.example/{n}", "p256dh", "auth")
        )
    CardRegistry.for_settings(settings).revoke("ABCD", "stolen")
    audit = AuditLog(db.database_for(settings, db.INSI), key_path=key_path)
    SoftwareRegistry(audit.db).add("LOGICIEL-A", "A")
    ctx = CallContext("LOGICIEL-A", None, None, "rest", "bearer")
    for result in ("00", "00", "01"):
        audit.record(ctx, "rechercherInsAvecTraitsIdentite", result)
    audit.flush()
    events = EventStore.for_settings(settings)
    events.add(Event(at=1_700_000_000, type="LOGIN", client_id="rp", professional="810000000001",
                     auth_mode="MOBILE", details={"acr": "eidas1"}))  # fmt: skip
    events.add(Event(at=1_700_000_001, type="LOGIN_ERROR", reason="expired_code"))


def _table_rows(database: db.Database, table: str, columns: str = "*") -> tuple[tuple, list]:
    result = database.execute(f"SELECT {columns} FROM {table}")  # noqa: S608 (schema names)
    return result.columns, sorted(result.rows, key=repr)


@pytest.mark.postgres
def test_migrate_from_sqlite_copies_every_table_of_every_component(
    tmp_path, postgres_url, monkeypatch
):
    monkeypatch.setattr(copy, "BATCH_ROWS", 2)  # the tables of several rows take two batches
    source = Settings(data_dir=str(tmp_path / "var"))
    _fill_every_table(source, tmp_path / "k")
    for table in copy.all_tables():
        found = _table_rows(db.database_for(source, table.component), table.name)[1]
        assert found, f"give {table.name} ({table.component.name}) a row in _fill_every_table"

    env = {"SANTEID_DATA_DIR": str(tmp_path / "other"), "SANTEID_DATABASE_URL": postgres_url}
    _run(env, "db", "migrate-from-sqlite", str(tmp_path / "var"))

    target = Settings(data_dir=str(tmp_path / "other"), database_url=postgres_url)
    for table in copy.all_tables():  # the tables not copied (recounted) come out equal too
        columns, rows = _table_rows(db.database_for(source, table.component), table.name)
        copied = _table_rows(db.database_for(target, table.component), table.name,
                             ", ".join(columns))[1]  # fmt: skip
        assert copied == rows, table.name
    # The events' identity column continues after the copied ids.
    from santeid.observability.events import Event
    from santeid.observability.events import EventStore

    events = EventStore.for_settings(target)
    events.add(Event(at=1_700_000_002, type="LOGOUT"))
    assert events.db.execute("SELECT max(id) FROM auth_events").scalar() == 3


def test_every_table_of_every_component_is_copied_or_says_why_not(database):
    """A table a new schema step adds is copied by ``migrate-from-sqlite`` unless it is listed
    in ``NOT_COPIED`` with the reason; the tables are those a real upgrade creates."""
    for schema in all_schemas():
        db.upgrade(database, schema)
    listed = (
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        if database.dialect == db.POSTGRESQL
        else "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    created = {row[0] for row in database.execute(listed)} - {"santeid_schema"}
    assert sorted(table.name for table in copy.all_tables()) == sorted(created)
    copied = [table.name for table in copy.copied_tables()]
    assert set(copied) | set(copy.NOT_COPIED) == created
    assert not set(copied) & set(copy.NOT_COPIED)
    assert all(copy.NOT_COPIED.values())  # the reasons
    for table in copy.copied_tables():
        assert table.key, f"{table.name} has no primary key: it cannot be copied idempotently"


def test_migrate_from_sqlite_needs_a_target(tmp_path):
    (tmp_path / "var").mkdir()
    env = {"SANTEID_DATA_DIR": str(tmp_path / "var"), "SANTEID_DATABASE_URL": ""}
    out = _run(env, "db", "migrate-from-sqlite", str(tmp_path / "var"), ok=False).output
    assert "database_url is not set" in out


# -- health ------------------------------------------------------------------------------------


def test_health_reports_the_database(app, client, tmp_path):
    answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ok", "store": "ok", "database": "ok"}
    # A PostgreSQL server that does not answer (nothing listens on that port).
    from tests.support.redis_server import free_port

    unreachable = db.PostgresDatabase(f"postgresql://santeid@127.0.0.1:{free_port()}/santeid")
    unreachable.PING_TIMEOUT = 0.5
    app.extensions["santeid"].clients.db = unreachable
    try:
        answer = client.get("/health")
    finally:
        unreachable.close()
    assert answer.status_code == 503
    assert answer.get_json()["database"] == "unavailable"
    assert answer.get_json()["status"] == "degraded"


def _refused_start(url: str, tmp_path, first_start: bool) -> str:
    """The configuration error of an application started on ``database_url`` ``url``."""
    settings = Settings(data_dir=str(tmp_path / "d"), keys_dir=str(tmp_path / "k"),
                        sandbox=True, database_url=url)  # fmt: skip
    try:
        with pytest.raises(ConfigurationError) as refused:
            create_app(settings, store=MemoryStore(), first_start=first_start)
    finally:
        db.close_shared(url)
    return str(refused.value)


@pytest.mark.parametrize("first_start", [True, False], ids=["first start", "worker"])
@pytest.mark.parametrize("wrong", ["database", "role"], ids=["no such database", "no such role"])
def test_a_database_url_naming_what_does_not_exist_is_a_configuration_error(
    postgres_admin_url, tmp_path, wrong, first_start
):
    """A typo in ``database_url`` (a database or a role the server does not have) is no
    outage: waiting will not mend it. Every start stops, naming the setting, instead of a
    first start saying "start again once it answers" and a worker serving 503 for ever."""
    from urllib.parse import urlsplit

    server = urlsplit(postgres_admin_url)
    user, database = ("postgres", "santeid_no_such_database")
    if wrong == "role":
        user, database = ("santeid_no_such_role", "postgres")
    url = f"postgresql://{user}@{server.hostname}:{server.port}/{database}"
    message = _refused_start(url, tmp_path, first_start)
    assert "database_url" in message and "does not exist" in message
    assert "start again once it answers" not in message


@pytest.mark.parametrize("first_start", [True, False], ids=["first start", "worker"])
def test_a_database_url_asking_tls_of_a_server_without_it_is_a_configuration_error(
    postgres_admin_url, tmp_path, first_start
):
    """``sslmode=verify-full`` (docs/deployment.md's example) or ``require`` to a server
    without TLS is no outage either: libpq refuses it before any login, and waiting will not
    mend it. It said "the database is unavailable … start again once it answers", and a
    restart policy started it again for ever. The root certificate named does not exist: a
    server with TLS refuses for that, one without it (this machine's) for its want of TLS."""
    missing = tmp_path / "no-such-ca.pem"
    url = f"{postgres_admin_url}?sslmode=verify-full&sslrootcert={missing}"
    message = _refused_start(url, tmp_path, first_start)
    assert message.startswith("database_url: the database server refused the connection")
    assert "sslmode" in message
    assert "server does not support SSL" in message or f'"{missing}" does not exist' in message
    assert "start again once it answers" not in message


def test_an_unreachable_database_is_a_clean_503_and_stops_a_start(app, client, tmp_path):
    from tests.support.redis_server import free_port

    dead_url = f"postgresql://santeid@127.0.0.1:{free_port()}/santeid"
    settings = Settings(data_dir=str(tmp_path / "other"), keys_dir=str(tmp_path / "k"),
                        sandbox=True, database_url=dead_url)  # fmt: skip
    with pytest.raises(ConfigurationError, match="database is unavailable, and a first start"):
        create_app(settings, store=MemoryStore())
    db.close_shared(dead_url)

    unreachable = db.PostgresDatabase(dead_url)
    app.extensions["santeid"].clients.db = unreachable
    answer = client.post(
        "/auth/realms/esante-wallet/protocol/openid-connect/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic cnA6c2VjcmV0LXNlY3JldC1zZWNyZXQ="},
    )
    assert answer.status_code == 503
    assert answer.get_json()["error"] == "temporarily_unavailable"
    assert answer.headers["Retry-After"] == "5"


@pytest.mark.postgres
def test_the_suite_can_start_its_own_postgresql():
    """Where nothing answers on 127.0.0.1:5432, the fixtures start a server from Debian's
    binaries (initdb + pg_ctl) on a free port: that path works too."""
    import psycopg

    from tests.support.postgres_server import PostgresServer
    from tests.support.postgres_server import _binaries

    binaries = _binaries()
    if binaries is None:
        pytest.skip("no initdb here (apt-get install postgresql)")
    server = PostgresServer(binaries)
    server.start()
    try:
        database = db.PostgresDatabase(server.admin_url)
        try:
            assert db.upgrade(database, SAMPLE) == (0, 2)
        finally:
            database.close()
        with psycopg.connect(server.admin_url) as conn:
            assert conn.execute("SHOW port").fetchone()[0] == str(server.port)
    finally:
        server.stop()


@pytest.mark.postgres
def test_a_forked_worker_gets_its_own_connections_and_leaves_the_parents(postgres_url):
    """Servers fork their workers after the app was built (gunicorn, Granian): the child
    opens its own pool, and dropping the inherited one never ends the parent's sessions."""
    import gc
    import os

    database = db.PostgresDatabase(postgres_url)
    try:
        parent_backend = database.execute("SELECT pg_backend_pid()").scalar()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                child_backend = database.execute("SELECT pg_backend_pid()").scalar()
                gc.collect()
                code = 0 if child_backend != parent_backend else 2
            finally:
                os.write(write, bytes([code]))
                os._exit(0)
        os.waitpid(pid, 0)
        assert os.read(read, 1) == b"\x00"
        gc.collect()
        # The parent's sessions are alive and every pooled connection still answers.
        alive = "SELECT count(*) FROM pg_stat_activity WHERE pid = ?"
        assert database.execute(alive, (parent_backend,)).scalar() == 1
        for _ in range(database.pool_size):
            assert database.execute("SELECT 1").scalar() == 1
    finally:
        database.close()


def test_a_sqlite_database_url_holds_every_component_in_one_file(tmp_path):
    import sqlite3

    path = tmp_path / "all.sqlite3"
    url = f"sqlite:///{path}"
    settings = Settings(data_dir=str(tmp_path / "var"), keys_dir=str(tmp_path / "k"),
                        sandbox=True, database_url=url)  # fmt: skip
    try:
        app = create_app(settings, store=MemoryStore())
        app.extensions["santeid"].clients.add(
            {"client_id": "rp", "client_secret": "s" * 20, "redirect_uris": ["https://rp/cb"]}
        )
    finally:
        db.close_shared(url)
    conn = sqlite3.connect(path)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    versions = dict(conn.execute("SELECT component, version FROM santeid_schema"))
    assert ("rp",) in conn.execute("SELECT client_id FROM client").fetchall()
    conn.close()
    assert {"client", "outbox", "devices", "cards", "audit", "software"} <= tables
    assert versions == {schema.component.name: schema.version for schema in all_schemas()}
    # None of the per-component files of the embedded installation was made (the directory
    # stays a per-host file).
    assert {p.name for p in (tmp_path / "var").glob("*.sqlite3")} == {"directory.sqlite3"}


@pytest.mark.parametrize(
    "url", ["postgresql:host/db", "POSTGRESQL://h/d", "Sqlite:///x.sqlite3", "sqlite:x.sqlite3"]
)
def test_the_settings_and_open_url_refuse_the_same_database_urls(url):
    with pytest.raises(ConfigurationError, match="must be empty"):
        db.open_url(url)
    with pytest.raises(ConfigurationError, match="must be empty"):
        Settings(database_url=url)


def _sqlite_file_with_the_version_table(path) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE santeid_schema (component TEXT PRIMARY KEY, version INTEGER,"
                 " updated_at BIGINT)")  # fmt: skip
    conn.execute("INSERT INTO santeid_schema VALUES ('clients', ?, 0)", (CLIENTS,))
    conn.commit()
    conn.close()


def test_db_status_leaves_an_sqlite_file_s_journal_mode_as_it_is(tmp_path):
    import sqlite3

    existing = tmp_path / "rollback.sqlite3"
    _sqlite_file_with_the_version_table(existing)
    out = _run({"SANTEID_DATA_DIR": str(tmp_path / "var"), "SANTEID_DATABASE_URL":
                f"sqlite:///{existing}"}, "db", "status").output  # fmt: skip
    assert f"clients  {CLIENTS} of {CLIENTS} (current)" in out
    mode = sqlite3.connect(existing).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "delete"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["rollback.sqlite3"]


def test_db_status_does_not_wait_for_a_writer(tmp_path):
    """Another process holding the write lock (a server committing, an import) does not make
    ``db status`` wait for it, nor fail with "database is locked"."""
    import sqlite3

    existing = tmp_path / "busy.sqlite3"
    _sqlite_file_with_the_version_table(existing)
    writer = sqlite3.connect(existing, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE santeid_schema SET updated_at = 1")
        result = _run({"SANTEID_DATA_DIR": str(tmp_path / "var"), "SANTEID_DATABASE_URL":
                       f"sqlite:///{existing}"}, "db", "status")  # fmt: skip
        assert f"clients  {CLIENTS} of {CLIENTS} (current)" in result.output
    finally:
        writer.execute("ROLLBACK")
        writer.close()


@pytest.mark.postgres
def test_migrate_from_sqlite_names_the_row_holding_a_nul_character(tmp_path, postgres_url):
    """Older releases could store text with a NUL character, which PostgreSQL cannot hold:
    the copy stops naming the table, the row and the column, and copies nothing of that
    table."""
    import sqlite3

    embedded = Settings(data_dir=str(tmp_path / "var"))
    audit = AuditLog(db.database_for(embedded, db.INSI), key_path=tmp_path / "k")
    audit.record(CallContext("LOGICIEL-A", None, None, "rest", "bearer"),
                 "rechercherInsAvecTraitsIdentite", "00")  # fmt: skip
    audit.flush()
    db.database_for(embedded, db.INSI).close()
    raw = sqlite3.connect(tmp_path / "var" / "insi.sqlite3")
    raw.execute(
        "INSERT INTO audit (at, software_id, professional_id, operation, channel, auth_method,"
        " result) VALUES ('2026-01-01T00:00:00.000Z', 'LOGICIEL-A', ?,"
        " 'rechercherInsAvecTraitsIdentite', 'rest', 'bearer', '00')",
        ("8100\x00secret",),
    )
    raw.commit()
    raw.close()
    env = {"SANTEID_DATA_DIR": str(tmp_path / "other"), "SANTEID_DATABASE_URL": postgres_url}
    result = _run(env, "db", "migrate-from-sqlite", str(tmp_path / "var"), ok=False)
    assert (
        "audit: the row id=2 holds a NUL character in professional_id, which PostgreSQL cannot"
        " store; nothing of audit was copied"
    ) in " ".join(result.output.split())
    assert "secret" not in result.output
    target = Settings(data_dir=str(tmp_path / "other"), database_url=postgres_url)
    assert db.database_for(target, db.INSI).execute("SELECT count(*) FROM audit").scalar() == 0
