"""Signed authentication requests (CIBA Core 1.0 §7.1.1) and login hint tokens.

A client registered with ``backchannel_authentication_request_signing_alg`` (``PS256`` or
``ES256``, FAPI-CIBA's algorithms) MUST send its parameters as the claims of a JWS, in the
``request`` form parameter, signed with a key of its registered ``jwks``; an unsigned request
from it is refused (FAPI-CIBA ``ensure-unsigned-backchannel-authorization-request-fails``).
A client without that registration "will not send signed authentication requests" (CIBA Core
§4): its ``request`` is refused, as Keycloak's
``BackchannelAuthenticationEndpointSignedRequestParser`` refuses it (:func:`check_algorithm`).

Each claim check below is a FAPI-CIBA ID1 negative test (docs/reference/openid-standards.md §5.4
item 2); every
failure is ``invalid_request`` (CIBA Core §13 lists no ``invalid_request_object``):

* the JWS's ``alg`` is the registered one, checked first with Keycloak's words
  (:func:`check_algorithm`), and the JWS verifies with the client's keys;
* in the order and words of Keycloak's FAPI-CIBA executor (:func:`check_request_claims`):
  ``exp`` present and not past, ``nbf`` present and not in the future, ``exp - nbf`` at most
  60 minutes (``signed_request_max_lifetime`` may shorten it; FAPI-CIBA §5.2.2), ``aud``
  naming this OP (its issuer, or the endpoint URL), ``iss`` the client id, ``iat`` and
  ``jti`` present; then santeid's own: ``exp``, ``iat``, ``nbf`` whole numbers, ``exp`` at
  most 60 minutes ahead and after ``iat``, ``client_id`` if present the client's, ``jti``
  never seen before (kept until ``exp``); every time check allows the clock skew of any JWT
  a client signs (``client_auth.time_problem``, 30 s);
* no authentication request parameter outside the JWT (CIBA Core §7.1.1).

A ``request_uri`` is never fetched, and no client registers one: it is refused as Keycloak
refuses one outside the client's registered list (:data:`REQUEST_URI_NOT_ALLOWED`), or sent
with ``request`` (:data:`REQUEST_AND_REQUEST_URI`).

A ``login_hint_token`` (CIBA Core §7.1; its format is left to the OP) is, at santeid, a JWS
signed by the client with its ``jwks`` whose ``login_hint`` claim holds the national
identifier and whose ``exp``, a whole number of seconds as in every JWT a client signs
(``client_auth.numeric_date``), bounds its use (``expired_login_hint_token`` once past).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key

from santeid.ciba import metadata as client_meta
from santeid.ciba.errors import ExpiredLoginHintTokenError
from santeid.ciba.errors import InvalidRequestError
from santeid.ciba.validators import REQUEST_PARAMETERS
from santeid.oidc import client_auth
from santeid.oidc import client_keys
from santeid.oidc.client_auth import HINT_TOKEN_SIGNING_ALGS
from santeid.oidc.client_auth import HMAC_SIGNING_ALGS
from santeid.oidc.provider import current_endpoint_url
from santeid.storage import keys
from santeid.untrusted_json import segment_object

#: FAPI-CIBA: a request object lives at most 60 minutes.
MAX_LIFETIME = 3600
#: Algorithms a ``login_hint_token`` may use (``santeid.oidc.client_auth``).
HINT_TOKEN_ALGS = list(HINT_TOKEN_SIGNING_ALGS)


def _client_keys(client: Any, what: str) -> Callable[[Any], Key]:
    """The key of the client's ``jwks`` that verifies the JWS, picked as for a client
    assertion (``santeid.oidc.client_keys``)."""
    if not client.jwks:
        raise InvalidRequestError(f"{what} needs a client registered with jwks")
    return client_keys.resolver(client.jwks)


def _decode(
    token: Any,
    keys: Callable[[Any], Key],
    algorithms: list[str],
    what: str,
    failure: str | None = None,
):
    """The verified JWS; ``failure``, when given, is the description of a JWS that does not
    verify (else one naming ``what`` and the algorithms)."""
    # Its length is the parameter's (max_jwt_parameter_length, santeid.security).
    if not isinstance(token, str) or token.count(".") != 2:
        raise InvalidRequestError(f"{what} must be a signed JWT (JWS compact serialization)")
    try:
        return jwt.decode(token, keys, registry=client_keys.jws_registry(algorithms))
    except (JoseError, client_keys.ClientKeyError, ValueError, TypeError):
        raise InvalidRequestError(
            failure or f"{what}: invalid signature or algorithm (allowed: {', '.join(algorithms)})"
        ) from None


#: Keycloak's descriptions of a signed request's algorithm, in the order it checks them
#: (``BackchannelAuthenticationEndpointSignedRequestParser``, docs/reference/keycloak-behaviour.md
#: "CIBA: a signed request's algorithm").
ENCRYPTED = "Encrypted request object is not allowed"
ALG_MISSING = "Signed algorithm not specified"
ALG_NONE = "None signed algorithm is not allowed"
ALG_SYMMETRIC = "Signed algorithm is not allowed"
ALG_NOT_REGISTERED = (
    "Client requested algorithm not registered in advance or request signed with different "
    "algorithm other than client requested algorithm"
)
#: An ``alg`` outside Keycloak's ``org.keycloak.jose.jws.Algorithm`` enum: its JOSE parser
#: cannot build the JWS (``JOSEParser.parse``), before any check of the parser's own.
JWS_NOT_BUILT = "Failed to build JWS"
#: A name of that enum that has no signature provider.
ALG_WITHOUT_PROVIDER = "Not found provider for the algorithm {}"
#: The names of Keycloak's enum (``Algorithm``): ``none``, the HMAC, RSA, RSA-PSS and ECDSA
#: algorithms, and EdDSA with its two curves' names, which no signature provider answers.
KEYCLOAK_JWS_ALGORITHMS = frozenset(
    {"none", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
     "ES256", "ES384", "ES512", "EdDSA", "Ed25519", "Ed448"}
)  # fmt: skip
KEYCLOAK_ALGORITHMS_WITHOUT_PROVIDER = frozenset({"Ed25519", "Ed448"})
#: Keycloak's ``decodeClientJWT`` gives ``null`` for a JWS that does not verify, whatever the
#: cause (no key of the client, another key, a bad signature), and the parser says this.
SIGNATURE_FAILED = "Failed to verify signature"


#: Keycloak's words for a ``request_uri``
#: (``BackchannelAuthenticationEndpointRequestParserProcessor``): with ``request``, and
#: outside the client's registered ``request_uris`` — every one here.
REQUEST_AND_REQUEST_URI = "Illegal to use both 'request' and 'request_uri' parameters together"
REQUEST_URI_NOT_ALLOWED = "Specified 'request_uri' not allowed for this client."


def check_algorithm(token: Any, registered_alg: str | None) -> None:
    """The JWS header's ``alg`` against the client's registration, before any key is looked
    up: Keycloak's checks and words, in its order (a name its JOSE parser does not know, then
    ``none``, a name without a signature provider, an HMAC, another than the registered one);
    raise ``InvalidRequestError``. A token whose header cannot be read is left to
    :func:`_decode`."""
    if not isinstance(token, str):
        return
    parts = token.split(".")
    if len(parts) == 5:
        raise InvalidRequestError(ENCRYPTED)
    if len(parts) != 3:
        return
    try:
        header = segment_object(parts[0])
    except ValueError:
        return
    alg = header.get("alg")
    if alg is None:
        raise InvalidRequestError(ALG_MISSING)
    if not isinstance(alg, str) or alg not in KEYCLOAK_JWS_ALGORITHMS:
        raise InvalidRequestError(JWS_NOT_BUILT)
    if alg == "none":
        raise InvalidRequestError(ALG_NONE)
    if alg in KEYCLOAK_ALGORITHMS_WITHOUT_PROVIDER:
        raise InvalidRequestError(ALG_WITHOUT_PROVIDER.format(alg))
    if alg in HMAC_SIGNING_ALGS:
        raise InvalidRequestError(ALG_SYMMETRIC)
    if registered_alg is None or alg != registered_alg:
        raise InvalidRequestError(ALG_NOT_REGISTERED)


#: The words of Keycloak's FAPI-CIBA executor (``SecureCibaSignedAuthenticationRequestExecutor``)
#: for the checks santeid makes of every signed request (docs/reference/keycloak-behaviour.md,
#: "CIBA: a signed request's claims").
SIGNED_MISSING = "Missing parameter in the signed authentication request: {}"
OBJECT_MISSING = "Missing parameter in the 'request' object: {}"
OBJECT_EMPTY = "Missing parameter value in the 'request' object: {}"
OBJECT_INVALID = "Invalid parameter in the 'request' object: {}"
REQUEST_EXPIRED = "Request Expired"
NOT_YET_PROCESSED = "Request not yet being processed"
PERIOD_TOO_LONG = "signed authentication request's available period is long"


def _time_text(problem: client_auth.TimeProblem, lifetime: int) -> str:
    """A time problem in the executor's words where it has the check, else santeid's."""
    if problem.kind == client_auth.MISSING:
        return SIGNED_MISSING.format(problem.claim)
    if problem.kind == client_auth.EXPIRED:
        return REQUEST_EXPIRED
    if problem.kind == client_auth.NOT_YET_VALID:
        return NOT_YET_PROCESSED
    if problem.kind in (client_auth.TOO_FAR_AHEAD, client_auth.NBF_TOO_OLD):
        # nbf not ahead and exp not past: either makes exp - nbf longer than the lifetime.
        return PERIOD_TOO_LONG
    if problem.kind == client_auth.NOT_A_NUMBER:
        # NumericDate as a whole number: a float or a string is refused, never rounded.
        return f"request object: the claim {problem.claim} must be a whole number"
    minutes = f"{lifetime // 60} minutes" if lifetime % 60 == 0 else f"{lifetime} seconds"
    return f"request object: {problem.describe(minutes)}"


def check_request_claims(services: Any, client: Any, claims: dict[str, Any], now: float) -> None:
    """The FAPI-CIBA claim checks in the order of Keycloak's executor — ``exp``, ``nbf`` and
    the period between them, ``aud``, ``iss``, ``iat``, ``jti`` — then santeid's own
    (``client_id``, a ``jti`` seen before); raise ``InvalidRequestError``."""
    # FAPI-CIBA's 60 minutes at most; signed_request_max_lifetime may shorten it, which
    # shortens how long the jti must be remembered (docs/security.md).
    lifetime = min(MAX_LIFETIME, services.settings.oidc.signed_request_max_lifetime)
    problem = client_auth.time_problem(
        claims,
        now=now,
        max_lifetime=lifetime,
        required=("exp", "nbf"),
        nbf_max_age=True,
    )
    if problem:
        raise InvalidRequestError(_time_text(problem, lifetime))
    if claims["exp"] - claims["nbf"] > lifetime:
        raise InvalidRequestError(PERIOD_TOO_LONG)
    audience = claims.get("aud")
    if audience is None:
        raise InvalidRequestError(OBJECT_MISSING.format("aud"))
    audiences = audience if isinstance(audience, list) else [audience]
    if not audiences:
        raise InvalidRequestError(OBJECT_EMPTY.format("aud"))
    accepted = {services.settings.issuer, current_endpoint_url()}
    if not any(isinstance(a, str) and a in accepted for a in audiences):
        raise InvalidRequestError(OBJECT_INVALID.format("aud"))
    if claims.get("iss") is None:
        raise InvalidRequestError(OBJECT_MISSING.format("iss"))
    if claims["iss"] != client.get_client_id():
        raise InvalidRequestError(OBJECT_INVALID.format("iss"))
    if claims.get("iat") is None:
        raise InvalidRequestError(SIGNED_MISSING.format("iat"))
    jti = claims.get("jti")
    if jti is None:
        raise InvalidRequestError(SIGNED_MISSING.format("jti"))
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise InvalidRequestError(
            "request object: the claim jti must be a string of 1 to 256 characters"
        )
    if "client_id" in claims and claims["client_id"] != client.get_client_id():
        raise InvalidRequestError("request object: client_id differs from the client")
    # Accepted until exp + the skew: the jti is remembered through that instant.
    ttl = keys.lifetime_through(claims["exp"] + client_auth.LEEWAY, now)
    seen = keys.CIBA_REQUEST_JTI.key(client.get_client_id(), keys.digest(jti))
    if not services.store.add(seen, {}, ttl):
        raise InvalidRequestError("request object: jti already used")


def resolve_request_object(services: Any, req: Any) -> None:
    """``validators.check_request_object``: verify the ``request`` and take its claims as
    the request parameters."""
    client = req.client
    registered_alg = client_meta.request_signing_alg(client)
    token = req.params.get("request")
    if "request_uri" in req.params:
        raise InvalidRequestError(
            REQUEST_AND_REQUEST_URI if token is not None else REQUEST_URI_NOT_ALLOWED
        )
    if token is None:
        if registered_alg:
            raise InvalidRequestError(
                f"this client must send a signed request (request, {registered_alg})"
            )
        return
    check_algorithm(token, registered_alg)
    outside = [name for name in REQUEST_PARAMETERS if name in req.params]
    if outside:
        raise InvalidRequestError(
            "with a signed request, no parameter may be sent outside it: " + ", ".join(outside)
        )
    algorithms = [registered_alg] if registered_alg else list(client_meta.REQUEST_SIGNING_ALGS)
    decoded = _decode(
        token,
        _client_keys(client, "a signed request"),
        algorithms,
        "request",
        failure=SIGNATURE_FAILED,
    )
    claims = dict(decoded.claims)
    check_request_claims(services, client, claims, services.clock())
    params: dict[str, Any] = {}
    for name in REQUEST_PARAMETERS:
        if name not in claims:
            continue
        value = claims[name]
        if name == "requested_expiry":
            params[name] = value  # a number or a string (CIBA Core §7.1)
        elif isinstance(value, str):
            params[name] = value
        else:
            raise InvalidRequestError(f"request object: {name} must be a string")
    req.params = params
    req.signed = True


def login_hint_token_subject(services: Any, client: Any, token: Any) -> str | None:
    """The national identifier in a ``login_hint_token``; raise
    ``ExpiredLoginHintTokenError`` or ``InvalidRequestError``."""
    decoded = _decode(
        token, _client_keys(client, "login_hint_token"), HINT_TOKEN_ALGS, "login_hint_token"
    )
    claims = dict(decoded.claims)
    if claims.get("iss") not in (None, client.get_client_id()):
        raise InvalidRequestError("login_hint_token: iss must be the client_id")
    exp = claims.get("exp")
    if exp is None:
        raise InvalidRequestError("login_hint_token: the claim exp is required")
    exp = client_auth.numeric_date(exp)
    if exp is None:
        problem = client_auth.TimeProblem(client_auth.NOT_A_NUMBER, "exp")
        raise InvalidRequestError(f"login_hint_token: {problem.describe('')}")
    if client_auth.expired(exp, services.clock()):
        raise ExpiredLoginHintTokenError("login_hint_token has expired")
    subject = claims.get("login_hint")
    if not isinstance(subject, str) or not subject:
        raise InvalidRequestError("login_hint_token: the claim login_hint is required")
    return subject
