"""Request objects (RFC 9101, https://www.rfc-editor.org/rfc/rfc9101) and pushed authorization
requests (RFC 9126, https://www.rfc-editor.org/rfc/rfc9126), which PSC's Keycloak advertises
(``docs/reference/pro-sante-connect.md §2``).

* ``request``: a JWT whose claims are authorization request parameters. Signed with a key of
  the client's registered ``jwks`` (RS256, ES256, PS256; the key picked as for a client
  assertion, ``santeid.oidc.client_keys``), or unsigned (``alg`` ``none``), which
  Keycloak accepts by default: an unsigned object carries nothing the query string could not.
  ``iss`` and ``client_id``, when present, must be the client; ``aud``, when present, must name
  this issuer; ``exp``, ``iat``, ``nbf``, when present, are whole numbers, ``exp`` neither past
  nor more than ``signed_request_max_lifetime`` ahead, ``nbf`` not in the future. Its
  parameters override those of the query (Keycloak; OIDC Core §6.1), and ``client_id`` must
  also be in the query (RFC 9101 §5).
* ``request_uri``: only the ``urn:ietf:params:oauth:request_uri:…`` values this server hands
  out at its pushed authorization request endpoint. santeid never fetches a remote URI, so
  discovery says ``request_uri_parameter_supported: false``; any other value is refused with
  ``invalid_request_uri``. A pushed request is used once and within ``par_lifetime`` seconds,
  by the client that pushed it; only the pushed parameters count (RFC 9126 §4).
* ``POST …/ext/par/request`` (RFC 9126 §2): client authentication as at the token endpoint,
  the authorization parameters (or a ``request`` object) in the body, validated as the
  authorization endpoint would; answer 201 ``{"request_uri", "expires_in"}``.

A request object or URI that cannot be used is an error page (400), never a redirect: the
redirect URI it would name is not trustworthy yet. At the authorization endpoint that page is
Keycloak's "Invalid Request", whatever the reason, which is logged (:func:`resolve`); the
pushed authorization request endpoint answers the reason, with RFC 9101's and RFC 9126's
codes (:func:`expand`).
"""

from __future__ import annotations

import json
import logging
import secrets

from authlib.oauth2 import OAuth2Error
from flask import jsonify
from flask import request
from joserfc import jwt
from joserfc.errors import JoseError
from werkzeug.datastructures import MultiDict

from santeid.cache_control import no_store
from santeid.errors import oauth_error
from santeid.oidc import client_auth
from santeid.oidc import client_keys
from santeid.oidc import cors
from santeid.oidc import keycloak_errors
from santeid.oidc.authorize import ErrorPage
from santeid.oidc.authorize import PushedParameters
from santeid.oidc.authorize import RedirectError
from santeid.oidc.authorize import check_client
from santeid.oidc.authorize import parse_authorization_request
from santeid.oidc.authorize import pushed_refusal
from santeid.oidc.authorize import single_client_id
from santeid.oidc.client_auth import SIGNING_ALGS
from santeid.services import services
from santeid.storage.records import PUSHED_AUTHORIZATION_REQUEST
from santeid.storage.records import RecordBook
from santeid.untrusted_json import segment_object

log = logging.getLogger(__name__)

PAR_URN_PREFIX = "urn:ietf:params:oauth:request_uri:"
#: Algorithms of a request object: those a client's keys may sign with, and ``none``.
SIGNED_ALGS = list(SIGNING_ALGS)
REQUEST_OBJECT_ALGS = [*SIGNED_ALGS, "none"]
#: This endpoint's words for two of the time rules (``client_auth.time_problem``).
_TIME_TEXTS = {
    client_auth.EXPIRED: "the request object has expired",
    client_auth.NOT_YET_VALID: "the request object is not valid yet (nbf)",
}


class RequestObjectRefused(ErrorPage):
    """A ``request`` or ``request_uri`` that cannot be used, with its reason and RFC 9101's or
    RFC 9126's code (``invalid_request_object``, ``invalid_request_uri``, ``invalid_request``)."""


