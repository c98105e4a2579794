"""Fixed-window rate limits kept in the ephemeral store, so every worker and host counts
together (``store.incr`` is atomic and sets the window's lifetime on the first hit only).

A :class:`Limit` is a name, a number of hits and a window in seconds; a subject (a national
identifier, a client address…) is what it counts: :meth:`Limit.hit` counts one hit and says
whether the limit is passed, :meth:`Limit.take_back` forgets a hit that turned out not to
count (a limit on failures counts every try first and takes a success back). :func:`hit` is
the same for a limit whose numbers come from the settings. The subject is hashed into the key,
so an address or identifier never becomes part of a key verbatim (no key injection, fixed
length). A refusal counts in ``santeid_refusals_total`` as ``rate_limit:<name>``. What each
limit protects is in ``docs/security.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from santeid.observability import metrics
from santeid.storage import EphemeralStore
from santeid.storage import keys


@dataclass(frozen=True)
class Limit:
    """At most ``limit`` hits of one subject in a window of ``window`` seconds."""

    name: str
    limit: int
    window: int
    #: A key family of its own, ``<words>:<sha256(subject)>``; by default
    #: ``rate:<name>:<sha256(subject)>`` (:data:`santeid.storage.keys.RATE`).
    namespace: keys.Namespace | None = None

    def key(self, subject: str) -> str:
        subject_digest = keys.digest(subject, 32)
        if self.namespace is None:
            return keys.RATE.key(self.name, subject_digest)
        return self.namespace.key(subject_digest)

    def hit(self, store: EphemeralStore, subject: str) -> bool:
        """Count one hit of ``subject``; ``True`` when this hit is beyond the limit in the
        current window (the caller refuses it)."""
        beyond = store.incr(self.key(subject), self.window) > self.limit
        if beyond:
            metrics.refused(f"rate_limit:{self.name}")
        return beyond

    def take_back(self, store: EphemeralStore, subject: str) -> None:
        """Forget one hit of ``subject``, counted by :meth:`hit` and found not to count
        (:func:`take_back_hit`)."""
        take_back_hit(store, self.key(subject))


def take_back_hit(store: EphemeralStore, key: str) -> None:
    """Forget one hit counted under ``key`` (a fixed-window counter of ``store.incr``). If the
    window ended meanwhile, the counter this creates lives 1 s: the -1 never outlives the
    window it belongs to."""
    store.incr(key, 1, amount=-1)


def hit(store: EphemeralStore, name: str, subject: str, *, limit: int, window: int) -> bool:
    """Count one hit of ``subject`` under the limit ``name``; ``True`` when this hit is beyond
    ``limit`` hits in the current window (the caller refuses it)."""
    return Limit(name, limit, window).hit(store, subject)
