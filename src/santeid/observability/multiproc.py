"""The metrics directory of one server start.

``prometheus_client`` picks its value class (in-process or files) when it is imported, and
the command modules import it before ``santeid serve`` runs; :func:`prepare_multiprocess_dir`
therefore switches the class after setting the variable and re-creates the values of the
metrics that already exist (labelled series are created later, with the new class)."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
log = logging.getLogger(__name__)


def prepare_multiprocess_dir() -> str:
    """A fresh, empty directory for this server start (``santeid serve`` with several
    workers), removed when the server exits: every worker writes its own files there and
    ``/metrics`` sums them; counts of an earlier start never leak in."""
    directory = tempfile.mkdtemp(prefix="santeid-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    owner = os.getpid()

    def _remove() -> None:
        if os.getpid() == owner:  # a forked worker exiting must not remove the live files
            shutil.rmtree(directory, ignore_errors=True)

    atexit.register(_remove)
    _switch_to_files()
    log.info("workers' metrics in %s (summed by /metrics, removed at exit)", directory)
    return directory


def _switch_to_files() -> None:
    import sys

    if "prometheus_client" not in sys.modules:
        return  # it will read the variable when first imported
    from prometheus_client import values

    values.ValueClass = values.get_value_class()
    from santeid.observability import metrics

    metrics.recreate_values()
