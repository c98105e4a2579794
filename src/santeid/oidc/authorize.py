"""Authorization endpoint (RFC 6749 §4.1.1–4.1.2, OIDC Core §3.1.2), Keycloak path
``{issuer}/protocol/openid-connect/auth``, GET and POST.

Checks run in a fixed order, each a small function. Until the client and its redirect URI
are known to be valid, an error is shown on a page and *never* redirected (RFC 6749
§4.1.2.1, conformance module ``oidcc-ensure-registered-redirect-uri``); afterwards errors go
back to the client with ``error``, ``state`` and ``iss`` (RFC 9207; ``iss`` left out for a
client registered with ``exclude_issuer_from_auth_response``, :func:`issuer_parameter`). The
order and the texts are Keycloak's (``AuthorizationEndpoint`` and ``AuthorizationEndpointChecker``,
``docs/reference/keycloak-behaviour.md``, "Authorization endpoint").
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from flask import Response
from flask import redirect
from flask import render_template
from flask import request
from markupsafe import escape
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as BaseResponse

from santeid.cache_control import keycloak_no_back_button
from santeid.cache_control import no_store
from santeid.i18n import Translator
from santeid.i18n import pick_locale
from santeid.interaction import PendingLogin
from santeid.observability import record as observe
from santeid.oidc import grant_types
from santeid.oidc import keycloak_errors
from santeid.oidc import pkce
from santeid.oidc import scopes
from santeid.oidc.authentication import Authentication
from santeid.oidc.clients import INSTALLED_APP_PAGE
from santeid.oidc.clients import INSTALLED_APP_URN
from santeid.oidc.clients import Client
from santeid.oidc.session_end import end_session_found_over
from santeid.security import IDENTITY
from santeid.security import browser_id
from santeid.security import hide_session_state
from santeid.security import show_session_state
from santeid.security import whole_number
from santeid.services import services
from santeid.storage.base import Batch
from santeid.storage.records import Record
from santeid.untrusted_json import loads_untrusted_json

log = logging.getLogger(__name__)

#: The scope policy lives in ``scopes.py`` (kept importable here for older callers).
SCOPES_SUPPORTED = scopes.SCOPES_SUPPORTED
ACR_VALUES_SUPPORTED = ["eidas1"]
#: OAuth 2.0 Multiple Response Types §2.1, Form Post Response Mode 1.0 and JARM §2.3, in PSC's
#: order (docs/reference/pro-sante-connect.md §2, discovery member 24), as Keycloak's
#: ``OIDCResponseMode`` names them.
RESPONSE_MODES = (
    "query",
    "fragment",
    "form_post",
    "query.jwt",
    "fragment.jwt",
    "form_post.jwt",
    "jwt",
)
#: JARM §2.3.1–§2.3.3: each JWT mode sends its one parameter, ``response``, as this mode would.
JWT_MODES = {"query.jwt": "query", "fragment.jwt": "fragment", "form_post.jwt": "form_post"}
#: JARM §2.3.4: ``jwt`` is ``query.jwt`` for ``code`` (and ``none``), ``fragment.jwt`` for a
#: type that puts tokens in the response.
DEFAULT_JWT_MODE = "jwt"
#: The ``response_type`` values Keycloak parses (``OIDCResponseType``), space-separated,
#: ``none`` alone; ``token`` and ``id_token`` make an implicit or hybrid request, which no
#: client may make (Keycloak's "Implicit flow" switch, off by default). ``none`` logs in and
#: answers without a code (OAuth 2.0 Multiple Response Types §4).
RESPONSE_TYPES = ("code", "token", "id_token", "none")
IMPLICIT_RESPONSE_TYPES = ("token", "id_token")
NO_CODE = "none"
#: The response types a client may use, as discovery lists them (PSC's first two, in its
#: order: docs/reference/pro-sante-connect.md, discovery member 13).
ANSWERED_RESPONSE_TYPES = ("code", NO_CODE)
#: Keycloak's form_post page submits itself from this ``onload`` attribute; the page's
#: Content-Security-Policy allows exactly this handler (CSP3 ``'unsafe-hashes'``).
FORM_POST_ONLOAD = "javascript:document.forms[0].submit()"
_FORM_POST_ONLOAD_HASH = base64.b64encode(hashlib.sha256(FORM_POST_ONLOAD.encode()).digest())
PROMPT_VALUES = {"none", "login", "consent", "select_account"}
#: RFC 7636 §4.1: 43–128 characters of the unreserved set.
CODE_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
#: The parameters Keycloak's authorization request parser does not take as request
#: parameters: ``request`` and ``request_uri`` (expanded before, ``request_objects.resolve``).
#: Every other parameter, known or not — a client's credentials too — sent more than once is
#: ``invalid_request`` "duplicated parameter" (:func:`check_repeated`).
NOT_CHECKED_FOR_REPEATS = ("request", "request_uri")
#: Keycloak's bound on a parameter its authorization request parser knows, in characters as
#: Java counts them (UTF-16 code units): a longer one is ignored, as if not sent
#: (``AuthzEndpointRequestParser.getAndValidateParameter`` with ``OIDCProviderConfig``'s
#: defaults, 4000 and ``login_hint`` 255; docs/reference/keycloak-behaviour.md,
#: "Authorization endpoint"). :func:`within_keycloak_lengths` applies it.
KNOWN_PARAMETER_MAX_LENGTH = 4000
KNOWN_PARAMETER_MAX_LENGTHS = {"login_hint": 255}
#: The parameters that parser reads so (``client_id`` aside: Keycloak looks the client up
#: with the parameter as sent first, and no client has such an id); ``max_age`` is read as a
#: number, ``request``, ``request_uri`` and ``id_token_hint`` not by it.
LENGTH_CHECKED = (
    "response_type",
    "response_mode",
    "redirect_uri",
    "state",
    "scope",
    "login_hint",
    "prompt",
    "kc_idp_hint",
    "kc_action",
    "nonce",
    "claims",
    "acr_values",
    "display",
    "ui_locales",
    "code_challenge",
    "code_challenge_method",
    "dpop_jkt",
)


class ErrorPage(Exception):
    """An error that must be shown to the user, not sent to the client. ``message``: one of
    Keycloak's page messages, by its key (``keycloak_errors.PageMessage``), which the page
    shows in its language (:meth:`detail`), else a text of santeid's own (the reason of a
    request object refused, which only a JSON answer shows). ``description``: its English,
    for JSON answers, logs and events. The page links back where the request's pages lead
    (``santeid.errors.back_link``): at the authorization endpoint, to the client the request
    names once it is known (:func:`page_client_id`)."""

    def __init__(self, error: str, message: keycloak_errors.PageMessage | str, status: int = 400):
        super().__init__(str(message))
        self.error = error
        self.message = message
        self.description = str(message)
        self.status = status

    def detail(self, t: Translator) -> str:
        """The text the page shows, in ``t``'s language."""
        if isinstance(self.message, keycloak_errors.PageMessage):
            return self.message.text(t)
        return self.message


