"""The contract every short-lived state store fulfils.

Login transactions, authorization codes, SSO sessions, refresh-token families and the
``private_key_jwt`` jti replay cache all live behind :class:`EphemeralStore`. Two
implementations exist, :class:`~santeid.storage.memory.MemoryStore` (one process) and
:class:`~santeid.storage.redis.RedisStore` (shared by many workers), and the contract test
suite (``tests/storage/test_contract.py``) holds both to the same behaviour.

Rules shared by every operation (see ``docs/storage.md``):

* Keys are plain strings (``"code:abc"``), built by :mod:`santeid.storage.keys` only; the
  store adds its prefix. Short-lived records use the typed layer of
  :mod:`santeid.storage.records` rather than these operations directly.
* A key holds one kind of value for its whole life: a *record* (JSON-serialisable ``dict``,
  written by :meth:`~EphemeralStore.put`/:meth:`~EphemeralStore.add`), a *counter*
  (:meth:`~EphemeralStore.incr`) or a *set* (:meth:`~EphemeralStore.add_member`). Using a
  key with an operation of another kind raises :class:`TypeError` (a caller bug).
* Every key has a lifetime: ``ttl`` is a whole number of seconds ≥ 1.
* Records go through JSON on the way in, so what comes back out is the JSON image of what
  went in (tuples become lists, non-string keys become strings) in both implementations,
  and a caller mutating a returned dict never changes the stored record.
* :class:`StoreUnavailable` means "try again later" (the web layer answers 503); any other
  exception is a bug.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from typing import Literal


class StoreUnavailable(Exception):
    """The backing service cannot be reached or cannot accept writes right now.

    Transient by nature: the store recovers by itself when the service comes back, so the
    web layer should answer 503 and not cache anything.
    """


class EphemeralStore(abc.ABC):
    """Short-lived, TTL-bound state shared by the provider's workers.

    Every operation touches exactly one key (``delete`` with several keys, and a
    :meth:`batch`, are several one-key operations), so a Redis Cluster never sees a
    cross-slot command.
    """

    #: What the store runs on, as metrics name it (``santeid_store_errors_total``).
    backend: str = "unknown"

    @abc.abstractmethod
    def put(self, key: str, value: dict, ttl: int) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing whatever was there.

        Atomic (Redis: ``SET key json EX ttl``).
        """

    @abc.abstractmethod
    def get(self, key: str) -> dict | None:
        """Return the record under ``key``, or ``None`` if absent or expired (Redis: ``GET``)."""

    @abc.abstractmethod
    def get_many(self, *keys: str) -> list[dict | None]:
        """:meth:`get` of each key, in order, in one round trip (Redis: one ``GET`` per key,
        pipelined — a multi-key ``MGET`` would be cross-slot on a Cluster). Each read is
        atomic; together they are not a snapshot: a write may come between two of them."""

    @abc.abstractmethod
    def add(self, key: str, value: dict, ttl: int) -> bool:
        """Create the record only if ``key`` does not exist; ``True`` if this call created it.

        Atomic (Redis: ``SET key json NX EX ttl``): of many concurrent callers exactly one
        gets ``True``. Used for the jti replay cache and one-time identifiers.
        """

    @abc.abstractmethod
    def pop(self, key: str) -> dict | None:
        """Return the record under ``key`` and delete it, or ``None`` if absent.

        Atomic (Redis: ``GETDEL``, Redis ≥ 6.2): of many concurrent callers exactly one
        gets the record.
        """

    @abc.abstractmethod
    def transition(
        self,
        key: str,
        expected: dict,
        changes: dict,
        ttl: int | None = None,
        *,
        current: Mapping[str, Any] | None = None,
    ) -> dict | None:
        """Compare-and-set: apply ``changes`` if the record still matches ``expected``.

        If the record exists and, for every ``(k, v)`` in ``expected``, ``k`` is in the
        record and ``record[k] == v`` (compared on the JSON images), the record becomes
        ``record | changes`` and the new record is returned; otherwise nothing changes and
        ``None`` is returned. The remaining lifetime is kept unless ``ttl`` is given, in which
        case it is reset to ``ttl``.

        ``current``: the record as the caller last read it (a :meth:`get` of this request), a
        hint only. The outcome is the same whether it is up to date, stale or left out; an up
        to date one spares the store reading the record again (Redis: one round trip
        instead of two).

        Atomic: of many concurrent transitions from the same state exactly one wins, which
        is what makes ``transition("code:x", {"state": "issued"}, {"state": "consumed"})``
        a single-use consumption that leaves a tombstone for replay detection. Redis: the
        record is read with ``GET`` (or taken from ``current``), checked and merged in
        Python, then written back by a Lua compare-and-swap on the exact JSON text
        (``SET … KEEPTTL``/``EX``); a lost race gets the record as the script found it, and
        is checked again.
        """

    @abc.abstractmethod
    def update(
        self,
        key: str,
        changes: dict,
        ttl: int | None = None,
        *,
        current: Mapping[str, Any] | None = None,
    ) -> dict | None:
        """Merge ``changes`` into the existing record and return it; ``None`` if absent.

        Atomic like :meth:`transition` with an empty ``expected`` (no concurrent update is
        lost); ``current`` as there. Keeps the remaining lifetime unless ``ttl`` is given.
        """

    @abc.abstractmethod
    def incr(self, key: str, ttl: int, amount: int = 1) -> int:
        """Add ``amount`` to the counter under ``key`` (0 if absent) and return the new value.

        Atomic (Redis: Lua ``EXISTS`` + ``INCRBY`` + ``EXPIRE``). ``ttl`` applies only when
        this call creates the counter, so a fixed window is not extended by later hits.
        """

    @abc.abstractmethod
    def counter(self, key: str) -> int:
        """The value of the counter under ``key`` (0 if absent or expired), read without
        creating it (Redis: ``GET``): what :meth:`incr` with ``amount=0`` would return, but a
        read that leaves no counter behind."""

    @abc.abstractmethod
    def add_member(self, key: str, member: str, ttl: int) -> None:
        """Add ``member`` to the set under ``key``; its lifetime becomes max(remaining, ttl).

        Atomic (Redis: Lua ``SADD`` + ``PTTL`` + ``PEXPIRE``). The set outlives every member
        added to it, e.g. a refresh-token family outlives its youngest token.
        """

    @abc.abstractmethod
    def remove_member(self, key: str, member: str) -> bool:
        """Remove ``member`` from the set under ``key``; ``True`` if it was there.

        Atomic (Redis: ``SREM``). The set keeps its lifetime; an emptied set is gone.
        """

    @abc.abstractmethod
    def members(self, key: str) -> set[str]:
        """Return the members of the set under ``key`` (empty if absent) (Redis: ``SMEMBERS``)."""

    @abc.abstractmethod
    def ttl(self, key: str) -> int | None:
        """Remaining lifetime in seconds, rounded up (never 0 for a live key); ``None`` if absent.

        Redis: ``PTTL``.
        """

    @abc.abstractmethod
    def delete(self, *keys: str) -> int:
        """Delete the keys, whatever their kind; return how many existed.

        Each key is deleted atomically; several keys are not one transaction (Redis: one
        ``DEL`` per key in a pipeline, so no cross-slot command on a Cluster).
        """

    def batch(self) -> Batch:
        """Writes to several keys, sent together when :meth:`Batch.run` is called.

        Redis: one pipeline, so one round trip for the lot while every compare-and-set
        finds the record as ``current`` says; MemoryStore: one hold of its lock. Each
        operation keeps the atomicity it has alone (a batched :meth:`transition` has one
        winner among concurrent callers as an unbatched one has), and they take effect in
        the order given, except that a compare-and-set whose record changed since
        ``current`` was read is finished after the others. The batch is not a transaction:
        other clients' operations may come between two of its operations.
        """
        return Batch(self)

    @abc.abstractmethod
    def _run_batch(self, operations: list[BatchedOperation]) -> list[Any]:
        """The results of ``operations``, in order (see :meth:`batch`)."""

    @abc.abstractmethod
    def ping(self) -> bool:
        """``True`` if the store can serve requests now. Never raises (health checks)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release resources. Idempotent; afterwards operations raise :class:`StoreUnavailable`."""


