"""``santeid directory import``: streaming, grouping, idempotence, diff, malformed lines."""

from __future__ import annotations

import dataclasses
import datetime
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import zipfile

import pytest
from click.testing import CliRunner

from santeid.cli import main
from santeid.directory import Directory
from santeid.directory import importer
from santeid.directory import schema
from santeid.directory.demo import demo_professionals
from santeid.directory.extract_writer import write_extract
from santeid.directory.extraction import HEADER_LINE
from santeid.directory.extraction import LineError
from santeid.directory.extraction import parse_date
from santeid.directory.importer import ExtractFormatError
from santeid.directory.importer import import_extraction


def test_import_zipped_unsorted_file_groups_each_person(tmp_path, store, synthetic_people):
    path = write_extract(tmp_path / "extract.zip", synthetic_people, shuffle_seed=5)
    assert zipfile.is_zipfile(path)
    report = import_extraction(store, path)
    assert report.applied and report.malformed == 0
    assert report.persons == report.added == len(synthetic_people)
    assert store.count() == len(synthetic_people)
    # Unsorted lines: ranks follow the file, so compare as sets of activities per exercice.
    for professional in synthetic_people:
        got = store.get(professional.national_id)
        assert [e.code_profession for e in got.exercices] == [
            e.code_profession for e in professional.exercices
        ] or set(got.professions) == set(professional.professions)
        assert sorted(map(repr, (a for e in got.exercices for a in e.activities))) == sorted(
            map(repr, (a for e in professional.exercices for a in e.activities))
        )


def test_a_sorted_file_round_trips_exactly(tmp_path, store, synthetic_people):
    path = write_extract(tmp_path / "extract.txt", synthetic_people)
    import_extraction(store, path)
    for professional in synthetic_people:
        assert store.get(professional.national_id) == professional


def test_reimporting_the_same_file_changes_nothing(tmp_path, store, synthetic_people):
    path = write_extract(tmp_path / "extract.txt", synthetic_people)
    import_extraction(store, path)
    before = sqlite3.connect(store.path).execute("SELECT count(*) FROM activity").fetchone()
    again = import_extraction(store, path)
    assert again.changes == 0 and again.unchanged == len(synthetic_people)
    assert "(0 change(s))" in "\n".join(again.summary())
    # Even when the lines come in another order.
    shuffled = write_extract(tmp_path / "shuffled.txt", synthetic_people, shuffle_seed=9)
    assert import_extraction(store, shuffled).changes == 0
    after = sqlite3.connect(store.path).execute("SELECT count(*) FROM activity").fetchone()
    assert before == after


def test_a_newer_file_applies_as_a_diff(tmp_path, store, synthetic_people):
    people = list(synthetic_people[:60])
    import_extraction(store, write_extract(tmp_path / "v1.txt", people))
    renamed = dataclasses.replace(people[3], family_name="NOUVEAU-NOM")
    newer = [renamed, *people[4:50], *synthetic_people[60:65]]  # 0-2 and 50-59 gone
    report = import_extraction(store, write_extract(tmp_path / "v2.txt", newer))
    assert (report.added, report.changed, report.removed) == (5, 1, 13)
    assert report.unchanged == 46
    assert report.samples["changed"] == [renamed.national_id]
    assert store.get(renamed.national_id).family_name == "NOUVEAU-NOM"
    assert store.get(people[0].national_id) is None
    assert store.get(synthetic_people[62].national_id) == synthetic_people[62]
    assert store.count() == len(newer)
    # Removed people leave no rows behind, and structures nobody uses any more go too.
    conn = sqlite3.connect(store.path)
    assert conn.execute(
        "SELECT count(*) FROM other_id WHERE national_id = ?", (people[0].national_id,)
    ).fetchone() == (0,)
    orphans = conn.execute(
        "SELECT count(*) FROM structure s WHERE NOT EXISTS "
        "(SELECT 1 FROM activity a WHERE a.structure_id = s.identifiant_technique)"
    ).fetchone()
    assert orphans == (0,)


