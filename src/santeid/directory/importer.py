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

The Python work of each pass (checking lines; digesting and building the rows of a person)
runs in a forked second process, one batch ahead of this one, which only writes (SQLite): the
batches arrive in file order through a pipe that holds one at a time, so the result is the
same as without the second process and the memory is still that of a batch or two.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import glob
import io
import itertools
import multiprocessing
import operator
import os
import pickle
import shutil
import signal
import sqlite3
import tempfile
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from collections.abc import Generator
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO
from typing import Protocol
from typing import TypeVar
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
from santeid.directory.repository import TableRows
from santeid.directory.repository import table_rows
from santeid.directory.repository import write_rows
from santeid.directory.schema import secondary_indexes

#: Malformed lines and changed ids kept for the report (the counts are always complete).
MAX_SAMPLES = 100
#: People compared per batch; their changes are written in one transaction.
BATCH = 2_000
#: Pass 2: the importing process compares one batch in this many itself (0: none), besides
#: writing every batch to the directory.  None: at a national extract's size the writing alone
#: costs it about what the comparing costs the second process (docs/performance.md).
APPLY_SHARE = 0
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


class ImportRunning(RuntimeError):
    """Another import into the same directory file is running (:func:`import_lock`)."""


class SecondProcessStopped(RuntimeError):
    """The import's forked second process ended without a word: killed (the kernel's
    out-of-memory killer, an operator's ``kill``) or crashed."""

    def __init__(self, exit_code: int | None) -> None:
        if exit_code is not None and exit_code < 0:
            name = signal.Signals(-exit_code).name
            how = f"was killed by {name}" + (
                " (the system may have run out of memory)" if name == "SIGKILL" else ""
            )
        else:
            how = f"stopped (exit code {exit_code})"
        super().__init__(f"the import's second process {how}")


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
    #: People of the last import whose every line was refused: kept as they were, not removed.
    kept: int = 0
    #: ``--strict``: lines with unknown codes were refused instead of kept.
    strict: bool = False
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
            fate = (
                "lines refused: --strict"
                if self.strict
                else "lines kept, codes passed through as they are"
            )
            out.append(f"Unknown codes ({fate}; {self.codes.total} in all):")
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


#: What reading a damaged zip raises: a bad CRC or header (``BadZipFile``), deflated data that
#: does not inflate (``zlib.error``), a member that ends early (``EOFError``).
_DAMAGED_ZIP = (zipfile.BadZipFile, zlib.error, EOFError)
#: The signature a zip file starts with (its first local file header), found in a zip cut
#: before its central directory, which ``zipfile.is_zipfile`` looks for at the end
#: (https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT, 4.3.7).
_ZIP_SIGNATURE = b"PK\x03\x04"
#: The general purpose flag of an encrypted member (APPNOTE.TXT 4.4.4, bit 0), which zipfile
#: refuses with a message holding its ``ZipInfo`` repr.
_ZIP_ENCRYPTED = 0x1


@contextlib.contextmanager
def open_extract(path: Path) -> Iterator[tuple[IO[bytes], int]]:
    """The extract's bytes and their size, from a plain file or from inside a zip.

    A zip that cannot be read — damaged, cut short (an interrupted download), encrypted,
    compressed in a way Python does not read — is an :class:`ExtractFormatError`, raised
    while the import still reads the file: before it has changed anything.
    """
    if not zipfile.is_zipfile(path):
        with path.open("rb") as raw:
            if raw.read(len(_ZIP_SIGNATURE)) == _ZIP_SIGNATURE:
                raise ExtractFormatError(
                    f"{path}: a zip archive without its end (cut short, or damaged): "
                    "nothing imported; fetch the file again"
                )
            raw.seek(0)
            yield raw, path.stat().st_size
        return
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            texts = [m for m in members if m.filename.lower().endswith(".txt")] or members
            if len(texts) != 1:
                names = ", ".join(m.filename for m in members) or "nothing"
                raise ExtractFormatError(
                    f"{path}: the zip must hold one extract (.txt), it holds {names}"
                )
            if texts[0].flag_bits & _ZIP_ENCRYPTED:
                raise ExtractFormatError(
                    f"{path}: {texts[0].filename} is encrypted in the zip (password-protected): "
                    "nothing imported; import the extract unzipped, or a zip without a password"
                )
            try:
                member = archive.open(texts[0])
            except (RuntimeError, NotImplementedError) as exc:  # compression method
                raise ExtractFormatError(
                    f"{path}: cannot read {texts[0].filename} in the zip: {exc}"
                ) from None
            with member:
                yield member, texts[0].file_size
    except _DAMAGED_ZIP as exc:
        raise ExtractFormatError(
            f"{path}: the zip archive is damaged ({exc}): nothing imported; fetch the file again"
        ) from None


