"""What stops a start: a configuration error always; an outage only at a server's first start.

Start-up runs two kinds of checks and work (:func:`santeid.create_services`, the web layers'
``init_app``):

* **configuration** — what the operator wrote: the settings themselves (a malformed
  ``database_url`` or ``store_url``, ``--workers 2`` with ``memory://``), the keys (missing
  outside sandbox mode), the session secret, the CA files, the schemas a database holds (newer
  than this santeid, or behind with ``database_auto_upgrade`` off), a registered client this
  configuration refuses (CIBA push while ``ciba_push_enabled`` is off). An error there stops
  every start, with a message naming what to change (``ConfigurationError``).
* **availability** — a backing service not answering now (:mod:`santeid.outages`: the database,
  the token store).

Some configuration checks, and the work that goes with them (upgrading the schemas,
registering santeid's own clients), need the database. So:

* At a server's **first start** — the one process of ``santeid serve``, or the build
  ``santeid serve --workers N`` makes once before its workers (``santeid.cli.serve``); a
  command that builds the services (``santeid sessions``) is one too — everything must pass:
  a database that does not answer stops the start, saying so (the configuration could not be
  checked); start again once it answers. The store is needed by no start-up check (its
  persistence check only warns, and says when it could not tell).
* Every **worker** of ``santeid serve --workers N`` — the first ones, and every one the server
  starts later in place of one that ended (a crash, a recycled worker, an operator's kill) —
  starts after that first start passed. A configuration error still stops it, but for a
  schema newer than this santeid, which a newer release migrated since that first start (a
  roll-out under way: its steps only add; :func:`santeid.db.schemas.prepare` logs it and
  serves). An outage does not stop it either: each piece of work that needs the part that is
  down is skipped, with a warning, and the worker serves what does not need it; the rest
  answers 503 (docs/problems.md) until the part is back, then is served with nothing to do
  (the pools reconnect, each component's schema is checked on its first use:
  :func:`santeid.db.ensure`). Otherwise one worker restarted during
  an outage failed its start, and Granian (a worker ending within 5.5 s of its start) or
  gunicorn (a worker that fails to boot) stopped the whole server, for good.

Work skipped by a worker was done by the first start and is kept in the database: the schemas
exist, santeid's own clients are registered. docs/deployment.md, "Outages", says it for
operators.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from santeid.db.backends import PostgresLoginRefused
from santeid.outages import OUTAGES
from santeid.outages import Part
from santeid.outages import describe
from santeid.outages import failed_part
from santeid.settings import ConfigurationError

log = logging.getLogger("santeid")


class Start:
    """One build of the application: ``first`` for a server's first start, ``False`` for a
    worker's (module docstring). Each piece of start-up work that needs a backing service runs
    through :meth:`needing`, which applies the rule."""

    def __init__(self, *, first: bool) -> None:
        self.first = first
        #: The parts found unavailable during this start: later work needing one is skipped
        #: without waiting for it again (a frozen server costs its timeout once, not per step).
        self.unavailable: set[Part] = set()

    def needing(self, part: Part, what: str, work: Callable[[], object]) -> None:
        """Run ``work``, start-up work (``what``, for the messages) that needs ``part``.

        At a first start, an outage stops the start (a ``ConfigurationError`` saying what could
        not be done, and why). In a worker, it is skipped, and so is any later work needing
        the same part. A database server refusing the connection for good (no such database
        or role, a refused password, TLS settings it does not fit:
        :class:`~santeid.db.backends.PostgresLoginRefused`) is
        the configuration's fault and stops either; so does any other error."""
        if part in self.unavailable:
            log.warning("start-up: %s skipped (%s is unavailable)", what, describe(part))
            return
        try:
            work()
        except PostgresLoginRefused as exc:
            # An outage to a request, but a setting to mend for a start: waiting will not.
            raise ConfigurationError(
                f"database_url: the database server refused the connection ({what}); a database "
                f"or role that does not exist, a refused password, or TLS settings (sslmode, "
                f"sslrootcert) the server does not fit are corrected in database_url. {exc}"
            ) from None
        except OUTAGES as exc:
            down = failed_part(exc) or part
            if self.first:
                raise ConfigurationError(
                    f"{describe(down)} is unavailable, and a first start needs it ({what}): "
                    f'start again once it answers (docs/deployment.md, "Outages"). {exc}'
                ) from None
            self.unavailable.add(down)
            log.warning(
                "start-up: %s skipped: %s is unavailable (%s); this worker serves what does not "
                "need it, and the rest once it answers",
                what,
                describe(down),
                exc,
            )
