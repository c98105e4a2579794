"""Python relying parties run as processes of their own (tests/support/allauth_rp.py,
flask_oidc_rp.py, social_django_rp.py): a library that configures a framework once per process
(Django's settings, a Flask extension's globals) keeps its configuration apart from the test
process and from the other services.

:func:`python_relying_party` starts one, :class:`ServiceSite` reads its log test by test, and
:func:`serve_django` is the ``main`` of the Django ones."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Django's logging in such a service: every record of ``WARNING`` and above, and every
#: request that failed (401 and 404 included) with the answer the server sent, to its
#: standard error, which the test reads.
DJANGO_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {"django.server": {"level": "INFO"}},
}


@contextlib.contextmanager
def python_relying_party(
    module: str, variable: str, config: dict, log: Path, ready_path: str
) -> Iterator[str]:
    """``python -m <module>`` with its configuration, a JSON document holding its ``port``,
    in the environment variable ``variable``, the repository on its path, its output in
    ``log``: its origin on ``localhost`` (another site than santeid's ``127.0.0.1``) once
    ``ready_path`` answers 200; stopped at the end."""
    # Imported here: the services import this module, and need none of santeid's.
    from tests.support.servers import running_server

    env = {
        **os.environ,
        variable: json.dumps(config),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", module]
    port = config["port"]
    with running_server(command, env, log, f"http://127.0.0.1:{port}{ready_path}"):
        yield f"http://localhost:{port}"


class ServiceSite(str):
    """A relying party's origin, with its log read from where the test last took it (at
    first, the log's end when the test started)."""

    log: Path
    start: int

    @classmethod
    def from_end_of(cls, origin: str, log: Path) -> ServiceSite:
        site = cls(origin)
        site.log, site.start = log, log.stat().st_size
        return site

    def taken(self) -> str:
        """What the service logged since the test started or last took it, then taken."""
        logged = self.log.read_bytes()[self.start :]
        self.start += len(logged)
        return logged.decode(errors="replace")

    @staticmethod
    def failures(logged: str) -> list[str]:
        """The lines of ``logged`` that say the service failed: ``ERROR`` records (a failed
        request, an exception a library logged) and tracebacks."""
        return [line for line in logged.splitlines() if line.startswith(("ERROR", "Traceback"))]


def serve_django(variable: str, configure: Callable[[dict], None]) -> None:
    """A Django service's ``main``: Django configured (``configure``) from the JSON document
    in ``variable``, served on ``localhost:<port>`` by Django's threaded WSGI server until
    stopped."""
    from django.core.servers.basehttp import ThreadedWSGIServer
    from django.core.servers.basehttp import WSGIRequestHandler

    config = json.loads(os.environ[variable])
    configure(config)
    from django.core.wsgi import get_wsgi_application

    listener = ThreadedWSGIServer(("127.0.0.1", config["port"]), WSGIRequestHandler)
    listener.set_app(get_wsgi_application())
    listener.serve_forever()
