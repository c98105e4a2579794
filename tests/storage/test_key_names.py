"""Store keys are built in ``santeid/storage/keys.py`` only.

Two scans of ``src/santeid``:

* every call of a store method (``….store.get(…)``, ``store.add(…)``, …) whose key argument is
  a string built on the spot — a literal, an f-string, a concatenation, ``%`` or ``.format`` —
  is a key built outside ``keys.py``;
* any string in the code (docstrings aside) that starts with a namespace of ``keys.py``
  (``"ecps:req:"``, ``f"sso:{sid}"``) is one too, wherever it is passed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import santeid
from santeid.clock import ManualClock
from santeid.storage import MemoryStore
from santeid.storage import keys
from santeid.storage.records import KINDS
from santeid.storage.records import RecordBook

SOURCE = Path(santeid.__file__).parent
#: The store implementations take keys as given; keys.py builds them.
ALLOWED = {"storage/keys.py", "storage/base.py", "storage/memory.py", "storage/redis.py"}
STORE_METHODS = {
    "put",
    "get",
    "add",
    "pop",
    "transition",
    "update",
    "incr",
    "add_member",
    "members",
    "ttl",
    "delete",
}


def _is_store(node: ast.expr) -> bool:
    """``store``, ``self.store``, ``services().store``, ``self._store``…"""
    if isinstance(node, ast.Name):
        return node.id in ("store", "_store")
    return isinstance(node, ast.Attribute) and node.attr in ("store", "_store")


def _built_string(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return _built_string(node.left) or _built_string(node.right)
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and _built_string(node.func.value)
    )


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.add(id(value))
    return found


def _string_head(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def keys_built_outside(source: str, name: str) -> list[str]:
    """Where ``source`` builds a store key by itself, as ``name:line: what``."""
    tree = ast.parse(source)
    prefixes = tuple(namespace.prefix for namespace in keys.NAMESPACES)
    docstrings = _docstrings(tree)
    inside_fstring = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            inside_fstring.update(id(part) for part in node.values)
    problems = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in STORE_METHODS
            and _is_store(node.func.value)
            and node.args
            and _built_string(node.args[0])
        ):
            problems.append(f"{name}:{node.lineno}: key built in a {node.func.attr}() call")
        if id(node) in docstrings or id(node) in inside_fstring:
            continue
        head = _string_head(node)
        if head is not None and head.startswith(prefixes):
            line = getattr(node, "lineno", 0)
            problems.append(f"{name}:{line}: {head!r} names a store key")
    return problems


def test_no_module_outside_keys_py_builds_a_store_key() -> None:
    problems = []
    for path in sorted(SOURCE.rglob("*.py")):
        name = path.relative_to(SOURCE).as_posix()
        if name not in ALLOWED:
            problems += keys_built_outside(path.read_text(encoding="utf-8"), name)
    assert problems == [], "build these keys with santeid.storage.keys:\n" + "\n".join(problems)


def test_the_scan_finds_keys_built_by_hand() -> None:
    """The scan above would fail on each way a key used to be built."""
    source = '''
def f(self, sid, svc, code, store):
    """Keys like ``sso:<sid>`` may be named in docstrings."""
    self.store.get(f"sso:{sid}")
    svc.store.put("code:" + code, {}, 60)
    store.add("jti:%s" % sid, {}, 60)
    services().store.incr("rate:{}".format(sid), 60)
    key = f"ecps:req:{sid}"
    prefix = "fam:"
    self.store.delete(keys.SSO.key(sid))
'''
    problems = keys_built_outside(source, "m.py")
    lines = sorted(int(problem.split(":")[1]) for problem in problems)
    # The call and its string on lines 4–7; the strings alone on 8 and 9; nothing on 3 and 10.
    assert lines == [4, 4, 5, 5, 6, 6, 7, 7, 8, 9]


def test_patterns_are_unambiguous() -> None:
    """No two namespaces share a pattern, and none can produce another's keys: a fixed word
    where the other has a part would need a part that is that word, which hashed or random ids
    never are — but two patterns of the same shape would collide outright."""
    patterns = [namespace.pattern for namespace in keys.NAMESPACES]
    assert len(set(patterns)) == len(patterns)
    shapes = [
        tuple("<>" if segment.startswith("<") else segment for segment in pattern.split(":"))
        for pattern in patterns
    ]
    assert len(set(shapes)) == len(shapes)


def test_every_record_kind_builds_its_keys_with_its_namespace() -> None:
    store = MemoryStore()
    for kind in KINDS:
        book = RecordBook(store, kind, clock=ManualClock(0))
        key = book.key("an-id")
        assert key.startswith(kind.namespace.prefix)
        assert ("an-id" in key) is not kind.hashed_id, kind.name


def test_every_namespace_fills_its_parts_in_the_order_of_its_pattern() -> None:
    """``Namespace.key`` puts each part where the pattern has a placeholder and keeps the fixed
    words, for every namespace; a missing, extra or non-string part is refused."""
    for namespace in keys.NAMESPACES:
        parts = [f"part{n}" for n in range(namespace.arity)]
        filled = iter(parts)
        expected = ":".join(
            next(filled) if segment.startswith("<") else segment
            for segment in namespace.pattern.split(":")
        )
        assert namespace.key(*parts) == expected
        assert namespace.key(*parts).startswith(namespace.prefix)
        with pytest.raises(TypeError):
            namespace.key(*parts, "extra")
        with pytest.raises(TypeError):
            namespace.key(*parts[:-1], 7)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        keys.LOGIN.key()


@pytest.mark.parametrize("now", [100.0, 100.3, 100.999])
@pytest.mark.parametrize("until", [100.0, 160.0, 160.5])
def test_a_single_use_marker_outlives_the_last_instant_its_jwt_is_accepted(now, until) -> None:
    """``lifetime_through``: written at ``now``, the marker is still there at ``until`` (its
    JWT's ``exp`` plus skew), whatever fraction of a second either falls on, and lapses at
    most 2 s later; ``int(until - now)`` falls short when ``now`` is not on a whole second."""
    store = MemoryStore(clock=(clock := ManualClock(start=now)))
    ttl = keys.lifetime_through(until, now)
    assert now + ttl <= until + 2
    store.add("marker", {}, ttl)
    clock.set(max(until, now))  # an until already past: the marker is there at once
    assert store.get("marker") is not None
    assert keys.lifetime_through(until - 60, now) == 1  # already past: the smallest lifetime