def _request_object_claims(token: str, client) -> dict:
    """Verified claims of a request object sent by ``client``."""
    # Its length is the parameter's (max_jwt_parameter_length, santeid.security).
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise RequestObjectRefused("invalid_request_object", "the request object is not a JWT")
    try:
        header = segment_object(parts[0])
    except ValueError:
        raise RequestObjectRefused(
            "invalid_request_object", "the request object is not a JWT"
        ) from None
    alg = header.get("alg")
    expected = client.request_object_signing_alg
    if expected is not None and alg != expected:
        # OIDC Dynamic Client Registration §2 request_object_signing_alg; Keycloak's
        # AuthzEndpointRequestObjectParser refuses another algorithm than the client's.
        raise RequestObjectRefused(
            "invalid_request_object", f"the request object must be signed with {expected}"
        )
    if alg == "none":
        if parts[2]:
            raise RequestObjectRefused(
                "invalid_request_object", "an unsigned request object has a signature"
            )
        try:
            claims = segment_object(parts[1])
        except ValueError:
            raise RequestObjectRefused(
                "invalid_request_object", "the request object is malformed"
            ) from None
    elif alg in SIGNED_ALGS:
        if not client.jwks:
            raise RequestObjectRefused(
                "invalid_request_object",
                "a signed request object needs keys registered in the client's jwks",
            )
        try:
            # The key Keycloak's decodeClientJWT picks, as for a client assertion.
            resolve = client_keys.resolver(client.jwks)
            registry = client_keys.jws_registry([alg])
            claims = dict(jwt.decode(token, resolve, registry=registry).claims)
        except (JoseError, client_keys.ClientKeyError, ValueError, TypeError):
            raise RequestObjectRefused(
                "invalid_request_object", "the request object signature does not verify"
            ) from None
    else:
        raise RequestObjectRefused(
            "invalid_request_object", f"request object alg {alg!r} is not supported"
        )
    if "request_uri" in claims:
        # RFC 9101 §4: MUST NOT; Keycloak's AuthzEndpointRequestObjectParser refuses it
        # (docs/reference/keycloak-behaviour.md, "Authorization endpoint").
        raise RequestObjectRefused(
            "invalid_request_object", "the request object holds a request_uri"
        )
    client_id = client.get_client_id()
    for name in ("iss", "client_id"):
        if name in claims and claims[name] != client_id:
            raise RequestObjectRefused(
                "invalid_request_object", f"the request object's {name} is not the client"
            )
    if "aud" in claims:
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if services().settings.issuer not in audiences:
            raise RequestObjectRefused(
                "invalid_request_object", "the request object's aud is not this issuer"
            )
    max_lifetime = services().settings.oidc.signed_request_max_lifetime
    # Keycloak accepts a request object without exp: no time claim is required.
    problem = client_auth.time_problem(
        claims, now=services().clock(), max_lifetime=max_lifetime, required=()
    )
    if problem:
        raise RequestObjectRefused(
            "invalid_request_object",
            _TIME_TEXTS.get(problem.kind)
            or f"request object: {problem.describe(f'{max_lifetime} seconds')}",
        )
    return claims


def _as_parameter(value) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    # OIDC Core §5.5 "claims" is an object: passed on as its JSON text.
    return json.dumps(value)


def _merge_request_object(params, claims: dict) -> MultiDict:
    merged = MultiDict([(k, v) for k, v in params.items(multi=True) if k != "request"])
    for name, value in claims.items():
        if name in ("iss", "aud", "exp", "iat", "nbf", "jti", "request", "request_uri"):
            continue
        text = _as_parameter(value)
        if text is not None:
            merged.setlist(name, [text])
    return merged


def _pushed_requests() -> RecordBook:
    svc = services()
    return RecordBook(svc.store, PUSHED_AUTHORIZATION_REQUEST, clock=svc.clock)


def _pushed_parameters(params) -> PushedParameters:
    uri = params.get("request_uri", "")
    if not uri.startswith(PAR_URN_PREFIX):
        raise RequestObjectRefused(
            "invalid_request_uri",
            "request_uri must come from the pushed authorization request endpoint",
        )
    key = uri[len(PAR_URN_PREFIX) :]
    if not key or len(key) > 128:
        raise RequestObjectRefused("invalid_request_uri", "request_uri is unknown or expired")
    # Single use (RFC 9126 §4 recommends it; Keycloak removes it) and only by the client that
    # pushed it (RFC 9126 §2.2 binds the request_uri to that client): the client is checked
    # first, then the consumption is one compare-and-set on the state *and* the client, so a
    # request_uri presented with another client_id stays usable by its own client.
    pushed = _pushed_requests()
    client_id = params.get("client_id")
    found = pushed.get(key)
    if found is None or found.get("state") != "pushed":
        raise RequestObjectRefused("invalid_request_uri", "request_uri is unknown or expired")
    if found["client_id"] != client_id:
        raise RequestObjectRefused(
            "invalid_request_uri", "request_uri was pushed by another client"
        )
    record = pushed.consume(
        found.key, "pushed", current=found.data, matching={"client_id": client_id}
    )
    if record is None:  # used or expired meanwhile
        raise RequestObjectRefused("invalid_request_uri", "request_uri is unknown or expired")
    return PushedParameters([tuple(pair) for pair in record["params"]])


