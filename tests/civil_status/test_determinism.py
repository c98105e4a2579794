"""Same seed ⇒ byte-for-byte identical base; another seed or day ⇒ another base."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from random import Random

import pytest

from santeid.civil_status.generate import DEFAULT_AS_OF
from santeid.civil_status.generate import _ChunkRows
from santeid.civil_status.generate import _ChunkTask
from santeid.civil_status.generate import _draw_chunk_rows
from santeid.civil_status.generate import _encode
from santeid.civil_status.generate import _free_number
from santeid.civil_status.generate import _Matricules
from santeid.civil_status.generate import _settle_matricules
from santeid.civil_status.generate import generate
from santeid.civil_status.nir import nir_key
from santeid.civil_status.nir import parse_matricule
from santeid.civil_status.test_identities import TEST_IDENTITIES

PERSONS = 2000


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes_across_processes(tmp_path: Path) -> None:
    first = tmp_path / "a.sqlite3"
    second = tmp_path / "b.sqlite3"
    generate(first, PERSONS, 11, chunk_size=700)
    # A second interpreter with another string-hash salt: nothing may depend on set/dict order.
    code = (
        "import sys; from santeid.civil_status.generate import generate; "
        "generate(sys.argv[1], int(sys.argv[2]), 11, chunk_size=700)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run(
        [sys.executable, "-c", code, str(second), str(PERSONS)], check=True, env=env, timeout=60
    )
    assert sha256(first) == sha256(second)


def test_other_seed_or_day_other_bytes(tmp_path: Path) -> None:
    base = tmp_path / "base.sqlite3"
    generate(base, PERSONS, 11, chunk_size=700)
    other_seed = tmp_path / "seed.sqlite3"
    generate(other_seed, PERSONS, 12, chunk_size=700)
    other_day = tmp_path / "day.sqlite3"
    generate(other_day, PERSONS, 11, as_of=date(2025, 6, 30), chunk_size=700)
    assert len({sha256(base), sha256(other_seed), sha256(other_day)}) == 3


def test_regenerating_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "civil.sqlite3"
    generate(path, 300, 1)
    first = sha256(path)
    path.write_bytes(b"garbage that must not survive")
    generate(path, 300, 1)
    assert sha256(path) == first
    assert not (tmp_path / "sub" / "civil.sqlite3.tmp").exists()


def test_progress_and_empty_base(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    summary = generate(tmp_path / "p.sqlite3", 1050, 3, progress=lambda d, t: seen.append((d, t)),
                       chunk_size=500)  # fmt: skip
    assert seen == [(500, 1050), (1000, 1050), (1050, 1050)]
    assert summary.total == 1050 + len(TEST_IDENTITIES)
    empty = generate(tmp_path / "e.sqlite3", 0, 3)
    assert (empty.persons, empty.test_persons, empty.nia) == (0, len(TEST_IDENTITIES), 0)
    assert empty.homonym_groups == 1  # the two published DE VINCI / LEONARDO
    with pytest.raises(ValueError):
        generate(tmp_path / "n.sqlite3", -1, 3)


def _generate_with_workers(path: Path, jobs: int) -> None:
    """``generate`` with ``jobs`` drawing processes, forked from an interpreter of its own, as
    ``santeid civil generate --jobs`` forks them: this test process has threads (xdist's,
    the readers of the servers other tests start), and a fork taken while one of them holds a
    lock can leave a worker stuck on it."""
    code = (
        "import sys; from santeid.civil_status.generate import generate; "
        "generate(sys.argv[1], int(sys.argv[2]), 11, chunk_size=300, jobs=int(sys.argv[3]))"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(path), str(PERSONS), str(jobs)], check=True, timeout=90
    )


def test_same_bytes_whatever_the_number_of_drawing_processes(tmp_path: Path) -> None:
    digests = set()
    generate(tmp_path / "jobs1.sqlite3", PERSONS, 11, chunk_size=300, jobs=1)
    digests.add(sha256(tmp_path / "jobs1.sqlite3"))
    for jobs in (2, 3):
        path = tmp_path / f"jobs{jobs}.sqlite3"
        _generate_with_workers(path, jobs)
        digests.add(sha256(path))
    assert len(digests) == 1
    with pytest.raises(ValueError):
        generate(tmp_path / "none.sqlite3", PERSONS, 11, jobs=0)


def test_a_matricule_an_earlier_chunk_holds_is_drawn_again() -> None:
    """Chunks are drawn apart, so two may pick the same matricule: the later one's person gets
    another order number (same prefix, key recomputed), and the base stays unique."""
    first = _draw_chunk_rows(_ChunkTask(11, DEFAULT_AS_OF, 0, 50, 100))
    second = _draw_chunk_rows(_ChunkTask(11, DEFAULT_AS_OF, 1, 50, 150))
    used: set[int] = set()
    assert _settle_matricules(first, used, 11) == (0, 0)
    # Make the second chunk's third person clash with the first chunk's first.
    row = second.persons[2]
    taken = first.persons[0][1]
    second.persons[2] = (*row[:1], taken, nir_key(taken), *row[3:])
    second.person_codes[2] = first.person_codes[0]
    assert _settle_matricules(second, used, 11) == (1, 0)
    redrawn = second.persons[2]
    assert redrawn[1] != taken and redrawn[1][:10] == taken[:10]
    assert redrawn[2] == nir_key(redrawn[1])
    assert redrawn[3:] == row[3:]
    numbers = [r[1] for r in first.persons + second.persons]
    assert len(set(numbers)) == len(numbers) == 100


def _fill_series(used: set[int], prefix: str) -> None:
    used.update(_encode(f"{prefix}{order:03d}") for order in range(1, 1000))


@pytest.mark.parametrize("free", [(500, 501), (1, 999), (7,), (400, 401, 402, 403)])
def test_a_chunk_and_the_settling_draw_a_matricule_by_the_same_rule(free) -> None:
    """A chunk's drawer (``_Matricules.take``) and the settling of clashes between chunks
    (``_free_number``) draw from the same stream the same number, leaving the stream in the
    same state, even in a series with a handful of free numbers; with none, neither finds one."""
    prefix = "1850799352"
    matricules = _Matricules()
    _fill_series(matricules.used, prefix)
    matricules.used -= {_encode(f"{prefix}{order:03d}") for order in free}
    used = set(matricules.used)
    streams = [Random(f"same-rule:{free}"), Random(f"same-rule:{free}")]  # noqa: S311
    number = matricules.take(streams[0], prefix)
    assert (number, matricules.last_code) == _free_number(prefix, used, streams[1])
    assert int(number[10:]) in free and matricules.last_code in matricules.used
    assert streams[0].random() == streams[1].random()
    _fill_series(matricules.used, prefix)
    assert _free_number(prefix, matricules.used, streams[1]) is None
    with pytest.raises(RuntimeError, match="no free order number left"):
        matricules.take(streams[0], prefix)


def _abroad_adult(chunk: _ChunkRows) -> int:
    """Index of a person born abroad, with a NIR, an adult, alive, born in March-October, with
    no earlier matricule (an earlier NIA shares the series of the NIR)."""
    with_history = {h[0] for h in chunk.history}
    for i, row in enumerate(chunk.persons):
        born = date.fromisoformat(row[11])
        if row[0] in with_history:
            continue
        if row[12].startswith("99") and row[0] == row[15] and row[14] is None and born.year < 2000:
            if 3 <= born.month <= 10:
                return i
    raise AssertionError("no such person in the chunk")


def test_a_birth_whose_month_series_is_full_moves_to_the_nearest_month() -> None:
    """At national size a busy country of birth fills the 999 order numbers of a month: the
    person's birth moves to the nearest month with room, and the NIR stays consistent with
    the traits (strict CNAM reading: months 01-12 only)."""
    chunk = _draw_chunk_rows(_ChunkTask(11, DEFAULT_AS_OF, 0, 400, 100))
    i = _abroad_adult(chunk)
    row = chunk.persons[i]
    born = date.fromisoformat(row[11])
    used: set[int] = set()
    _fill_series(used, row[1][:10])
    earlier = f"{row[1][:3]}{born.month - 1:02d}{row[1][5:10]}"
    _fill_series(used, earlier)  # the month before is full too: the month after is next
    redrawn, moved = _settle_matricules(chunk, used, 11)
    assert (redrawn, moved) == (1, 1)
    person = chunk.persons[i]
    new_birth = date.fromisoformat(person[11])
    assert (new_birth.year, new_birth.month) == (born.year, born.month + 1)
    assert new_birth.day == min(born.day, 30 if new_birth.month in (4, 6, 9, 11) else 31)
    parsed = parse_matricule(person[1] + f"{person[2]:02d}", strict=True)
    assert (parsed.month, parsed.year2) == (new_birth.month, new_birth.year % 100)
    assert person[1][5:10] == row[12]
    assert person[2] == nir_key(person[1])
    assert person[:1] + person[3:11] + person[12:] == row[:1] + row[3:11] + row[12:]


def test_a_moved_birth_keeps_the_death_after_it_and_the_child_under_16() -> None:
    chunk = _draw_chunk_rows(_ChunkTask(11, DEFAULT_AS_OF, 0, 400, 100))
    i = _abroad_adult(chunk)
    row = chunk.persons[i]
    born = date.fromisoformat(row[11])
    death = date(born.year, born.month, 28).isoformat()  # dies at the end of the birth month
    row = (*row[:14], death, row[15])
    chunk.persons[i] = row
    used: set[int] = set()
    for month in range(1, born.month + 1):  # this month and every earlier one are full
        _fill_series(used, f"{row[1][:3]}{month:02d}{row[1][5:10]}")
    with pytest.raises(RuntimeError, match="no free order number left in any month"):
        _settle_matricules(chunk, set(used), 11)  # later months would put the birth after death
    chunk.persons[i] = (*row[:14], None, row[15])
    assert _settle_matricules(chunk, used, 11)[1] == 1
    assert date.fromisoformat(chunk.persons[i][11]).month == born.month + 1


def test_an_earlier_matricule_whose_series_is_full_takes_the_nearest_month() -> None:
    chunk = _draw_chunk_rows(_ChunkTask(11, DEFAULT_AS_OF, 0, 2000, 100))
    assert chunk.history, "the chunk draws some history"
    entry = chunk.history[0]
    used: set[int] = set()
    _fill_series(used, entry[2][:10])
    owner = next(row for row in chunk.persons if row[0] == entry[0])
    used.discard(_encode(owner[1]))  # the person keeps the number they hold (often this series)
    assert _settle_matricules(chunk, used, 11) == (1, 0)
    moved = chunk.history[0]
    assert moved[2][:3] == entry[2][:3] and moved[2][5:10] == entry[2][5:10]
    assert moved[2][3:5] != entry[2][3:5]
    assert moved[3] == nir_key(moved[2])
    assert moved[:2] + moved[4:] == entry[:2] + entry[4:]


def test_a_day_before_1900_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    target = tmp_path / "new" / "b.sqlite3"
    with pytest.raises(ValueError, match="1900-01-01 or later"):
        generate(target, 5, 1, as_of=date(1899, 12, 31))
    assert not (tmp_path / "new").exists()
    generate(target, 5, 1, as_of=date(1900, 1, 1))  # the first day possible
    assert [p.name for p in target.parent.iterdir()] == ["b.sqlite3"]


def test_a_failed_run_leaves_no_tmp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from santeid.civil_status import generate as module

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(module, "_count_homonym_groups", broken)
    with pytest.raises(RuntimeError):
        generate(tmp_path / "b.sqlite3", 5, 1)
    assert list(tmp_path.iterdir()) == []
