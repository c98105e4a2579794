"""In-process :class:`EphemeralStore` for a single worker (``memory://``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from santeid.storage.base import BatchedOperation
from santeid.storage.base import EphemeralStore
from santeid.storage.base import StoreUnavailable
from santeid.storage.base import check_amount
from santeid.storage.base import check_key
from santeid.storage.base import check_member
from santeid.storage.base import check_optional_ttl
from santeid.storage.base import check_ttl
from santeid.storage.base import decode_record
from santeid.storage.base import encode_record
from santeid.storage.base import json_image
from santeid.storage.base import matches

#: Below this many keys, expired entries are only dropped when touched.
_PURGE_MIN = 1024

# Stored values, by kind: a record is its JSON text (so a returned dict is always a fresh
# copy and records behave exactly as in Redis), a counter an int, a set a set of str.
_Value = str | int | set[str]


class MemoryStore(EphemeralStore):
    """Thread-safe store living in this process; state is lost when the process exits.

    Every operation runs under one :class:`threading.RLock`, which makes each of them
    atomic with respect to the others (this is what the compare-and-set and ``pop``
    guarantees rest on). Expired keys are dropped lazily when touched, and all of them at
    once when a write finds the map has doubled since the last purge, so memory stays
    bounded by the live keys without a background thread.

    ``clock`` returns seconds (``time.monotonic`` by default: wall-clock jumps must not
    expire or revive keys); tests inject a fake one to exercise expiry without sleeping.
    Several workers each get their own MemoryStore, which is why ``workers > 1`` needs
    ``redis://``.
    """

    backend = "memory"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._values: dict[str, _Value] = {}
        self._expires: dict[str, int] = {}  # key -> deadline in clock milliseconds
        self._purge_at = _PURGE_MIN
        self._closed = False

    # -- internals (call with the lock held) --------------------------------------------

    def _now(self) -> int:
        # Whole milliseconds, like Redis, so ttl() arithmetic is exact.
        return round(self._clock() * 1000)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("the memory store is closed")

    def _live(self, key: str, now: int) -> _Value | None:
        deadline = self._expires.get(key)
        if deadline is None:
            return None
        if now >= deadline:
            del self._expires[key]
            del self._values[key]
            return None
        return self._values[key]

    def _set(self, key: str, value: _Value, deadline: int, now: int) -> None:
        self._values[key] = value
        self._expires[key] = deadline
        if len(self._expires) >= self._purge_at:
            self._purge(now)

    def _purge(self, now: int) -> None:
        for key in [k for k, deadline in self._expires.items() if now >= deadline]:
            del self._expires[key]
            del self._values[key]
        # Doubling keeps the purge cost amortised O(1) per write.
        self._purge_at = max(_PURGE_MIN, 2 * len(self._expires))

    def _record(self, key: str, now: int) -> dict | None:
        value = self._live(key, now)
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(f"key {key!r} does not hold a record")
        return decode_record(value, key)

    # -- records -------------------------------------------------------------------------

    def put(self, key: str, value: dict, ttl: int) -> None:
        """Atomic under the store lock."""
        check_key(key)
        raw = encode_record(value)
        check_ttl(ttl)
        with self._lock:
            self._check_open()
            now = self._now()
            self._set(key, raw, now + ttl * 1000, now)

    def get(self, key: str) -> dict | None:
        check_key(key)
        with self._lock:
            self._check_open()
            return self._record(key, self._now())

    def get_many(self, *keys: str) -> list[dict | None]:
        for key in keys:
            check_key(key)
        with self._lock:
            self._check_open()
            now = self._now()
            return [self._record(key, now) for key in keys]

    def add(self, key: str, value: dict, ttl: int) -> bool:
        """Atomic under the store lock: check-then-create cannot interleave."""
        check_key(key)
        raw = encode_record(value)
        check_ttl(ttl)
        with self._lock:
            self._check_open()
            now = self._now()
            if self._live(key, now) is not None:
                return False
            self._set(key, raw, now + ttl * 1000, now)
            return True

    def pop(self, key: str) -> dict | None:
        """Atomic under the store lock: exactly one concurrent caller gets the record."""
        check_key(key)
        with self._lock:
            self._check_open()
            record = self._record(key, self._now())
            if record is not None:
                del self._values[key]
                del self._expires[key]
            return record

    def transition(
        self,
        key: str,
        expected: dict,
        changes: dict,
        ttl: int | None = None,
        *,
        current: Mapping[str, Any] | None = None,
    ) -> dict | None:
        """Atomic under the store lock: check and write happen without interleaving.
        ``current`` is not needed: reading the record here costs no round trip."""
        check_key(key)
        expected_image = json_image(expected)
        changes_image = json_image(changes)
        check_optional_ttl(ttl)
        with self._lock:
            self._check_open()
            return self._merge(key, expected_image, changes_image, ttl)

    def update(
        self,
        key: str,
        changes: dict,
        ttl: int | None = None,
        *,
        current: Mapping[str, Any] | None = None,
    ) -> dict | None:
        """Atomic under the store lock; ``current`` is not needed, as in :meth:`transition`."""
        check_key(key)
        changes_image = json_image(changes)
        check_optional_ttl(ttl)
        with self._lock:
            self._check_open()
            return self._merge(key, {}, changes_image, ttl)

    def _merge(self, key: str, expected: dict, changes: dict, ttl: int | None) -> dict | None:
        now = self._now()
        record = self._record(key, now)
        if record is None or not matches(record, expected):
            return None
        record.update(changes)
        deadline = self._expires[key] if ttl is None else now + ttl * 1000
        self._set(key, encode_record(record), deadline, now)
        return record

    # -- counters and sets -----------------------------------------------------------------

    def incr(self, key: str, ttl: int, amount: int = 1) -> int:
        """Atomic under the store lock; the lifetime is set only on creation."""
        check_key(key)
        check_ttl(ttl)
        check_amount(amount)
        with self._lock:
            self._check_open()
            now = self._now()
            current = self._live(key, now)
            if current is None:
                self._set(key, amount, now + ttl * 1000, now)
                return amount
            if not isinstance(current, int):
                raise TypeError(f"key {key!r} does not hold a counter")
            self._values[key] = current + amount
            return current + amount

    def counter(self, key: str) -> int:
        check_key(key)
        with self._lock:
            self._check_open()
            current = self._live(key, self._now())
            if current is None:
                return 0
            if not isinstance(current, int):
                raise TypeError(f"key {key!r} does not hold a counter")
            return current

    def add_member(self, key: str, member: str, ttl: int) -> None:
        """Atomic under the store lock; lifetime becomes max(remaining, ttl)."""
        check_key(key)
        check_member(member)
        check_ttl(ttl)
        with self._lock:
            self._check_open()
            now = self._now()
            current = self._live(key, now)
            if current is None:
                self._set(key, {member}, now + ttl * 1000, now)
                return
            if not isinstance(current, set):
                raise TypeError(f"key {key!r} does not hold a set")
            current.add(member)
            self._expires[key] = max(self._expires[key], now + ttl * 1000)

    def remove_member(self, key: str, member: str) -> bool:
        """Atomic under the store lock."""
        check_key(key)
        check_member(member)
        with self._lock:
            self._check_open()
            now = self._now()
            current = self._live(key, now)
            if current is None:
                return False
            if not isinstance(current, set):
                raise TypeError(f"key {key!r} does not hold a set")
            if member not in current:
                return False
            current.discard(member)
            if not current:  # as Redis: an empty set does not exist
                del self._values[key]
                del self._expires[key]
            return True

    def members(self, key: str) -> set[str]:
        check_key(key)
        with self._lock:
            self._check_open()
            current = self._live(key, self._now())
            if current is None:
                return set()
            if not isinstance(current, set):
                raise TypeError(f"key {key!r} does not hold a set")
            return set(current)

    # -- any kind --------------------------------------------------------------------------

    def ttl(self, key: str) -> int | None:
        check_key(key)
        with self._lock:
            self._check_open()
            now = self._now()
            if self._live(key, now) is None:
                return None
            return -(-(self._expires[key] - now) // 1000)  # ceil: a live key never says 0

    def delete(self, *keys: str) -> int:
        for key in keys:
            check_key(key)
        with self._lock:
            self._check_open()
            now = self._now()
            deleted = 0
            for key in keys:
                if self._live(key, now) is not None:
                    del self._values[key]
                    del self._expires[key]
                    deleted += 1
            return deleted

    def _run_batch(self, operations: list[BatchedOperation]) -> list[Any]:
        """In order, under one hold of the store lock (each operation as if alone)."""
        with self._lock:
            self._check_open()
            results: list[Any] = []
            for operation in operations:
                key, args = operation.key, operation.args
                if operation.name == "put":
                    self.put(key, *args)
                    results.append(None)
                elif operation.name == "add_member":
                    self.add_member(key, *args)
                    results.append(None)
                elif operation.name == "remove_member":
                    results.append(self.remove_member(key, *args))
                elif operation.name == "transition":
                    results.append(self.transition(key, *args))
                else:
                    results.append(self.update(key, *args))
            return results

    def ping(self) -> bool:
        return not self._closed

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._values.clear()
            self._expires.clear()

    def __repr__(self) -> str:
        return f"<MemoryStore keys={len(self._expires)}{' closed' if self._closed else ''}>"
