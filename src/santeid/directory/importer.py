"""Import a RASS "Extraction ProSanteConnect" file (docs/reference/pro-sante-connect.md §15.2) into
the directory.

``santeid directory import FILE`` runs :func:`import_extraction`, in two streaming passes whose
memory does not grow with the file:

1. **Read.** Each line is checked (:func:`~santeid.directory.extraction.split_line`) and its
   codes looked up in the nomenclatures; good lines go to a staging SQLite file next to the
   directory (an external sort: the file need not be sorted, the lines of one person may be
   anywhere); bad ones are counted and the first :data:`MAX_SAMPLES` kept with their line
   numbers. A zipped extract is read from inside the archive.
2. **Apply.** Staged lines are read back ordered by national id, grouped per person
   (:func:`~santeid.directory.extraction.build_professional`) and compared, by digest, with what
   the last import of the same source wrote (table ``import_source``): unchanged people are
   skipped, new and changed ones written, and people imported before but absent from this full
   extract are removed. A merge join of two ordered streams does the comparison.

Re-importing the same file therefore changes nothing. People the import did not bring (demo
set, hand-made entries) are never removed. Writes are committed in batches, so readers keep
being served; an interrupted import leaves some people updated and is completed by running it
again (the digests make it converge).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import operator
import sqlite3
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO
from typing import Protocol
from typing import cast

from santeid.directory import nomenclatures
from santeid.directory.extraction import COLUMNS
from santeid.directory.extraction import FORMAT
from santeid.directory.extraction import LineError
from santeid.directory.extraction import build_professional
from santeid.directory.extraction import is_header
from santeid.directory.extraction import person_digest
from santeid.directory.extraction import split_line
from santeid.directory.models import Professional
from santeid.directory.repository import Directory
from santeid.directory.repository import _write_many

#: Malformed lines and changed ids kept for the report (the counts are always complete).
MAX_SAMPLES = 100
#: People written per transaction.
BATCH = 2_000
#: National ids per ``IN (…)`` list (SQLite allows 32,766 parameters since 3.32; 999 before).
_IN_LIST = 500

#: Line columns checked against the nomenclatures (column → directory field).
CODE_COLUMNS: tuple[tuple[int, str], ...] = (
    (12, "code_civilite"),
    (13, "code_profession"),
    (14, "code_categorie_professionnelle"),
    (15, "code_civilite_exercice"),
    (18, "code_type_savoir_faire"),
    (19, "code_savoir_faire"),
    (20, "code_mode_exercice"),
    (21, "code_secteur_activite"),
    (22, "code_section_pharmacien"),
    (23, "code_role"),
    (50, "code_genre_activite"),
)


class ExtractFormatError(ValueError):
    """The file is not an extract at all (no header, several members in the zip…)."""


class Progress(Protocol):
    """What the importer tells a progress display."""

    def start(self, label: str, total: int) -> None: ...

    def update(self, amount: int) -> None: ...

    def finish(self) -> None: ...


class _NoProgress:
    def start(self, label: str, total: int) -> None:
        pass

    def update(self, amount: int) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclasses.dataclass
class ImportReport:
    """What an import read and changed; :meth:`summary` prints it."""

    path: str
    source: str = FORMAT
    lines: int = 0
    valid_lines: int = 0
    malformed: int = 0
    malformed_samples: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    persons: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    samples: dict[str, list[str]] = dataclasses.field(
        default_factory=lambda: {"added": [], "changed": [], "removed": []}
    )
    warnings: Counter[str] = dataclasses.field(default_factory=Counter)
    codes: nomenclatures.CodeReport = dataclasses.field(default_factory=nomenclatures.CodeReport)
    structures_removed: int = 0
    #: People not removed although absent, because lines of theirs were refused.
    kept: int = 0
    applied: bool = False
    seconds: float = 0.0

    @property
    def changes(self) -> int:
        return self.added + self.changed + self.removed

    def _note(self, kind: str, national_id: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.samples[kind]) < 20:
            self.samples[kind].append(national_id)

    def summary(self) -> list[str]:
        """Human-readable lines, for the command line."""
        out = [
            f"{self.path}: {self.lines} data line(s), {self.valid_lines} valid, "
            f"{self.malformed} malformed; {self.persons} professional(s) in the file.",
        ]
        for number, reason in self.malformed_samples:
            out.append(f"  line {number}: {reason}")
        if self.malformed > len(self.malformed_samples):
            out.append(f"  … and {self.malformed - len(self.malformed_samples)} more")
        if self.codes.total:
            out.append(f"Unknown codes (kept as they are, {self.codes.total} in all):")
            out.extend(f"  {line}" for line in self.codes.lines())
        for warning, count in self.warnings.most_common():
            out.append(f"Warning: {warning}: {count}")
        if not self.applied:
            out.append("Nothing applied: the file has no valid line.")
            return out
        out.append(
            f"Changes: {self.added} added, {self.changed} changed, {self.removed} removed, "
            f"{self.unchanged} unchanged ({self.changes} change(s)); "
            f"{self.structures_removed} unused structure(s) removed; {self.seconds:.1f} s."
        )
        if self.kept:
            out.append(
                f"  {self.kept} professional(s) with only refused lines kept as they were "
                "(not removed)"
            )
        for kind in ("added", "changed", "removed"):
            ids = self.samples[kind]
            if ids:
                more = getattr(self, kind) - len(ids)
                out.append(f"  {kind}: {', '.join(ids)}" + (f" … (+{more})" if more else ""))
        return out


@contextlib.contextmanager
def open_extract(path: Path) -> Iterator[tuple[IO[bytes], int]]:
    """The extract's bytes and their size, from a plain file or from inside a zip."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            texts = [m for m in members if m.filename.lower().endswith(".txt")] or members
            if len(texts) != 1:
                names = ", ".join(m.filename for m in members) or "nothing"
                raise ExtractFormatError(
                    f"{path}: the zip must hold one extract (.txt), it holds {names}"
                )
            with archive.open(texts[0]) as raw:
                yield raw, texts[0].file_size
    else:
        with path.open("rb") as raw:
            yield raw, path.stat().st_size