class RedirectError(Exception):
    """RFC 6749 §4.1.2.1 error response, sent to the validated redirect URI; in
    ``response_mode`` when given, else in the request's."""

    #: Set by :func:`parse_authorization_request` once the redirect URI is validated.
    redirect_uri: str
    state: str | None
    client: Client

    def __init__(self, error: str, description: str, response_mode: str | None = None):
        super().__init__(description)
        self.error = error
        self.description = description
        self.response_mode = response_mode


class PushedParameters(MultiDict):
    """The parameters of a pushed request, as its ``request_uri`` expands them
    (``request_objects.resolve``): what :func:`check_par_required` accepts."""


@dataclass
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    scope: str
    state: str | None = None
    nonce: str | None = None
    prompt: list[str] = field(default_factory=list)
    max_age: int | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    login_hint: str | None = None
    acr_values: list[str] = field(default_factory=list)
    locale: str = "fr"
    id_token_hint_sub: str | None = None
    response_mode: str = "query"
    #: ``code``, or ``none`` (:func:`check_response_type`): no code in the answer.
    response_type: str = "code"
    #: False when a plain OAuth 2.0 request left ``redirect_uri`` out and was given the
    #: client's only registered one (:func:`check_redirect_uri`): its code then names no
    #: redirect URI, and the token request need not send one (:func:`new_code`).
    redirect_uri_given: bool = True
    #: The client's ``exclude_issuer_from_auth_response`` when the login began, stored for the
    #: hosts of the previous release during a roll-out, which answer from it; this release
    #: reads the client's setting when it answers (:func:`issuer_parameter`), as Keycloak.
    exclude_issuer: bool = False

    def to_dict(self) -> dict:
        """The fields as a plain dict (lists copied), as ``dataclasses.asdict`` gives them;
        written out because ``asdict`` copies recursively and cost ≈ 20 µs a call.
        ``exclude_issuer`` only when set: hosts of the release before it, which takes no key
        it does not know, may complete a login during a roll-out (docs/deployment.md);
        ``response_type`` and ``redirect_uri_given`` likewise only when not the default."""
        stored = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": self.state,
            "nonce": self.nonce,
            "prompt": list(self.prompt),
            "max_age": self.max_age,
            "code_challenge": self.code_challenge,
            "code_challenge_method": self.code_challenge_method,
            "login_hint": self.login_hint,
            "acr_values": list(self.acr_values),
            "locale": self.locale,
            "id_token_hint_sub": self.id_token_hint_sub,
            "response_mode": self.response_mode,
        }
        if self.exclude_issuer:
            stored["exclude_issuer"] = True
        if self.response_type != "code":
            stored["response_type"] = self.response_type
        if not self.redirect_uri_given:
            stored["redirect_uri_given"] = False
        return stored

    @classmethod
    def from_dict(cls, data: dict) -> AuthorizationRequest:
        """The request :meth:`to_dict` stored; a key of a later release's is ignored, as that
        release's hosts share the store with this one's during a roll-out."""
        return cls(**{name: value for name, value in data.items() if name in _REQUEST_FIELDS})


#: The names :meth:`AuthorizationRequest.from_dict` reads.
_REQUEST_FIELDS = frozenset(f.name for f in fields(AuthorizationRequest))


def add_query(uri: str, params: list[tuple[str, str]]) -> str:
    """Append parameters after the registered URI's own query, kept as written (RFC 6749
    §3.1.2): Keycloak's ``KeycloakUriBuilder.queryParam`` adds ``&name=value`` to the raw
    query, so ``…?logout`` comes back ``…?logout&state=…``, never ``…?logout=&state=…``
    (docs/reference/keycloak-behaviour.md, "Logout")."""
    if not params:
        return uri
    parts = urlsplit(uri)
    added = urlencode(params)
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def without_query_parameter(uri: str, name: str) -> str:
    """``uri`` without the parameters ``name`` of its query, the others kept as written, as
    Keycloak's ``KeycloakUriBuilder.replaceQueryParam(name, null)`` drops them (the raw query
    split on ``&``; no ``?`` left when nothing remains)."""
    parts = urlsplit(uri)
    kept = [p for p in parts.query.split("&") if p.split("=", 1)[0] != name] if parts.query else []
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(kept), parts.fragment))


class FormPostResponse(Response):
    """The form_post page, which also says what it posts: ``action`` (the redirect URI) and
    ``fields`` (the response parameters), for a caller that is no browser."""

    action: str = ""
    fields: list[tuple[str, str]] = []  # noqa: RUF012 - replaced, never mutated


