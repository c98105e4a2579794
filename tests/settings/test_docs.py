"""docs/configuration.md documents exactly the declared settings: each flat name once, with its
section key, its variable and, where the doc states one, the declared default."""

from __future__ import annotations

import re

import pytest

from santeid.settings import SETTINGS
from santeid.settings import ConfigurationError
from santeid.settings import Settings
from santeid.settings import setting
from santeid.settings.base import MAX_COUNT
from tests.support.markdown import table_rows
from tests.support.paths import ROOT

DOC = ROOT / "docs" / "configuration.md"
HEADER = "| Setting | Section key | Variable | Default | Meaning |"
EMPTY = ("*(empty)*", "empty")


def _code(cell: str) -> str | None:
    match = re.fullmatch(r"`([^`]*)`", cell.strip())
    return match.group(1) if match else None


def doc_problems(text: str) -> list[str]:
    """What in ``text`` (docs/configuration.md) disagrees with the declared settings."""
    problems = []
    seen: set[str] = set()
    defaults = Settings()
    for cells in table_rows(text, HEADER):
        if len(cells) != 5:
            problems.append(f"row with {len(cells)} cells instead of 5: {cells[0]}")
            continue
        name, key, variable, default, _meaning = cells
        flat = _code(name)
        if flat is None or flat not in SETTINGS:
            problems.append(f"{name}: documented but not a declared setting")
            continue
        if flat in seen:
            problems.append(f"{flat}: documented twice")
        seen.add(flat)
        section, field = SETTINGS[flat]
        expected_key = f"{section}.{field}" if section else field
        if _code(key) != expected_key:
            problems.append(f"{flat}: section key {key}, declared `{expected_key}`")
        if _code(variable) != f"SANTEID_{flat.upper()}":
            problems.append(f"{flat}: variable {variable}, expected `SANTEID_{flat.upper()}`")
        written = "" if default in EMPTY else _code(default)
        if written is None:
            continue  # the default is described in words
        try:
            # The documented default read as the declared type reads it.
            as_read = setting(Settings(**{flat: written}), flat)
        except ConfigurationError as error:
            problems.append(f"{flat}: documented default {default} is not a valid value: {error}")
            continue
        if as_read != setting(defaults, flat):
            problems.append(
                f"{flat}: documented default {default}, declared {setting(defaults, flat)!r}"
            )
    for flat in sorted(set(SETTINGS) - seen):
        problems.append(f"{flat}: declared but not documented")
    return problems


def test_the_doc_documents_exactly_the_declared_settings():
    assert doc_problems(DOC.read_text(encoding="utf-8")) == []


def _row_of(text: str, flat: str) -> str:
    (line,) = [line for line in text.splitlines() if line.startswith(f"| `{flat}` |")]
    return line


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda text: text.replace(_row_of(text, "ecps_pin_attempts") + "\n", ""),
         "ecps_pin_attempts: declared but not documented"),
        (lambda text: text.replace(
            _row_of(text, "ecps_long_poll"),
            _row_of(text, "ecps_long_poll") + "\n" + _row_of(text, "ecps_long_poll").replace(
                "ecps_long_poll", "ecps_short_poll")),
         "`ecps_short_poll`: documented but not a declared setting"),
        (lambda text: text.replace(
            "| `ecps_long_poll` | `ecps.long_poll` | `SANTEID_ECPS_LONG_POLL` | `25` |",
            "| `ecps_long_poll` | `ecps.long_poll` | `SANTEID_ECPS_LONG_POLL` | `26` |"),
         "ecps_long_poll: documented default `26`, declared 25"),
        (lambda text: text.replace("`sandbox` | `sandbox.enabled`", "`sandbox` | `sandbox`"),
         "sandbox: section key `sandbox`, declared `sandbox.enabled`"),
        (lambda text: text.replace("`SANTEID_HSTS_MAX_AGE`", "`SANTEID_HSTS`"),
         "hsts_max_age: variable `SANTEID_HSTS`, expected `SANTEID_HSTS_MAX_AGE`"),
        (lambda text: text + "\n" + HEADER + "\n|---|---|---|---|---|\n" + _row_of(text, "workers"),
         "workers: documented twice"),
    ],
    ids=["missing", "not-declared", "default", "section", "variable", "twice"],
)  # fmt: skip
def test_the_check_catches_a_doc_out_of_step(change, problem):
    assert problem in doc_problems(change(DOC.read_text(encoding="utf-8")))


def _counts() -> dict[str, int]:
    """Each count setting (at most ``MAX_COUNT``) and its lowest value."""
    counts = {}
    for flat, (section, field) in SETTINGS.items():
        model = Settings.sections()[section] if section else Settings
        metadata = model.model_fields[field].metadata
        if any(getattr(bound, "le", None) == MAX_COUNT for bound in metadata):
            lowest = 0 if any(getattr(bound, "ge", None) == 0 for bound in metadata) else 1
            counts[flat] = lowest
    return counts


def test_each_count_row_says_its_range():
    """An operator reads a count's bounds in its row, as the settings hold them."""
    text = DOC.read_text(encoding="utf-8")
    assert len(_counts()) >= 16
    wrong = {
        flat: lowest
        for flat, lowest in _counts().items()
        if f"{lowest} to {MAX_COUNT}" not in _row_of(text, flat)
    }
    assert wrong == {}
