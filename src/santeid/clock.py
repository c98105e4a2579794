"""The one source of wall-clock time for every service.

Services take a ``clock`` (a callable returning seconds since the Unix epoch, like
:func:`time.time`) instead of reading the wall clock themselves, so that a test reaches an
expiry by moving a :class:`ManualClock` forward rather than by sleeping. Durations measured for
metrics, deadlines of network calls and back-off waits keep using :func:`time.monotonic`: they
are about elapsed time on this machine, not about when a record expires.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable

#: Seconds since the Unix epoch, as :func:`time.time` returns them.
Clock = Callable[[], float]

#: The clock of a running server.
system_clock: Clock = time.time


def utc_datetime(clock: Clock) -> datetime.datetime:
    """``clock``'s time as an aware UTC datetime: certificate validity, SAML instants and
    ISO 8601 stamps compare and print datetimes."""
    return datetime.datetime.fromtimestamp(clock(), datetime.UTC)


class ManualClock:
    """A clock that moves only when told to (tests, and the sandbox's time travel if any).

    Thread-safe: a server thread may read it while a test moves it.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (never backward) and return the new time."""
        if seconds < 0:
            raise ValueError("a ManualClock only moves forward")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> None:
        """Jump to ``when`` (seconds since the epoch), forward only."""
        with self._lock:
            if when < self._now:
                raise ValueError("a ManualClock only moves forward")
            self._now = float(when)
