"""The INSi teleservice over SOAP 1.2, wire-compatible with the CNAM / GIE SESAM-Vitale service
(docs/reference/insi-teleservice.md; ``docs/insi-soap.md``).

``POST /insi/soap`` answers the three operations (``rechercherInsAvecCarteVitale``,
``rechercherInsAvecTraitsIdentite``, ``verifierInsAvecTraitsIdentite``) from santeid's own WSDL
(``GET /insi/soap?wsdl``) and XSDs (``?xsd=NAME``), on top of the protocol-neutral core
(:mod:`santeid.insi.service`).

Modules: :mod:`~.protocol` (namespaces, operations, actions), :mod:`~.envelope` (hardened
parsing), :mod:`~.schemas` (XSD validation), :mod:`~.headers` (ContexteLPS, ContexteBAM,
WS-Addressing), :mod:`~.bodies` (bodies → queries), :mod:`~.render` (RESULTAT…),
:mod:`~.faults` (SOAP 1.2 faults with ``siram:Erreur``), :mod:`~.saml` and
:mod:`~.authentication` (CPx / PSC assertions, certificates), :mod:`~.views` (the blueprint).
"""

from __future__ import annotations

from santeid.insi.soap.views import bp
from santeid.insi.soap.views import init_app

__all__ = ["bp", "init_app"]