def _decode(raw: bytes, report: ImportReport) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        report.warnings["line not in UTF-8, read as Windows-1252"] += 1
        return raw.decode("cp1252", errors="replace")


def import_extraction(
    directory: Directory,
    path: Path | str,
    *,
    source: str = FORMAT,
    strict: bool = False,
    progress: Progress | None = None,
    temp_dir: Path | str | None = None,
) -> ImportReport:
    """Import the extract at ``path`` into ``directory``; see the module docstring.

    ``strict`` refuses lines carrying a code absent from the nomenclatures (they are reported
    as malformed); by default such lines are kept and the codes reported.
    Raises :class:`ExtractFormatError` when the file has no published header.
    """
    started = time.monotonic()
    path = Path(path)
    progress = progress or _NoProgress()
    report = ImportReport(path=str(path), source=source)
    directory.initialize()
    work_dir = Path(temp_dir) if temp_dir else directory.path.parent
    with tempfile.TemporaryDirectory(dir=work_dir, prefix=".santeid-import-") as tmp:
        staging = sqlite3.connect(Path(tmp) / "staging.sqlite3", isolation_level=None)
        try:
            for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -65536"):
                staging.execute(f"PRAGMA {pragma}")
            staging.execute(
                "CREATE TABLE line (national_id TEXT NOT NULL, line_no INTEGER NOT NULL, "
                "fields TEXT NOT NULL)"
            )
            # National ids seen on refused lines: never removed because of a bad line.
            staging.execute("CREATE TABLE refused (national_id TEXT PRIMARY KEY) WITHOUT ROWID")
            _stage(staging, path, report, strict, progress)
            if report.valid_lines:
                _apply(staging, directory, report, progress)
                report.applied = True
        finally:
            staging.close()
    report.seconds = time.monotonic() - started
    return report


