"""``docs/storage.md`` lists every key namespace of ``santeid.storage.keys`` and every record
kind of ``santeid.storage.records``, exactly: the two tables between their markers are what
:func:`keys_table` and :func:`records_table` render from the modules. Adding a namespace or a
kind without its row fails here; the failure prints the table to paste.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from santeid.settings import SETTINGS
from santeid.storage import keys
from santeid.storage.records import KINDS
from santeid.storage.records import RecordKind

DOC = Path(__file__).resolve().parents[2] / "docs" / "storage.md"


def keys_table() -> str:
    rows = ["| Key | Holds | What | Lifetime |", "|---|---|---|---|"]
    for namespace in keys.NAMESPACES:
        rows.append(
            f"| `{namespace.pattern}` | {namespace.holds} | {namespace.meaning} "
            f"| {namespace.lifetime} |"
        )
    return "\n".join(rows)


def _moves(kind: RecordKind) -> str:
    if not kind.states:
        return "—"
    created = ", ".join(f"`{state}`" for state in kind.initial)
    moves = "; ".join(
        f"`{source}` → " + ", ".join(f"`{target}`" for target in targets)
        for source, targets in kind.transitions.items()
    )
    field = "" if kind.state_field == "state" else f" (field `{kind.state_field}`)"
    return f"created {created}{field}" + (f"; {moves}" if moves else "")


def _consumed(kind: RecordKind) -> str:
    if kind.tombstone is None:
        return "nothing (deleted)" if len(kind.states) <= 1 else "—"
    kept = kind.tombstone_lifetime or "its remaining life"
    return f"tombstone `{kind.tombstone}`, kept {kept}"


def records_table() -> str:
    rows = [
        "| Record | Key | Id in the key | States and moves | Consuming leaves | Lifetime "
        "| Readable expired |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        rows.append(
            f"| {kind.name} | `{kind.namespace.pattern}` "
            f"| {'SHA-256' if kind.hashed_id else 'as is'} | {_moves(kind)} | {_consumed(kind)} "
            f"| {kind.lifetime} | {keys.duration(kind.grace) if kind.grace else 'no'} |"
        )
    return "\n".join(rows)


def _section(name: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    found = re.search(
        rf"<!-- {name} table: generated.*?-->\n(.*?)\n<!-- end of {name} table -->", text, re.S
    )
    assert found, f"docs/storage.md has no {name} table markers"
    return found.group(1)


@pytest.mark.parametrize(("name", "render"), [("keys", keys_table), ("records", records_table)])
def test_docs_list_every_namespace_and_record(name, render) -> None:
    expected = render()
    assert _section(name) == expected, f"paste into docs/storage.md:\n{expected}"


def test_lifetimes_name_real_settings() -> None:
    """A setting named as a lifetime source exists (a renamed setting fails here)."""
    named = set()
    for text in [n.lifetime for n in keys.NAMESPACES] + [k.lifetime for k in KINDS]:
        named.update(re.findall(r"`([a-z][a-z0-9_]*)`", text))
    named -= {"expires_in", "exp", "iat"}  # request fields and claims, not settings
    unknown = {name for name in named if name not in SETTINGS}
    assert unknown == set()


def _lifetime_texts() -> list[str]:
    return (
        [n.lifetime for n in keys.NAMESPACES]
        + [k.lifetime for k in KINDS]
        + [k.tombstone_lifetime for k in KINDS]
    )


def _constants() -> dict[str, int]:
    """The seconds ``keys.py`` declares (upper-case ``int`` names): the lifetimes the code uses."""
    return {
        name: value
        for name, value in vars(keys).items()
        if name.isupper() and isinstance(value, int) and not isinstance(value, bool)
    }


def test_every_number_in_a_lifetime_comes_from_a_constant() -> None:
    """A lifetime text says a duration only through :func:`keys.duration` of the constant the
    code uses: once the constants' renderings are taken out, no digit is left."""
    renderings = sorted({keys.duration(v) for v in _constants().values()}, key=len, reverse=True)
    for text in _lifetime_texts():
        rest = text
        for rendering in renderings:
            rest = rest.replace(rendering, "")
        assert not re.search(r"[0-9]", rest), f"a number written by hand in {text!r}"


@pytest.mark.parametrize("name", sorted(_constants()))
def test_changing_a_constant_changes_the_generated_lifetimes(name) -> None:
    """Each constant of ``keys.py`` feeds the lifetime of a key: ``keys.py`` run again with
    the constant set to 12345 s shows "12345 s" in a lifetime, and the table changes."""
    source = Path(keys.__file__).read_text(encoding="utf-8")
    changed, count = re.subn(rf"^{name} = .*$", f"{name} = 12345", source, flags=re.M)
    assert count == 1, f"{name} is not declared on one line of keys.py"
    module = types.ModuleType("santeid.storage._keys_changed")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    try:
        exec(compile(changed, keys.__file__, "exec"), module.__dict__)  # noqa: S102 - our source
    finally:
        del sys.modules[module.__name__]
    lifetimes = [n.lifetime for n in module.NAMESPACES]
    assert any("12345 s" in text for text in lifetimes), f"no key's lifetime uses {name}"
    assert lifetimes != [n.lifetime for n in keys.NAMESPACES]
