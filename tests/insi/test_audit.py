"""Audit trail (no traits in clear, append-only), monthly statistics, software registry, CLI."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from datetime import UTC
from datetime import datetime

import pytest
from click.testing import CliRunner

from santeid.cli import main
from santeid.db.backends import PostgresError
from santeid.db.backends import PostgresUnavailable
from santeid.insi import audit as audit_module
from santeid.insi.audit import AuditLog
from santeid.insi.model import OP_SEARCH_TRAITS
from santeid.insi.model import OP_SEARCH_VITALE
from santeid.insi.model import OP_VERIFY
from santeid.insi.model import InsiError
from santeid.insi.model import TraitsQuery
from santeid.insi.model import VerifyQuery
from santeid.insi.model import VitaleQuery
from santeid.insi.model import insufficient_access
from santeid.insi.service import InsiService
from santeid.observability.metrics import OWN_METRICS
from tests.support.insi import REST_CTX
from tests.support.insi import SOAP_CTX

ADRTROIS = TraitsQuery("ADRTROIS", ("DOMINIQUE",), "F", "1997-02-26", "2A020")


def _calls(service: InsiService) -> None:
    service.search_by_traits(ADRTROIS, SOAP_CTX)  # 00
    service.search_by_traits(TraitsQuery("TCHITCHI", ("OLA",), "F", "1936-06-21"), SOAP_CTX)
    service.search_by_traits(TraitsQuery("DE VINCI", ("LEONARDO",), "M", "2014-02-01"), REST_CTX)
    with pytest.raises(InsiError):
        service.search_by_traits(TraitsQuery("D'AEION", ("COEUR",), "M", "1987-01-25"), SOAP_CTX)
    with pytest.raises(InsiError):
        service.search_by_traits(TraitsQuery("Adrtrois", ("X",), "F", "1997-02-26"), SOAP_CTX)
    service.search_by_vitale(VitaleQuery("297022A020778", None, "ADRTROIS", "1997-02-26", 1),
                             SOAP_CTX)  # fmt: skip
    service.verify(VerifyQuery("297022A020778", "78", ADRTROIS), SOAP_CTX)


def test_every_call_is_audited_without_traits_in_clear(service):
    _calls(service)
    rows = service.audit.rows()
    assert [(r["operation"], r["result"]) for r in reversed(rows)] == [
        (OP_SEARCH_TRAITS, "00"),
        (OP_SEARCH_TRAITS, "01"),
        (OP_SEARCH_TRAITS, "02"),
        (OP_SEARCH_TRAITS, "insi_102"),
        (OP_SEARCH_TRAITS, "santeid_invalid_trait"),
        (OP_SEARCH_VITALE, "00"),
        (OP_VERIFY, "conform"),
    ]
    first = rows[-1]
    assert first["software_id"] == "TESTSGIE0000"
    assert first["structure_id"] == "10B0152872"
    assert first["channel"] == "soap"
    assert first["auth_method"] == "certificate"
    assert first["at"].endswith("Z") and len(first["at"]) == 24
    assert len(first["query_hash"]) == 32
    assert first["duration_us"] >= 0
    # Nothing of the traits or the INS anywhere in the file: names, dates, matricules.
    raw = service.audit.db.path.read_bytes()
    wal = service.audit.db.path.with_name(service.audit.db.path.name + "-wal")
    if wal.exists():
        raw += wal.read_bytes()
    for secret in ("ADRTROIS", "Adrtrois", "DOMINIQUE", "TCHITCHI", "1997-02-26", "297022A020778",
                   "AEION", "LEONARDO", "2A020"):  # fmt: skip
        assert secret.encode() not in raw, secret


def test_the_query_hash_is_keyed_and_recomputable(service, tmp_path):
    service.search_by_traits(ADRTROIS, SOAP_CTX)
    stored = service.audit.rows()[0]["query_hash"]
    assert stored == service.audit.query_hash(
        OP_SEARCH_TRAITS, "ADRTROIS", "DOMINIQUE", "F", "1997-02-26", "2A020"
    )
    # Another installation (another key) hashes the same query differently.
    other = AuditLog(tmp_path / "other" / "insi.sqlite3")
    assert other.query_hash(OP_SEARCH_TRAITS, "ADRTROIS", "DOMINIQUE", "F", "1997-02-26",
                            "2A020") != stored  # fmt: skip
    assert (service.audit.key_path.stat().st_mode & 0o777) == 0o600


def test_the_trail_is_append_only(service):
    service.search_by_traits(ADRTROIS, SOAP_CTX)
    service.audit.flush()  # the writer thread may have committed the row already
    assert _audited(service.audit) == ["00"]
    conn = sqlite3.connect(service.audit.db.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit SET result = '01'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit")
    conn.close()


def test_monthly_statistics_count_calls_by_operation_and_result(service):
    _calls(service)
    _calls(service)
    month = datetime.now(UTC).strftime("%Y-%m")
    report = service.stats("TESTSGIE0000", month)
    assert report["month"] == month
    assert report["total"] == 14
    (entry,) = report["software"]
    traits = entry["operations"][OP_SEARCH_TRAITS]
    assert traits["results"] == {"00": 2, "01": 2, "02": 2, "insi_102": 2,
                                 "santeid_invalid_trait": 2}  # fmt: skip
    assert traits["total"] == 10
    assert entry["operations"][OP_SEARCH_VITALE]["results"] == {"00": 2}
    assert entry["operations"][OP_VERIFY]["results"] == {"conform": 2}
    # Another software, another month: nothing.
    assert service.stats("OTHER", month)["total"] == 0
    assert service.stats(None, "2001-01") == {
        "month": "2001-01", "softwareId": None, "total": 0, "software": []
    }  # fmt: skip
    with pytest.raises(InsiError) as caught:
        service.stats(None, "2026-13")
    assert caught.value.field == "month"


def test_the_stats_follow_the_clock_month(tmp_path, insi_base):
    now = [datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC)]
    service = InsiService(insi_base, tmp_path / "insi.sqlite3", clock=lambda: now[0])
    service.search_by_traits(ADRTROIS, SOAP_CTX)
    now[0] = datetime(2026, 2, 1, 0, 0, 0, tzinfo=UTC)
    service.search_by_traits(ADRTROIS, SOAP_CTX)
    assert service.stats(None, "2026-01")["total"] == 1
    assert service.stats(None, "2026-02")["total"] == 1


def test_rows_are_committed_in_batches_by_a_writer_thread(service):
    """record() only queues; the writer commits within FLUSH_SECONDS, without any reader."""
    for _ in range(3):
        service.search_by_traits(ADRTROIS, SOAP_CTX)
    path = service.audit.db.path
    deadline = time.monotonic() + 5
    count = 0
    while time.monotonic() < deadline:
        if path.exists():
            conn = sqlite3.connect(path)
            try:
                count = conn.execute("SELECT count(*) FROM audit").fetchone()[0]
            except sqlite3.OperationalError:  # schema not created yet
                count = 0
            conn.close()
        if count == 3:
            break
        time.sleep(0.02)
    assert count == 3


def test_a_trail_that_cannot_be_written_stops_the_service(service, monkeypatch):
    monkeypatch.setattr(service.audit, "MAX_PENDING", 2)
    monkeypatch.setattr(service.audit, "flush", lambda: 0)  # commits never happen
    service.audit._writer = object()  # no writer thread either
    service.search_by_traits(ADRTROIS, SOAP_CTX)
    service.search_by_traits(ADRTROIS, SOAP_CTX)
    with pytest.raises(InsiError) as caught:
        service.search_by_traits(ADRTROIS, SOAP_CTX)
    assert (caught.value.code, caught.value.http_status) == ("desir_1020", 503)


def test_refusals_can_be_recorded_by_adapters(service):
    service.record_refusal(SOAP_CTX, OP_SEARCH_TRAITS, insufficient_access())
    row = service.audit.rows()[0]
    assert (row["result"], row["query_hash"]) == ("DESIR_560", None)


def test_software_registry(service):
    registry = service.software()
    registry.add("PDP17NF21DD0", "Padoa")
    assert registry.get("PDP17NF21DD0").name == "Padoa"
    with pytest.raises(ValueError, match="already"):
        registry.add("PDP17NF21DD0", "Again")
    registry.add("PDP17NF21DD0", "Padoa 2022", replace=True)
    registry.add("TESTSGIE0000", "GIE kit")
    assert [s.idam for s in registry.list()] == ["PDP17NF21DD0", "TESTSGIE0000"]
    with pytest.raises(ValueError, match="authorisation number"):
        registry.add("bad idam!", "x")
    assert registry.remove("PDP17NF21DD0")
    assert not registry.remove("PDP17NF21DD0")
    assert registry.get("PDP17NF21DD0") is None


def test_cli_software_and_stats(tmp_path, monkeypatch, insi_base):
    monkeypatch.setenv("SANTEID_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SANTEID_INSI_BASE", str(insi_base))
    runner = CliRunner()

    def run(*args: str, code: int = 0):
        result = runner.invoke(main, ["insi", *args])
        assert result.exit_code == code, result.output
        # The data directory is named on stderr, so that stdout stays parseable (--json).
        assert f"santeid: data directory {(tmp_path / 'var').resolve()}" in result.stderr
        return result.stdout if code == 0 else result.output

    assert "registered" in run("software", "add", "TESTSGIE0000", "--name", "GIE kit")
    run("software", "add", "TESTSGIE0000", "--name", "GIE kit", code=1)
    assert "TESTSGIE0000  GIE kit" in run("software", "list")
    assert json.loads(run("software", "list", "--json"))[0]["idam"] == "TESTSGIE0000"

    service = InsiService(insi_base, tmp_path / "var" / "insi.sqlite3")
    _calls(service)
    service.audit.flush()  # the CLI is another reader: it sees committed rows
    month = datetime.now(UTC).strftime("%Y-%m")
    text = run("stats")
    assert f"INSi calls in {month}: 7" in text
    assert "TESTSGIE0000 (GIE kit): 7" in text
    assert "rechercherInsAvecTraitsIdentite" in text and "00 1" in text
    report = json.loads(run("stats", "--software", "TESTSGIE0000", "--month", month, "--json"))
    assert report["total"] == 7
    assert json.loads(run("stats", "--month", "1999-01", "--json"))["total"] == 0
    assert "not a month" in run("stats", "--month", "January", code=1)

    assert "removed" in run("software", "remove", "TESTSGIE0000")
    run("software", "remove", "TESTSGIE0000", code=1)


def test_cli_stats_names_the_calls_sent_without_a_software_number(tmp_path, monkeypatch):
    """A SOAP call refused for want of an IDAM is counted under an empty software id: the text
    report says so, not a line that begins with a colon (``--json`` keeps the empty id)."""
    monkeypatch.setenv("SANTEID_DATA_DIR", str(tmp_path / "var"))
    audit = AuditLog(tmp_path / "var" / "insi.sqlite3")
    audit.record(dataclasses.replace(SOAP_CTX, software_id=""), OP_SEARCH_TRAITS, "desir_550")
    audit.flush()
    result = CliRunner().invoke(main, ["insi", "stats"])
    assert result.exit_code == 0, result.output
    assert "\n(no software number): 1\n" in result.stdout
    report = json.loads(CliRunner().invoke(main, ["insi", "stats", "--json"]).stdout)
    assert report["software"][0]["softwareId"] == ""


def _audited(audit: AuditLog) -> list[str | None]:
    """The ``result`` of every committed row, read without flushing (what the writer did)."""
    try:
        rows = audit.db.execute("SELECT result FROM audit ORDER BY id").fetchall()
    except sqlite3.OperationalError:  # schema not created yet
        return []
    return [row[0] for row in rows]


def _wait_for(audit: AuditLog, expected: list[str]) -> list[str | None]:
    deadline = time.monotonic() + 5
    while (seen := _audited(audit)) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return seen


def _dropped() -> float:
    return OWN_METRICS.get_sample_value("santeid_insi_audit_rows_dropped_total") or 0.0


def test_a_row_the_database_refuses_does_not_hold_back_the_rows_after_it(tmp_path, caplog):
    """A row no database takes (a NUL character, refused by both backends) is logged without
    its content and dropped; the rows queued with it and after it are written."""
    audit = AuditLog(tmp_path / "insi.sqlite3")
    refused = dataclasses.replace(SOAP_CTX, professional_id="8100\x00secret")
    before = _dropped()
    audit.record(SOAP_CTX, OP_SEARCH_TRAITS, "00")
    audit.record(refused, OP_SEARCH_TRAITS, "01", query_hash="ab" * 16)
    audit.record(SOAP_CTX, OP_SEARCH_TRAITS, "02")
    assert _wait_for(audit, ["00", "02"]) == ["00", "02"]  # by the writer thread
    audit.record(SOAP_CTX, OP_VERIFY, "conform")
    assert [row["result"] for row in audit.rows()] == ["conform", "02", "00"]
    assert _dropped() == before + 1
    logged = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(logged) == 1 and "ab" * 16 in logged[0] and "secret" not in logged[0]


def test_an_outage_keeps_the_rows_for_a_retry(tmp_path, monkeypatch):
    audit = AuditLog(tmp_path / "insi.sqlite3")
    audit._writer = object()  # no writer thread: flushes happen here only
    audit.record(SOAP_CTX, OP_SEARCH_TRAITS, "00")
    before = _dropped()

    def down():
        raise PostgresUnavailable("connection refused")

    with monkeypatch.context() as patched:
        patched.setattr(audit.db, "transaction", down)
        with pytest.raises(PostgresUnavailable):
            audit.flush()
    assert audit.flush() == 1
    assert _audited(audit) == ["00"] and _dropped() == before


def test_a_refusal_that_is_not_the_rows_fault_keeps_every_row(tmp_path, monkeypatch):
    """A refusal no row causes (a permission, a missing table: here a generic database error)
    drops nothing: the trail fails closed, its rows wait and the backlog eventually refuses
    INSi calls."""
    audit = AuditLog(tmp_path / "insi.sqlite3")
    audit._writer = object()  # no writer thread: flushes happen here only
    audit_module.db.ensure(audit.db, audit_module.SCHEMA)  # the tables exist: rows are refused
    audit.record(SOAP_CTX, OP_SEARCH_TRAITS, "00")
    audit.record(SOAP_CTX, OP_SEARCH_TRAITS, "01")
    before = _dropped()

    def refused(*args, **kwargs):
        raise PostgresError("permission denied for table audit")

    execute = audit.db.execute

    def insert_refused(sql, *args, **kwargs):
        if sql == audit_module.INSERT_AUDIT:
            refused()
        return execute(sql, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(audit.db, "transaction", refused)
        patched.setattr(audit.db, "execute", insert_refused)
        with pytest.raises(PostgresError):
            audit.flush()
    assert _dropped() == before
    assert audit.flush() == 2
    assert _audited(audit) == ["00", "01"]


def test_an_error_in_the_writer_does_not_stop_later_writes(tmp_path, monkeypatch):
    audit = AuditLog(tmp_path / "insi.sqlite3")
    ensure = audit_module.db.ensure
    failures = iter([RuntimeError("unexpected"), None])

    def ensure_failing_once(*args):
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return ensure(*args)

    monkeypatch.setattr(audit_module.db, "ensure", ensure_failing_once)
    audit.record(SOAP_CTX, OP_SEARCH_TRAITS, "00")  # first flush fails: kept, retried
    assert _wait_for(audit, ["00"]) == ["00"]
    audit.record(SOAP_CTX, OP_SEARCH_TRAITS, "01")
    assert _wait_for(audit, ["00", "01"]) == ["00", "01"]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_writer_that_ends_is_replaced_by_the_next_write(tmp_path, monkeypatch):
    audit = AuditLog(tmp_path / "insi.sqlite3")
    flush = audit.flush

    def flush_ending_the_thread():
        monkeypatch.setattr(audit, "flush", flush)
        raise SystemExit  # not an Exception: the writer thread ends

    monkeypatch.setattr(audit, "flush", flush_ending_the_thread)
    audit.record(SOAP_CTX, OP_SEARCH_TRAITS, "00")
    deadline = time.monotonic() + 5
    while audit._writer is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert audit._writer is None
    audit.record(SOAP_CTX, OP_SEARCH_TRAITS, "01")  # starts a new writer
    assert _wait_for(audit, ["00", "01"]) == ["00", "01"]
