"""What the key store's parts share: the state :class:`santeid.keystore.KeyStore` holds and
the methods each part calls on the others. :mod:`~santeid.keys.lifecycle`,
:mod:`~santeid.keys.storage` and :mod:`~santeid.keys.signing` each derive from
:class:`KeyStoreState`, so every attribute and cross-part call is declared (and type-checked)
in one place.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Only for annotations: lifecycle imports this module.
    from santeid.keys.lifecycle import _Entry


class KeyStoreState(abc.ABC):
    """State set by :meth:`santeid.keystore.KeyStore.__init__`, and the methods one part of
    the store implements for the others."""

    #: The keys directory, and the key file inside it.
    path: Path
    file: Path
    #: Seconds a retired key stays published, plus the margin added before unpublishing it.
    retired_key_lifetime: int
    publication_margin: int
    default_alg: str
    #: Current time as epoch seconds.
    clock: Callable[[], float]
    #: Seconds (monotonic) between two checks of whether the file was replaced.
    reload_interval: float
    _lock: threading.RLock
    #: The keys as last read from (or written to) the file.
    _entries: list[_Entry]
    #: ``(st_dev, st_ino, st_mtime_ns, st_size)`` of the file last read; ``None``: no file.
    _signature: tuple[int, int, int, int] | None
    #: ``time.monotonic()`` of the last check of the file.
    _checked_at: float

    # -- implemented by KeyLifecycle ---------------------------------------------------------
    @abc.abstractmethod
    def _is_published(self, entry: _Entry, now: float) -> bool: ...

    @abc.abstractmethod
    def _active(self, alg: str) -> _Entry | None: ...

    @abc.abstractmethod
    def _default_active(self) -> _Entry | None: ...

    @abc.abstractmethod
    def _ordered(self, now: float) -> list[_Entry]: ...

    # -- implemented by KeyFileStorage -------------------------------------------------------
    @abc.abstractmethod
    def _refresh(self) -> None: ...

    @abc.abstractmethod
    def _recheck(self) -> bool: ...

    @abc.abstractmethod
    def _check_now(self) -> None: ...

    @abc.abstractmethod
    def _writing(self) -> AbstractContextManager[None]: ...

    @abc.abstractmethod
    def _save(self, now: float) -> None: ...