def form_post_page(redirect_uri: str, params: list[tuple[str, str]]) -> FormPostResponse:
    """OAuth 2.0 Form Post Response Mode §2: an auto-submitting HTML form, marked up as
    Keycloak's ``FormPostRedirectUriBuilder`` writes it (a no-script button added)."""
    fields = "".join(
        f'<INPUT TYPE="HIDDEN" NAME="{escape(name)}" VALUE="{escape(value)}"/>'
        for name, value in params
    )
    html = (
        "<HTML><HEAD><TITLE>Submit This Form</TITLE></HEAD>"
        f'<BODY Onload="{FORM_POST_ONLOAD}">'
        f'<FORM METHOD="POST" ACTION="{escape(redirect_uri)}">{fields}'
        '<NOSCRIPT><INPUT name="continue" TYPE="SUBMIT" VALUE="CONTINUE"/></NOSCRIPT>'
        "</FORM></BODY></HTML>"
    )
    response = FormPostResponse(html, mimetype="text/html")
    response.action, response.fields = redirect_uri, list(params)
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'unsafe-hashes' "
        f"'sha256-{_FORM_POST_ONLOAD_HASH.decode()}'; form-action *; frame-ancestors 'none'"
    )
    return response


def response_jwt(client_id: str, client: Client | None, params: list[tuple[str, str]]) -> str:
    """JARM §2.1: the response parameters ``params`` in a JWT signed for ``client_id``, after
    ``iss``, ``aud`` (the client id, a string) and ``exp`` — the code's lifetime, Keycloak's
    realm access-code lifespan — as Keycloak's ``OIDCRedirectUriBuilder.JWTRedirectUriBuilder``
    writes it (header ``typ`` ``JWT``). RFC 9207's ``iss`` parameter, when sent, is the same
    claim; a client that excludes it still gets the JWT's own. Signed with the key store that
    signs ID tokens, in the ``authorization_signed_response_alg`` of ``client`` — the client
    ``client_id`` names, as the caller read it (``TokenService.authorization_response_alg``);
    None, a client gone meanwhile, gets the default."""
    svc = services()
    alg = (
        svc.tokens.authorization_response_alg(client)
        if client is not None
        else svc.settings.oidc.signing_alg
    )
    claims: dict[str, object] = {
        "exp": int(svc.clock()) + svc.settings.oidc.authorization_code_lifetime,
        "iss": svc.settings.issuer,
        "aud": client_id,
    }
    claims.update(params)
    return svc.keys.sign(claims, alg=alg)


def respond(
    redirect_uri: str,
    params: list[tuple[str, str]],
    response_mode: str,
    client_id: str,
    client: Client | None,
):
    """The authorization response in the requested mode (query, fragment, form_post, or one of
    the JWT modes of :data:`JWT_MODES`: the parameters in :func:`response_jwt` for
    ``client_id`` and its ``client``, sent as ``response``), to ``redirect_uri`` — the realm's
    page for :data:`INSTALLED_APP_URN`, as Keycloak sends it there (:func:`installed_app_page`)
    — with Keycloak's ``Cache-Control`` (:func:`santeid.cache_control.keycloak_no_back_button`)."""
    if response_mode in JWT_MODES:
        params = [("response", response_jwt(client_id, client, params))]
        response_mode = JWT_MODES[response_mode]
    if redirect_uri == INSTALLED_APP_URN:
        redirect_uri = services().settings.issuer + INSTALLED_APP_PAGE
    response: BaseResponse
    if response_mode == "form_post":
        response = form_post_page(redirect_uri, params)
    elif response_mode == "fragment":
        # The registered URI has no fragment (RFC 6749 §3.1.2): the parameters are it.
        response = redirect(f"{redirect_uri}#{urlencode(params)}", code=302)
    else:
        response = redirect(add_query(redirect_uri, params), code=302)
    return keycloak_no_back_button(response)


def installed_app_page(params) -> Response:
    """The realm's page of an installed application (:data:`INSTALLED_APP_URN`), Keycloak's
    ``OIDCLoginProtocolService.installedAppUrnCallback``: the ``code`` to copy ("Success
    code", ``<input id="code">``) when there is one, else the ``error`` ("Error code: …",
    ``<p id="error">``; ``error_description`` is not shown), as its login theme's ``code.ftl``
    writes them, in the language of ``kc_locale`` (French by default). Nothing is checked: the
    page shows what its URL holds."""
    t = Translator(pick_locale(None, params.get("kc_locale")))
    code, error = params.get("code"), params.get("error")
    if code is not None:
        # Keycloak reads ``error`` only without a code.
        error, title = None, t("code_success_title")
    else:
        title = t("code_error_title", error=error or "")
    page = render_template("installed_app_code.html", t=t, title=title, code=code, error=error)
    return no_store(Response(page, mimetype="text/html"))


def issuer_parameter(client: Client | None) -> list[tuple[str, str]]:
    """RFC 9207's ``iss`` of an authorization response, success or error, as Keycloak adds it
    unless the client's "Exclude Issuer From Authentication Response" is on (its attribute
    ``exclude.issuer.from.auth.response``, off by default; santeid's client metadata
    ``exclude_issuer_from_auth_response``, docs/endpoints.md, "Client metadata"): the switch
    Keycloak offers for relying parties that cannot take it, such as mod_auth_openidc 2.4.12
    (Debian 12's, in ANS's PSC proof of concept), which takes an error response carrying
    ``iss`` for a discovery response and starts a new login instead of showing the error
    (examples/psc-apache-mod-auth-openidc/README.md). The setting is read when the response
    is sent, not when the login began, as Keycloak's ``OIDCLoginProtocol.authenticated`` and
    ``sendError`` read the client's configuration: ``client`` as the caller read it then;
    None, a client gone meanwhile, gets ``iss``."""
    if client is not None and client.exclude_issuer_from_auth_response:
        return []
    return [("iss", services().settings.issuer)]


def error_redirect(
    areq_or_uri,
    state: str | None,
    error: str,
    description: str | None,
    response_mode: str = "query",
    *,
    client: Client | None,
    client_id: str = "",
):
    """RFC 6749 §4.1.2.1: ``error``, ``error_description`` (none when ``description`` is None,
    as Keycloak sends none for ``login_required``), ``state``, then RFC 9207 ``iss``
    (:func:`issuer_parameter`), for ``client_id`` or the request's client: ``client``, as the
    caller read it when it answers (None: gone meanwhile)."""
    if isinstance(areq_or_uri, str):
        redirect_uri = areq_or_uri
    else:
        redirect_uri, response_mode = areq_or_uri.redirect_uri, areq_or_uri.response_mode
        client_id = areq_or_uri.client_id
    params = [("error", error)]
    if description is not None:
        params.append(("error_description", description))
    if state is not None:
        params.append(("state", state))
    params += issuer_parameter(client)
    return respond(redirect_uri, params, response_mode, client_id, client)