def test_people_not_brought_by_an_import_are_never_removed(tmp_path, store, synthetic_people):
    store.seed_demo()
    report = import_extraction(store, write_extract(tmp_path / "x.txt", synthetic_people[:10]))
    assert report.removed == 0
    assert store.count() == len(demo_professionals()) + 10
    # An extract taking over a demo person writes it, and counts it as changed, not added.
    taken = dataclasses.replace(demo_professionals()[0], sandbox_auto_approve=False)
    report = import_extraction(store, write_extract(tmp_path / "y.txt", [taken]))
    assert (report.changed, report.added, report.removed) == (1, 0, 10)
    # Written by hand afterwards: the next import rewrites it.
    store.upsert(dataclasses.replace(taken, family_name="MODIFIE"))
    assert import_extraction(store, tmp_path / "y.txt").changed == 1
    assert store.get(taken.national_id).family_name == taken.family_name


def test_malformed_lines_are_reported_with_numbers_and_skipped(tmp_path, store, synthetic_people):
    people = synthetic_people[:20]
    path = write_extract(
        tmp_path / "bad.txt",
        people,
        extra_lines=[(0, "not|an|extract|line"), (7, "8|1|82|X|" + "|" * 47), (9, "   ")],
    )
    report = import_extraction(store, path)
    assert report.malformed == 2
    numbers = [number for number, _ in report.malformed_samples]
    assert numbers == [2, 10]  # file line numbers: the header is line 1
    assert "expected 51" in report.malformed_samples[0][1]
    assert report.added == len(people)
    text = "\n".join(report.summary())
    assert "line 2: expected 51" in text and "line 10: " in text


def test_a_file_with_nothing_valid_changes_nothing(tmp_path, store, synthetic_people):
    import_extraction(store, write_extract(tmp_path / "ok.txt", synthetic_people[:5]))
    path = tmp_path / "empty.txt"
    path.write_text(HEADER_LINE + "\nbroken\n", encoding="utf-8")
    report = import_extraction(store, path)
    assert not report.applied and report.removed == 0
    assert store.count() == 5


@pytest.mark.parametrize("worker", [False, True])
def test_a_file_that_is_not_an_extract_is_refused(tmp_path, store, worker):
    path = tmp_path / "other.csv"
    path.write_text("a;b;c\n1;2;3\n", encoding="utf-8")
    with pytest.raises(ExtractFormatError, match="header"):
        import_extraction(store, path, worker=worker)
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as archive:
        archive.writestr("a.txt", HEADER_LINE)
        archive.writestr("b.txt", HEADER_LINE)
    with pytest.raises(ExtractFormatError, match="one extract"):
        import_extraction(store, tmp_path / "two.zip", worker=worker)
    assert store.count() == 0


def test_unknown_codes_are_reported_and_kept_unless_strict(tmp_path, store, synthetic_people):
    odd = dataclasses.replace(
        synthetic_people[0],
        exercices=(dataclasses.replace(synthetic_people[0].exercices[0], code_profession="99"),),
    )
    path = write_extract(tmp_path / "odd.txt", [odd, *synthetic_people[1:4]])
    report = import_extraction(store, path)
    rows = len([1 for e in odd.exercices for _ in (e.activities or [None])])
    assert report.codes.unknown[("code_profession", "99")] == rows
    assert "code_profession '99'" in "\n".join(report.summary())
    assert store.get(odd.national_id).professions == ("99",)

    strict_store_path = tmp_path / "strict.sqlite3"
    from santeid.directory import Directory

    strict = Directory(strict_store_path)
    report = import_extraction(strict, path, strict=True)
    assert report.malformed == rows and "--strict" in report.malformed_samples[0][1]
    assert strict.get(odd.national_id) is None and strict.count() == 3
    strict.close()


def test_latin1_lines_are_read_with_a_warning(tmp_path, store, synthetic_people):
    path = write_extract(tmp_path / "x.txt", synthetic_people[:2])
    data = path.read_bytes().replace(b"|CABINET ", "|CABINET É".encode("cp1252"), 1)
    path.write_bytes(data)
    report = import_extraction(store, path)
    assert report.warnings["line not in UTF-8, read as Windows-1252"] >= 1
    assert report.valid_lines == report.lines


@pytest.fixture
def run(tmp_path):
    runner = CliRunner()
    env = {"SANTEID_DATA_DIR": str(tmp_path / "data"), "SANTEID_CONFIG": ""}

    def invoke(*args: str):
        return runner.invoke(main, ["directory", *args], env=env, catch_exceptions=False)

    return invoke