def _stage(
    staging: sqlite3.Connection,
    path: Path,
    report: ImportReport,
    strict: bool,
    progress: Progress,
) -> None:
    codes = report.codes
    batch: list[tuple[str, int, str]] = []
    with open_extract(path) as (raw, size):
        # Without peek() the extract is an unbuffered file: a raw stream BufferedReader wraps.
        stream = (
            io.BufferedReader(cast(io.RawIOBase, raw), buffer_size=1 << 20)
            if not hasattr(raw, "peek")
            else raw
        )
        header = stream.readline()
        if not header:
            raise ExtractFormatError(f"{path}: empty file")
        if not is_header(_decode(header, report)):
            raise ExtractFormatError(
                f"{path}: the first line is not the header of an Extraction ProSanteConnect "
                f'file ({COLUMNS} columns starting with "Type d\'identifiant PP")'
            )
        progress.start("Reading", size)
        progress.update(len(header))
        staging.execute("BEGIN")
        for number, raw_line in enumerate(stream, start=2):
            progress.update(len(raw_line))
            text = _decode(raw_line, report)
            if not text.strip():
                continue
            report.lines += 1
            try:
                fields = split_line(text)
            except LineError as exc:
                _malformed(report, number, str(exc))
                _refuse(staging, text.split("|")[2].strip() if text.count("|") >= 2 else "")
                continue
            unknown = [
                (field, fields[column])
                for column, field in CODE_COLUMNS
                if not codes.check(field, fields[column])
            ]
            if unknown and strict:
                listed = ", ".join(f"{field} {code!r}" for field, code in unknown)
                _malformed(report, number, f"unknown code(s): {listed} (--strict)")
                _refuse(staging, fields[2])
                continue
            report.valid_lines += 1
            batch.append((fields[2], number, "|".join(fields)))
            if len(batch) >= 10_000:
                staging.executemany("INSERT INTO line VALUES (?, ?, ?)", batch)
                batch.clear()
        if batch:
            staging.executemany("INSERT INTO line VALUES (?, ?, ?)", batch)
        staging.execute("COMMIT")
        progress.finish()
    staging.execute("CREATE INDEX line_order ON line (national_id, line_no)")


def _refuse(staging: sqlite3.Connection, national_id: str) -> None:
    if national_id:
        staging.execute("INSERT OR IGNORE INTO refused VALUES (?)", (national_id,))


def _malformed(report: ImportReport, number: int, reason: str) -> None:
    report.malformed += 1
    if len(report.malformed_samples) < MAX_SAMPLES:
        report.malformed_samples.append((number, reason))


