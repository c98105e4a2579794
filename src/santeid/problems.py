"""The one catalogue of RFC 9457 problem types every JSON API of santeid answers with.

A problem's ``type`` is ``{origin}/problems/{code}`` (``origin`` = scheme and host of the
configured issuer), and santeid serves that URL: JSON (``application/json``) describing the
problem, or an HTML page for a browser; ``{origin}/problems/`` lists them all. RFC 9457 §3.1.1
only asks that ``type`` identify the problem; §4 recommends that it resolve to
documentation a person can read, which these pages are.

``code`` is the stable, machine-readable member clients switch on (an RFC 9457 §3.2 extension
member): the e-CPS device API's codes (``wrong_pin``…) and the INSi adapters' codes
(``santeid_invalid_trait``, ``DESIR_560``…) are entries of this catalogue under their existing
names. Each API family keeps its own Python exception (``santeid.ecps.problems.Problem``,
``santeid.insi.model.InsiError``) and its own extension members; the title, HTTP status,
description and FHIR ``issue-type`` of a code live here only.

The pages and the ``application/problem+json`` response are in :mod:`santeid.problem_pages`:
this module imports no web framework, so that the cores that raise problems (the e-CPS and
INSi services, their commands) are imported without Flask.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

#: Media type of problem details (RFC 9457 §3).
PROBLEM_JSON = "application/problem+json"

#: Path under the issuer's origin where the problem types are served.
PROBLEMS_PATH = "/problems"


@dataclass(frozen=True)
class ProblemType:
    code: str
    title: str
    status: int
    description: str
    #: Which API family raises it: ``ecps`` (e-CPS device API), ``insi`` (INSi REST/FHIR) or
    #: ``sandbox`` (the sandbox's control API).
    family: str
    #: FHIR ``OperationOutcome.issue.code`` (R4 ``issue-type`` value set).
    fhir_issue: str = "processing"


def _ecps(code: str, status: int, title: str) -> ProblemType:
    return ProblemType(code, title, status, title + ".", "ecps")


def _sandbox(code: str, status: int, title: str) -> ProblemType:
    return ProblemType(code, title, status, title + ".", "sandbox")


def _insi(code: str, title: str, status: int, description: str, fhir_issue: str) -> ProblemType:
    return ProblemType(code, title, status, description, "insi", fhir_issue)


# INSi codes of santeid's own making (INSi's SOAP faults have no such cases).
CODE_INVALID_TRAIT = "santeid_invalid_trait"
CODE_INVALID_REQUEST = "santeid_invalid_request"
CODE_UNAUTHENTICATED = "santeid_unauthenticated"
CODE_NOT_FOUND = "santeid_not_found"
CODE_METHOD_NOT_ALLOWED = "santeid_method_not_allowed"
CODE_UNSUPPORTED_MEDIA_TYPE = "santeid_unsupported_media_type"
CODE_TOO_LARGE = "santeid_too_large"
CODE_INTERNAL = "santeid_internal_error"

#: ``code`` → problem type. Titles never change for a code (RFC 9457 §3.1.3: "SHOULD NOT
#: change from occurrence to occurrence").
CATALOGUE: dict[str, ProblemType] = {
    p.code: p
    for p in (
        # -- e-CPS device API (docs/ecps-device-protocol.md §7) -------------------------
        # request shape
        _ecps("invalid_request", 400, "The request is not what this endpoint accepts"),
        _ecps("not_found", 404, "No such endpoint of this API"),
        _ecps("method_not_allowed", 405, "This endpoint does not accept this method"),
        _ecps("payload_too_large", 413, "The request body is too large"),
        _ecps(
            "unsupported_media_type", 415, "The request body's content coding is not accepted"
        ),
        _ecps(
            "temporarily_unavailable", 503, "The service is temporarily unavailable; retry later"
        ),
        _ecps(
            "too_many_waits",
            429,
            "This device already has as many waiting requests open as allowed",
        ),
        _ecps("internal_error", 500, "An unexpected error; operators find it in the server log"),
        # registration
        _ecps("invalid_activation_code", 400, "Unknown or expired activation code"),
        _ecps("activation_code_used", 400, "This activation code has already been used"),
        _ecps("invalid_pin", 400, "The PIN must be 4 to 8 digits"),
        _ecps("invalid_public_key", 400, "The public key is not an EC P-256 public JWK"),
        _ecps("public_key_in_use", 409, "This public key is already registered"),
        _ecps("invalid_webhook_url", 400, "The webhook URL is not allowed"),
        _ecps("professional_inactive", 403, "The professional is not active in the directory"),
        # device authentication (Bearer device JWT, decision JWT)
        _ecps("missing_token", 401, "A device token is required"),
        _ecps("invalid_token", 401, "The JWT is malformed, or not ES256 with a kid"),
        _ecps("unknown_device", 401, "No device has this identifier"),
        _ecps("bad_signature", 401, "The signature does not verify with the device key"),
        _ecps("invalid_audience", 401, "The token is not meant for this server"),
        _ecps("invalid_issuer", 401, "The token issuer is not the device"),
        _ecps("token_expired", 401, "The device token has expired"),
        _ecps("token_not_yet_valid", 401, "The device token is issued in the future"),
        _ecps("token_lifetime_too_long", 401, "The device token lives longer than 60 seconds"),
        _ecps("replayed_token", 401, "This device token (jti) has already been used"),
        _ecps("device_revoked", 403, "The device has been revoked"),
        _ecps("device_locked", 403, "The device is locked; activate a new one"),
        # decisions
        _ecps("invalid_decision", 400, "The decision JWT lacks a claim or has a bad value"),
        _ecps("request_mismatch", 400, "The decision is for another request"),
        _ecps("stale_decision", 400, "The decision was signed too long ago or in the future"),
        _ecps("replayed_decision", 409, "This decision (jti) has already been received"),
        _ecps("unknown_request", 404, "No authentication request has this identifier"),
        _ecps("request_expired", 410, "The authentication request has expired"),
        _ecps("request_not_pending", 409, "The authentication request has already been decided"),
        _ecps("foreign_request", 403, "The request is for another professional"),
        _ecps("wrong_pin", 403, "Wrong PIN"),
        _ecps("pin_locked", 403, "Wrong PIN; no attempt left, the device is now locked"),
        _ecps("code_required", 400, "Approving a browser login needs the chosen code"),
        _ecps("wrong_code", 403, "The chosen code is not the one shown on the login page"),
        # -- INSi REST and FHIR adapters (docs/insi-rest.md, docs/insi-fhir.md) -----------
        _insi(
            CODE_INVALID_TRAIT, "Invalid identity trait", 400,
            "A trait breaks an INSi/RNIV rule; `element` names the INSi element and `rule` the "
            "rule (docs/civil-status.md, 'Traits rules').", "invalid",
        ),
        _insi(
            CODE_INVALID_REQUEST, "Invalid request", 400,
            "The request is not what the operation expects (JSON shape, member type, unknown "
            "member, search parameter); `field` names the member.", "invalid",
        ),
        _insi(
            CODE_UNAUTHENTICATED, "Authentication required", 401,
            "Send a santeid access token (Authorization: Bearer) or present an INSi "
            "establishment certificate (CN INSI-AUTO or INSI-MANU).", "login",
        ),
        _insi(
            "DESIR_560", "Insufficient access level", 403,
            "Niveau d'accès insuffisant: certificate CN not INSI-AUTO/INSI-MANU, not issued by "
            "the INSi authority or not for a TLS client, or a login mode (authMode) INSi does "
            "not accept "
            "(docs/reference/insi-teleservice.md §6, §7).", "forbidden",
        ),
        _insi(
            "desir_550", "Unknown software authorisation number", 403,
            "Numéro d'autorisation du logiciel inconnu (siram_100, "
            "docs/reference/insi-teleservice.md §6).", "forbidden",
        ),
        _insi(
            "insi_102", "INSi technical error", 503,
            "L'appel au service de recherche avec les traits d'identité renvoie une erreur "
            "technique (siram_40, docs/reference/insi-teleservice.md §6): the answer the "
            "qualification environment gives to the published D'AEION / COEUR query.",
            "transient",
        ),
        _insi(
            "desir_1020", "INSi service unavailable", 503,
            "Le service appelé est temporairement indisponible (siram_40): here, the "
            "civil-status base is missing or the audit trail cannot be written.", "transient",
        ),
        _insi(CODE_NOT_FOUND, "Not found", 404, "No such INSi endpoint.", "not-supported"),
        _insi(
            CODE_METHOD_NOT_ALLOWED, "Method not allowed", 405,
            "The endpoint exists; the Allow header lists its methods.", "not-supported",
        ),
        _insi(
            CODE_UNSUPPORTED_MEDIA_TYPE, "Unsupported media type", 415,
            "Send the request body as application/json (status 415), and ask for a JSON"
            " answer: a FHIR _format or Accept other than JSON gets status 406.",
            "not-supported",
        ),
        _insi(
            CODE_TOO_LARGE, "Request too large", 413,
            "The request body exceeds the size limit (status 413), or a query parameter"
            " does (status 400).", "too-costly",
        ),
        _insi(
            CODE_INTERNAL, "Internal error", 500,
            "An unexpected error; operators find it in the server log.", "exception",
        ),
        # -- the sandbox's control API (docs/sandbox.md; sandbox mode only). It also answers
        # the e-CPS codes above (invalid_request, unknown_request, code_required, wrong_code,
        # request_not_pending, professional_inactive; not_found, method_not_allowed,
        # payload_too_large, unsupported_media_type, temporarily_unavailable,
        # internal_error) with their meaning
        # there. ------------------------------------------------------------------------
        _sandbox("invalid_national_id", 400, "This is not a national identifier"),
        _sandbox("unknown_professional", 404, "No professional has this identifier"),
        _sandbox("invalid_professional", 400, "The professional's description is not valid"),
        _sandbox("invalid_scenario", 400, "This is not a sandbox scenario"),
        _sandbox("no_outbox", 404, "This server sends its messages for real: no outbox"),
        _sandbox(
            "authorization_refused", 400,
            "The authorization request is refused: a browser would see an error page",
        ),
        _sandbox(
            "no_authenticator", 409,
            "The professional has no phone to approve a login (a CPS card only)",
        ),
        _sandbox(
            "too_many_logins", 429,
            "Too many logins started for this professional or from this address; retry later",
        ),
        _sandbox("unknown_login", 404, "No scripted login is kept under this identifier"),
        _sandbox(
            "client_gone", 409,
            "The service's client was removed, or no longer registers the login's "
            "redirect_uri, while the scripted login was under way: it ended without a code",
        ),
        _sandbox(
            "no_contact_details", 409,
            "The directory holds no correspondence e-mail and phone to send activation codes to",
        ),
        _sandbox(
            "too_many_code_sends", 429,
            "Too many pairs of activation codes sent for this professional or from this "
            "address; retry later",
        ),
        _sandbox(
            "unknown_activation", 404,
            "No activation waits for its codes under this identifier (expired, used or "
            "cancelled)",
        ),
        _sandbox("wrong_activation_codes", 403, "The activation codes are wrong"),
        _sandbox(
            "activation_codes_locked", 403,
            "Too many wrong activation codes: the pair is cancelled; ask for new codes",
        ),
    )
}  # fmt: skip


def problem_type(code: str) -> ProblemType:
    """The catalogue entry of ``code`` (an unknown code is described generically)."""
    return CATALOGUE.get(code) or ProblemType(code, code, 400, code, "unknown")


def family(name: str) -> dict[str, ProblemType]:
    """The problem types one API family raises, in catalogue order."""
    return {code: p for code, p in CATALOGUE.items() if p.family == name}


def origin(settings) -> str:
    """Scheme and host of the issuer: the base of every problem-type URI."""
    parts = urlsplit(settings.issuer)
    return f"{parts.scheme}://{parts.netloc}"


def problem_uri(settings, code: str) -> str:
    """The ``type`` of problem ``code`` (RFC 9457 §3.1.1), served by
    :data:`santeid.problem_pages.bp`."""
    return f"{origin(settings)}{PROBLEMS_PATH}/{code}"
