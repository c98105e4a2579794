"""One contract per durable repository, run on SQLite and on a real PostgreSQL (``database``
fixture): same public methods, same answers, same refusals."""

from __future__ import annotations

import datetime
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from santeid import db
from santeid.cps.registry import CardRegistry
from santeid.ecps.devices import DeviceRepository
from santeid.ecps.devices import DuplicateKey
from santeid.ecps.push import PushSubscription
from santeid.ecps.push import PushSubscriptionRepository
from santeid.insi.audit import AuditLog
from santeid.insi.audit import SoftwareRegistry
from santeid.insi.model import CallContext
from santeid.messaging import Message
from santeid.messaging import OutboxSender
from santeid.oidc.clients import ClientRegistry
from santeid.oidc.clients import InvalidClientMetadata

SECRET = "a-client-secret-of-some-length"
CTX = CallContext("LOGICIEL-A", "10B0152872", "899900063480", "rest", "bearer")


def _client(client_id: str = "rp", **extra) -> dict:
    return {
        "client_id": client_id,
        "client_secret": SECRET,
        "redirect_uris": ["https://rp.example/cb"],
        **extra,
    }


# -- clients ----------------------------------------------------------------------------------


def test_clients_add_get_list_remove(database):
    registry = ClientRegistry(database)
    registry.add(_client("b-rp"))
    registry.add(_client("a-rp", client_name="A"))
    found = registry.get("a-rp")
    assert found is not None and found.name == "A"
    assert found.check_client_secret(SECRET) and not found.check_client_secret("wrong" * 5)
    assert [c.client_id for c in registry.list()] == ["a-rp", "b-rp"]
    assert registry.remove("a-rp") is True
    assert registry.remove("a-rp") is False
    assert registry.get("a-rp") is None
    assert registry.get(42) is None  # type: ignore[arg-type]


def test_clients_refuse_a_duplicate_and_replace_on_request(database):
    registry = ClientRegistry(database)
    registry.add(_client())
    with pytest.raises(InvalidClientMetadata, match="already exists"):
        registry.add(_client(client_name="other"))
    assert registry.get("rp").name == "rp"
    registry.add(_client(client_name="renamed"), replace=True)
    assert registry.get("rp").name == "renamed"
    assert len(registry.list()) == 1


def test_a_new_secret_changes_the_secret_only(database):
    registry = ClientRegistry(database)
    registry.add(_client(client_name="A"))
    before = registry.get("rp")
    assert registry.set_secret("rp", "the-new-secret-0123456789") is True
    after = registry.get("rp")
    assert after.check_client_secret("the-new-secret-0123456789")
    assert not after.check_client_secret(SECRET)
    assert after.metadata == before.metadata
    assert registry.set_secret("no-such-rp", "the-new-secret-0123456789") is False
    with pytest.raises(InvalidClientMetadata, match="at least 16"):
        registry.set_secret("rp", "short")


def test_client_metadata_is_one_document_so_new_fields_need_no_migration(database):
    """A field this version does not know is kept as registered (a JSON document per client)."""
    registry = ClientRegistry(database)
    registry.add(_client(software_version="4.2", contacts=["ops@rp.example"]))
    metadata = registry.get("rp").metadata
    assert metadata["software_version"] == "4.2"
    assert metadata["contacts"] == ["ops@rp.example"]
    assert "client_secret" not in metadata


def test_a_client_written_by_one_registry_is_read_by_another(database):
    """Two processes (or hosts) on the same database: no cache hides a registration."""
    ClientRegistry(database).add(_client())
    assert ClientRegistry(database).get("rp") is not None


def test_clients_added_together_are_all_registered_or_none(database):
    registry = ClientRegistry(database)
    added = registry.add_many([_client(f"rp-{n}") for n in range(3)])
    assert [c.client_id for c in added] == ["rp-0", "rp-1", "rp-2"]
    assert [c.client_id for c in registry.list()] == ["rp-0", "rp-1", "rp-2"]
    assert registry.get("rp-2").check_client_secret(SECRET)
    # One client already registered, one invalid document, one id twice: nothing is written.
    with pytest.raises(InvalidClientMetadata, match="'rp-1' already exists"):
        registry.add_many([_client("rp-3"), _client("rp-1")])
    with pytest.raises(InvalidClientMetadata):
        registry.add_many([_client("rp-4"), _client("rp-5", redirect_uris=["not a uri"])])
    with pytest.raises(InvalidClientMetadata, match="'rp-6' is given twice"):
        registry.add_many([_client("rp-6"), _client("rp-6")])
    assert len(registry.list()) == 3
    registry.add_many([_client("rp-0", client_name="new"), _client("rp-7")], replace=True)
    assert registry.get("rp-0").name == "new"
    assert len(registry.list()) == 4


