"""The INSi REST and FHIR adapters' view of the problem catalogue.

Each :class:`~santeid.insi.model.InsiError` code is one **problem type** (RFC 9457 §3.1.1) of
the one catalogue, :mod:`santeid.problems` (family ``insi``): its URI is
``{origin}/problems/{code}`` (``origin`` = scheme and host of the issuer), which santeid
serves. The FHIR adapter uses the same codes in ``OperationOutcome.issue.details.coding``
(system ``{origin}/problems``). This module re-exports the catalogue's INSi names and adds
:func:`served_origin`, the origin INSi documents write into themselves, and
:func:`error_for`, the error both adapters answer any exception with.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException

from santeid.insi.model import InsiError
from santeid.insi.model import outage
from santeid.problems import CATALOGUE
from santeid.problems import CODE_INTERNAL
from santeid.problems import CODE_INVALID_REQUEST
from santeid.problems import CODE_METHOD_NOT_ALLOWED
from santeid.problems import CODE_NOT_FOUND
from santeid.problems import CODE_TOO_LARGE
from santeid.problems import CODE_UNSUPPORTED_MEDIA_TYPE
from santeid.problems import PROBLEMS_PATH
from santeid.problems import ProblemType
from santeid.problems import origin
from santeid.problems import problem_type
from santeid.problems import problem_uri
from santeid.settings.base import bracketed

__all__ = [
    "CODE_INTERNAL",
    "CODE_METHOD_NOT_ALLOWED",
    "CODE_NOT_FOUND",
    "CODE_TOO_LARGE",
    "CODE_UNSUPPORTED_MEDIA_TYPE",
    "PROBLEM_TYPES",
    "ProblemType",
    "HTTP_ERROR_CODES",
    "coding_system",
    "error_for",
    "origin",
    "problem_type",
    "problem_uri",
    "served_origin",
]

log = logging.getLogger(__name__)

#: The INSi adapters' problem types, by code.
PROBLEM_TYPES: dict[str, ProblemType] = {
    code: p for code, p in CATALOGUE.items() if p.family == "insi"
}


def coding_system(settings) -> str:
    """``OperationOutcome.issue.details.coding.system`` of santeid's problem codes."""
    return f"{origin(settings)}{PROBLEMS_PATH}"


def served_origin(settings) -> str:
    """The public origin of the request being served, for documents that name their own URLs
    (the SOAP WSDLs' addresses, the OpenAPI ``servers``): the configured issuer's origin, never
    the request's ``Host`` (a forged Host would otherwise be written into the documents).

    One exception keeps a second HTTPS listener usable (``santeid serve --tls-port``, as in
    ``make run``): a request received over this server's own TLS while the issuer is plain
    HTTP gets ``https://<issuer host>:<the listening port>`` — ``SERVER_PORT`` as the server
    set it from its socket, not from a header. Must be called while serving a request."""
    from flask import request

    from santeid.tls import is_trusted_proxy

    parts = urlsplit(settings.issuer)
    direct_tls = request.environ.get("wsgi.url_scheme") == "https" and not is_trusted_proxy(
        request.remote_addr, settings.http.trusted_proxies
    )
    if not (direct_tls and parts.scheme == "http"):
        return f"{parts.scheme}://{parts.netloc}"
    host = bracketed(parts.hostname or "localhost")
    port = request.environ.get("SERVER_PORT", "443")
    return f"https://{host}" + ("" if port == "443" else f":{port}")


#: HTTP errors (Werkzeug's routing and request errors, or raised as such) the REST and FHIR
#: adapters answer with a code of their own, keeping the error's status; any other is
#: ``santeid_invalid_request`` with its status.
HTTP_ERROR_CODES: dict[int, str] = {
    404: CODE_NOT_FOUND,
    405: CODE_METHOD_NOT_ALLOWED,
    406: CODE_UNSUPPORTED_MEDIA_TYPE,
    413: CODE_TOO_LARGE,
    415: CODE_UNSUPPORTED_MEDIA_TYPE,
}


def error_for(exc: Exception) -> InsiError:
    """What the REST and FHIR adapters answer ``exc`` with: an :class:`InsiError` as it is;
    a store or database outage ``desir_1020`` (:func:`santeid.insi.model.outage`); an HTTP
    error its code of :data:`HTTP_ERROR_CODES` with its own status; a query parameter over
    the size limit ``santeid_too_large`` with the 400 every API answers it with; anything
    else ``santeid_internal_error``, logged whole. Called while serving a request."""
    from flask import request

    from santeid.security import ParameterTooLarge

    if isinstance(exc, InsiError):
        return exc
    if (unavailable := outage(exc)) is not None:
        return unavailable
    if isinstance(exc, HTTPException):
        status = exc.code or 400
        code = HTTP_ERROR_CODES.get(status, CODE_INVALID_REQUEST)
        return InsiError(code, exc.description or exc.name, http_status=status)
    if isinstance(exc, ParameterTooLarge):
        return InsiError(CODE_TOO_LARGE, str(exc), http_status=400)
    log.exception("unhandled error on %s %s", request.method, request.path)
    return InsiError(CODE_INTERNAL, "internal error")