def _apply(
    staging: sqlite3.Connection,
    directory: Directory,
    report: ImportReport,
    progress: Progress,
) -> None:
    # Copy the digests of the last import into the staging file, so that both sides of the
    # comparison are read in order from one connection and the directory is free for writers.
    staging.execute(
        "CREATE TABLE old (national_id TEXT PRIMARY KEY, digest BLOB NOT NULL) WITHOUT ROWID"
    )
    staging.execute("ATTACH DATABASE ? AS dir", (str(directory.path),))
    staging.execute(
        "INSERT INTO old SELECT national_id, digest FROM dir.import_source WHERE source = ? "
        "AND national_id NOT IN (SELECT national_id FROM main.refused)",
        (report.source,),
    )
    report.kept = staging.execute(
        "SELECT count(*) FROM refused WHERE national_id NOT IN (SELECT national_id FROM line)"
    ).fetchone()[0]
    staging.execute("DETACH DATABASE dir")

    new_rows = staging.execute("SELECT national_id, fields FROM line ORDER BY national_id, line_no")
    old_rows = staging.cursor().execute("SELECT national_id, digest FROM old ORDER BY national_id")
    old = old_rows.fetchone()
    pending: list[tuple[Professional, bytes, bytes | None]] = []
    removals: list[str] = []
    progress.start("Applying", report.valid_lines)
    with directory._connection() as conn, _large_cache(conn):
        for national_id, group in itertools.groupby(new_rows, key=operator.itemgetter(0)):
            while old is not None and old[0] < national_id:
                removals.append(old[0])
                old = old_rows.fetchone()
            previous = None
            if old is not None and old[0] == national_id:
                previous = old[1]
                old = old_rows.fetchone()
            rows = [fields.split("|") for _, fields in group]
            progress.update(len(rows))
            report.persons += 1
            digest = person_digest(rows)
            if previous == digest:
                report.unchanged += 1
                continue
            professional, warnings = build_professional(rows)
            for warning in warnings:
                report.warnings[warning] += 1
            pending.append((professional, digest, previous))
            if len(pending) >= BATCH:
                _flush(conn, pending, report)
            if len(removals) >= BATCH:
                _remove(conn, removals, report)
        while old is not None:
            removals.append(old[0])
            old = old_rows.fetchone()
        _flush(conn, pending, report)
        _remove(conn, removals, report)
        if report.changed or report.removed:
            conn.execute("BEGIN IMMEDIATE")
            cursor = conn.execute(
                "DELETE FROM structure WHERE NOT EXISTS (SELECT 1 FROM activity a "
                "WHERE a.structure_id = structure.identifiant_technique)"
            )
            report.structures_removed = cursor.rowcount
            conn.execute("COMMIT")
    progress.finish()


@contextlib.contextmanager
def _large_cache(conn: sqlite3.Connection) -> Iterator[None]:
    """A 256 MiB page cache while importing: a national extract's name indexes take random
    inserts, which the default 2 MiB cache turns into a page read each.  The pooled
    connection gets its own size back afterwards."""
    before = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute("PRAGMA cache_size = -262144")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA cache_size = {int(before)}")


def _flush(
    conn: sqlite3.Connection,
    pending: list[tuple[Professional, bytes, bytes | None]],
    report: ImportReport,
) -> None:
    """Write a batch of new and changed people and their digests in one transaction."""
    if not pending:
        return
    conn.execute("BEGIN IMMEDIATE")
    # People without a digest of this source may still be in the directory (demo set, people
    # written by hand): they are "changed", not "added".
    unknown = [p.national_id for p, _, previous in pending if previous is None]
    present: set[str] = set()
    for start in range(0, len(unknown), _IN_LIST):
        part = unknown[start : start + _IN_LIST]
        present.update(
            row[0]
            for row in conn.execute(
                "SELECT national_id FROM person WHERE national_id IN "  # noqa: S608 - placeholders
                f"({', '.join('?' * len(part))})",
                part,
            )
        )
    _write_many(conn, (professional for professional, _, _ in pending))
    conn.executemany(
        "INSERT OR REPLACE INTO import_source (national_id, source, digest) VALUES (?, ?, ?)",
        [(professional.national_id, report.source, digest) for professional, digest, _ in pending],
    )
    conn.execute("COMMIT")
    for professional, _, previous in pending:
        exists = previous is not None or professional.national_id in present
        report._note("changed" if exists else "added", professional.national_id)
    pending.clear()


def _remove(conn: sqlite3.Connection, removals: list[str], report: ImportReport) -> None:
    if not removals:
        return
    conn.execute("BEGIN IMMEDIATE")
    # ON DELETE CASCADE takes exercices, activities, savoir-faire, other ids and the digest.
    conn.executemany("DELETE FROM person WHERE national_id = ?", [(n,) for n in removals])
    conn.execute("COMMIT")
    for national_id in removals:
        report._note("removed", national_id)
    removals.clear()