def test_cli_import_reports_and_exits_by_outcome(run, tmp_path, synthetic_people):
    path = write_extract(tmp_path / "x.zip", synthetic_people[:15])
    first = run("import", str(path))
    assert first.exit_code == 0, first.output
    assert "15 added, 0 changed, 0 removed" in first.output
    second = run("import", "--format", "extraction-psc", "--no-progress", str(path))
    assert "(0 change(s))" in second.output
    broken = tmp_path / "broken.txt"
    broken.write_text(HEADER_LINE + "\nx|y\n", encoding="utf-8")
    failed = run("import", str(broken))
    assert failed.exit_code == 1 and "line 2: expected 51" in failed.output
    refused = run("import", str(tmp_path / "x.zip").replace("x.zip", "nothing.zip"))
    assert refused.exit_code == 2
    not_extract = tmp_path / "n.txt"
    not_extract.write_text("hello\n", encoding="utf-8")
    result = run("import", str(not_extract))
    assert result.exit_code == 1 and "not the header" in result.output


class _ImportDuringProgress:
    """A progress display that runs ``during`` once, at the first batch the import reads: by
    then the import is under way."""

    def __init__(self, during) -> None:
        self.during = during
        self.outcome = None

    def start(self, label: str, total: int) -> None:
        pass

    def update(self, amount: int) -> None:
        if self.outcome is None:
            self.outcome = self.during()

    def finish(self) -> None:
        pass


def test_a_second_import_into_the_same_directory_is_refused_while_one_runs(
    run, tmp_path, synthetic_people
):
    """Two imports at once would interleave their batches and leave a mix of both extracts:
    the second one, started while the first reads its file, stops before reading its own."""
    tonight = write_extract(tmp_path / "tonight.txt", synthetic_people[:40])
    other = write_extract(tmp_path / "other.txt", synthetic_people[30:80])
    directory = Directory(tmp_path / "data" / "directory.sqlite3")
    try:
        second = _ImportDuringProgress(lambda: run("import", "--no-progress", str(other)))
        report = import_extraction(directory, tonight, progress=second)
        assert second.outcome.exit_code == 1, second.outcome.output
        assert "another import into" in second.outcome.output
        assert f"(process {os.getpid()})" in second.outcome.output
        assert report.added == 40
        assert {p.national_id for p in directory.list()} == {
            p.national_id for p in synthetic_people[:40]
        }
        # Once the first import has finished, the same command runs.
        assert "40 added, 0 changed, 30 removed" in run("import", str(other)).output
    finally:
        directory.close()


class _ImportWhileApplying(_ImportDuringProgress):
    """:class:`_ImportDuringProgress` at the first batch the import writes: by then a bulk
    load has dropped the secondary indexes."""

    applying = False

    def start(self, label: str, total: int) -> None:
        self.applying = label == "Applying"

    def update(self, amount: int) -> None:
        if self.applying:
            super().update(amount)


def test_a_second_import_refused_during_a_bulk_load_leaves_the_directory_alone(
    run, tmp_path, synthetic_people, monkeypatch
):
    """The second import is refused before it touches the directory: opening it first
    created again the secondary indexes the running bulk load had dropped for its writes
    (schema.migrate restores missing ones), in the middle of that load — the random index
    inserts a national extract's bulk load avoids, and the second command waiting for the
    first's write lock before being told another import runs."""
    monkeypatch.setattr(importer, "BULK", 1)
    tonight = write_extract(tmp_path / "tonight.txt", synthetic_people[:40])
    other = write_extract(tmp_path / "other.txt", synthetic_people[30:80])
    directory = Directory(tmp_path / "data" / "directory.sqlite3")

    def second_import() -> tuple:
        outcome = run("import", "--no-progress", str(other))
        with sqlite3.connect(directory.path) as conn:
            names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        return outcome, names & set(schema.secondary_indexes())

    try:
        during = _ImportWhileApplying(second_import)
        report = import_extraction(directory, tonight, progress=during)
        outcome, indexes_meanwhile = during.outcome
        assert outcome.exit_code == 1 and "another import into" in outcome.output
        assert indexes_meanwhile == set()
        assert report.added == 40
    finally:
        directory.close()


