"""Client authentication and signing algorithms: the single list every part of the provider
reads — discovery, client-metadata validation, Authlib's grants and endpoints, CIBA and logout;
and the time checks of every JWT a client signs (:func:`time_problem`), with one clock skew
for client assertions (:data:`ASSERTION_CLOCK_SKEW`) and one for the others (:data:`LEEWAY`).

Client authentication follows Keycloak's "Client Id and Secret" authenticator by default
(``docs/reference/keycloak-behaviour.md``, "Client authentication"): a client that holds a
secret may send it by HTTP Basic (RFC 6749 §2.3.1) **or** in the form body, whatever method it
registered; when both are present the form's ``client_id`` / ``client_secret`` take precedence,
as in Keycloak. ``private_key_jwt`` and ``client_secret_jwt`` (RFC 7523 §2.2, OIDC Core §9)
and ``tls_client_auth`` (RFC 8705 §2.1) clients stay strict: only their registered method, as
each Keycloak client has one authenticator. A failure answers as Keycloak does
(``docs/reference/keycloak-behaviour.md``, "Client authentication"; :func:`invalid_client`),
without ``WWW-Authenticate``: 401 ``unauthorized_client`` "Invalid client or Invalid client
credentials" when the request names a client that holds a secret (wrong or missing secret);
400 ``invalid_client`` with the "Signed JWT" authenticator's reason (:class:`SignedJwtRefused`,
e.g. "Token reuse detected") for a ``private_key_jwt`` or ``client_secret_jwt`` client's own
failure (400 ``unauthorized_client`` for a ``client_secret_jwt`` signature that does not
verify, as Keycloak's "Signed JWT with Client Secret" answers); 401
``invalid_client`` "Invalid client or Invalid client credentials" otherwise (unknown client,
no client, a ``tls_client_auth`` client that failed). The CIBA endpoint answers every failure
with 401; the introspection and pushed-authorization-request endpoints with 401
``invalid_request`` "Authentication failed.", whatever the cause.

With ``client_authentication = "strict"`` only the registered method is accepted (RFC 7591 §2,
``token_endpoint_auth_method``) and failures are Authlib's RFC 6749 §5.2 answers (with
``WWW-Authenticate: Basic`` for a Basic attempt), 401 at the introspection (RFC 7662 §2.3) and
CIBA (CIBA Core §13) endpoints.

Both policies read HTTP Basic credentials the same way, :func:`basic_credentials`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import unquote_plus

from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion

from santeid.cache_control import CREDENTIAL_RESPONSE_HEADERS
from santeid.keystore import ALGORITHMS
from santeid.oidc import keycloak_errors
from santeid.services import services
from santeid.services import services_if_any
from santeid.storage import keys as store_keys
from santeid.untrusted_json import json_number

if TYPE_CHECKING:
    from authlib.oauth2.rfc6749 import AuthorizationServer

#: JWS algorithms of tokens, signed userinfo and request objects (``*_signing_alg_values``):
#: those the key store signs with.
SIGNING_ALGS: tuple[str, ...] = ALGORITHMS
#: JWS algorithms of a ``private_key_jwt`` assertion: those above first, then the SHA-384 and
#: SHA-512 ones Keycloak also verifies a "Signed JWT" with and PSC's discovery lists
#: (``ClientAuthSignedJWTTest``: RS512, PS384, PS512, ES384, ES512). Not EdDSA, which RFC 9864
#: deprecates (https://www.rfc-editor.org/rfc/rfc9864): a kept difference.
PRIVATE_KEY_JWT_ALGS: tuple[str, ...] = (
    *SIGNING_ALGS,
    *(
        alg
        for alg in ("RS384", "ES384", "PS384", "RS512", "ES512", "PS512")
        if alg not in SIGNING_ALGS
    ),
)
#: JWS algorithms of a ``client_secret_jwt`` assertion: HMAC keyed with the client's secret
#: (OIDC Core §9, https://openid.net/specs/openid-connect-core-1_0.html#ClientAuthentication;
#: those Keycloak's "Signed JWT with Client Secret" verifies).
HMAC_SIGNING_ALGS: tuple[str, ...] = ("HS256", "HS384", "HS512")
#: RFC 7518 §3.2 (https://www.rfc-editor.org/rfc/rfc7518#section-3.2): an HMAC key at
#: least as long as the hash's output, in bytes — a ``client_secret_jwt`` client's secret is
#: that key; HS256's when the client registers no algorithm.
HMAC_KEY_BYTES: dict[str | None, int] = {None: 32, "HS256": 32, "HS384": 48, "HS512": 64}
#: ``token_endpoint_auth_signing_alg_values_supported``: a client assertion's algorithms,
#: asymmetric (``private_key_jwt``) then HMAC (``client_secret_jwt``), as Keycloak's list
#: holds both (docs/reference/pro-sante-connect.md §2, row 27).
ASSERTION_SIGNING_ALGS: tuple[str, ...] = (*PRIVATE_KEY_JWT_ALGS, *HMAC_SIGNING_ALGS)
#: JWS algorithms of signed CIBA authentication requests (CIBA Core 1.0 §7.1.1; FAPI-CIBA
#: allows PS256 and ES256 only).
REQUEST_SIGNING_ALGS: tuple[str, ...] = ("PS256", "ES256")
#: JWS algorithms of a client's CIBA ``login_hint_token`` (any the client can sign with).
HINT_TOKEN_SIGNING_ALGS: tuple[str, ...] = ("PS256", "ES256", "RS256")

CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 - a method name
CLIENT_SECRET_POST = "client_secret_post"  # noqa: S105 - a method name
PRIVATE_KEY_JWT = "private_key_jwt"
CLIENT_SECRET_JWT = "client_secret_jwt"  # noqa: S105 - a method name
#: Methods whose credential is a JWT client assertion (RFC 7523 §2.2), each verified with the
#: key its registered method names (:func:`assertion_algorithms`), never the JWT's header.
JWT_METHODS: tuple[str, ...] = (PRIVATE_KEY_JWT, CLIENT_SECRET_JWT)
TLS_CLIENT_AUTH = "tls_client_auth"
#: A public client (RFC 7591 §2 ``none``; Keycloak's client with "Client authentication"
#: off, as keycloak-js and other browser applications use): it holds no credential and is
#: named by the form's ``client_id`` (or a Basic header without a secret).
NONE = "none"
#: Methods whose credential is the client secret (Keycloak's "Client Id and Secret").
SECRET_METHODS: tuple[str, ...] = (CLIENT_SECRET_BASIC, CLIENT_SECRET_POST)
#: Methods whose client must register a ``client_secret``.
SECRET_HOLDING_METHODS: tuple[str, ...] = (*SECRET_METHODS, CLIENT_SECRET_JWT)
#: The method of a client that registers none (RFC 7591 §2).
DEFAULT_METHOD = CLIENT_SECRET_BASIC
#: The form parameters that carry a client's credential (RFC 6749 §2.3.1, RFC 7523 §2.2):
#: authentication reads them, a pushed authorization request does not keep them.
CREDENTIAL_PARAMETERS: tuple[str, ...] = (
    "client_secret",
    "client_assertion",
    "client_assertion_type",
)
#: The methods discovery advertises, in PSC's discovery order
#: (``docs/reference/pro-sante-connect.md §2``).
#: Keycloak's discovery lists no ``none``, though its public clients exist.
AUTH_METHODS: tuple[str, ...] = (
    PRIVATE_KEY_JWT,
    CLIENT_SECRET_BASIC,
    CLIENT_SECRET_POST,
    TLS_CLIENT_AUTH,
    CLIENT_SECRET_JWT,
)
#: Every method a client may register: those advertised, and public clients.
REGISTERED_METHODS: tuple[str, ...] = (*AUTH_METHODS, NONE)
#: The order Authlib tries them in: ``none`` first, it answers only for a public client (which
#: the others would refuse for a credential it sends — an assertion's check raises);
#: ``tls_client_auth`` after the others, it answers only for requests carrying a client
#: certificate and a ``client_id``.
_ATTEMPT_ORDER: tuple[str, ...] = (
    NONE,
    CLIENT_SECRET_BASIC,
    CLIENT_SECRET_POST,
    PRIVATE_KEY_JWT,
    CLIENT_SECRET_JWT,
    TLS_CLIENT_AUTH,
)
#: Endpoints that authenticate clients (Authlib's endpoint names), each with every method:
#: Keycloak authenticates clients the same way wherever it does (``AuthorizeClientUtil``). A
#: public client is then refused where Keycloak refuses it: introspection (403 "Client not
#: allowed.", ``provider.SanteidIntrospectionEndpoint``); CIBA and ``client_credentials``,
#: which it cannot register.
ENDPOINTS: tuple[str, ...] = (
    "token",
    "introspection",
    "revocation",
    "backchannel_authentication",
    "end_session",
    "pushed_authorization_request",
)
ENDPOINT_AUTH_METHODS: dict[str, list[str]] = {name: list(_ATTEMPT_ORDER) for name in ENDPOINTS}

POLICIES = ("keycloak", "strict")


#: Seconds of clock skew tolerated on the time claims of the JWTs a client signs: request
#: objects, CIBA signed requests and ``login_hint_token``s (docs/ciba.md). Declared with the
#: store keys whose lifetimes it sets.
LEEWAY = store_keys.CLIENT_JWT_LEEWAY
#: The clock skew of client assertions instead, Keycloak's 15 s (docs/configuration.md,
#: ``client_assertion_max_lifetime``).
ASSERTION_CLOCK_SKEW = store_keys.CLIENT_ASSERTION_CLOCK_SKEW
#: Time claims of a signed JWT from a client (RFC 7519 §4.1.4-6: NumericDate).
TIME_CLAIMS: tuple[str, ...] = ("exp", "nbf", "iat")

#: The rules :func:`time_problem` checks, each the ``kind`` of a :class:`TimeProblem`.
NOT_A_NUMBER = "not_a_number"
MISSING = "missing"
EXPIRED = "expired"
TOO_FAR_AHEAD = "too_far_ahead"
TOO_LONG_AFTER_IAT = "too_long_after_iat"
NOT_YET_VALID = "not_yet_valid"
NBF_TOO_OLD = "nbf_too_old"
ISSUED_IN_FUTURE = "issued_in_future"
ISSUED_TOO_LONG_AGO = "issued_too_long_ago"


@dataclass(frozen=True)
class TimeProblem:
    """Why a client's signed JWT is refused for its time claims: the rule (``kind``, one of
    the names above) and the claim it is about."""

    kind: str
    claim: str

    def describe(self, lifetime: str) -> str:
        """The reason in words; ``lifetime`` is the longest lifetime as the endpoint says it
        (``"300 seconds"``, ``"60 minutes"``)."""
        return {
            NOT_A_NUMBER: f"the claim {self.claim} must be a whole number of seconds (NumericDate)",
            MISSING: f"the claim {self.claim} is required",
            EXPIRED: "expired (exp)",
            TOO_FAR_AHEAD: f"exp is more than {lifetime} ahead",
            TOO_LONG_AFTER_IAT: f"exp is more than {lifetime} after iat",
            NOT_YET_VALID: "not valid yet (nbf)",
            NBF_TOO_OLD: f"nbf is more than {lifetime} in the past",
            ISSUED_IN_FUTURE: "issued in the future (iat)",
            ISSUED_TOO_LONG_AGO: f"iat is more than {lifetime} in the past",
        }[self.kind]


def numeric_date(value: object) -> int | None:
    """A time claim of a JWT a client signs (RFC 7519 §2, NumericDate) as santeid reads it: a
    whole number of seconds that a double holds (:func:`santeid.untrusted_json.json_number`);
    ``None`` for anything else — a float or a string (two verifiers could disagree on it), a
    boolean, and what Python's ``json`` reads that no JSON number is: ``NaN`` and the
    infinities (``1e400``), or an integer beyond a double's range. Such an ``exp`` would
    otherwise never be past (``NaN <= now`` is false)."""
    if not isinstance(value, int) or json_number(value) is None:
        return None
    return value


def expired(exp: float, now: float, leeway: int = LEEWAY) -> bool:
    """Is a client's JWT past its ``exp``, ``leeway`` allowed (RFC 7519 §4.1.4: it MUST NOT be
    accepted on or after ``exp``)?"""
    return exp <= now - leeway


def time_problem(
    claims: dict[str, Any],
    *,
    now: float,
    max_lifetime: int,
    required: tuple[str, ...] = ("exp",),
    validity: bool = True,
    nbf_max_age: bool = False,
    bound_from_iat: bool = False,
    leeway: int = LEEWAY,
) -> TimeProblem | None:
    """Why a JWT a client signed (client assertion, request object, CIBA signed request) is
    refused for its time claims, or ``None``, with ``leeway`` seconds of clock skew
    (:data:`LEEWAY`; client assertions pass :data:`ASSERTION_CLOCK_SKEW`); the checks in this
    order:

    * ``exp``, ``nbf`` and ``iat`` are NumericDates when present (:func:`numeric_date`), and
      those of ``required`` are present;
    * with ``validity``: ``exp`` not past and ``nbf`` not in the future (``leeway``
      allowed). Client assertions leave these two to Authlib's claims registry, which applies
      the same leeway (``PrivateKeyJWT``);
    * ``exp`` at most ``max_lifetime`` seconds after now (plus ``leeway``) and after
      ``iat``;
    * with ``nbf_max_age``: ``nbf`` at most ``max_lifetime`` seconds past (plus
      ``leeway``), so ``exp - nbf`` stays within it (FAPI-CIBA §5.2.2, docs/ciba.md);
    * with ``bound_from_iat`` (client assertions), Keycloak's rule instead of the two on
      ``exp`` above when there is an ``iat``: ``iat`` not in the future (``leeway``
      allowed), at most ``max_lifetime`` seconds past and ``exp`` not past, with no leeway on
      these two bounds — Keycloak refuses once ``now > iat + max expiration`` or
      ``exp <= now`` —, however far ahead ``exp`` is: an assertion is used within
      ``max_lifetime`` of its making, however long it was made to live
      (``AbstractBaseJWTValidator.validateTokenActive``, docs/reference/keycloak-behaviour.md,
      "Client authentication"). Without ``iat``, ``exp`` is bounded from now as above.

    Bounding the lifetime bounds how long a replay cache must remember the ``jti``, and so
    how long a store restart without persistence could let a captured JWT be replayed
    (``docs/security.md``).
    """
    for name in TIME_CLAIMS:
        value = claims.get(name)
        if value is not None and numeric_date(value) is None:
            return TimeProblem(NOT_A_NUMBER, name)
    for name in required:
        if claims.get(name) is None:
            return TimeProblem(MISSING, name)
    exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf")
    if bound_from_iat and iat is not None:
        # Keycloak's use bound, min(exp - now, max expiration), refused when not above 0:
        # with an iat, a past exp is not active whatever the leeway.
        if exp is not None and exp <= now:
            return TimeProblem(EXPIRED, "exp")
        if iat > now + leeway:
            return TimeProblem(ISSUED_IN_FUTURE, "iat")
        if now > iat + max_lifetime:
            return TimeProblem(ISSUED_TOO_LONG_AGO, "iat")
    elif exp is not None:
        if validity and expired(exp, now, leeway):
            return TimeProblem(EXPIRED, "exp")
        if exp > now + max_lifetime + leeway:
            return TimeProblem(TOO_FAR_AHEAD, "exp")
        if iat is not None and exp - iat > max_lifetime:
            return TimeProblem(TOO_LONG_AFTER_IAT, "exp")
    if nbf is not None:
        if validity and nbf > now + leeway:
            return TimeProblem(NOT_YET_VALID, "nbf")
        if nbf_max_age and nbf < now - max_lifetime - leeway:
            return TimeProblem(NBF_TOO_OLD, "nbf")
    return None


def assertion_accepted_until(claims: dict[str, Any], max_lifetime: int) -> int:
    """Until when a client assertion that :func:`time_problem` (``bound_from_iat``) let
    through can be accepted, :data:`ASSERTION_CLOCK_SKEW` not counted: its ``exp``, or ``iat``
    plus ``max_lifetime`` if that comes first. Its ``jti`` must be remembered until then (plus
    the skew), and no longer is needed."""
    exp: int = claims["exp"]
    iat: int | None = claims.get("iat")
    return exp if iat is None else min(exp, iat + max_lifetime)


def methods_for(endpoint: str) -> list[str]:
    """The methods accepted at ``endpoint`` (a copy: Authlib classes keep it as an attribute)."""
    return list(ENDPOINT_AUTH_METHODS[endpoint])


def discovery_methods() -> list[str]:
    """``*_endpoint_auth_methods_supported`` of the discovery document."""
    return list(AUTH_METHODS)


def _policy() -> str:
    svc = services_if_any()
    return "strict" if svc is None else svc.settings.keycloak.client_authentication


def method_accepted(registered: str, used: str) -> bool:
    """May a client registered with ``registered`` authenticate with ``used``?

    ``client_assertion_jwt`` is Authlib's name for a JWT assertion (``private_key_jwt`` here).
    A ``client_secret_jwt`` client is strict, as a ``private_key_jwt`` one: Keycloak runs only
    the authenticator the client is registered with (``ClientAuthenticationFlow``), so neither
    its secret by Basic or in the form, nor a secret client's assertion, is accepted.
    """
    if used == "client_assertion_jwt":
        used = PRIVATE_KEY_JWT
    if used == registered:
        return True
    return _policy() == "keycloak" and registered in SECRET_METHODS and used in SECRET_METHODS


def basic_credentials(headers: Any) -> tuple[str | None, str | None]:
    """``(client_id, secret)`` of an HTTP Basic ``Authorization`` header, each part
    form-decoded as RFC 6749 §2.3.1 has clients encode them (``application/x-www-form-urlencoded``:
    ``+`` is a space, https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1) — as Keycloak's
    ``BasicAuthHelper.RFC6749.parseHeader`` reads them (``URLDecoder.decode``;
    docs/reference/keycloak-behaviour.md, "Client authentication"). The one reading of Basic
    credentials, under both policies and for the client id of the access record
    (``santeid.observability.web``): Authlib's ``extract_basic_authorization`` decodes ``%XX``
    only, and a secret with a space, sent by a client that encodes as the RFC says
    (openid-client), failed."""
    value = headers.get("Authorization")
    if not value or " " not in value:
        return None, None
    scheme, token = value.split(None, 1)
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(token).decode("utf-8")
    except (binascii.Error, ValueError):
        return None, None
    if ":" not in decoded:
        return unquote_plus(decoded), None
    client_id, secret = decoded.split(":", 1)
    return unquote_plus(client_id), unquote_plus(secret)


def strict_client_secret_basic(query_client: Callable[[str], Any], request: Any) -> Any:
    """``client_secret_basic`` under the strict policy: Authlib's
    ``authenticate_client_secret_basic`` (an unknown client named in the header is 401
    ``invalid_client``, RFC 6749 §5.2; a wrong secret authenticates nothing) with the
    credentials read by :func:`basic_credentials`, as the default policy reads them."""
    client_id, secret = basic_credentials(request.headers)
    if not client_id or not secret:
        return None
    client = query_client(client_id)
    if client is None:
        raise InvalidClientError(
            status_code=401, description="The client does not exist on this server."
        )
    return client if client.check_client_secret(secret) else None


def keycloak_secret_credentials(request: Any) -> tuple[str | None, str | None, str | None]:
    """``(client_id, secret, method)`` read as Keycloak's ``ClientIdAndSecretAuthenticator``
    does: Basic first, then the form's ``client_id`` and ``client_secret`` override it
    whenever the form holds them (``formData.containsKey``), empty too — an empty
    ``client_id`` then names no client, an empty secret is a wrong one. Never the query
    string. ``method`` names where the secret came from. (``tls_client_auth`` names its
    client by another rule, Keycloak's ``X509ClientAuthenticator``'s:
    ``santeid.oidc.tls_client_auth``.)"""
    client_id = secret = method = None
    basic_id, basic_secret = basic_credentials(request.headers)
    if basic_id:
        client_id, secret, method = basic_id, basic_secret, CLIENT_SECRET_BASIC
    form = request.form or {}
    if "client_id" in form:
        client_id = form.get("client_id")
    if "client_secret" in form:
        secret, method = form.get("client_secret"), CLIENT_SECRET_POST
    return client_id, secret, method


class KeycloakClientSecret:
    """Authlib client-authentication function for one of the two secret methods, answering
    only when Keycloak's reading of the request puts the secret there (so a correct Basic
    header with a wrong secret in the body fails, as in Keycloak)."""

    def __init__(self, method: str):
        self.method = method

    def __call__(self, query_client: Callable[[str], Any], request: Any) -> Any:
        client_id, secret, method = keycloak_secret_credentials(request)
        if method != self.method or not client_id or not secret:
            return None
        client = query_client(client_id)
        if client is None or not client.check_client_secret(secret):
            return None
        return client


def public_client(query_client: Callable[[str], Any], request: Any) -> Any:
    """The ``none`` method: the public client the request names as Keycloak's "Client Id and
    Secret" authenticator reads it (:func:`keycloak_secret_credentials`: Basic, then the
    form's ``client_id``). Keycloak's authenticator accepts a public client so, before it
    reads any secret (``ClientIdAndSecretAuthenticator``: "Skip client_secret validation for
    public client"): a secret or a client assertion sent with it is ignored. Under
    ``client_authentication = "strict"``, only a request carrying no credential at all names
    it. A client of another method is not authenticated here (Authlib then checks the method
    it registered)."""
    client_id, secret, _ = keycloak_secret_credentials(request)
    if not client_id:
        return None
    form = request.form or {}
    if _policy() != "keycloak" and (secret or form.get("client_assertion")):
        return None
    return query_client(client_id)


def register_methods(server: AuthorizationServer) -> None:
    """Install the secret methods on Authlib's server (``register_client_auth_method``), each
    choosing per request between the Keycloak reading and the strict one: Authlib's
    ``client_secret_post``, and :func:`strict_client_secret_basic`; and :func:`public_client`
    for ``none``."""
    server.register_client_auth_method(NONE, public_client)
    from authlib.oauth2.rfc6749 import authenticate_client as authlib_auth

    strict_functions: dict[str, Callable[[Callable[[str], Any], Any], Any]] = {
        CLIENT_SECRET_BASIC: strict_client_secret_basic,
        # types-Authlib's stub of the module omits this function (Authlib defines it).
        CLIENT_SECRET_POST: authlib_auth.authenticate_client_secret_post,  # type: ignore[attr-defined]
    }
    for method in SECRET_METHODS:
        keycloak = KeycloakClientSecret(method)
        strict = strict_functions[method]

        def by_policy(
            query_client: Callable[[str], Any],
            request: Any,
            keycloak: KeycloakClientSecret = keycloak,
            strict: Callable[[Callable[[str], Any], Any], Any] = strict,
        ) -> Any:
            if _policy() == "keycloak":
                return keycloak(query_client, request)
            return strict(query_client, request)

        server.register_client_auth_method(method, by_policy)


#: ``client_assertion_type`` of a JWT client assertion (RFC 7523 §2.2).
ASSERTION_TYPE: str = JWTBearerClientAssertion.CLIENT_ASSERTION_TYPE
#: The descriptions of Keycloak's "Signed JWT" authenticator (``JWTClientAuthenticator`` and
#: ``AbstractJWTClientValidator``, ``docs/reference/keycloak-behaviour.md``, "Client
#: authentication"), each with 400 ``invalid_client``: the client named, but no
#: ``client_assertion_type``, another one, or no ``client_assertion``;
SIGNED_JWT_TYPE_MISSING = "Parameter client_assertion_type is missing"
SIGNED_JWT_TYPE_WRONG = "Parameter client_assertion_type has value '{}' but expected is '{}'"
SIGNED_JWT_ASSERTION_MISSING = "client_assertion parameter missing"
#: a ``client_id`` parameter naming another client than the assertion's ``sub``;
SIGNED_JWT_CLIENT_ID_NOT_SUB = "client_id parameter does not match sub claim"
#: an algorithm it does not verify with (``none``, a symmetric one);
SIGNED_JWT_ALGORITHM = "Invalid signature algorithm"
#: no registered key (no ``jwks``, or none with the assertion's ``kid``);
SIGNED_JWT_NO_KEY = "Unable to load public key"
#: a signature that does not verify (the authenticator's exception, with its prefix);
SIGNED_JWT_SIGNATURE = (
    "Client authentication with signed JWT failed: Signature on JWT token failed validation"
)
#: none of the server's audiences in ``aud``; more than one audience, even with one of them;
SIGNED_JWT_AUDIENCE = "Invalid token audience"
SIGNED_JWT_AUDIENCES = "Multiple audiences not allowed"
#: past ``exp`` or before ``nbf`` (clock skew allowed);
SIGNED_JWT_NOT_ACTIVE = "Token is not active"
#: ``iat`` in the future;
SIGNED_JWT_ISSUED_IN_FUTURE = "Token was issued in the future"
#: an ``iat`` longer ago than the client's "max expiration" (santeid:
#: ``client_assertion_max_lifetime``), or, without ``iat``, an ``exp`` further ahead;
SIGNED_JWT_ISSUED_TOO_LONG_AGO = "Token was issued too far in the past to be used now"
SIGNED_JWT_EXP_TOO_FAR = (
    "Token expiration is too far in the future and iat claim not present in token"
)
#: no ``exp``, no ``jti``;
SIGNED_JWT_EXP_REQUIRED = "Token exp claim is required"
SIGNED_JWT_JTI_REQUIRED = "Token jti claim is required"
#: a ``jti`` already used (RFC 7523 §3).
SIGNED_JWT_REUSED = "Token reuse detected"
#: Keycloak's "Signed JWT with Client Secret" (``JWTClientSecretAuthenticator.verifySignature``,
#: docs/reference/keycloak-behaviour.md, "Client authentication"), 400 ``unauthorized_client``:
#: an HMAC that does not verify with the client's secret (two spaces, as Keycloak writes it),
#: and an asymmetric algorithm ("Algorithm is not symmetric", which it rewords so).
HMAC_JWT_ERROR = "unauthorized_client"
HMAC_JWT_SIGNATURE = (
    "Client authentication with client secret signed JWT failed: "
    "Signature on JWT token by client secret  failed validation"
)
HMAC_JWT_NOT_SYMMETRIC = (
    "Client authentication with client secret signed JWT failed: "
    "Signature on JWT token by client secret failed validation"
)
#: Algorithms Keycloak knows but verifies with a public key: a ``client_secret_jwt``
#: assertion signed so is :data:`HMAC_JWT_NOT_SYMMETRIC`; ``none`` and an unknown name are
#: :data:`SIGNED_JWT_ALGORITHM` (``AbstractBaseJWTValidator.validateSignatureAlgorithm``).
ASYMMETRIC_ALGS: tuple[str, ...] = tuple(
    f"{family}{bits}" for family in ("RS", "PS", "ES") for bits in (256, 384, 512)
) + ("EdDSA",)


def assertion_algorithms(method: str, registered: str | None = None) -> tuple[str, ...]:
    """The algorithms a client assertion of a ``method`` client verifies with: its
    ``token_endpoint_auth_signing_alg`` when it registered one (Keycloak's client attribute
    ``token.endpoint.auth.signing.alg``), else every one of its method — asymmetric for
    ``private_key_jwt``, HMAC for ``client_secret_jwt``. Chosen by the client's registered
    method, never by the assertion's header: the client's public key never serves as an HMAC
    secret, nor its secret for another algorithm (RFC 8725 §2.1, §3.1,
    https://www.rfc-editor.org/rfc/rfc8725#section-3.1)."""
    family = HMAC_SIGNING_ALGS if method == CLIENT_SECRET_JWT else PRIVATE_KEY_JWT_ALGS
    if registered is not None:
        return (registered,) if registered in family else ()
    return family


class SignedJwtRefused(InvalidClientError):
    """A ``private_key_jwt`` or ``client_secret_jwt`` client's assertion refused (RFC 7523
    §3): ``description`` says why in santeid's words (the strict policy's answer, 400
    ``invalid_client`` as Authlib's), ``keycloak_description`` and ``keycloak_error`` in the
    "Signed JWT" authenticators' (the default policy's, :func:`invalid_client`). Raised only
    for a client registered with the method of the assertion's authenticator: Keycloak's
    authenticators ignore an assertion naming a client of another method."""

    def __init__(
        self, description: str, keycloak_description: str, keycloak_error: str = "invalid_client"
    ):
        super().__init__(description=description)
        self.keycloak_description = keycloak_description
        self.keycloak_error = keycloak_error


class KeycloakInvalidClientError(InvalidClientError):
    """Keycloak's failed client authentication: no ``WWW-Authenticate`` challenge, whatever the
    code (``error``: ``invalid_client``, ``unauthorized_client`` or ``invalid_request``,
    :func:`invalid_client`) and status (401, or 400 for the "Signed JWT" authenticator's own
    answers). An ``InvalidClientError`` still, so that every caller handles it as a failed
    client authentication."""

    def __init__(self, error: str, description: str, status_code: int = 401):
        super().__init__(description=description, status_code=status_code)
        self.error = error

    def get_headers(self) -> list[tuple[str, str]]:
        return list(CREDENTIAL_RESPONSE_HEADERS)


#: Endpoints where Keycloak replaces every client-authentication failure by 401
#: ``invalid_request`` "Authentication failed." (``TokenIntrospectionEndpoint`` and
#: ``AbstractParEndpoint``, ``docs/reference/keycloak-behaviour.md``, "Client authentication").
AUTHENTICATION_FAILED_ENDPOINTS: tuple[str, ...] = ("introspection", "pushed_authorization_request")


#: Endpoints whose failed client authentication is 401 whatever the method: CIBA Core §13
#: (Keycloak's ``BackchannelAuthenticationEndpoint`` resends any answer with 401) and, under
#: the strict policy, RFC 7662 §2.3 (introspection).
UNAUTHORIZED_ENDPOINTS: tuple[str, ...] = ("backchannel_authentication", "introspection")


def _named_client(request: Any, query_client: Callable[[str], Any]) -> tuple[str | None, Any]:
    """The ``client_id`` the request names as Keycloak's "Client Id and Secret" authenticator
    reads it (Basic, then the form's ``client_id``), and that client or None. Keycloak's
    authenticators answer for that client: its own authenticator's failure is the answer
    (``unauthorized_client`` for a secret, the "Signed JWT" reasons for an assertion method);
    an unknown client, or a ``tls_client_auth`` one, ends the client flow (``invalid_client``)."""
    client_id, _, _ = keycloak_secret_credentials(request)
    return client_id, (query_client(client_id) if client_id else None)


def _signed_jwt_answer(error: InvalidClientError, request: Any, named_id: str | None,
                       named: Any) -> tuple[str, str] | None:  # fmt: skip
    """The "Signed JWT" authenticators' ``(error, description)`` for this failure, or None
    when Keycloak would not answer with them: they answer for a ``private_key_jwt`` or
    ``client_secret_jwt`` client the request names (:func:`_named_client`) — its assertion's
    refusal, or the assertion parameters missing — or, when the request names none, for the
    client of that method its assertion's ``sub`` names (:class:`SignedJwtRefused`)."""
    refusal = (
        (error.keycloak_error, error.keycloak_description)
        if isinstance(error, SignedJwtRefused)
        else None
    )
    if not named_id:
        return refusal
    if named is None or named.token_endpoint_auth_method not in JWT_METHODS:
        return None
    if refusal is not None:
        return refusal
    form = request.form or {}
    assertion_type = form.get("client_assertion_type")
    if not assertion_type:
        return "invalid_client", SIGNED_JWT_TYPE_MISSING
    if assertion_type != ASSERTION_TYPE:
        return "invalid_client", SIGNED_JWT_TYPE_WRONG.format(assertion_type, ASSERTION_TYPE)
    if not form.get("client_assertion"):
        return "invalid_client", SIGNED_JWT_ASSERTION_MISSING
    return None


def invalid_client(
    error: InvalidClientError,
    endpoint: str,
    request: Any = None,
    query_client: Callable[[str], Any] | None = None,
) -> InvalidClientError:
    """The error a failed authentication answers under the configured policy; ``request``
    and ``query_client`` tell Keycloak's answers apart (:func:`_named_client`)."""
    if _policy() == "keycloak":
        if endpoint in AUTHENTICATION_FAILED_ENDPOINTS:
            return KeycloakInvalidClientError(
                "invalid_request", keycloak_errors.CLIENT_AUTHENTICATION_FAILED
            )
        if request is None or query_client is None:
            return KeycloakInvalidClientError("invalid_client", keycloak_errors.INVALID_CLIENT)
        named_id, named = _named_client(request, query_client)
        if named is not None and named.token_endpoint_auth_method in SECRET_METHODS:
            return KeycloakInvalidClientError("unauthorized_client", keycloak_errors.INVALID_CLIENT)
        signed_jwt = _signed_jwt_answer(error, request, named_id, named)
        if signed_jwt is not None:
            status = 401 if endpoint in UNAUTHORIZED_ENDPOINTS else 400
            return KeycloakInvalidClientError(*signed_jwt, status)
        return KeycloakInvalidClientError("invalid_client", keycloak_errors.INVALID_CLIENT)
    if endpoint in UNAUTHORIZED_ENDPOINTS and error.status_code != 401:
        # Authlib answers 400 for some methods (private_key_jwt, an unknown client_id with
        # client_secret_post).
        return InvalidClientError(status_code=401, description=error.description)
    return error


def authenticate(endpoint: str, request: Any = None) -> Any:
    """Authenticate the client of the current request at ``endpoint`` (one of
    :data:`ENDPOINTS`) with the methods and policy above; raise ``InvalidClientError``.

    The entry point for endpoints that are not Authlib's (logout with a refresh token, …)."""
    server = services().authorization_server
    if request is None:
        request = server.create_oauth2_request(None)
    return server.authenticate_client(request, methods_for(endpoint), endpoint)