def _decode(raw: bytes, warnings: Counter[str]) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        warnings["line not in UTF-8, read as Windows-1252"] += 1
        return raw.decode("cp1252", errors="replace")


def import_extraction(
    directory: Directory,
    path: Path | str,
    *,
    source: str = FORMAT,
    strict: bool = False,
    progress: Progress | None = None,
    temp_dir: Path | str | None = None,
    worker: bool | None = None,
) -> ImportReport:
    """Import the extract at ``path`` into ``directory``; see the module docstring.

    ``strict`` refuses lines carrying a code absent from the nomenclatures (they are reported
    as malformed); by default such lines are kept and the codes reported.
    ``worker``: read and build in a second process while this one writes (default: when the
    machine has two cores or more); the result is the same either way.
    Raises :class:`ExtractFormatError` when the file has no published header.
    """
    started = time.monotonic()
    path = Path(path)
    progress = progress or _NoProgress()
    if worker is None:
        worker = (os.cpu_count() or 1) >= 2 and "fork" in multiprocessing.get_all_start_methods()
    report = ImportReport(path=str(path), source=source, strict=strict)
    work_dir = Path(temp_dir) if temp_dir else directory.path.parent
    staging_prefix = f".{directory.path.name}.import-"
    with import_lock(directory):
        # Opened under the lock: opening restores missing secondary indexes (schema.migrate),
        # which a running bulk load has dropped until its writes are done.
        directory.initialize()
        if not temp_dir:
            # Only next to the directory does the name say whose a staging folder is: another
            # directory file of the same name may stage in a ``temp_dir`` shared with it.
            _remove_leftovers(work_dir, staging_prefix)
        with tempfile.TemporaryDirectory(dir=work_dir, prefix=staging_prefix) as tmp:
            _import(Path(tmp), directory, path, report, strict, progress, worker)
    report.seconds = time.monotonic() - started
    return report


def _remove_leftovers(work_dir: Path, prefix: str) -> None:
    """Remove the staging directories of imports into this directory that died (``kill -9``,
    a power cut): each holds about the extract's size, and nothing else would ever remove them.
    Called under :func:`import_lock`, so none of them belongs to a running import."""
    for leftover in work_dir.glob(f"{glob.escape(prefix)}*"):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)


def _import(
    tmp: Path,
    directory: Directory,
    path: Path,
    report: ImportReport,
    strict: bool,
    progress: Progress,
    worker: bool,
) -> None:
    """Both passes, with the staging file in ``tmp``."""
    staging_path = tmp / "staging.sqlite3"
    staging = sqlite3.connect(staging_path, isolation_level=None)
    try:
        for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -65536"):
            staging.execute(f"PRAGMA {pragma}")
        staging.execute(
            "CREATE TABLE line (national_id TEXT NOT NULL, line_no INTEGER NOT NULL, "
            "fields TEXT NOT NULL)"
        )
        # National ids seen on refused lines: with no valid line, kept (_old_digests).
        staging.execute("CREATE TABLE refused (national_id TEXT PRIMARY KEY) WITHOUT ROWID")
        _stage(staging, path, report, strict, progress, worker)
        bulk = bool(report.valid_lines) and _old_digests(staging, directory, report)
    finally:
        staging.close()
    if report.valid_lines:
        _apply(staging_path, directory, report, progress, worker, bulk)
        report.applied = True


def lock_path(directory: Directory) -> Path:
    """The file whose lock an import of ``directory`` holds: ``.<file name>.import.lock`` next
    to the directory file."""
    return directory.path.with_name(f".{directory.path.name}.import.lock")


