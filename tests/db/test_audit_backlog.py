"""A backlog of INSi audit rows (queued while the database was out) is drained once the
database is back, however long it grew: it is committed in transactions of
``AuditLog.COMMIT_ROWS`` rows, each well within the answer deadline
(docs/insi-overview.md, "Audit trail")."""

from __future__ import annotations

import pytest

from santeid import db
from santeid.db.backends import PostgresUnavailable
from santeid.insi import audit as audit_module
from santeid.insi.audit import AuditLog
from santeid.insi.model import OP_SEARCH_TRAITS
from tests.support.insi import SOAP_CTX

BACKLOG = 20_000


def _queue(audit: AuditLog, count: int) -> None:
    """``count`` rows queued as a writer that could not commit leaves them."""
    audit._writer = object()  # no writer thread: flushes happen here only
    for number in range(count):
        audit.record(SOAP_CTX, OP_SEARCH_TRAITS, "00", duration_us=number)


@pytest.mark.postgres
def test_a_backlog_of_20000_rows_drains_on_postgresql(postgres_url, tmp_path):
    # A short deadline (statement_timeout 1 s): what one commit of the whole backlog exceeds.
    database = db.PostgresDatabase(postgres_url, timeout=2)
    try:
        audit = AuditLog(database, key_path=tmp_path / "insi-audit.key")
        _queue(audit, BACKLOG)
        assert audit.flush() == BACKLOG
        assert audit._pending == []
        counted = database.execute("SELECT count(*), sum(duration_us) FROM audit").fetchone()
        assert counted == (BACKLOG, sum(range(BACKLOG)))
        month = database.execute("SELECT sum(calls) FROM monthly_stats").scalar()
        assert month == BACKLOG
    finally:
        database.close()


def test_an_outage_in_the_middle_keeps_the_rows_not_committed_in_order(tmp_path, monkeypatch):
    """The transactions committed stay written; the rows after them wait, oldest first."""
    audit = AuditLog(tmp_path / "insi.sqlite3")
    monkeypatch.setattr(AuditLog, "COMMIT_ROWS", 10)
    audit_module.db.ensure(audit.db, audit_module.SCHEMA)  # the tables exist
    _queue(audit, 35)
    transaction = audit.db.transaction
    calls = []

    def down_on_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise PostgresUnavailable("the server did not answer within 5 s")
        return transaction(*args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(audit.db, "transaction", down_on_the_third)
        with pytest.raises(PostgresUnavailable):
            audit.flush()
    assert [row[-1] for row in audit._pending] == list(range(20, 35))
    assert audit.flush() == 15
    written = audit.db.execute("SELECT duration_us FROM audit ORDER BY id").rows
    assert [value for (value,) in written] == list(range(35))
