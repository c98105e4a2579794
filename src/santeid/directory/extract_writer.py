"""Write RASS "Extraction ProSanteConnect" files (docs/reference/pro-sante-connect.md §15.2) from
professionals.

For tests and benchmarks: no third-party data is needed to exercise the importer. The output
has the published header, UTF-8, ``\\n`` line ends and the trailing ``|``; it can be zipped
(the RASS publishes its extracts zipped), shuffled (lines of one person scattered, as a file
not sorted by national id would be) and salted with malformed lines.
"""

from __future__ import annotations

import io
import os
import random
import zipfile
from collections.abc import Iterable
from collections.abc import Iterator
from pathlib import Path

from santeid.directory.extraction import HEADER_LINE
from santeid.directory.extraction import format_line
from santeid.directory.extraction import professional_rows
from santeid.directory.models import Professional

#: Name of the text member inside a zipped extract (the RASS's own naming scheme).
MEMBER_NAME = "Extraction_ProSanteConnect_Personne_activite_{stamp}.txt"


def extract_lines(professionals: Iterable[Professional]) -> Iterator[str]:
    """Data lines (no header, no line end) of every professional, person after person."""
    for professional in professionals:
        for row in professional_rows(professional):
            yield format_line(row)


def write_extract(
    path: Path | str,
    professionals: Iterable[Professional],
    *,
    zipped: bool | None = None,
    shuffle_seed: int | None = None,
    extra_lines: Iterable[tuple[int, str]] = (),
    stamp: str = "202601010000",
) -> Path:
    """Write an extract to ``path`` and return it.

    Written to ``path.tmp`` and renamed at the end: an interrupted or failed run leaves
    ``path`` as it was (a cut extract would look whole to ``directory import``, which would
    then retire everyone after the cut) and removes ``path.tmp``.

    ``zipped`` defaults to ``path`` ending in ``.zip``. ``shuffle_seed`` shuffles the data lines
    (this keeps everything in memory: small test files only). ``extra_lines`` inserts
    ``(position, text)`` raw lines (malformed ones, say) before the data line at ``position``.
    """
    path = Path(path)
    zipped = path.suffix.lower() == ".zip" if zipped is None else zipped
    lines: Iterable[str] = extract_lines(professionals)
    extras = sorted(extra_lines)
    if shuffle_seed is not None or extras:
        lines = list(lines)
        if shuffle_seed is not None:
            random.Random(shuffle_seed).shuffle(lines)  # noqa: S311 - test data order
        for position, extra in reversed(extras):
            lines.insert(position, extra)
    tmp = path.with_name(path.name + ".tmp")
    try:
        if zipped:
            with (
                zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive,
                archive.open(MEMBER_NAME.format(stamp=stamp), "w") as raw,
                io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as text,
            ):
                _write_lines(text, lines)
        else:
            with tmp.open("w", encoding="utf-8", newline="\n") as text:
                _write_lines(text, lines)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _write_lines(out: io.TextIOBase, lines: Iterable[str]) -> None:
    out.write(HEADER_LINE + "\n")
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= 10_000:
            out.write("\n".join(batch) + "\n")
            batch.clear()
    if batch:
        out.write("\n".join(batch) + "\n")