@contextlib.contextmanager
def import_lock(directory: Directory) -> Iterator[None]:
    """Hold the import lock of ``directory`` for the block, or raise :class:`ImportRunning`.

    Two imports into one file at once (a nightly run overlapping the previous night's, two
    operators) would interleave their batches — each commits every :data:`BATCH` people and
    compares with the digests it read at its start — and leave a mix of both extracts,
    removals of one undoing the additions of the other. The second import is therefore
    refused before it reads anything, or opens the directory. An ``flock`` is released by
    the system when its holder dies however it dies (``kill -9`` included), so no stale lock
    is ever left to clear (https://man7.org/linux/man-pages/man2/flock.2.html).
    """
    directory.path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(directory), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            raise ImportRunning(
                f"another import into {directory.path} is running"
                + (f" (process {holder})" if holder.isdigit() else "")
                + ": run this one when it has finished"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


# -- a second process ----------------------------------------------------------------------

_A = TypeVar("_A")
_B = TypeVar("_B")
_DONE, _RESULT, _READ, _ERROR = range(4)


def _pipelined(
    read: Callable[[], Iterator[_A]],
    work: Callable[[_A], _B],
    worker: bool,
    share: int = 0,
) -> Generator[_B, None, None]:
    """``work(item)`` for each item of ``read()``, in order: computed here, or with ``worker`` by
    a forked process while this one uses the previous result.

    ``share``: the forked process hands every ``share``-th item over as read, for this process
    to work on (0: none), when this process has less else to do than the forked one. Results
    and items travel pickled through a pipe whose writer blocks until this process reads: the
    forked process is at most one item ahead, so memory stays that of a few items whatever the
    file size (https://docs.python.org/3/library/multiprocessing.html#pipes-and-queues). An
    exception there is raised here; closing this generator early stops the forked process.
    """
    if not worker:
        for item in read():
            yield work(item)
        return
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_produce_into,
        args=(read, work, share, receiver, sender),
        name="santeid-import",
        daemon=True,
    )
    process.start()
    sender.close()
    try:
        while True:
            try:
                # Our own forked process, through a pipe only it holds: trusted bytes.
                kind, value = pickle.loads(receiver.recv_bytes())  # noqa: S301
            except EOFError:
                process.join()
                raise SecondProcessStopped(process.exitcode) from None
            if kind == _DONE:
                return
            if kind == _ERROR:
                raise value
            yield work(value) if kind == _READ else value
    finally:
        receiver.close()
        process.join(timeout=5)
        if process.is_alive():
            process.terminate()
            process.join()


def _produce_into(
    read: Callable[[], Iterator[_A]],
    work: Callable[[_A], object],
    share: int,
    receiver: Connection,
    sender: Connection,
) -> None:
    """The forked process: send every result (or item left to the parent), then the end or
    the exception that stopped it."""
    # Ctrl-C, or a SIGTERM to the process group (how systemd stops a unit), reaches this
    # process too: it ends on the spot, silently — it writes nothing — instead of raising
    # KeyboardInterrupt wherever it is (the handler of ``santeid directory import`` is
    # inherited). The importing process, interrupted as well, says so; one signalled alone
    # finds the pipe closed (:class:`SecondProcessStopped`). A signal the command was started
    # with ignored stays ignored — SIGINT for a shell script's background job (POSIX, Shell
    # Command Language §2.11): the importing process ignores it, so must this one.
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)
    # The parent's end, inherited: closed, so that a parent that stops reading makes send()
    # fail here instead of blocking on a pipe that still has a reader.
    receiver.close()
    try:
        for index, item in enumerate(read(), start=1):
            if share and index % share == 0:
                sender.send_bytes(_dumps((_READ, item)))
            else:
                sender.send_bytes(_dumps((_RESULT, work(item))))
        sender.send_bytes(_dumps((_DONE, None)))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the importing process stopped reading: nothing to tell it
    except BaseException as exc:  # noqa: BLE001 - every failure is reported to the parent
        try:
            sender.send_bytes(pickle.dumps((_ERROR, exc)))
        except Exception:  # noqa: BLE001 - an exception pickle cannot carry
            sender.send_bytes(pickle.dumps((_ERROR, RuntimeError(f"{type(exc).__name__}: {exc}"))))
    finally:
        sender.close()