# -- the checks, in order ------------------------------------------------------
def single_client_id(params) -> str:
    """The request's one ``client_id``: Keycloak's ``AuthorizationEndpointRequestParserProcessor.
    getClientId`` reads it before any other check, ``request`` and ``request_uri`` included,
    and shows the error page "Invalid Request" for none or several
    (docs/reference/keycloak-behaviour.md, "Authorization endpoint")."""
    client_id = params.getlist("client_id")
    if len(client_id) != 1:
        raise ErrorPage("invalid_request", keycloak_errors.INVALID_REQUEST_PAGE)
    return str(client_id[0])


def check_client(params):
    client = services().clients.get(single_client_id(params))
    if client is None:
        # Keycloak's page text (docs/reference/keycloak-behaviour.md, "Authorization endpoint").
        raise ErrorPage("invalid_client", keycloak_errors.CLIENT_NOT_FOUND_PAGE)
    return client


def page_client_id(params) -> str | None:
    """The client whose home page (``client_uri``) the request's error pages link back to:
    the one its ``client_id`` names, looked up when the page is drawn
    (``santeid.errors.lead_back_to_service``), so a link only once that client is known.
    Keycloak's authorization endpoint sets the client in the session's context as soon as
    ``checkClient`` found it, and its error page then links "« Back to Application" to the
    client's Home URL, for every later refusal — an unregistered ``redirect_uri``, a request
    object or ``max_age`` refused (``AuthorizationEndpoint.checkClient``,
    ``FreeMarkerLoginFormsProvider``, ``error.ftl``; docs/reference/keycloak-behaviour.md,
    "Authorization endpoint"). The link is the registered ``client_uri``, never a URI of the
    request. No link while the client is unknown: none or several ``client_id``s (None here),
    or one that names no client."""
    try:
        return single_client_id(params)
    except ErrorPage:
        return None


def check_redirect_uri(params, client) -> tuple[str, bool]:
    """The first ``redirect_uri``, registered for the client, and whether it was sent; a
    repeated one is refused later, by a redirect to that first one (:func:`check_repeated`), as
    Keycloak. Without one, a plain OAuth 2.0 request (no ``openid`` in its first ``scope``)
    gets the client's only registered URI (RFC 6749 §3.1.2.3: OPTIONAL with a single one), as
    Keycloak's ``AuthorizationEndpointChecker.checkRedirectUri`` and
    ``RedirectUtils.verifyRedirectUri`` give it (docs/reference/keycloak-behaviour.md,
    "Authorization endpoint"); an OpenID request must send it (OIDC Core §3.1.2.1: REQUIRED)."""
    uri = params.get("redirect_uri")
    if uri is None and not scopes.is_openid(params.get("scope")):
        registered = client.redirect_uris
        if len(registered) == 1:
            return registered[0], False
    if not uri or not client.check_redirect_uri(uri):
        # Keycloak's page, for a missing URI as for an unregistered one.
        raise ErrorPage(
            "invalid_redirect_uri", keycloak_errors.invalid_parameter_page("redirect_uri")
        )
    return uri, True


def java_length(value: str) -> int:
    """``value``'s length as Java's ``String.length`` counts it: UTF-16 code units, two for a
    character outside the Basic Multilingual Plane."""
    return len(value.encode("utf-16-le", "surrogatepass")) // 2


def within_keycloak_lengths(params):
    """``params`` without the known parameters Keycloak ignores for their length
    (:data:`LENGTH_CHECKED`, :data:`KNOWN_PARAMETER_MAX_LENGTH`): a ``scope`` over 4000
    characters is no scope, a ``state`` so long is not sent back, a ``login_hint`` over 255
    names nobody. Its parser reads the first value of each: when that one is too long the
    parameter is gone, a repetition of it still refused (:func:`check_repeated` reads the
    parameters as sent). ``params`` itself when nothing is over (a pushed request's stay
    :class:`PushedParameters`)."""
    over = [
        name
        for name in LENGTH_CHECKED
        if (value := params.get(name)) is not None
        and java_length(value) > KNOWN_PARAMETER_MAX_LENGTHS.get(name, KNOWN_PARAMETER_MAX_LENGTH)
    ]
    if not over:
        return params
    kept = params.copy()  # a MultiDict of the same kind, mutable
    for name in over:
        log.warning("authorization request parameter %r ignored: over Keycloak's length", name)
        kept.poplist(name)
    return kept


def check_repeated(params) -> None:
    """RFC 6749 §3.1: a parameter MUST NOT be included more than once. Keycloak's
    ``AuthzEndpointQueryStringParser.checkDuplicated`` flags any repeated one while it reads the
    first values, and the endpoint refuses the request after the response type
    (docs/reference/keycloak-behaviour.md, "Authorization endpoint")."""
    if keycloak_errors.repeated_parameter(params, ignoring=NOT_CHECKED_FOR_REPEATS):
        raise RedirectError("invalid_request", keycloak_errors.DUPLICATED_PARAMETER)


def _known_response_mode(params) -> str:
    """Where an error about ``response_type`` goes: the requested mode if it is one santeid
    answers in (``jwt``: ``query.jwt``), else the query (Keycloak's
    ``OIDCResponseMode.parseWhenInvalidResponseType``)."""
    mode = params.get("response_mode")
    if mode == DEFAULT_JWT_MODE:
        return "query.jwt"
    return mode if mode in RESPONSE_MODES else "query"


