"""What counts as an outage: the token store or the database not answering.

Every error renderer (OAuth JSON, HTML pages, the e-CPS device API's problems, the directory's
FHIR outcomes, INSi's faults) answers an outage as ``503`` with ``Retry-After`` instead of a
bug's ``500``; this module is the one place that says which exceptions are outages and which
part failed, so that a new kind of outage is added once. It sits beside ``santeid.db`` and
``santeid.storage`` and imports nothing else, so that any renderer may use it without an import
cycle.
"""

from __future__ import annotations

from typing import Literal

from santeid.db import DatabaseUnavailable
from santeid.storage import StoreUnavailable

Part = Literal["store", "database"]

#: Every exception that means "a backing service did not answer", for ``except`` clauses.
OUTAGES: tuple[type[Exception], ...] = (StoreUnavailable, *DatabaseUnavailable)


def failed_part(exc: BaseException) -> Part | None:
    """``"store"`` (the token store, ``santeid.storage``), ``"database"`` (``santeid.db``), or
    ``None`` when ``exc`` is not an outage."""
    if isinstance(exc, StoreUnavailable):
        return "store"
    if isinstance(exc, DatabaseUnavailable):
        return "database"
    return None


#: What each part is called in an outage's message, by every renderer.
_NAMES: dict[Part, str] = {"store": "the token store", "database": "the database"}


def describe(part: Part) -> str:
    """The name of the part that failed, as every error message and log line gives it
    (``"the token store"``, ``"the database"``)."""
    return _NAMES[part]