class Pending:
    """The outcome of one operation of a :class:`Batch`, known once the batch has run."""

    __slots__ = ("_done", "_value")

    def __init__(self) -> None:
        self._done = False
        self._value: Any = None

    @property
    def value(self) -> Any:
        """What the operation alone would have returned."""
        if not self._done:
            raise RuntimeError("the batch has not run yet")
        return self._value

    def _settle(self, value: Any) -> None:
        self._value = value
        self._done = True


@dataclass(frozen=True)
class BatchedOperation:
    """One operation of a :class:`Batch`: the name of the store method and its arguments,
    already checked."""

    name: Literal["put", "add_member", "remove_member", "transition", "update"]
    key: str
    args: tuple[Any, ...]
    current: Mapping[str, Any] | None = None


class Batch:
    """Writes collected by :meth:`EphemeralStore.batch`; each method checks its arguments at
    once (a mistake raises before anything is sent) and returns a :class:`Pending`."""

    def __init__(self, store: EphemeralStore) -> None:
        self._store = store
        self._operations: list[BatchedOperation] = []
        self._pending: list[Pending] = []

    def _queue(self, operation: BatchedOperation) -> Pending:
        if self._pending and self._pending[-1]._done:
            raise RuntimeError("this batch has already run")
        pending = Pending()
        self._operations.append(operation)
        self._pending.append(pending)
        return pending

    def put(self, key: str, value: dict, ttl: int) -> Pending:
        """:meth:`EphemeralStore.put`."""
        check_key(key)
        encode_record(value)
        return self._queue(BatchedOperation("put", key, (value, check_ttl(ttl))))

    def add_member(self, key: str, member: str, ttl: int) -> Pending:
        """:meth:`EphemeralStore.add_member`."""
        check_key(key)
        return self._queue(
            BatchedOperation("add_member", key, (check_member(member), check_ttl(ttl)))
        )

    def remove_member(self, key: str, member: str) -> Pending:
        """:meth:`EphemeralStore.remove_member`."""
        check_key(key)
        return self._queue(BatchedOperation("remove_member", key, (check_member(member),)))

    def transition(
        self,
        key: str,
        expected: dict,
        changes: dict,
        ttl: int | None = None,
        *,
        current: Mapping[str, Any] | None = None,
    ) -> Pending:
        """:meth:`EphemeralStore.transition`; without ``current`` it costs a read first."""
        check_key(key)
        arguments = (json_image(expected), json_image(changes), check_optional_ttl(ttl))
        return self._queue(BatchedOperation("transition", key, arguments, current))

    def update(
        self,
        key: str,
        changes: dict,
        ttl: int | None = None,
        *,
        current: Mapping[str, Any] | None = None,
    ) -> Pending:
        """:meth:`EphemeralStore.update`."""
        check_key(key)
        arguments = (json_image(changes), check_optional_ttl(ttl))
        return self._queue(BatchedOperation("update", key, arguments, current))

    def run(self) -> None:
        """Send the operations (once); every :class:`Pending` then holds its outcome."""
        if self._pending and self._pending[-1]._done:
            raise RuntimeError("this batch has already run")
        if not self._operations:
            return
        results = self._store._run_batch(self._operations)
        for pending, result in zip(self._pending, results, strict=True):
            pending._settle(result)