def check_response_type(params, client) -> tuple[str, str]:
    """``response_type`` then ``response_mode``, in Keycloak's order
    (``AuthorizationEndpointChecker.checkResponseType``); returns the response type, ``code``
    or ``none`` (:data:`NO_CODE`), and the response mode, in which every later error is sent.
    Errors about ``response_mode`` itself go in the query."""
    response_type = params.get("response_type")
    if response_type is None:
        raise RedirectError(
            "invalid_request",
            keycloak_errors.missing_parameter("response_type"),
            _known_response_mode(params),
        )
    types = response_type.strip().split(" ")
    if any(t not in RESPONSE_TYPES for t in types) or ("none" in types and len(types) > 1):
        raise RedirectError(
            "unsupported_response_type",
            keycloak_errors.UNSUPPORTED_RESPONSE_TYPE,
            _known_response_mode(params),
        )
    implicit = any(t in IMPLICIT_RESPONSE_TYPES for t in types)
    mode = params.get("response_mode")  # the first, as every parameter (check_repeated)
    if mode is None:
        # OAuth 2.0 Multiple Response Types §2.1: the default of the implicit and hybrid
        # types is the fragment.
        mode = "fragment" if implicit else "query"
    elif mode not in RESPONSE_MODES:
        # Keycloak's OIDCResponseMode.parse: only a missing mode takes the default; an empty
        # one, as any other not written as its names, is refused.
        raise RedirectError(
            "invalid_request", keycloak_errors.invalid_parameter("response_mode"), "query"
        )
    elif mode == DEFAULT_JWT_MODE:
        mode = "fragment.jwt" if implicit else "query.jwt"
    if implicit and mode == "query":
        raise RedirectError(
            "invalid_request", keycloak_errors.QUERY_NOT_ALLOWED_FOR_IMPLICIT, "query"
        )
    if implicit and mode == "query.jwt":
        # Keycloak allows it to a client whose response JWTs are encrypted: none here.
        raise RedirectError("invalid_request", keycloak_errors.QUERY_JWT_NOT_ENCRYPTED, mode)
    if mode in JWT_MODES:
        # The client's algorithm has a key (SigningKeyUnavailable, before any login).
        services().tokens.authorization_response_alg(client)
    code_flow = client.check_response_type("code") and client.check_grant_type(
        grant_types.AUTHORIZATION_CODE
    )
    if ("code" in types or "none" in types) and not code_flow:
        raise RedirectError("unauthorized_client", keycloak_errors.STANDARD_FLOW_DISABLED, mode)
    if implicit:
        raise RedirectError("unauthorized_client", keycloak_errors.IMPLICIT_FLOW_DISABLED, mode)
    # Left: ``none`` alone, or ``code`` (written once or more, as Keycloak's list takes it).
    return (NO_CODE if NO_CODE in types else "code"), mode


def check_scope(params, client) -> str:
    """The scope policy (``scopes.py``): Keycloak's by default, ``openid`` optional."""
    try:
        return scopes.granted_scope(
            params.get("scope"),
            client.allowed_scopes,
            where=scopes.AUTHORIZATION,
            policy=services().settings.keycloak.scope_policy,
        )
    except scopes.ScopeError as exc:
        raise RedirectError(exc.error, exc.description) from None


def pushed_refusal(exc: RedirectError) -> tuple[int, str, str]:
    """``(status, error, description)`` of a pushed request refused with what the
    authorization endpoint would redirect, as Keycloak's ``ParEndpoint`` answers it
    (docs/reference/keycloak-behaviour.md, "Authorization endpoint"): an unknown scope
    ``invalid_request`` with the same "Invalid scopes: …" ("PAR throws this as
    invalid_request error"), a response type it cannot parse ``invalid_request``
    "Unsupported response type", a flow the client may not use ``unauthorized_client`` with
    that check's status, 401; anything else 400 as it is. ``error_style = "strict"``: 400 with
    the authorization endpoint's error, as RFC 9126 §2.3 has it."""
    if services().settings.keycloak.error_style != "keycloak":
        return 400, exc.error, exc.description
    if exc.error == "invalid_scope":
        return 400, "invalid_request", exc.description
    if exc.error == "unsupported_response_type":
        return 400, "invalid_request", keycloak_errors.PAR_UNSUPPORTED_RESPONSE_TYPE
    if exc.error == "unauthorized_client":
        return 401, exc.error, exc.description
    return 400, exc.error, exc.description


def check_par_required(params, client) -> None:
    """A client that registered ``require_pushed_authorization_requests`` (RFC 9126 §6) sends
    its requests through the PAR endpoint only: anything else is ``invalid_request``, as
    Keycloak's ``AuthorizationEndpointChecker.checkParRequired`` answers it
    (docs/reference/keycloak-behaviour.md, "Authorization endpoint")."""
    if client.require_pushed_authorization_requests and not isinstance(params, PushedParameters):
        raise RedirectError("invalid_request", keycloak_errors.PAR_REQUIRED)


def check_prompt(params) -> list[str]:
    """The ``prompt`` values santeid knows; any other is ignored, as Keycloak, which reads
    ``none`` and ``login`` out of the parameter (``TokenUtil.hasPrompt``) and refuses no value
    (docs/reference/keycloak-behaviour.md, "Authorization endpoint")."""
    prompt = [p for p in (params.get("prompt") or "").split() if p in PROMPT_VALUES]
    if "none" in prompt and len(prompt) > 1:
        # OIDC Core §3.1.2.1: none with any other value is an error. Keycloak has none win
        # (or login_required with login); kept (docs/psc-integration.md §5.1).
        raise RedirectError("invalid_request", "prompt=none cannot be combined with other values")
    return prompt


#: The range of a Java ``int``, in which Keycloak reads ``max_age`` (:func:`check_max_age`).
JAVA_INT_MIN, JAVA_INT_MAX = -(2**31), 2**31 - 1


