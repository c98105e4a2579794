"""``[store]``: the short-lived state (santeid.storage, docs/storage.md)."""

from __future__ import annotations

from pydantic import field_validator

from santeid.settings.base import Flag
from santeid.settings.base import Section


class StoreSettings(Section):
    flat_prefix = "store_"

    #: ``memory://`` (one process) or ``redis://host:port/db``.
    url: str = "memory://"
    #: Check at start-up that the Redis store persists (AOF or RDB) and warn when it does not.
    persistence_check: Flag = True

    @field_validator("url")
    @classmethod
    def _known_store(cls, value: str) -> str:
        # The forms santeid.storage opens, checked when the settings load: a bad value stops
        # every command at once, naming the setting.
        from santeid.storage import store_url_problem

        problem = store_url_problem(value)
        if problem:
            raise ValueError(problem)
        return value