# -- e-CPS devices ----------------------------------------------------------------------------


def _device(devices: DeviceRepository, national_id: str = "810000000001", n: int = 1):
    return devices.create(
        national_id=national_id,
        public_jwk={"kty": "EC", "crv": "P-256", "x": f"x{n}", "y": f"y{n}"},
        jwk_thumbprint=f"thumb-{n}",
        pin_hash="$argon2id$hash",
        totp_secret="JBSWY3DPEHPK3PXP",
        name=f"phone {n}",
    )


def test_devices_create_get_and_list(database):
    clock = iter(range(1000, 2000)).__next__
    devices = DeviceRepository(database, clock=clock)
    first = _device(devices, n=1)
    second = _device(devices, n=2)
    _device(devices, national_id="810000000002", n=3)
    assert devices.get(first.device_id) == first
    assert first.public_jwk == {"kty": "EC", "crv": "P-256", "x": "x1", "y": "y1"}
    assert first.is_active and first.sandbox_enrolled is False and first.last_used_at is None
    assert devices.get_by_thumbprint("thumb-2") == second
    assert [d.device_id for d in devices.list_for("810000000001")] == [
        first.device_id,
        second.device_id,
    ]
    assert [d.jwk_thumbprint for d in devices.list_all()] == ["thumb-3", "thumb-2", "thumb-1"]
    assert len(devices.list_all(limit=2)) == 2
    assert devices.get("x" * 65) is None


def test_devices_refuse_a_key_registered_twice(database):
    devices = DeviceRepository(database)
    _device(devices, n=1)
    with pytest.raises(DuplicateKey):
        _device(devices, national_id="810000000002", n=1)
    assert len(devices.list_all()) == 1


def test_a_revoked_device_is_refused_by_every_reader_at_once(database):
    writer, reader = DeviceRepository(database), DeviceRepository(database)
    device = _device(writer)
    assert [d.device_id for d in reader.active_for(device.national_id)] == [device.device_id]
    assert writer.revoke(device.device_id) is True
    assert writer.revoke(device.device_id) is False
    assert reader.get(device.device_id).status == "revoked"
    assert reader.active_for(device.national_id) == []
    assert reader.record_right_pin(device.device_id) is False


def test_wrong_pins_lock_the_device_exactly_once_under_concurrency(database):
    devices = DeviceRepository(database)
    device = _device(devices)
    results: list = []

    def wrong() -> None:
        results.append(devices.record_wrong_pin(device.device_id, 3))

    threads = [threading.Thread(target=wrong) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counted = sorted(r for r in results if r is not None)
    assert counted == [(1, "active"), (2, "active"), (3, "locked")]
    assert devices.get(device.device_id).status == "locked"


def test_a_right_pin_resets_the_count_and_may_rehash(database):
    devices = DeviceRepository(database, clock=lambda: 5000)
    device = _device(devices)
    assert devices.record_wrong_pin(device.device_id, 3) == (1, "active")
    assert devices.record_right_pin(device.device_id, "$argon2id$new") is True
    again = devices.get(device.device_id)
    assert again.consecutive_failed_pins == 0
    assert again.pin_hash == "$argon2id$new" and again.last_used_at == 5000
    assert devices.record_right_pin(device.device_id) is True
    assert devices.get(device.device_id).pin_hash == "$argon2id$new"
    assert devices.set_webhook(device.device_id, "https://hook.example/e") is True
    assert devices.get(device.device_id).webhook_url == "https://hook.example/e"
    assert devices.set_webhook("unknown", None) is False


def test_push_subscriptions_one_per_device_replaced_and_deleted(database):
    subscriptions = PushSubscriptionRepository(database, clock=lambda: 1000)
    first = PushSubscription("dev-1", "https://push.example/a", "p256dh-a", "auth-a", "fr")
    subscriptions.put(first)
    assert subscriptions.get("dev-1") == first
    # A new subscription of the same device replaces the old one; another reader sees it.
    second = PushSubscription("dev-1", "https://push.example/b", "p256dh-b", "auth-b", "en")
    subscriptions.put(second)
    assert PushSubscriptionRepository(database).get("dev-1") == second
    assert subscriptions.for_devices(["dev-1", "dev-unknown"]) == [second]
    subscriptions.delete("dev-1")
    assert subscriptions.get("dev-1") is None


# -- CPS cards ------------------------------------------------------------------------------


def _certificate(serial: int) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "899700000001")])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