def check_max_age(params) -> int | None:
    """``max_age`` as Keycloak's request parser reads it, ``Integer.valueOf``: decimal digits
    after an optional sign, within a Java ``int`` (a negative age is always exceeded: a new
    login). Anything else, an empty value too, makes that parser fail, and Keycloak shows its
    error page "Invalid Request" before it checks the redirect URI, so this check runs before
    :func:`check_redirect_uri` (docs/reference/keycloak-behaviour.md, "Authorization
    endpoint"). The digits are ASCII (``santeid.security.whole_number``), where Java also reads
    those of other scripts."""
    raw = params.get("max_age")
    if raw is None:
        return None
    value = java_int(raw)
    if value is None:
        raise ErrorPage("invalid_request", keycloak_errors.INVALID_REQUEST_PAGE)
    return value


def java_int(raw: str) -> int | None:
    """``raw`` as Java's ``Integer.parseInt`` reads it: ASCII decimal digits after an optional
    sign, within a Java ``int``; ``None`` where Java throws ``NumberFormatException``."""
    sign = -1 if raw.startswith("-") else 1
    value = whole_number(raw[1:] if raw[:1] in ("+", "-") else raw, max_digits=10)
    if value is None or not JAVA_INT_MIN <= sign * value <= JAVA_INT_MAX:
        return None
    return sign * value


#: The members Keycloak's ``ClaimsRepresentation`` and its ``ClaimValue`` have: its JSON
#: reader fails on any other (Jackson's ``FAIL_ON_UNKNOWN_PROPERTIES``, on by default).
CLAIMS_MEMBERS = frozenset({"id_token", "userinfo"})
CLAIM_VALUE_MEMBERS = frozenset({"essential", "value", "values"})
#: The ``essential`` values Jackson reads as ``Boolean.TRUE`` / ``FALSE`` (strings coerced).
_ESSENTIAL = {True: True, "true": True, "True": True, "TRUE": True, False: False,
              "false": False, "False": False, "FALSE": False, None: False}  # fmt: skip


def _claim_value_readable(value) -> bool:
    if value is None:  # a "null claim" (OIDC Core §5.5)
        return True
    if not isinstance(value, dict) or not set(value) <= CLAIM_VALUE_MEMBERS:
        return False
    essential = value.get("essential")
    if not isinstance(essential, (bool, str, type(None))) or essential not in _ESSENTIAL:
        return False
    return value.get("values") is None or isinstance(value["values"], list)


def read_claims_parameter(raw: str | None) -> dict | None:
    """The ``claims`` parameter (OIDC Core §5.5) as Keycloak's ``AcrUtils`` reads it into a
    ``ClaimsRepresentation``; ``None`` when it cannot, where Keycloak logs "Invalid claims
    parameter" and goes on without it: not JSON, not an object, a member it does not know,
    a claim's ``values`` that is no array, an ``essential`` that is no boolean."""
    if raw is None:
        return None
    try:
        # Too deep is unreadable too, as past Jackson's nesting limit; a member twice is the
        # last, as Jackson reads it (santeid.untrusted_json).
        claims = loads_untrusted_json(raw, last_member_wins=True)
    except ValueError:
        return None
    if not isinstance(claims, dict) or not set(claims) <= CLAIMS_MEMBERS:
        return None
    for context in CLAIMS_MEMBERS:
        requested = claims.get(context)
        if requested is None:
            continue
        if not isinstance(requested, dict):
            return None
        if not all(_claim_value_readable(value) for value in requested.values()):
            return None
    return claims


def check_essential_acr(params) -> None:
    """An essential ``acr`` of the ID token in the ``claims`` parameter, as Keycloak's
    ``AuthorizationEndpoint.updateAuthenticationSession`` (docs/reference/keycloak-behaviour.md,
    "Authorization endpoint: acr"): each requested value must be mapped to a level of
    authentication or be a number (``Integer.parseInt``); another is the error page "Invalid
    parameter: claims", 400. santeid, as PSC's realm (its discovery lists no mapped name),
    maps no name: ``eidas1`` asked as essential is refused. A number is accepted and gives the
    login's ``acr`` (``santeid.psc.proofs``), as a value asked in ``acr_values`` or without
    ``essential``, which never refuses. A value that is no JSON string (``[1]``), on which
    Keycloak's ``String`` cast fails with a server error, is refused as unmapped."""
    claims = read_claims_parameter(params.get("claims"))
    acr = ((claims or {}).get("id_token") or {}).get("acr")
    if not acr or not _ESSENTIAL[acr.get("essential")]:
        return
    if acr.get("values") is not None:
        values = acr["values"]  # a null among them too: Integer.parseInt(null) throws
    else:
        values = [] if acr.get("value") is None else [acr["value"]]
    for value in values:
        if not isinstance(value, str) or java_int(value) is None:
            log.warning(
                "Requested essential acr value %r is not a number and it is not mapped", value
            )
            raise ErrorPage("invalid_request", keycloak_errors.invalid_parameter_page("claims"))


def check_pkce(params, client) -> tuple[str | None, str | None]:
    """PKCE as Keycloak's ``AuthorizationEndpointChecker.checkPKCEParams``
    (docs/reference/keycloak-behaviour.md, "Authorization endpoint"): a client with an
    enforced method (``pkce_code_challenge_method``) must send that method, then a challenge;
    any other client's challenge, if sent, decides its method (RFC 7636 §4.3)."""
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    enforced = client.pkce_code_challenge_method
    if enforced is not None:
        # checkParamsForPkceEnforcedClient: the method, its match, then the challenge.
        if method is None:
            raise RedirectError(
                "invalid_request", keycloak_errors.missing_parameter("code_challenge_method")
            )
        if method != enforced:
            raise RedirectError("invalid_request", keycloak_errors.PKCE_METHOD_NOT_CONFIGURED)
    if challenge is None:
        if method is not None or client.require_pkce:
            raise RedirectError(
                "invalid_request", keycloak_errors.missing_parameter("code_challenge")
            )
        return None, None
    # RFC 7636 §4.3: plain when the method is left out; an empty one is sent, and unknown
    # (Keycloak's checkParamsForPkceNotEnforcedClient).
    method = pkce.DEFAULT if method is None else method
    if method not in pkce.METHODS:
        raise RedirectError(
            "invalid_request", keycloak_errors.invalid_parameter("code_challenge_method")
        )
    plain_allowed = (
        services().settings.keycloak.pkce_plain_for_all_clients or client.pkce_plain_allowed
    )
    if method == pkce.PLAIN and not plain_allowed:
        raise RedirectError(
            "invalid_request", "code_challenge_method plain is not allowed: use S256"
        )
    if not CODE_CHALLENGE_RE.match(challenge):
        # RFC 7636 §4.2: 43 to 128 unreserved characters.
        raise RedirectError("invalid_request", keycloak_errors.invalid_parameter("code_challenge"))
    return challenge, method


