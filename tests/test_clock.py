"""Every wall-clock read of santeid goes through ``santeid.clock``: services read the clock
``create_services`` gives them (``self.clock``, ``services().clock``), so that a test moves a
``ManualClock`` to reach an expiry instead of sleeping (docs/architecture.md, "Composition
root"). ``time.monotonic()`` — durations, deadlines of network calls — is not wall-clock time
and is not concerned."""

from __future__ import annotations

import re
from pathlib import Path

import santeid

SOURCE = Path(santeid.__file__).parent

#: Reading the machine's clock directly: never, outside santeid/clock.py.
DIRECT_READ = re.compile(
    r"\btime\.time\(|\bdatetime\.now\(|\bdatetime\.utcnow\(|\bdate\.today\(|\btime\.time_ns\("
)

#: Reading ``system_clock`` without going through an injected clock: only where no application
#: (hence no injected clock) exists. Each entry: file → why.
SYSTEM_CLOCK_READS = {
    "cli/cps.py": "a command's own moment: `santeid cps issue` runs without the application",
    "cli/events.py": "a command's own moment: `santeid events --since` runs without the app",
    "cps/cards.py": "default of `now` for commands and tests; requests pass the app's clock",
    "cps/registry.py": "default of `now` when `santeid cps list` shows a card's status",
    "db/__init__.py": "schema upgrades run before any service exists (start-up, db upgrade)",
    "ecps/simulator.py": "the simulated phone is a client in its own process, on its own clock",
    "insi/audit.py": "default clock of the audit log built outside create_services (commands)",
    "insi/auth.py": "default of `now` for `santeid insi` commands; requests pass the app's",
    "insi/soap/saml.py": "assertions built by clients (tests, benchmarks); default `now`",
    "observability/events.py": "events of commands run by an operator (source cli)",
    "pki.py": "test certificates are dated by the machine that makes them (commands, start-up)",
    "tls.py": "the TLS handshake happens before any request reaches the application",
}
SYSTEM_CLOCK_READ = re.compile(r"\bsystem_clock\(\)|\butc_datetime\(system_clock\)")


def _sources() -> dict[str, str]:
    return {
        path.relative_to(SOURCE).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(SOURCE.rglob("*.py"))
        if path.name != "clock.py" or path.parent != SOURCE
    }


def _hits(pattern: re.Pattern[str], text: str) -> list[int]:
    return [number for number, line in enumerate(text.splitlines(), 1) if pattern.search(line)]


def test_no_module_reads_the_wall_clock_directly():
    found = {
        f"{name}:{line}" for name, text in _sources().items() for line in _hits(DIRECT_READ, text)
    }
    assert not found, f"read the injected clock (santeid.clock) instead: {sorted(found)}"


def test_system_clock_is_read_only_where_no_application_clock_exists():
    readers = {name for name, text in _sources().items() if _hits(SYSTEM_CLOCK_READ, text)}
    assert readers - SYSTEM_CLOCK_READS.keys() == set(), (
        "read the service's clock (self.clock, services().clock), or add the file to "
        "SYSTEM_CLOCK_READS with the reason no application clock exists there"
    )
    # An entry whose reads are gone is removed: the list says what is true today.
    assert SYSTEM_CLOCK_READS.keys() - readers == set()


def test_the_scan_recognises_every_form_it_forbids():
    for line in (
        "now = time.time()",
        "now = datetime.datetime.now(datetime.UTC)",
        "now = datetime.now(UTC)",
        "now = datetime.utcnow()",
        "today = date.today()",
    ):
        assert DIRECT_READ.search(line), line
    assert not DIRECT_READ.search("started = time.monotonic()")
    assert SYSTEM_CLOCK_READ.search("now = utc_datetime(system_clock)")
    assert not SYSTEM_CLOCK_READ.search("clock: Clock = system_clock,")