#: ``santeid directory import FILE`` in a process of its own whose progress display sends the
#: signal ``sys.argv[2]`` to its own process at the first batch read: an operator's ``kill``
#: arriving mid-import, at a known point.
_SIGNALLED_IMPORT = """
import os, signal, sys
from santeid.cli import directory, main
signum = int(sys.argv[2])
directory._ClickProgress.update = lambda self, amount: os.kill(os.getpid(), signum)
sys.argv = ["santeid", "directory", "import", sys.argv[1]]
main()
"""


#: The same, the signal sent to the process group, as Ctrl-C in a terminal and systemd's
#: stop do: both processes of the import get it, the second one while it has batches to send
#: (one line each, more than the pipe holds).
_GROUP_SIGNALLED_IMPORT = """
import os, signal, sys
from santeid.cli import directory, main
from santeid.directory import importer
importer.BATCH_BYTES = 1
signum = int(sys.argv[2])
directory._ClickProgress.update = lambda self, amount: os.killpg(0, signum)
sys.argv = ["santeid", "directory", "import", sys.argv[1]]
main()
"""


def _signalled_import(
    tmp_path, extract, signum: int, script: str = _SIGNALLED_IMPORT, *, ignoring=()
):
    """``ignoring``: signals the command starts with ignored, as a shell without job control
    starts a background command (``santeid directory import FILE &`` in a script) with
    SIGINT and SIGQUIT ignored (POSIX, Shell Command Language §2.11)."""

    def ignore_them() -> None:
        for ignored in ignoring:
            signal.signal(ignored, signal.SIG_IGN)

    return subprocess.run(
        [sys.executable, "-c", script, str(extract), str(int(signum))],
        env={**os.environ, "SANTEID_DATA_DIR": str(tmp_path / "data"), "SANTEID_CONFIG": ""},
        capture_output=True,
        text=True,
        check=False,
        start_new_session=True,  # its own process group, for os.killpg(0, …)
        preexec_fn=ignore_them if ignoring else None,
    )


def _staging_left(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "data").iterdir() if p.is_dir())


def test_an_import_stopped_by_sigterm_removes_its_staging_copy(tmp_path, synthetic_people):
    """SIGTERM (systemd, ``timeout``) stops an import as Ctrl-C does: its staging copy of the
    extract — about the file's size — is removed, and the lock released."""
    extract = write_extract(tmp_path / "x.txt", synthetic_people[:30])
    stopped = _signalled_import(tmp_path, extract, signal.SIGTERM)
    assert stopped.returncode == 1, stopped.stderr
    assert "import interrupted" in stopped.stderr and "Traceback" not in stopped.stderr
    assert _staging_left(tmp_path) == []
    directory = Directory(tmp_path / "data" / "directory.sqlite3")
    try:
        assert import_extraction(directory, extract).added == 30
    finally:
        directory.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_import_stopped_with_its_second_process_says_so_in_one_line(
    tmp_path, synthetic_people, signum
):
    """Ctrl-C, or systemd's SIGTERM to the whole unit, reaches the second process too: it
    stops without a traceback of its own, and the command says once that it was interrupted."""
    extract = write_extract(tmp_path / "x.txt", synthetic_people)
    stopped = _signalled_import(tmp_path, extract, signum, _GROUP_SIGNALLED_IMPORT)
    assert stopped.returncode == 1, stopped.stderr
    assert "Traceback" not in stopped.stderr, stopped.stderr
    assert stopped.stderr.count("import interrupted") == 1
    assert _staging_left(tmp_path) == []


def test_an_import_started_with_sigint_ignored_is_not_stopped_by_it(tmp_path, synthetic_people):
    """A command started with SIGINT ignored — a script's background job, which Ctrl-C on the
    script's terminal must not stop — keeps ignoring it in its second process too: that
    process died of the SIGINT its parent ignored, and the import failed ("the import's second
    process was killed by SIGINT")."""
    extract = write_extract(tmp_path / "x.txt", synthetic_people)
    finished = _signalled_import(
        tmp_path, extract, signal.SIGINT, _GROUP_SIGNALLED_IMPORT, ignoring=[signal.SIGINT]
    )
    assert finished.returncode == 0, finished.stderr
    assert f"{len(synthetic_people)} added" in finished.stdout, finished.stdout
    assert _staging_left(tmp_path) == []