def check_id_token_hint(params) -> str | None:
    hint = params.get("id_token_hint")
    if not hint:
        return None
    claims = services().tokens.id_token_hint_claims(hint)
    if claims is None:
        raise RedirectError("invalid_request", "id_token_hint is not an ID token issued here")
    return claims.get("SubjectNameID")


def parse_authorization_request(params, *, as_sent=None, pushed=False):
    """Validate an authorization request; return ``(client, AuthorizationRequest)``.

    ``as_sent``: the parameters as the client sent them, when ``params`` is what is kept of
    them (a pushed request's, without its credentials and with the authenticated client): a
    repetition among them is refused as one in ``params`` would be (:func:`check_repeated`).
    ``pushed``: a pushed request, checked in the order of Keycloak's ``ParEndpoint`` — the
    scope before the repetition (the authorization endpoint's
    ``AuthorizationEndpoint.process`` has the repetition first); its refusals are answered
    by :func:`pushed_refusal`."""
    sent = params if as_sent is None else as_sent
    params = within_keycloak_lengths(params)
    client = check_client(params)
    max_age = check_max_age(params)
    redirect_uri, redirect_uri_given = check_redirect_uri(params, client)
    state = params.get("state")
    response_mode = "query"
    try:
        response_type, response_mode = check_response_type(params, client)
        if not pushed:
            check_par_required(params, client)
        if pushed:
            scope = check_scope(params, client)
            check_repeated(sent)
        else:
            check_repeated(sent)
            scope = check_scope(params, client)
        prompt = check_prompt(params)
        challenge, method = check_pkce(params, client)
        hint_sub = check_id_token_hint(params)
    except RedirectError as exc:
        exc.redirect_uri = redirect_uri
        exc.state = state
        exc.client = client
        if exc.response_mode is None:
            exc.response_mode = response_mode
        raise
    if not pushed:
        # Keycloak's ParEndpoint keeps the claims as pushed; the authorization endpoint that
        # uses the request_uri checks them (updateAuthenticationSession).
        check_essential_acr(params)
    return client, AuthorizationRequest(
        client_id=client.get_client_id(),
        redirect_uri=redirect_uri,
        scope=scope,
        state=state,
        nonce=params.get("nonce"),
        prompt=prompt,
        max_age=max_age,
        code_challenge=challenge,
        code_challenge_method=method,
        login_hint=(params.get("login_hint") or None),
        acr_values=(params.get("acr_values") or "").split(),
        locale=pick_locale(params.get("ui_locales"), params.get("kc_locale")),
        id_token_hint_sub=hint_sub,
        response_mode=response_mode,
        response_type=response_type,
        redirect_uri_given=redirect_uri_given,
        exclude_issuer=client.exclude_issuer_from_auth_response,
    )


# -- outcome --------------------------------------------------------------------
def session_may_answer(areq: AuthorizationRequest) -> bool:
    """Whether any SSO session could answer this request without a login: not one that asks
    for a new login whatever the session (``prompt=login``; ``max_age=0``, "authenticate now"
    even within the same second: OIDC Core §3.1.2.1). Known before the session is read."""
    return "login" not in areq.prompt and areq.max_age != 0


def session_satisfies(areq: AuthorizationRequest, authentication: Authentication | None) -> bool:
    """Can the SSO session answer this request without showing a login page?"""
    if authentication is None or not session_may_answer(areq):
        return False
    professional = services().directory.get(authentication.national_id)
    if professional is None or not professional.is_active:
        # Keycloak ignores the SSO cookie of a user gone or disabled
        # (docs/reference/keycloak-behaviour.md, "Disabled users"): the login page, which
        # refuses them, or login_required.
        return False
    if areq.max_age is not None:
        # max_age=0, "authenticate now" even within the same second, is session_may_answer's.
        elapsed = services().clock() - authentication.auth_time
        if elapsed > areq.max_age:
            return False
    wanted = areq.id_token_hint_sub or areq.login_hint
    if wanted and wanted.replace(" ", "") != authentication.national_id:
        return False
    return True


def new_code(
    areq: AuthorizationRequest, authentication: Authentication, batch: Batch
) -> tuple[str | None, Record | None]:
    """A code for ``areq`` under ``authentication``, written when ``batch`` runs (with the
    SSO session's write, one store round trip: docs/storage.md); the code and its record.
    ``(None, None)`` for ``response_type=none``, which gets no code (Keycloak's
    ``OIDCLoginProtocol.authenticated`` makes one for ``code`` only). The code names the
    ``redirect_uri`` the request sent, none when it sent none (:func:`check_redirect_uri`),
    as Keycloak's ``OAuth2Code`` keeps the parameter: the token endpoint compares only a
    redirect URI that was sent (RFC 6749 §4.1.3)."""
    if areq.response_type == NO_CODE:
        return None, None
    svc = services()
    code = secrets.token_urlsafe(32)
    record = {
        "client_id": areq.client_id,
        "redirect_uri": areq.redirect_uri if areq.redirect_uri_given else "",
        "scope": areq.scope,
        "nonce": areq.nonce,
        "code_challenge": areq.code_challenge,
        "code_challenge_method": areq.code_challenge_method,
        "auth": authentication.to_dict(),
    }
    lifetime = svc.settings.oidc.authorization_code_lifetime
    if authentication.sid:
        # The client joins the session again (Keycloak makes its client session at the code).
        svc.tokens.attach_client(authentication.sid, areq.client_id, batch)
    return code, svc.tokens.codes.create(code, record, lifetime=lifetime, batch=batch)