def _dumps(value: object) -> bytes:
    """``value`` pickled without the memo: a batch is tens of thousands of short strings, and
    remembering each one (to share repeats, which batches do not need) cost four times the
    pickling itself.  No batch refers to itself, the one case the memo is needed for
    (https://docs.python.org/3/library/pickle.html#pickle.Pickler.fast)."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(value)
    return buffer.getvalue()


# -- pass 1: read and check ------------------------------------------------------------------

#: Bytes of the extract read per batch (whole lines), checked in one piece of work.
BATCH_BYTES = 4 << 20
#: Pass 1: the importing process checks one batch in this many itself (0: none), besides
#: writing every batch to the staging file.
READ_SHARE = 2


@dataclasses.dataclass
class _Lines:
    """Lines of the extract as read, and the file line number of the first."""

    first: int
    lines: list[bytes]
    size: int
    warnings: Counter[str] = dataclasses.field(default_factory=Counter)


@dataclasses.dataclass
class _Checked:
    """A batch of lines checked, with what they add to the report."""

    size: int = 0
    lines: int = 0
    #: Valid lines: (national id, line number, stripped fields joined by ``|``).
    rows: list[tuple[str, int, str]] = dataclasses.field(default_factory=list)
    malformed: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    #: National ids of refused lines.
    refused: list[str] = dataclasses.field(default_factory=list)
    warnings: Counter[str] = dataclasses.field(default_factory=Counter)
    unknown: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)


def _stage(
    staging: sqlite3.Connection,
    path: Path,
    report: ImportReport,
    strict: bool,
    progress: Progress,
    worker: bool,
) -> None:
    with open_extract(path) as (_, size):
        pass  # the size for the progress display; the lines are read by _read_lines
    progress.start("Reading", size)
    try:
        staging.execute("BEGIN")
        batches = _pipelined(
            functools.partial(_read_lines, path),
            functools.partial(_check_lines, strict=strict),
            worker,
            READ_SHARE,
        )
        with contextlib.closing(batches):
            for batch in batches:
                progress.update(batch.size)
                report.lines += batch.lines
                report.valid_lines += len(batch.rows)
                for number, reason in batch.malformed:
                    _malformed(report, number, reason)
                report.warnings.update(batch.warnings)
                report.codes.unknown.update(batch.unknown)
                staging.executemany("INSERT INTO line VALUES (?, ?, ?)", batch.rows)
                staging.executemany(
                    "INSERT OR IGNORE INTO refused VALUES (?)", [(n,) for n in batch.refused]
                )
        staging.execute("COMMIT")
    finally:
        progress.finish()
    staging.execute("CREATE INDEX line_order ON line (national_id, line_no)")


def _read_lines(path: Path) -> Iterator[_Lines]:
    """The extract's data lines in batches of about :data:`BATCH_BYTES`, after its header."""
    with open_extract(path) as (raw, _):
        # Without peek() the extract is an unbuffered file: a raw stream BufferedReader wraps.
        stream = (
            io.BufferedReader(cast(io.RawIOBase, raw), buffer_size=1 << 20)
            if not hasattr(raw, "peek")
            else raw
        )
        header = stream.readline()
        if not header:
            raise ExtractFormatError(f"{path}: empty file")
        warnings: Counter[str] = Counter()
        if not is_header(_decode(header, warnings)):
            raise ExtractFormatError(
                f"{path}: the first line is not the header of an Extraction ProSanteConnect "
                f'file ({COLUMNS} columns starting with "Type d\'identifiant PP")'
            )
        first, size, last = 2, len(header), header
        while lines := stream.readlines(BATCH_BYTES):
            size += sum(map(len, lines))
            last = lines[-1]
            yield _Lines(first, lines, size, warnings)
            first, size, warnings = first + len(lines), 0, Counter()
        if not last.endswith(b"\n"):
            # Raised before pass 2: the directory is not touched.
            raise ExtractFormatError(
                f"{path}: the file ends inside line {first - 1}, which has no line end: it "
                "looks cut short (an interrupted download or copy), and as a full extract it "
                "would remove everyone after the cut; nothing imported. Fetch the file again "
                "(or, if it is whole, add the missing line end)"
            )


def _check_lines(lines: _Lines, strict: bool) -> _Checked:
    """Lines checked (:func:`~santeid.directory.extraction.split_line`) and their codes looked
    up in the nomenclatures."""
    codes = nomenclatures.CodeReport()
    batch = _Checked(size=lines.size, warnings=lines.warnings)
    for number, raw_line in enumerate(lines.lines, start=lines.first):
        text = _decode(raw_line, batch.warnings)
        if not text.strip():
            continue
        batch.lines += 1
        try:
            fields = split_line(text)
        except LineError as exc:
            batch.malformed.append((number, str(exc)))
            national_id = text.split("|")[2].strip() if text.count("|") >= 2 else ""
            if national_id:
                batch.refused.append(national_id)
            continue
        unknown = [
            (field, fields[column])
            for column, field in CODE_COLUMNS
            if not codes.check(field, fields[column])
        ]
        if unknown and strict:
            listed = ", ".join(f"{field} {code!r}" for field, code in unknown)
            batch.malformed.append((number, f"unknown code(s): {listed} (--strict)"))
            batch.refused.append(fields[2])
            continue
        batch.rows.append((fields[2], number, "|".join(fields)))
    batch.unknown = codes.unknown
    return batch