# -- helpers shared by the implementations ---------------------------------------------


def check_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise TypeError(f"store keys are non-empty strings, got {key!r}")
    return key


def check_ttl(ttl: object) -> int:
    # bool is an int subclass; ``ttl=True`` is certainly a mistake.
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1:
        raise ValueError(f"ttl is a whole number of seconds >= 1, got {ttl!r}")
    return ttl


def check_optional_ttl(ttl: object) -> int | None:
    return None if ttl is None else check_ttl(ttl)


def check_amount(amount: object) -> int:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError(f"incr amount is an int, got {amount!r}")
    return amount


def check_member(member: object) -> str:
    if not isinstance(member, str):
        raise TypeError(f"set members are strings, got {member!r}")
    return member


def encode_record(value: object) -> str:
    """JSON text of a record; both stores keep this text so they agree on what comes back."""
    if not isinstance(value, Mapping):
        raise TypeError(f"records are dicts, got {type(value).__name__}")
    # allow_nan=False: NaN/Infinity are not JSON and would not survive another reader.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def decode_record(raw: str | bytes, key: str) -> dict:
    value = json.loads(raw)
    if not isinstance(value, dict):
        # A counter read as a record: the text is valid JSON, but not a record.
        raise TypeError(f"key {key!r} does not hold a record")
    return value


def json_image(value: object) -> dict:
    """What ``value`` looks like after a trip through the store (tuples → lists, …)."""
    return json.loads(encode_record(value))


def matches(record: dict, expected_image: dict) -> bool:
    """The :meth:`EphemeralStore.transition` precondition, identical for every store.

    ``expected_image`` is :func:`json_image` of the caller's ``expected``, so ``(1, 2)``
    matches a stored ``[1, 2]``; a missing field never matches, not even ``None``.
    """
    return all(k in record and record[k] == v for k, v in expected_image.items())
