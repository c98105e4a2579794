"""The error catalogue of the INSi REST and FHIR adapters.

Each :class:`~santeid.insi.model.InsiError` code is one **problem type** (RFC 9457 §3.1.1): its
URI is ``{origin}/insi/problems/{code}`` (``origin`` = scheme and host of the issuer), which
answers a short JSON description, so the identifier is stable for a deployment and resolvable
by a person reading a log.  The FHIR adapter uses the same codes in
``OperationOutcome.issue.details.coding`` (system ``{origin}/insi/problems``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from santeid.insi.model import CODE_INVALID_REQUEST
from santeid.insi.model import CODE_INVALID_TRAIT
from santeid.insi.model import CODE_UNAUTHENTICATED


@dataclass(frozen=True)
class ProblemType:
    code: str
    title: str
    status: int
    description: str
    #: FHIR ``OperationOutcome.issue.code`` (R4 ``issue-type`` value set).
    fhir_issue: str


CODE_NOT_FOUND = "santeid_not_found"
CODE_METHOD_NOT_ALLOWED = "santeid_method_not_allowed"
CODE_UNSUPPORTED_MEDIA_TYPE = "santeid_unsupported_media_type"
CODE_TOO_LARGE = "santeid_too_large"
CODE_INTERNAL = "santeid_internal_error"

PROBLEM_TYPES: dict[str, ProblemType] = {
    p.code: p
    for p in (
        ProblemType(
            CODE_INVALID_TRAIT, "Invalid identity trait", 400,
            "A trait breaks an INSi/RNIV rule; `element` names the INSi element and `rule` the "
            "rule (docs/civil-status.md, 'Traits rules').", "invalid",
        ),
        ProblemType(
            CODE_INVALID_REQUEST, "Invalid request", 400,
            "The request is not what the operation expects (JSON shape, member type, unknown "
            "member, search parameter); `field` names the member.", "invalid",
        ),
        ProblemType(
            CODE_UNAUTHENTICATED, "Authentication required", 401,
            "Send a santeid access token (Authorization: Bearer) or present an INSi "
            "establishment certificate (CN INSI-AUTO or INSI-MANU).", "login",
        ),
        ProblemType(
            "DESIR_560", "Insufficient access level", 403,
            "Niveau d'accès insuffisant: certificate CN not INSI-AUTO/INSI-MANU or not issued by "
            "the INSi authority, or a login mode (authMode) INSi does not accept (insi.md §6, "
            "§7).", "forbidden",
        ),
        ProblemType(
            "desir_550", "Unknown software authorisation number", 403,
            "Numéro d'autorisation du logiciel inconnu (siram_100, insi.md §6).", "forbidden",
        ),
        ProblemType(
            "insi_102", "INSi technical error", 503,
            "L'appel au service de recherche avec les traits d'identité renvoie une erreur "
            "technique (siram_40, insi.md §6): the answer the qualification environment gives "
            "to the published D'AEION / COEUR query.", "transient",
        ),
        ProblemType(
            "desir_1020", "INSi service unavailable", 503,
            "Le service appelé est temporairement indisponible (siram_40): here, the "
            "civil-status base is missing or the audit trail cannot be written.", "transient",
        ),
        ProblemType(
            CODE_NOT_FOUND, "Not found", 404, "No such INSi endpoint.", "not-found",
        ),
        ProblemType(
            CODE_METHOD_NOT_ALLOWED, "Method not allowed", 405,
            "The endpoint exists; the Allow header lists its methods.", "not-supported",
        ),
        ProblemType(
            CODE_UNSUPPORTED_MEDIA_TYPE, "Unsupported media type", 415,
            "Send the request body as application/json.", "not-supported",
        ),
        ProblemType(
            CODE_TOO_LARGE, "Request too large", 413,
            "The request body or a parameter exceeds the size limit.", "too-costly",
        ),
        ProblemType(
            CODE_INTERNAL, "Internal error", 500,
            "An unexpected error; operators find it in the server log.", "exception",
        ),
    )
}  # fmt: skip


def problem_type(code: str) -> ProblemType:
    """The catalogue entry of ``code`` (an unknown code is described generically)."""
    return PROBLEM_TYPES.get(code) or ProblemType(code, code, 400, code, "processing")


def origin(settings) -> str:
    """Scheme and host of the issuer: the base of santeid's problem-type URIs."""
    parts = urlsplit(settings.issuer)
    return f"{parts.scheme}://{parts.netloc}"


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
        request.remote_addr, settings.trusted_proxies
    )
    if not (direct_tls and parts.scheme == "http"):
        return f"{parts.scheme}://{parts.netloc}"
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    port = request.environ.get("SERVER_PORT", "443")
    return f"https://{host}" + ("" if port == "443" else f":{port}")


def problem_uri(settings, code: str) -> str:
    return f"{origin(settings)}/insi/problems/{code}"