#: The import of :data:`_SIGNALLED_IMPORT` whose second process is killed at the first batch.
_SECOND_PROCESS_KILLED = """
import multiprocessing, os, signal, sys
from santeid.cli import directory, main
from santeid.directory import importer
importer.BATCH_BYTES = 1
signum = int(sys.argv[2])


def kill_the_second_process(self, amount):
    for child in multiprocessing.active_children():
        if child.name == "santeid-import":
            os.kill(child.pid, signum)


directory._ClickProgress.update = kill_the_second_process
sys.argv = ["santeid", "directory", "import", sys.argv[1]]
main()
"""


def test_an_import_whose_second_process_is_killed_says_so_without_a_traceback(
    tmp_path, synthetic_people
):
    """The kernel's out-of-memory killer picks the largest process, often the second one of a
    national import: the command says what happened and what to do, exit code 1."""
    extract = write_extract(tmp_path / "x.txt", synthetic_people)
    stopped = _signalled_import(tmp_path, extract, signal.SIGKILL, _SECOND_PROCESS_KILLED)
    assert stopped.returncode == 1, stopped.stderr
    assert "Traceback" not in stopped.stderr, stopped.stderr
    assert "the import's second process was killed by SIGKILL" in stopped.stderr
    assert "run the same import again" in stopped.stderr
    assert _staging_left(tmp_path) == []