def test_cards_issue_revoke_and_list(database):
    registry = CardRegistry(database)
    card = _certificate(0x1234ABCD)
    issued = registry.record_issued(card, "899700000001")
    assert issued.serial == "1234ABCD" and issued.status() == "valid"
    assert registry.is_revoked(card) is False
    record, newly = registry.revoke("12:34:ab:cd", "lost")
    assert newly is True and record.revoked and record.revocation_reason == "lost"
    record, newly = registry.revoke("0x1234abcd", "again")
    assert newly is False and record.revocation_reason == "lost"
    assert CardRegistry(database).is_revoked(card) is True


def test_a_card_never_issued_here_can_be_revoked(database):
    registry = CardRegistry(database)
    registry.record_issued(_certificate(0x10), "899700000001")
    record, newly = registry.revoke("FF")
    assert newly is True and record.issued_at is None and record.status() == "revoked"
    assert registry.is_revoked(_certificate(0xFF))
    assert [r.serial for r in registry.list()] == ["10", "FF"]  # issued first, then the others
    with pytest.raises(ValueError):
        registry.revoke("not-hex")


# -- INSi software, audit, statistics ---------------------------------------------------------


def test_software_registry(database):
    software = SoftwareRegistry(database)
    software.add("LOGICIEL-A", "Logiciel A")
    with pytest.raises(ValueError, match="already registered"):
        software.add("LOGICIEL-A", "Other")
    software.add("LOGICIEL-A", "Renamed", replace=True)
    software.add("LOGICIEL-B", "Logiciel B")
    assert software.get("LOGICIEL-A").name == "Renamed"
    assert [s.idam for s in software.list()] == ["LOGICIEL-A", "LOGICIEL-B"]
    assert software.remove("LOGICIEL-B") is True and software.remove("LOGICIEL-B") is False
    with pytest.raises(ValueError):
        software.add("bad idam!", "x")


def test_audit_rows_and_monthly_statistics(database, tmp_path):
    moment = datetime.datetime(2026, 3, 15, 9, 30, tzinfo=datetime.UTC)
    audit = AuditLog(database, key_path=tmp_path / "audit.key", clock=lambda: moment)
    SoftwareRegistry(database).add("LOGICIEL-A", "Logiciel A")
    for result in ("00", "00", "01"):
        audit.record(CTX, "rechercherInsAvecTraitsIdentite", result, query_hash="0" * 32)
    audit.record(CTX, "verifierInsAvecTraitsIdentite", "conform", duration_us=12)
    rows = audit.rows(limit=10)
    assert [r["result"] for r in rows] == ["conform", "01", "00", "00"]
    assert rows[0]["at"] == "2026-03-15T09:30:00.000Z" and rows[0]["duration_us"] == 12
    stats = audit.stats(None, "2026-03")
    assert stats["total"] == 4
    (software,) = stats["software"]
    assert software["name"] == "Logiciel A"
    assert software["operations"]["rechercherInsAvecTraitsIdentite"] == {
        "total": 3,
        "results": {"00": 2, "01": 1},
    }
    assert audit.stats("OTHER", "2026-03")["total"] == 0


def test_the_audit_trail_refuses_update_and_delete(database, tmp_path):
    audit = AuditLog(database, key_path=tmp_path / "audit.key")
    audit.record(CTX, "rechercherInsAvecTraitsIdentite", "00")
    assert audit.flush() == 1
    from santeid import db

    for statement in ("UPDATE audit SET result = '01'", "DELETE FROM audit"):
        with pytest.raises(db.DatabaseError, match="append-only"):
            database.execute(statement)
    assert len(audit.rows()) == 1