def _malformed(report: ImportReport, number: int, reason: str) -> None:
    report.malformed += 1
    if len(report.malformed_samples) < MAX_SAMPLES:
        report.malformed_samples.append((number, reason))


# -- pass 2: compare and write ---------------------------------------------------------------


#: An import bringing this many people that the last one did not, and more than a quarter of
#: the directory, drops the secondary indexes and creates them after its writes.
BULK = 20_000


def _old_digests(staging: sqlite3.Connection, directory: Directory, report: ImportReport) -> bool:
    """Copy the digests of the last import into the staging file, so that both sides of the
    comparison are read in order from one file and the directory is free for writers.

    Return whether the import is a bulk load (:data:`BULK`): the name indexes take a random
    insert per row, which at a national extract's size dirties most of their pages in every
    batch (each rewritten to the write-ahead log and then to the file), where creating them
    afterwards is one sort.
    """
    staging.execute(
        "CREATE TABLE old (national_id TEXT PRIMARY KEY, digest BLOB NOT NULL) WITHOUT ROWID"
    )
    staging.execute("ATTACH DATABASE ? AS dir", (str(directory.path),))
    # Kept as they were (docs/directory.md, "Idempotence and diff"): people the last import
    # brought whose every line is refused this time. A person with some valid lines keeps its
    # digest and is compared on them like anyone else; an id seen only on refused lines that
    # the last import did not bring (a junk line's third column, a newcomer) is nobody to keep.
    staging.execute("CREATE TABLE kept (national_id TEXT PRIMARY KEY) WITHOUT ROWID")
    staging.execute(
        "INSERT INTO kept SELECT r.national_id FROM refused r "
        "WHERE NOT EXISTS (SELECT 1 FROM line WHERE line.national_id = r.national_id) "
        "AND EXISTS (SELECT 1 FROM dir.import_source s "
        "WHERE s.national_id = r.national_id AND s.source = ?)",
        (report.source,),
    )
    staging.execute(
        "INSERT INTO old SELECT national_id, digest FROM dir.import_source WHERE source = ? "
        "AND national_id NOT IN (SELECT national_id FROM main.kept)",
        (report.source,),
    )
    (report.kept,) = staging.execute("SELECT count(*) FROM kept").fetchone()
    (people,) = staging.execute("SELECT count(DISTINCT national_id) FROM line").fetchone()
    (known,) = staging.execute("SELECT count(*) FROM old").fetchone()
    (present,) = staging.execute("SELECT count(*) FROM dir.person").fetchone()
    staging.execute("DETACH DATABASE dir")
    return people - known >= max(BULK, present // 4)


@dataclasses.dataclass
class _People:
    """People read back from the staging file: each with the digest the last import gave it
    (``None``: not brought by it) and its staged lines; and people the last import brought
    and this file has not."""

    people: list[tuple[str, bytes | None, list[str]]] = dataclasses.field(default_factory=list)
    removals: list[str] = dataclasses.field(default_factory=list)
    lines: int = 0


@dataclasses.dataclass
class _Changes:
    """A batch of people compared with the last import: rows of the new and changed ones,
    ids of the removed ones, and what they add to the report."""

    lines: int = 0
    persons: int = 0
    unchanged: int = 0
    warnings: Counter[str] = dataclasses.field(default_factory=Counter)
    rows: TableRows = dataclasses.field(default_factory=TableRows)
    #: ``import_source`` rows of the people in :attr:`rows`: (national id, source, digest).
    digests: list[tuple[str, str, bytes]] = dataclasses.field(default_factory=list)
    #: Per person in :attr:`digests`: whether the last import of this source brought it.
    known: list[bool] = dataclasses.field(default_factory=list)
    removals: list[str] = dataclasses.field(default_factory=list)


def _read_people(staging_path: Path) -> Iterator[_People]:
    """The merge join of the staged lines, grouped per person, with the last import's digests,
    both ordered by national id, in batches of :data:`BATCH` people (or removals)."""
    staging = sqlite3.connect(staging_path, isolation_level=None)
    try:
        staging.execute("PRAGMA cache_size = -65536")
        new_rows = staging.execute(
            "SELECT national_id, fields FROM line ORDER BY national_id, line_no"
        )
        old_rows = staging.cursor().execute(
            "SELECT national_id, digest FROM old ORDER BY national_id"
        )
        old = old_rows.fetchone()
        batch = _People()
        for national_id, group in itertools.groupby(new_rows, key=operator.itemgetter(0)):
            while old is not None and old[0] < national_id:
                batch.removals.append(old[0])
                old = old_rows.fetchone()
            previous = None
            if old is not None and old[0] == national_id:
                previous = old[1]
                old = old_rows.fetchone()
            lines = [fields for _, fields in group]
            batch.lines += len(lines)
            batch.people.append((national_id, previous, lines))
            if len(batch.people) >= BATCH or len(batch.removals) >= BATCH:
                yield batch
                batch = _People()
        while old is not None:
            batch.removals.append(old[0])
            old = old_rows.fetchone()
        yield batch
    finally:
        staging.close()


def _compare(people: _People, source: str) -> _Changes:
    """Each person's lines digested (:func:`person_digest`) and, if the digest differs from the
    last import's, built into table rows."""
    batch = _Changes(lines=people.lines, persons=len(people.people), removals=people.removals)
    built: list[Professional] = []
    for national_id, previous, lines in people.people:
        rows = [fields.split("|") for fields in lines]
        digest = person_digest(rows)
        if previous == digest:
            batch.unchanged += 1
            continue
        professional, warnings = build_professional(rows)
        batch.warnings.update(warnings)
        built.append(professional)
        batch.digests.append((national_id, source, digest))
        batch.known.append(previous is not None)
    batch.rows = table_rows(built)
    return batch


def _apply(
    staging_path: Path,
    directory: Directory,
    report: ImportReport,
    progress: Progress,
    worker: bool,
    bulk: bool,
) -> None:
    progress.start("Applying", report.valid_lines)
    try:
        batches = _pipelined(
            functools.partial(_read_people, staging_path),
            functools.partial(_compare, source=report.source),
            worker,
            APPLY_SHARE,
        )
        with directory._connection() as conn, _large_cache(conn):
            with (
                _indexes_after(conn, bulk),
                contextlib.closing(batches),
            ):
                for batch in batches:
                    progress.update(batch.lines)
                    report.persons += batch.persons
                    report.unchanged += batch.unchanged
                    report.warnings.update(batch.warnings)
                    _write(conn, batch, report)
            if report.changed or report.removed:
                conn.execute("BEGIN IMMEDIATE")
                cursor = conn.execute(
                    "DELETE FROM structure WHERE NOT EXISTS (SELECT 1 FROM activity a "
                    "WHERE a.structure_id = structure.identifiant_technique)"
                )
                report.structures_removed = cursor.rowcount
                conn.execute("COMMIT")
    finally:
        progress.finish()


@contextlib.contextmanager
def _indexes_after(conn: sqlite3.Connection, bulk: bool) -> Iterator[None]:
    """With ``bulk``, the secondary indexes dropped for the block and created again after it,
    even if it fails (and by :func:`~santeid.directory.schema.migrate` if the process dies)."""
    if not bulk:
        yield
        return
    indexes = secondary_indexes()
    conn.execute("BEGIN IMMEDIATE")
    for name in indexes:
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    conn.execute("COMMIT")
    try:
        yield
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.execute("BEGIN IMMEDIATE")
        for statement in indexes.values():
            conn.execute(statement.replace(" INDEX ", " INDEX IF NOT EXISTS ", 1))
        conn.execute("COMMIT")


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


def _write(conn: sqlite3.Connection, batch: _Changes, report: ImportReport) -> None:
    """Write a batch's new and changed people with their digests, and delete its removed
    people, in one transaction."""
    if not batch.digests and not batch.removals:
        return
    conn.execute("BEGIN IMMEDIATE")
    # People without a digest of this source may still be in the directory (demo set, people
    # written by hand): they are "changed", not "added".
    unknown = [d[0] for d, known in zip(batch.digests, batch.known, strict=True) if not known]
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
    write_rows(conn, batch.rows)
    conn.executemany(
        "INSERT OR REPLACE INTO import_source (national_id, source, digest) VALUES (?, ?, ?)",
        batch.digests,
    )
    # ON DELETE CASCADE takes exercices, activities, savoir-faire, other ids and the digest.
    conn.executemany("DELETE FROM person WHERE national_id = ?", [(n,) for n in batch.removals])
    conn.execute("COMMIT")
    for (national_id, _, _), known in zip(batch.digests, batch.known, strict=True):
        report._note("changed" if known or national_id in present else "added", national_id)
    for national_id in batch.removals:
        report._note("removed", national_id)