def test_the_staging_copy_of_a_killed_import_is_removed_by_the_next_one(tmp_path, synthetic_people):
    """``kill -9`` leaves the staging copy behind (nothing runs in the killed process): the next
    import into the same directory, which holds the lock, removes it."""
    extract = write_extract(tmp_path / "x.txt", synthetic_people[:30])
    killed = _signalled_import(tmp_path, extract, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert len(_staging_left(tmp_path)) == 1
    directory = Directory(tmp_path / "data" / "directory.sqlite3")
    try:
        assert import_extraction(directory, extract).added == 30
        assert _staging_left(tmp_path) == []
    finally:
        directory.close()


def test_a_damaged_or_cut_zip_is_refused_before_anything_changes(run, tmp_path, synthetic_people):
    """A zip damaged in transit — bad CRC of a stored member, deflated data that does not
    inflate, an archive cut before its end — stops the import with exit code 1 and a message,
    the directory as it was; not a traceback."""
    assert run("import", str(write_extract(tmp_path / "v1.zip", synthetic_people[:10])))
    before = {p.national_id for p in synthetic_people[:10]}
    text = write_extract(tmp_path / "v2.txt", synthetic_people[5:40])
    damaged = {}
    for name, method in (("stored", zipfile.ZIP_STORED), ("deflated", zipfile.ZIP_DEFLATED)):
        with zipfile.ZipFile(tmp_path / f"{name}.zip", "w", method) as archive:
            archive.write(text, "Extraction_ProSanteConnect.txt")
        data = bytearray((tmp_path / f"{name}.zip").read_bytes())
        data[len(data) // 2] ^= 0x5A
        damaged[name] = bytes(data)
    damaged["cut"] = (tmp_path / "deflated.zip").read_bytes()[:-300]
    for name, data in damaged.items():
        path = tmp_path / f"{name}-damaged.zip"
        path.write_bytes(data)
        result = run("import", "--no-progress", str(path))
        assert result.exit_code == 1, (name, result.output)
        assert "zip archive" in result.output and "nothing imported" in result.output, name
    listed = Directory(tmp_path / "data" / "directory.sqlite3")
    try:
        assert {p.national_id for p in listed.list()} == before
    finally:
        listed.close()


def test_an_encrypted_zip_is_refused_in_plain_words(run, tmp_path, synthetic_people):
    """A password-protected zip (``zip -e``) stops the import, exit code 1, with a message a
    person reads — not zipfile's ``File <ZipInfo filename=… compress_size=…> is encrypted``."""
    path = tmp_path / "encrypted.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(write_extract(tmp_path / "x.txt", synthetic_people[:3]), "extract.txt")
    # The encryption flag (APPNOTE.TXT 4.4.4, bit 0) in the local and the central header:
    # zipfile writes no encrypted zip, and refuses to read a member so flagged.
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        data[data.index(signature) + offset] |= 0x1
    path.write_bytes(data)
    result = run("import", "--no-progress", str(path))
    assert result.exit_code == 1, result.output
    assert "extract.txt is encrypted in the zip" in result.output
    assert "nothing imported" in result.output and "ZipInfo" not in result.output


def test_a_file_cut_short_is_refused_instead_of_removing_everyone_after_the_cut(
    run, tmp_path, synthetic_people
):
    """An extract cut in the middle of a line (an interrupted download or copy) would, as a
    full extract, remove everyone after the cut: it is refused, exit code 1, nobody removed."""
    whole = write_extract(tmp_path / "whole.txt", synthetic_people[:40])
    assert "40 added" in run("import", str(whole)).output
    data = whole.read_bytes()
    cut = tmp_path / "cut.txt"
    cut.write_bytes(data[: len(data) // 2])
    lines = cut.read_bytes().count(b"\n") + 1
    result = run("import", "--no-progress", str(cut))
    assert result.exit_code == 1, result.output
    assert f"ends inside line {lines}, which has no line end" in result.output
    assert "removed" not in result.output
    # The same cut file, zipped: the archive is whole, its extract is not.
    zipped = tmp_path / "cut.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(cut, "cut.txt")
    assert run("import", "--no-progress", str(zipped)).exit_code == 1
    # The whole file with a CRLF line end on every line, the last included, is fine.
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(data.replace(b"\n", b"\r\n"))
    assert "(0 change(s))" in run("import", "--no-progress", str(crlf)).output


def test_a_person_whose_lines_are_all_refused_is_not_removed(tmp_path, store, synthetic_people):
    people = list(synthetic_people[:6])
    import_extraction(store, write_extract(tmp_path / "v1.txt", people))
    victim = people[2]
    lines = write_extract(tmp_path / "v2.txt", people).read_text(encoding="utf-8").splitlines()
    broken = []
    for line in lines:
        fields = line.split("|")
        if len(fields) > 5 and fields[2] == victim.national_id:
            fields[5] = "31/02/1970"  # no such date: the line is refused
        broken.append("|".join(fields))
    (tmp_path / "v2.txt").write_text("\n".join(broken) + "\n", encoding="utf-8")
    report = import_extraction(store, tmp_path / "v2.txt")
    assert report.malformed >= 1 and report.removed == 0 and report.kept == 1
    assert store.get(victim.national_id) == victim


def test_batches_written_table_by_table_round_trip_and_converge(
    tmp_path, store, synthetic_people, monkeypatch
):
    """People are written a batch at a time, one statement per table: across many small
    batches every person reads back exactly, exercice ids never collide, and a second import
    of a changed file converges to it."""
    monkeypatch.setattr(importer, "BATCH", 7)
    people = list(synthetic_people[:80])
    first = import_extraction(store, write_extract(tmp_path / "v1.txt", people))
    assert first.added == 80
    changed = [dataclasses.replace(p, family_name=f"AUTRE{i}") for i, p in enumerate(people[:30])]
    newer = changed + people[30:]
    report = import_extraction(store, write_extract(tmp_path / "v2.txt", newer))
    assert (report.added, report.changed, report.removed, report.unchanged) == (0, 30, 0, 50)
    for professional in newer:
        assert store.get(professional.national_id) == professional
    assert import_extraction(store, tmp_path / "v2.txt").changes == 0
    conn = sqlite3.connect(store.path)
    exercices = sum(len(p.exercices) for p in newer)
    assert conn.execute("SELECT count(*), count(DISTINCT id) FROM exercice").fetchone() == (
        exercices,
        exercices,
    )


def test_upsert_many_writes_a_repeated_person_once_as_given_last(store, synthetic_people):
    person = synthetic_people[0]
    renamed = dataclasses.replace(person, family_name="DERNIER")
    assert store.upsert_many([person, synthetic_people[1], renamed]) == 3
    assert store.get(person.national_id) == renamed
    assert store.get(synthetic_people[1].national_id) == synthetic_people[1]
    assert store.count() == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("01/02/2000", datetime.date(2000, 2, 1)),
        ("29/02/2024", datetime.date(2024, 2, 29)),
        ("1/2/2000", datetime.date(2000, 2, 1)),  # strptime's leniency is kept
        ("31/02/2000", None),
        ("01/13/2000", None),
        ("+1/02/2000", None),
        ("01-02-2000", None),
        ("０1/02/2000", None),
    ],
)
def test_birth_dates_read_as_strptime_reads_them(text, expected):
    if expected is None:
        with pytest.raises(LineError):
            parse_date(text)
    else:
        assert parse_date(text) == expected


_TABLES = {
    "person": "national_id",
    "exercice": "id",
    "savoir_faire": "exercice_id, rank",
    "activity": "id",
    "structure": "identifiant_technique",
    "other_id": "national_id, rank",
    "import_source": "national_id",
}


def _content(directory) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(directory.path)
    try:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()  # noqa: S608
            for table, order in _TABLES.items()
        }
    finally:
        conn.close()


def _outcome(report: importer.ImportReport) -> dict:
    outcome = dataclasses.asdict(report)
    for varies in ("path", "seconds", "codes"):
        del outcome[varies]
    return {**outcome, "unknown codes": report.codes.unknown}


def test_a_second_process_gives_the_same_directory_and_report(
    tmp_path, synthetic_people, monkeypatch
):
    """Lines checked and rows built in a forked process, in many small batches, end in the
    same tables, ids included, and the same report as an import done in one process; for a
    first import and for a diff."""
    monkeypatch.setattr(importer, "BATCH", 13)
    monkeypatch.setattr(importer, "BATCH_BYTES", 2_000)
    monkeypatch.setattr(importer, "READ_SHARE", 3)
    monkeypatch.setattr(importer, "APPLY_SHARE", 2)
    people = list(synthetic_people)
    first = write_extract(
        tmp_path / "v1.txt",
        people[:250],
        shuffle_seed=3,
        extra_lines=[(5, "not|an|extract|line"), (40, "8|1|82|X|" + "|" * 47)],
    )
    changed = [dataclasses.replace(p, family_name=f"AUTRE{i}") for i, p in enumerate(people[:20])]
    second = write_extract(tmp_path / "v2.txt", changed + people[40:])
    directories = {w: Directory(tmp_path / f"{w}.sqlite3") for w in (False, True)}
    try:
        reports = {w: [] for w in directories}
        for w, directory in directories.items():
            for path in (first, second, second):
                reports[w].append(_outcome(import_extraction(directory, path, worker=w)))
        assert reports[True] == reports[False]
        assert [r["changed"] for r in reports[True]] == [0, 20, 0]
        assert reports[True][0]["malformed"] == 2
        assert _content(directories[True]) == _content(directories[False])
        assert len(_content(directories[True])["person"]) == len(changed + people[40:])
    finally:
        for directory in directories.values():
            directory.close()


def test_a_bulk_load_creates_the_indexes_after_its_rows(tmp_path, synthetic_people, monkeypatch):
    """Above BULK new people the secondary indexes are dropped and created after the writes:
    same tables, and every index is there at the end."""
    path = write_extract(tmp_path / "v1.txt", synthetic_people)
    plain = Directory(tmp_path / "plain.sqlite3")
    bulk = Directory(tmp_path / "bulk.sqlite3")
    try:
        import_extraction(plain, path)
        monkeypatch.setattr(importer, "BULK", 100)
        report = import_extraction(bulk, path)
        assert report.added == len(synthetic_people)
        assert _content(bulk) == _content(plain)
        conn = sqlite3.connect(bulk.path)
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        conn.close()
        assert set(schema.secondary_indexes()) <= names
        # Under BULK new people (a re-import brings none): the indexes stay and take the rows.
        smaller = write_extract(tmp_path / "v2.txt", synthetic_people[:200])
        assert import_extraction(bulk, smaller).removed == 100
        import_extraction(plain, smaller)
        assert _content(bulk) == _content(plain)
    finally:
        plain.close()
        bulk.close()


def _numbers(limit: int):
    yield from range(limit)
    raise LookupError(f"stopped after {limit}")


def _tagged(number: int) -> tuple[int, int]:
    return number * 10, os.getpid()


def test_the_second_process_keeps_the_order_and_shares_the_work():
    results = list(importer._pipelined(lambda: iter(range(9)), _tagged, worker=True, share=3))
    assert [value for value, _ in results] == [0, 10, 20, 30, 40, 50, 60, 70, 80]
    here = [value for value, pid in results if pid == os.getpid()]
    assert here == [20, 50, 80]  # every third item, the others done by the forked process


def test_the_second_process_reports_its_failure_and_stops_with_the_reader():
    received = []
    with pytest.raises(LookupError, match="stopped after 3"):
        for item in importer._pipelined(lambda: _numbers(3), _tagged, worker=True):
            received.append(item[0])
    assert received == [0, 10, 20]
    endless = importer._pipelined(lambda: iter(int, 1), _tagged, worker=True)
    assert next(endless)[0] == 0
    endless.close()
    assert not [p for p in multiprocessing.active_children() if p.name == "santeid-import"]


def _break_one_line(path, national_id, change) -> None:
    """Rewrite the extract at ``path`` with ``change(fields)`` applied to the last line of
    ``national_id`` (its other lines stay valid)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    last = max(i for i, line in enumerate(lines) if line.split("|")[2:3] == [national_id])
    fields = lines[last].split("|")
    change(fields)
    lines[last] = "|".join(fields)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _person_with_several_lines(people):
    return next(p for p in people if sum(len(e.activities) or 1 for e in p.exercices) >= 2)


@pytest.mark.parametrize("strict", [False, True])
def test_a_refused_line_of_a_person_with_valid_lines_changes_nothing_on_reimport(
    tmp_path, store, synthetic_people, strict
):
    """docs/directory.md: re-importing the same file reports 0 change(s), refused lines or not."""
    people = list(synthetic_people[:30])
    person = _person_with_several_lines(people)
    path = write_extract(tmp_path / "x.txt", people)

    def bad_date(fields):
        fields[5] = "31/02/1970"

    def unknown_profession(fields):
        fields[13] = "99"

    _break_one_line(path, person.national_id, unknown_profession if strict else bad_date)
    first = import_extraction(store, path, strict=strict)
    assert first.malformed == 1 and first.added == len(people) and first.kept == 0
    for _ in range(2):
        again = import_extraction(store, path, strict=strict)
        assert again.changes == 0 and again.unchanged == len(people), again.summary()
        assert again.kept == 0
        assert "(0 change(s))" in "\n".join(again.summary())
    # The person's valid lines still count: a change to them is applied.
    lines = path.read_text(encoding="utf-8").splitlines()
    first_line = next(
        i for i, line in enumerate(lines) if line.split("|")[2:3] == [person.national_id]
    )
    fields = lines[first_line].split("|")
    fields[3] = "NOUVEAU-NOM"  # the person's family name: a stored column
    lines[first_line] = "|".join(fields)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    changed = import_extraction(store, path, strict=strict)
    assert changed.changed == 1 and changed.samples["changed"] == [person.national_id]


def test_only_people_of_the_previous_import_count_as_kept(tmp_path, store, synthetic_people):
    people = list(synthetic_people[:6])
    import_extraction(store, write_extract(tmp_path / "v1.txt", people))
    newcomer = synthetic_people[10]
    path = write_extract(
        tmp_path / "v2.txt", [*people, newcomer], extra_lines=[(0, "too|few|columns|")]
    )
    for person in (people[2], newcomer):
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            fields = line.split("|")
            if fields[2:3] == [person.national_id]:
                fields[5] = "31/02/1970"
                lines[i] = "|".join(fields)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = import_extraction(store, path)
    assert report.removed == 0 and report.kept == 1  # people[2]: not "columns", not newcomer
    assert "1 professional(s) with only refused lines kept" in "\n".join(report.summary())
    assert store.get(people[2].national_id) == people[2]
    assert store.get(newcomer.national_id) is None


def test_the_report_says_what_became_of_lines_with_unknown_codes(tmp_path, store, synthetic_people):
    odd = dataclasses.replace(
        synthetic_people[0],
        exercices=(dataclasses.replace(synthetic_people[0].exercices[0], code_profession="99"),),
    )
    path = write_extract(tmp_path / "odd.txt", [odd, *synthetic_people[1:4]])
    lenient = "\n".join(import_extraction(store, path).summary())
    assert "Unknown codes (lines kept, codes passed through as they are" in lenient
    other = Directory(tmp_path / "strict.sqlite3")
    strict = "\n".join(import_extraction(other, path, strict=True).summary())
    other.close()
    assert "Unknown codes (lines refused: --strict" in strict and "kept" not in strict
