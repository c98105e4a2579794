"""``[store]``: the short-lived state (santeid.storage, docs/storage.md)."""

from __future__ import annotations

from santeid.settings.base import Flag
from santeid.settings.base import Section


class StoreSettings(Section):
    flat_prefix = "store_"

    #: ``memory://`` (one process) or ``redis://host:port/db``.
    url: str = "memory://"
    #: Check at start-up that the Redis store persists (AOF or RDB) and warn when it does not.
    persistence_check: Flag = True