def code_response(
    areq: AuthorizationRequest,
    client: Client | None,
    authentication: Authentication,
    code: str | None,
):
    """RFC 6749 §4.1.2 success response carrying ``code`` (:func:`new_code`, once written;
    none for ``response_type=none``), with Keycloak's session_state and RFC 9207 iss
    (:func:`issuer_parameter`), in the request's response mode. ``client``: the request's
    client as the caller read it when it answers (None: gone meanwhile)."""
    params = []
    if areq.state is not None:
        params.append(("state", areq.state))
    params += [("session_state", authentication.sid), *issuer_parameter(client)]
    if code is not None:
        params.append(("code", code))
    return respond(areq.redirect_uri, params, areq.response_mode, areq.client_id, client)


def browser_sid() -> str | None:
    """The SSO session this browser's identity cookie names (``santeid_identity``, Keycloak's
    ``KEYCLOAK_IDENTITY``), live or not; None without one. A relying party's cross-site form
    POST carries it too wherever the cookie is ``Secure`` (``santeid.security``)."""
    sid = IDENTITY.get().get("sid")
    return sid if isinstance(sid, str) and sid else None


def remember_sso(authentication: Authentication) -> None:
    """This browser is logged in to the SSO session of ``authentication`` from now on."""
    IDENTITY.set({"sid": authentication.sid})
    show_sso_state(authentication)


def show_sso_state(authentication: Authentication) -> None:
    """The session-status iframe (``session_status.py``) sees the browser in the SSO session of
    ``authentication`` until that session's absolute end, as Keycloak's
    ``createLoginCookie`` writes ``KEYCLOAK_SESSION`` at each login, an SSO one included
    (docs/reference/keycloak-behaviour.md, "Session status iframe")."""
    sessions = services().sessions
    remaining = authentication.session_start + sessions.max_lifetime - int(sessions.clock())
    show_session_state(authentication.sid, remaining)


def forget_sso() -> None:
    """This browser no longer names an SSO session (the session itself is not ended here)."""
    IDENTITY.expire()
    hide_session_state()


def current_sso(batch: Batch | None = None) -> Authentication | None:
    """The live SSO session the browser's identity cookie names, or None. A cookie naming a
    session that is over (ended by a refresh-token logout, ``santeid sessions logout``, its
    timeouts) is expired, and the session-status cookie with it: as Keycloak's
    ``authenticateIdentityCookie`` calls ``expireIdentityCookie``
    (docs/reference/keycloak-behaviour.md, "Session status iframe"), so that the relying
    parties' iframes see the change from then on. A session still stored but past its
    timeouts is ended first, its clients told, as Keycloak's ``verifyIdentityToken`` does
    ("An SSO session found over"). An identity cookie santeid did not sign is expired alike.
    ``batch``: the session's use is written when that batch runs."""
    sid = browser_sid()
    authentication = services().sessions.get(sid, batch=batch)
    if authentication is None and sid is not None:
        end_session_found_over(services(), sid)
        forget_sso()
    elif authentication is None and IDENTITY.name in request.cookies:
        # Keycloak expires an identity cookie it did not sign too (``authenticateIdentityCookie``:
        # a token that does not verify): another secret's, an access token put in its place
        # (``CookieTest.testCookieValue``), another application's of the same name.
        forget_sso()
    return authentication


def sso_answer(
    areq: AuthorizationRequest,
    client: Client | None,
    writes: Batch,
    *,
    claim: Callable[[], bool] | None = None,
) -> Response | None:
    """The code answering ``areq`` (of ``client``, as the caller read it) from the browser's
    SSO session when that session answers it without a login (:func:`session_satisfies`),
    else None — and then nothing of ``writes`` has run. The session's use, and the code it
    answers: one store round trip. A logout removing the session meanwhile leaves that code
    worthless, as one sent just before it: the token endpoint finds no session
    (TokenService.open_family, "Code not valid"). ``claim``: called once the session is
    found to answer, before any code is written or any event recorded; False (what the
    answer was to end has moved on meanwhile, e.g. a login page's proof approved) answers
    None, nothing written nor recorded."""
    authentication = current_sso(writes)
    if authentication is None or not session_satisfies(areq, authentication):
        return None
    if claim is not None and not claim():
        return None
    show_sso_state(authentication)
    code, _ = new_code(areq, authentication, writes)
    writes.run()
    observe.login_by_sso(
        areq.client_id, authentication.auth_mode, professional=authentication.national_id
    )
    return code_response(areq, client, authentication, code)


def authorization_outcome(params) -> Response | PendingLogin:
    """What the authorization endpoint makes of a request for this browser (``params``: its
    parameters, ``request`` / ``request_uri`` expanded): the answer to send the client now
    (a code from the browser's SSO session, or an error redirect), or the login the login
    pages are to run. Raises :class:`ErrorPage` for an error never sent to the client. The
    endpoint's one path: the sandbox's scripted logins (``santeid.sandbox.logins``) take it
    too."""
    try:
        client, areq = parse_authorization_request(params)
    except RedirectError as exc:
        return error_redirect(
            exc.redirect_uri,
            exc.state,
            exc.error,
            exc.description,
            exc.response_mode or "query",
            client=exc.client,
            client_id=exc.client.get_client_id(),
        )

    writes = services().store.batch()
    answer = sso_answer(areq, client, writes)
    if answer is not None:
        return answer
    writes.run()
    if "none" in areq.prompt:
        # OIDC Core §3.1.2.6: no UI may be shown. Keycloak's OIDCLoginProtocol.translateError
        # gives PASSIVE_LOGIN_REQUIRED no description (docs/reference/keycloak-behaviour.md,
        # "Authorization endpoint").
        return error_redirect(areq, areq.state, "login_required", None, client=client)
    return PendingLogin(client.get_client_id(), client.name, areq.to_dict(), browser_id())