def test_two_writers_count_into_the_same_statistics(database, tmp_path):
    """Two processes or hosts each batch their own rows; the statistics add both."""
    moment = datetime.datetime(2026, 4, 1, tzinfo=datetime.UTC)
    host_a = AuditLog(database, key_path=tmp_path / "k", clock=lambda: moment)
    host_b = AuditLog(database, key_path=tmp_path / "k", clock=lambda: moment)
    for _ in range(3):
        host_a.record(CTX, "rechercherInsAvecTraitsIdentite", "00")
    host_b.record(CTX, "rechercherInsAvecTraitsIdentite", "00")
    host_a.flush()
    assert host_b.stats(None, "2026-04")["total"] == 4


def test_queued_audit_rows_are_written_by_flush_and_never_twice(database, tmp_path):
    audit = AuditLog(database, key_path=tmp_path / "k")
    audit._writer = object()  # no writer thread: what is queued waits for flush()
    for _ in range(5):
        audit.record(CTX, "rechercherInsAvecTraitsIdentite", "00")
    assert audit.flush() == 5
    assert audit.flush() == 0
    assert len(audit.rows()) == 5


# -- sandbox outbox -------------------------------------------------------------------------


def test_outbox_keeps_the_newest_messages(database):
    outbox = OutboxSender(database, keep=3, clock=lambda: 1_700_000_000.25)
    for i in range(5):
        outbox.send(Message("email", f"p{i % 2}@example.org", "Code", f"body {i}"))
    latest = outbox.latest()
    assert [m.body for m in latest] == ["body 4", "body 3", "body 2"]
    assert latest[0].created_at == 1_700_000_000.25
    assert [m.body for m in OutboxSender(database).latest(to="p0@example.org")] == [
        "body 4",
        "body 2",
    ]
    outbox.clear()
    assert outbox.latest() == []


# -- text PostgreSQL cannot hold ---------------------------------------------------------------


def test_an_id_with_a_nul_character_finds_nothing_and_such_text_is_never_written(database):
    """PostgreSQL's text holds no NUL character: a lookup by such an id finds nothing and a
    write of such text is refused before it is sent — on SQLite exactly the same."""
    clients = ClientRegistry(database)
    clients.add(_client("rp"))
    devices = DeviceRepository(database)
    device = _device(devices, n=1)
    assert clients.get("r\x00p") is None
    assert clients.get("rp\x00") is None
    assert clients.remove("rp\x00") is False
    assert devices.get(device.device_id + "\x00") is None
    assert devices.get_by_thumbprint("thumb-1\x00") is None
    assert (
        database.execute("SELECT count(*) FROM client WHERE client_id = ?", ("rp\x00",)).scalar()
        == 0
    )
    # (Client metadata is one JSON document, where the character is written escaped.)
    clients.add(_client("rp2", client_name="A\x00B"))
    assert clients.get("rp2").name == "A\x00B"
    with pytest.raises(db.UnstorableText):
        devices.create(national_id="810000000001", public_jwk={"kty": "EC"},
                       jwk_thumbprint="thumb-2", pin_hash="$argon2id$hash",
                       totp_secret="JBSWY3DPEHPK3PXP", name="ph\x00one")  # fmt: skip
    assert devices.get_by_thumbprint("thumb-2") is None
    assert isinstance(db.UnstorableText("x"), db.DatabaseError)
    assert not db.storable("a\x00b") and db.storable("ab") and db.storable("Hélène")


def test_text_with_a_lone_surrogate_is_held_as_text_with_a_nul_is(database):
    """A lone surrogate (JSON ``"\\ud800"``) is no UTF-8 text: sqlite3 raised
    ``UnicodeEncodeError`` (a 500 wherever a client's text reached a write). On both backends a
    lookup by it finds nothing and a write of it is refused before it is sent."""
    clients = ClientRegistry(database)
    clients.add(_client("rp"))
    devices = DeviceRepository(database)
    device = _device(devices, n=1)
    assert clients.get("rp\ud800") is None
    assert devices.get(device.device_id + "\udfff") is None
    with pytest.raises(db.UnstorableText):
        devices.create(national_id="810000000001", public_jwk={"kty": "EC"},
                       jwk_thumbprint="thumb-3", pin_hash="$argon2id$hash",
                       totp_secret="JBSWY3DPEHPK3PXP", name="ph\ud800one")  # fmt: skip
    assert devices.get_by_thumbprint("thumb-3") is None
    assert not db.storable("a\ud800")
