"""The INSi teleservice: one protocol-neutral core, three adapters.

* :mod:`santeid.insi.model` — queries, answers, call context, :class:`InsiError`;
* :mod:`santeid.insi.service` — :class:`InsiService`, the core (``services().insi``);
* :mod:`santeid.insi.audit` — audit trail, monthly statistics, software registry;
* :mod:`santeid.insi.auth` — certificate and Bearer credentials → :class:`CallContext`;
* :mod:`santeid.insi.rest` — ``/insi/v1/`` JSON and ``/insi/openapi.json``;
* :mod:`santeid.insi.fhir` — ``/insi/fhir/`` (FR Core Patient INS);
* ``santeid.insi.soap`` — SOAP 1.2, wire-compatible with INSi (its own ``init_app``, called
  from here when the package exists).

Documentation: ``docs/insi-overview.md`` (core rules), ``docs/insi-rest.md``, ``docs/insi-fhir.md``,
``docs/insi-soap.md``. Facts about the real teleservice are cited as sections of
``docs/reference/insi-teleservice.md``.
"""

from __future__ import annotations

import importlib
import importlib.util

from santeid.insi.model import CallContext
from santeid.insi.model import InsiError
from santeid.insi.service import InsiService

__all__ = ["CallContext", "InsiError", "InsiService", "init_app"]


def init_app(app) -> None:
    """Mount the adapters on the service ``create_services`` built (``services().insi``)."""
    from santeid.insi import fhir
    from santeid.insi import rest
    from santeid.insi.auth import check_configuration

    # An unusable insi_ca_file stops the server now, not at an establishment's call.
    check_configuration(app.extensions["santeid"].settings)
    rest.init_app(app)
    fhir.init_app(app)
    if importlib.util.find_spec("santeid.insi.soap") is not None:
        soap = importlib.import_module("santeid.insi.soap")
        soap_init = getattr(soap, "init_app", None)
        if soap_init is not None:
            soap_init(app)