def expand(params):
    """The authorization request's parameters once ``request`` / ``request_uri`` are expanded
    (``params`` itself when neither is present), or :class:`RequestObjectRefused` with the
    reason. The request's own ``client_id`` is read first, then its client looked up, as
    Keycloak does (:func:`~santeid.oidc.authorize.single_client_id`,
    :func:`~santeid.oidc.authorize.check_client`)."""
    single_client_id(params)
    if "request" not in params and "request_uri" not in params:
        return params
    # Keycloak's AuthorizationEndpoint.process: checkClient on the query's client_id, then
    # parseRequest: a client_id that names no client is "Client not found." (an ErrorPage).
    client = check_client(params)
    if "request" in params and "request_uri" in params:
        raise RequestObjectRefused(
            "invalid_request", "request and request_uri cannot be used together"
        )
    if "request_uri" in params:
        return _pushed_parameters(params)
    return _merge_request_object(params, _request_object_claims(params.get("request"), client))


def resolve(params):
    """:func:`expand` at the authorization endpoint: a ``request`` or ``request_uri`` refused
    for any reason is Keycloak's error page "Invalid Request" (400), as its
    ``AuthorizationEndpointRequestParserProcessor.parseRequest`` shows for any exception
    (docs/reference/keycloak-behaviour.md, "Authorization endpoint"); the reason is logged,
    as Keycloak logs it."""
    try:
        return expand(params)
    except RequestObjectRefused as exc:
        log.warning("authorization request refused (%s): %s", exc.error, exc.description)
        raise ErrorPage("invalid_request", keycloak_errors.INVALID_REQUEST_PAGE) from None


def pushed_authorization_request():
    """RFC 9126 §2.1–§2.3 at Keycloak's ``…/ext/par/request``."""
    svc = services()
    server = svc.authorization_server
    try:
        client = client_auth.authenticate(
            "pushed_authorization_request", server.create_oauth2_request(request)
        )
    except OAuth2Error as error:
        return server.handle_error_response(None, error)
    # Keycloak's AbstractParEndpoint.authorizeClient: the client's web origins read the
    # answer from here on, its refusals too (santeid.oidc.cors).
    cors.allow_origins_of(client)

    form = MultiDict(
        [
            (k, v)
            for k, v in request.form.items(multi=True)
            if k not in client_auth.CREDENTIAL_PARAMETERS
        ]
    )
    if "request_uri" in form:
        return oauth_error(400, "invalid_request", keycloak_errors.PAR_REQUEST_URI_NOT_ALLOWED)
    if form.get("client_id", client.get_client_id()) != client.get_client_id():
        return oauth_error(400, "invalid_request", "client_id is not the authenticated client")
    form.setlist("client_id", [client.get_client_id()])
    try:
        params = expand(form)
        # Keycloak reads the whole form as the authorization endpoint reads a query: a
        # repeated ``client_id`` or credential is "duplicated parameter" too
        # (docs/reference/keycloak-behaviour.md, "Authorization endpoint").
        parse_authorization_request(params, as_sent=request.form, pushed=True)
    except ErrorPage as exc:
        # Keycloak's ParEndpoint answers a redirect URI it refuses ``invalid_request``, and
        # RFC 9126 §2.3 has no other code for it: ``invalid_redirect_uri`` is RFC 7591's.
        code = "invalid_request" if exc.error == "invalid_redirect_uri" else exc.error
        return oauth_error(400, code, exc.description)
    except RedirectError as exc:
        return oauth_error(*pushed_refusal(exc))
    key = secrets.token_urlsafe(32)
    lifetime = svc.settings.oidc.par_lifetime
    record = {"client_id": client.get_client_id(), "params": list(params.items(multi=True))}
    _pushed_requests().create(key, record, lifetime=lifetime)
    response = jsonify(request_uri=PAR_URN_PREFIX + key, expires_in=lifetime)
    response.status_code = 201
    return no_store(response)
