"""Registered relying parties, stored through :mod:`santeid.db` (embedded: SQLite under
``SANTEID_DATA_DIR``; several hosts: PostgreSQL).

Client metadata follows RFC 7591 §2; a few santeid-specific switches are documented in
``docs/endpoints.md`` ("Client metadata"). Secrets are kept only as SHA-256 digests and
compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import unquote
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from santeid import db
from santeid.clock import Clock
from santeid.clock import system_clock
from santeid.oidc import client_auth
from santeid.oidc import client_keys
from santeid.oidc import grant_types as grants
from santeid.oidc import pkce
from santeid.oidc.scopes import scope_values
from santeid.oidc.tls_client_auth import validate_metadata as validate_tls_client_auth

if TYPE_CHECKING:
    from santeid.settings import Settings

#: The grant types a client may register: the core ones, and those of the features that
#: registered their checks (``register_metadata_check``), always in discovery's order.
GRANT_TYPES = list(grants.CORE)
AUTH_METHODS = client_auth.REGISTERED_METHODS
SIGNING_ALGS = client_auth.SIGNING_ALGS
MIN_SECRET_LENGTH = 16
#: Metadata naming the algorithm santeid signs with for this client (OIDC Dynamic Client
#: Registration 1.0 §2): each needs an active key of that algorithm (docs/keys.md).
SIGNED_RESPONSE_FIELDS = (
    "userinfo_signed_response_alg",
    "id_token_signed_response_alg",
    # JARM §3: the response JWT of ``response_mode`` query.jwt, fragment.jwt, form_post.jwt.
    "authorization_signed_response_alg",
)
#: Metadata asking for encrypted responses, and why each is refused: santeid encrypts no
#: response, so a client asking for encryption is refused at registration rather than sent
#: what it would not read. Keycloak encrypts with the client's own encryption key, and without
#: one fails at the first response (docs/reference/keycloak-behaviour.md, "Authorization
#: endpoint: JARM" for JARM §3's fields, "Userinfo, introspection, revocation" for OIDC Dynamic
#: Client Registration 1.0 §2's userinfo and ID-token fields).
_NOT_ENCRYPTED_JARM = "encrypted authorization responses are not supported (they are signed)"
_NOT_ENCRYPTED_USERINFO = (
    "encrypted userinfo responses are not supported (JSON, or a JWT signed with "
    "userinfo_signed_response_alg)"
)
# A refusal's text, no secret (S105 goes by the name).
_NOT_ENCRYPTED_ID_TOKEN = (
    "encrypted ID tokens are not supported (signed with id_token_signed_response_alg)"  # noqa: S105
)
ENCRYPTED_RESPONSE_FIELDS = {
    "authorization_encrypted_response_alg": _NOT_ENCRYPTED_JARM,
    "authorization_encrypted_response_enc": _NOT_ENCRYPTED_JARM,
    "userinfo_encrypted_response_alg": _NOT_ENCRYPTED_USERINFO,
    "userinfo_encrypted_response_enc": _NOT_ENCRYPTED_USERINFO,
    "id_token_encrypted_response_alg": _NOT_ENCRYPTED_ID_TOKEN,
    "id_token_encrypted_response_enc": _NOT_ENCRYPTED_ID_TOKEN,
}

#: Checks a feature adds to client registration (``register_metadata_check``): each gets the
#: metadata, ``sandbox=`` and ``settings=`` (the registering configuration, or None), and
#: raises ``ValueError`` with the reason.
METADATA_CHECKS: list = []


def register_metadata_check(check, *, grant_types: tuple[str, ...] = ()) -> None:
    """Let a feature (CIBA, ``santeid.ciba.init_app``) check the metadata of its clients and
    accept its grant types. Idempotent: an app created twice registers once."""
    if check not in METADATA_CHECKS:
        METADATA_CHECKS.append(check)
    unknown = set(grant_types) - set(grants.SUPPORTED)
    if unknown:
        raise ValueError(f"grant types missing from grant_types.SUPPORTED: {sorted(unknown)}")
    accepted = {*GRANT_TYPES, *grant_types}
    GRANT_TYPES[:] = [name for name in grants.SUPPORTED if name in accepted]


#: santeid's own relying parties, each registered at every start by the page that uses it: the
#: e-CPS devices page "Mes e-CPS" (``santeid.web_ecps.devices``) and the sandbox debugger
#: (``santeid.sandbox.debugger``). Those pages need them as they registered them, on every
#: host: the admin console and ``santeid clients`` neither remove, replace nor register them
#: (:func:`refuse_internal`; docs/operations.md, "Admin console").
ACCOUNT_CLIENT_ID = "santeid-account"
DEBUGGER_CLIENT_ID = "santeid-debugger"
#: The client id of the admin console's own logins (``santeid.admin.professional_sign_in``) in
#: the login transaction, the metrics and the ``LOGIN`` events; never registered, and no relying
#: party may be registered under it, to be taken for the console there.
ADMIN_CONSOLE_CLIENT_ID = "santeid-admin-console"
INTERNAL_CLIENT_IDS = frozenset({ACCOUNT_CLIENT_ID, DEBUGGER_CLIENT_ID, ADMIN_CONSOLE_CLIENT_ID})


class InternalClient(Exception):
    """A change asked of one of :data:`INTERNAL_CLIENT_IDS` from outside santeid."""

    def __init__(self, client_id: str):
        super().__init__(
            f"client {client_id!r} is santeid's own (the e-CPS devices page's, the sandbox "
            "debugger's, or the admin console's logins): it cannot be removed, replaced or "
            "registered by hand"
        )
        self.client_id = client_id


def is_internal(client_id: object) -> bool:
    return isinstance(client_id, str) and client_id in INTERNAL_CLIENT_IDS


def refuse_internal(client_id: object) -> None:
    """Raise :class:`InternalClient` for one of santeid's own clients: what the console and
    the CLI call before they register, replace or change a client."""
    if is_internal(client_id):
        raise InternalClient(str(client_id))


def internal_uris(path: str, origin: str | None) -> list[str]:
    """The URIs one of santeid's own clients registers for one of its pages: the path
    (resolved against each server's issuer origin, :func:`is_relative`: every server of one
    data folder matches it) and this server's absolute URI, the form the previous release
    registered and compares as a plain string. Both for one release of overlap, so that hosts
    still running the previous release keep serving during a roll-out
    (``docs/deployment.md``, "Upgrading several hosts"); the absolute URI is the last started
    server's."""
    return [path, origin + path] if origin else [path]


class InvalidClientMetadata(ValueError):
    """RFC 7591 §3.2.2 error: ``error`` is invalid_client_metadata or invalid_redirect_uri."""

    def __init__(self, description: str, error: str = "invalid_client_metadata"):
        super().__init__(description)
        self.error = error
        self.description = description


class ClientExists(InvalidClientMetadata):
    """A registration without ``replace`` of a ``client_id`` already registered."""

    def __init__(self, client_id: str):
        super().__init__(f"client {client_id!r} already exists (remove it first)")
        self.client_id = client_id


def _is_placeholder(secret: str) -> bool:
    """A documentation placeholder such as ``<a long random secret>``, copied as it is: a
    secret everyone who read the page knows. Refused outside sandbox mode."""
    text = secret.strip()
    return text.startswith("<") and text.endswith(">")


#: Random bytes of a secret santeid makes (:func:`new_secret`): 512 bits, HS512's key size, so
#: that the secret serves every HMAC algorithm a ``client_secret_jwt`` client may register
#: (:func:`_check_hmac_key`) — Keycloak's ``KeycloakModelUtils.generateSecret`` makes every
#: client secret that strong (docs/reference/keycloak-behaviour.md, "Client authentication").
NEW_SECRET_BYTES = 64


def new_secret() -> str:
    """A client secret for the admin console to hand out: :data:`NEW_SECRET_BYTES` random
    bytes, base64url (86 characters, as many as Keycloak's 512-bit alphanumeric secret)."""
    return secrets.token_urlsafe(NEW_SECRET_BYTES)


def _secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_relative(uri: str) -> bool:
    """A path on the server's own origin (``/sandbox/debugger/callback``): as Keycloak's
    relative redirect URIs, resolved against the root URL — here the issuer's origin — when
    checked (https://www.keycloak.org/docs/latest/server_admin/#_oidc_clients, "Root URL";
    ``RedirectUtils.resolveValidRedirects``,
    https://www.keycloak.org/docs-api/latest/javadocs/org/keycloak/protocol/oidc/utils/RedirectUtils.html).
    Every server of one data folder then reads its built-in clients' URIs as its own."""
    return uri.startswith("/") and not uri.startswith("//")


#: Keycloak's ``Constants.INSTALLED_APP_URN``: a redirect URI a client registers to be answered
#: on the realm's page :data:`INSTALLED_APP_PAGE` (below its issuer), which shows the code to
#: copy into the application (``RedirectUtils.verifyRedirectUri`` returns that page's URL as
#: the redirect URI; docs/reference/keycloak-behaviour.md, "Authorization endpoint").
INSTALLED_APP_URN = "urn:ietf:wg:oauth:2.0:oob"
INSTALLED_APP_PAGE = "/protocol/openid-connect/oauth/oob"


#: The loopback hosts of Keycloak's ``RedirectUtils.LOOPBACK_INTERFACES`` after ``http://``,
#: followed by a port that ends the authority: the one part :func:`redirect_uri_matches` may
#: drop (RFC 8252 §7.3). The authority must end right after the digits, so that user
#: information (``http://localhost:1@evil``), a longer host (``http://127.0.0.1.evil``) or a
#: backslash never pass for a loopback address.
_LOOPBACK_PORT = re.compile(r"(http://(?:localhost|127\.0\.0\.1|\[::1\])):([0-9]{1,5})(?=[/?]|\Z)")


def redirect_uri_matches(uri: str, registered: Collection[str]) -> bool:
    """The one redirect-URI comparison, of the authorization endpoint (PAR included) and of
    the post-logout redirect: Keycloak's ``RedirectUtils.verifyRedirectUri``
    (docs/reference/keycloak-behaviour.md, "Authorization endpoint"). ``uri`` is a registered
    one as a plain string (OIDC Core §3.1.2.1) — its scheme and host too, compared exactly as
    Keycloak has since release 23 (https://github.com/keycloak/keycloak/pull/25115); failing
    that, an ``http`` URI whose host is ``localhost``, ``127.0.0.1`` or ``[::1]`` is compared
    again with its port left out, the rest as sent, as Keycloak has since 25.0.6
    (https://github.com/keycloak/keycloak/commit/9f37a83c517f5f5e1664dd9a3b74a4be5ef16b11) —
    RFC 8252 §7.3: "MUST allow any port to be specified at the time of the request for
    loopback IP redirect URIs" (https://www.rfc-editor.org/rfc/rfc8252#section-7.3). Nothing
    else is loosened: no wildcard, no decoding or path normalisation (Keycloak 24.0.3 and
    later neither), no fragment (santeid redirects to ``uri`` as sent)."""
    if uri in registered:
        return True
    loopback = _LOOPBACK_PORT.match(uri)
    if loopback is None or not 0 < int(loopback.group(2)) <= 65535 or "#" in uri:
        return False
    return loopback.group(1) + uri[loopback.end() :] in registered


#: The parameters of an authorization response (``code``, ``state``, ``iss``, …) that a
#: redirect URI may not hold already: Keycloak's ``RedirectUtils.FORBIDDEN_OIDC_PARAMS``
#: (https://github.com/keycloak/keycloak/pull/49959, in 26.4.14, 26.6.5 and later).
RESPONSE_PARAMETERS = frozenset(
    {
        "code", "id_token", "access_token", "token_type", "expires_in", "state", "iss",
        "error", "error_description", "session_state", "response", "kc_action",
        "kc_action_status",
    }
)  # fmt: skip


def carries_response_parameter(uri: str) -> bool:
    """Whether the query (or the fragment) of ``uri`` already names a parameter of the
    authorization response (:data:`RESPONSE_PARAMETERS`), its name percent-decoded and
    compared without case as Keycloak's ``RedirectUtils.containsForbiddenOidcParameters``
    reads it: the answer would carry that parameter twice, and which of the two a relying
    party reads is up to its parser (CVE-2026-9689,
    https://github.com/keycloak/keycloak/issues/49430). Plain string splitting: any text is
    answered, none raises."""
    before_fragment, _, fragment = uri.partition("#")
    query = before_fragment.partition("?")[2]
    return any(
        unquote(pair.split("=", 1)[0]).lower() in RESPONSE_PARAMETERS
        for component in (query, fragment)
        if component
        for pair in component.split("&")
    )


#: Schemes whose URI runs script in the page that follows it: never a place to send a browser
#: with a code. Keycloak refuses the first two ("A redirect URI uses an illegal scheme",
#: ``DefaultClientValidationProvider.checkUri``,
#: https://github.com/keycloak/keycloak/blob/main/services/src/main/java/org/keycloak/validation/DefaultClientValidationProvider.java);
#: santeid the third too (docs/psc-integration.md §5.1).
SCRIPT_SCHEMES = ("javascript", "data", "vbscript")


def _check_uri(uri: object, field: str) -> str:
    """A URI a client registers (redirect, logout): absolute or a path, no fragment, no script
    scheme, and no character a URI cannot hold — controls, spaces, bidirectional overrides
    (:func:`santeid.ecps.webhooks.unfit_character`, the webhooks' rule; Keycloak refuses what
    ``java.net.URI`` cannot parse)."""
    from santeid.ecps.webhooks import unfit_character

    if not isinstance(uri, str) or not uri:
        raise InvalidClientMetadata(f"{field}: every entry must be a non-empty string")
    unfit = unfit_character(uri)
    if unfit is not None:
        raise InvalidClientMetadata(
            f"{field}: {ascii(uri)} holds U+{ord(unfit):04X}, which no URI may hold (RFC 3986 §2)",
            "invalid_redirect_uri",
        )
    parts = urlsplit(uri)
    if parts.scheme in SCRIPT_SCHEMES:
        raise InvalidClientMetadata(
            f"{field}: {uri!r} uses the {parts.scheme}: scheme, which runs script",
            "invalid_redirect_uri",
        )
    if is_relative(uri):
        pass
    elif not parts.scheme or not (parts.netloc or parts.scheme not in ("http", "https")):
        raise InvalidClientMetadata(
            f"{field}: {uri!r} is neither an absolute URI nor a path (/…)", "invalid_redirect_uri"
        )
    if parts.fragment:
        # RFC 6749 §3.1.2: the redirection endpoint URI MUST NOT include a fragment.
        raise InvalidClientMetadata(
            f"{field}: {uri!r} must not contain a fragment", "invalid_redirect_uri"
        )
    return uri


def _check_client_uri(uri: object) -> str:
    """RFC 7591 §2 ``client_uri``, Keycloak's "Home URL" (``baseUrl``): a link the browser
    follows from the logged-out page, so an ``http(s)`` URL or a path (:func:`_check_uri`)."""
    home = _check_uri(uri, "client_uri")
    if not is_relative(home) and urlsplit(home).scheme not in ("http", "https"):
        raise InvalidClientMetadata("client_uri must be an http(s) URL or a path (/…)")
    return home


def _origin_of(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _validate_logout_and_origins(meta: dict, *, sandbox: bool) -> None:
    """OIDC Back-Channel Logout 1.0 §2.2, Front-Channel Logout 1.0 §2 and Keycloak's
    "Web origins" (``docs/reference/keycloak-behaviour.md``, Realm endpoints).

    The back-channel URI is fetched by the server: it goes through the SSRF guard of the
    e-CPS webhooks now and again at each delivery (``santeid.ecps.webhooks``)."""
    from santeid.ecps.webhooks import WebhookRefused
    from santeid.ecps.webhooks import check_webhook_url

    backchannel = meta.get("backchannel_logout_uri")
    if backchannel is not None:
        _check_uri(backchannel, "backchannel_logout_uri")
        try:
            check_webhook_url(backchannel, sandbox=sandbox)
        except WebhookRefused as exc:
            raise InvalidClientMetadata(f"backchannel_logout_uri: {exc}") from None
    frontchannel = meta.get("frontchannel_logout_uri")
    if frontchannel is not None:
        _check_uri(frontchannel, "frontchannel_logout_uri")
        if urlsplit(frontchannel).scheme not in ("http", "https"):
            raise InvalidClientMetadata("frontchannel_logout_uri must be an http(s) URL")
    for flag in ("backchannel_logout_session_required", "frontchannel_logout_session_required"):
        if flag in meta and not isinstance(meta[flag], bool):
            raise InvalidClientMetadata(f"{flag} must be true or false")
    origins = meta.get("web_origins")
    if origins is None:
        return
    if not isinstance(origins, list):
        raise InvalidClientMetadata("web_origins must be a list of origins, '+' or '*'")
    for origin in origins:
        if origin in ("+", "*"):
            continue
        if not isinstance(origin, str):
            raise InvalidClientMetadata("web_origins: every entry must be a string")
        parts = urlsplit(origin)
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or "@" in parts.netloc
        ):
            raise InvalidClientMetadata(
                f"web_origins: {origin!r} is not an origin (scheme://host[:port]), '+' or '*'"
            )


def missing_signing_key(field: str, alg: str) -> str:
    """Why a client's ``field`` (one of :data:`SIGNED_RESPONSE_FIELDS`) cannot be served: the
    key store has no active ``alg`` key (docs/keys.md, "Algorithms")."""
    return f"{field}: no active {alg} signing key; run `santeid keys generate --alg {alg}`"


class SigningKeyUnavailable(Exception):
    """A registered client names, in one of :data:`SIGNED_RESPONSE_FIELDS`, an algorithm that
    has no active key (it was registered before its key went away): the server cannot serve
    it. Raised before anything is consumed or issued, answered ``500 server_error`` with
    :attr:`description` (``santeid.errors``, docs/endpoints.md)."""

    def __init__(self, client_id: str, field: str, alg: str):
        self.client_id = client_id
        self.description = missing_signing_key(field, alg)
        super().__init__(f"client {client_id}: {self.description}")


def require_signing_key(
    client: Client, field: str, signing_algs: Callable[[], Collection[str]]
) -> str | None:
    """The algorithm ``client`` registered as ``field`` (``None``: the default
    ``signing_alg``, which the server checks at start-up), if the key store signs with it.
    ``signing_algs`` (``KeyStore.signing_algorithms``) is asked only when the client registered
    one: most clients did not, and this runs at every token and userinfo request.

    :raises SigningKeyUnavailable: it has no active key.
    """
    alg = client.metadata.get(field)
    if alg is not None and alg not in signing_algs():
        raise SigningKeyUnavailable(client.client_id, field, alg)
    return alg


def _has_lone_surrogate(value: object) -> bool:
    """A string of ``value`` (at any depth, names of members included) is not encodable as
    UTF-8: it holds half of a UTF-16 pair, no character."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(item) for item in value)
    return False


def _field_with_lone_surrogate(meta: dict) -> str | None:
    """The member of ``meta`` that :func:`_has_lone_surrogate`, named so that the name can be
    shown (escaped when the name itself is at fault), or None."""
    for name, value in meta.items():
        if _has_lone_surrogate(name):
            return ascii(name)
        if _has_lone_surrogate(value):
            return str(name)
    return None


def _check_hmac_key(secret: str, assertion_alg: str | None) -> None:
    """A ``client_secret_jwt`` client's secret is its assertions' HMAC key: as long as
    :data:`client_auth.HMAC_KEY_BYTES` asks for the client's algorithm."""
    shortest = client_auth.HMAC_KEY_BYTES.get(assertion_alg, client_auth.HMAC_KEY_BYTES[None])
    if len(secret.encode("utf-8")) < shortest:
        raise InvalidClientMetadata(
            f"client_secret of a client_secret_jwt client must have at least {shortest} bytes"
            f" with {assertion_alg or 'HS256'} (RFC 7518 §3.2: an HMAC key as long as its hash)"
        )


def validate_metadata(
    raw: dict,
    *,
    sandbox: bool = False,
    signing_algs: Callable[[], Collection[str]] | None = None,
    settings: Settings | None = None,
) -> dict:
    """Check and normalise RFC 7591 client metadata; raise :class:`InvalidClientMetadata`.

    ``sandbox``: CIBA notification endpoints on this machine are allowed (``ciba/metadata.py``).
    ``settings``: the configuration registering the client, for the features' checks (the
    CIBA delivery modes it offers); ``None``: their defaults.
    ``signing_algs``: the algorithms the key store signs with now
    (``KeyStore.signing_algorithms``), asked only of a client naming one in
    :data:`SIGNED_RESPONSE_FIELDS`; ``None``: not checked.
    """
    if not isinstance(raw, dict):
        raise InvalidClientMetadata("client metadata must be a JSON object")
    field = _field_with_lone_surrogate(raw)
    if field is not None:
        # JSON may escape half of a UTF-16 pair ("\ud800"): no character, and no UTF-8
        # (RFC 8259 §8.2) to store or send back.
        raise InvalidClientMetadata(f"{field} holds a lone UTF-16 surrogate: not Unicode text")
    meta = dict(raw)
    client_id = meta.get("client_id")
    if not isinstance(client_id, str) or not client_id.strip() or len(client_id) > 255:
        raise InvalidClientMetadata("client_id is required (1 to 255 characters)")
    if any(ch.isspace() or ord(ch) < 32 for ch in client_id):
        raise InvalidClientMetadata("client_id must not contain spaces or control characters")

    grant_types = meta.setdefault("grant_types", list(grants.DEFAULT))
    if not isinstance(grant_types, list) or not grant_types:
        raise InvalidClientMetadata("grant_types must be a non-empty list")
    unknown = [g for g in grant_types if g not in GRANT_TYPES]
    if unknown:
        raise InvalidClientMetadata(
            f"grant_types: unsupported {unknown}; supported: {list(GRANT_TYPES)}"
        )
    meta.setdefault("response_types", ["code"] if grants.AUTHORIZATION_CODE in grant_types else [])
    if meta["response_types"] not in (["code"], []):
        raise InvalidClientMetadata('response_types: only ["code"] is supported')

    redirect_uris = meta.setdefault("redirect_uris", [])
    if not isinstance(redirect_uris, list):
        raise InvalidClientMetadata("redirect_uris must be a list")
    if grants.AUTHORIZATION_CODE in grant_types and not redirect_uris:
        raise InvalidClientMetadata(
            "redirect_uris is required for the authorization_code grant", "invalid_redirect_uri"
        )
    for uri in redirect_uris:
        _check_uri(uri, "redirect_uris")
    post_logout = meta.setdefault("post_logout_redirect_uris", [])
    if not isinstance(post_logout, list):
        raise InvalidClientMetadata("post_logout_redirect_uris must be a list")
    for uri in post_logout:
        if uri != "+":  # Keycloak's "+": the redirect_uris too (Client.check_post_logout…)
            _check_uri(uri, "post_logout_redirect_uris")

    method = meta.setdefault("token_endpoint_auth_method", client_auth.DEFAULT_METHOD)
    if method not in AUTH_METHODS:
        raise InvalidClientMetadata(
            f"token_endpoint_auth_method: {method!r} unsupported; supported: {list(AUTH_METHODS)}"
        )
    secret = meta.get("client_secret")
    if method in client_auth.SECRET_HOLDING_METHODS:
        if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
            raise InvalidClientMetadata(
                f"client_secret is required for {method} (at least {MIN_SECRET_LENGTH} characters)"
            )
        if not sandbox and _is_placeholder(secret):
            raise InvalidClientMetadata(
                f"client_secret {secret!r} is a placeholder: put the service's own secret there"
            )
    if method == client_auth.NONE:
        # Keycloak's public client: no secret; neither service account (client_credentials)
        # nor CIBA, which Keycloak grants confidential clients only. RFC 9700 §2.1.1: PKCE
        # unless the client says otherwise.
        if "client_secret" in meta:
            raise InvalidClientMetadata(
                "client_secret: a public client (token_endpoint_auth_method none) has no secret"
            )
        confidential_only = [g for g in grant_types if g not in grants.PUBLIC_CLIENT_GRANTS]
        if confidential_only:
            raise InvalidClientMetadata(
                f"grant_types: {confidential_only} need a confidential client; a public client "
                f"(token_endpoint_auth_method none) may use {list(grants.PUBLIC_CLIENT_GRANTS)}"
            )
        meta.setdefault("require_pkce", True)
    if "jwks_uri" in meta:
        # santeid fetches no client keys: kept, a jwks_uri would be stored and never used,
        # whichever method the client authenticates with.
        refusal = (
            "jwks_uri is not supported: register the public keys inline in jwks "
            "(private_key_jwt client authentication, signed request objects)"
        )
        if method in client_auth.SECRET_HOLDING_METHODS:
            refusal += f"; a {method} client authenticates with its client_secret"
        raise InvalidClientMetadata(refusal)
    # The jwks verify private_key_jwt assertions, CIBA and authorization request objects.
    if method == client_auth.PRIVATE_KEY_JWT or "jwks" in meta:
        jwks: Any = meta.get("jwks")  # the client's JSON, as sent: import_key_set checks it
        try:
            # key_ops ignored, as verification ignores it (client_keys.without_key_ops).
            keyset = KeySet.import_key_set(client_keys.set_without_key_ops(jwks))
        except (JoseError, TypeError, ValueError, KeyError, AttributeError):
            raise InvalidClientMetadata("jwks must be a JWK Set of public keys") from None
        if not keyset.keys:
            raise InvalidClientMetadata("jwks must hold at least one key")
        for key in jwks["keys"]:
            # d, p, q: a private key's; k: a secret (oct) key, which verifies no client's JWS.
            if any(member in key for member in ("d", "p", "q", "k")):
                raise InvalidClientMetadata("jwks must hold public keys only")
        # What verification can use (santeid.oidc.client_keys): a key of use sig (or none)
        # of a type that verifies signatures.
        if not any(client_keys.is_signature_key(key) for key in jwks["keys"]):
            raise InvalidClientMetadata(
                "jwks must hold a signature key: an RSA, EC or OKP key whose use, when "
                "given, is sig"
            )
    # Keycloak's client attribute token.endpoint.auth.signing.alg: the one algorithm its
    # assertions verify with, among its method's (client_auth.assertion_algorithms).
    assertion_alg = meta.get("token_endpoint_auth_signing_alg")
    if assertion_alg is not None:
        if method not in client_auth.JWT_METHODS:
            raise InvalidClientMetadata(
                "token_endpoint_auth_signing_alg is only for private_key_jwt and "
                "client_secret_jwt clients"
            )
        family = client_auth.assertion_algorithms(method)
        if assertion_alg not in family:
            raise InvalidClientMetadata(
                f"token_endpoint_auth_signing_alg: {assertion_alg!r} unsupported for {method}; "
                f"supported: {list(family)}"
            )
    if method == client_auth.CLIENT_SECRET_JWT:
        _check_hmac_key(meta["client_secret"], assertion_alg)
    available: Collection[str] | None = None
    for field in SIGNED_RESPONSE_FIELDS:
        alg = meta.get(field)
        if alg is None:
            continue
        if alg not in SIGNING_ALGS:
            raise InvalidClientMetadata(
                f"{field}: {alg!r} unsupported; supported: {list(SIGNING_ALGS)}"
            )
        if signing_algs is not None:
            available = signing_algs() if available is None else available
            if alg not in available:
                raise InvalidClientMetadata(missing_signing_key(field, alg))
    for field, reason in ENCRYPTED_RESPONSE_FIELDS.items():
        if meta.get(field) is not None:
            raise InvalidClientMetadata(f"{field}: {reason}")
    enforced = meta.get("pkce_code_challenge_method")
    if enforced is not None and enforced not in pkce.METHODS:
        # Keycloak's pkce.code.challenge.method: one of its two methods, or none (not enforced).
        raise InvalidClientMetadata(
            f"pkce_code_challenge_method: {enforced!r} unsupported; supported: {list(pkce.METHODS)}"
        )
    # OIDC Dynamic Client Registration §2: every request object of the client is signed with
    # this algorithm (``none``: unsigned), as Keycloak's request.object.signature.alg.
    request_alg = meta.get("request_object_signing_alg")
    if request_alg is not None and request_alg not in (*SIGNING_ALGS, "none"):
        raise InvalidClientMetadata(
            f"request_object_signing_alg: {request_alg!r} unsupported; "
            f"supported: {[*SIGNING_ALGS, 'none']}"
        )
    for flag in (
        "pkce_plain_allowed",
        "require_pkce",
        "introspection_allowed",
        "exclude_issuer_from_auth_response",
        "tls_client_certificate_bound_access_tokens",
        "require_pushed_authorization_requests",
    ):
        if flag in meta and not isinstance(meta[flag], bool):
            raise InvalidClientMetadata(f"{flag} must be true or false")
    if "scope" in meta and not isinstance(meta["scope"], str):
        raise InvalidClientMetadata("scope must be a space-separated string")
    if "client_name" in meta and not isinstance(meta["client_name"], str):
        raise InvalidClientMetadata("client_name must be a string")
    if "client_uri" in meta:
        _check_client_uri(meta["client_uri"])
    _validate_logout_and_origins(meta, sandbox=sandbox)
    try:
        validate_tls_client_auth(meta)
        for check in METADATA_CHECKS:
            check(meta, sandbox=sandbox, settings=settings)
    except ValueError as exc:  # InvalidSubjectDN, CibaMetadataError
        raise InvalidClientMetadata(str(exc)) from None
    return meta


@dataclass
class Client(ClientMixin):
    """A registered relying party (Authlib's :class:`ClientMixin`)."""

    client_id: str
    metadata: dict
    #: SHA-256 of the secret: out of the ``repr``, which Authlib logs at DEBUG ("Validate token
    #: request of Client(…)"); an unsalted digest is a guess check for an offline search.
    secret_digest: str | None = field(repr=False)
    #: Scheme and host of the issuer: what a relative redirect URI (``/…``) is resolved
    #: against; ``None`` (no configuration at hand): relative entries match nothing.
    origin: str | None = None
    #: The secret itself, kept for a ``client_secret_jwt`` client only: the key of its
    #: assertions' HMAC, which a digest cannot verify (OIDC Core §9; docs/security.md,
    #: "Client secrets"). ``None`` for every other client.
    shared_secret: str | None = field(default=None, repr=False)

    # -- Authlib ClientMixin -------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    # types-Authlib says str, but Authlib's grants take a falsy answer as "no default" (and
    # ask for redirect_uri in the request).
    def get_default_redirect_uri(self) -> str | None:  # type: ignore[override]
        uris = self.redirect_uris
        return uris[0] if len(uris) == 1 else None

    # types-Authlib widens scope to a collection; Authlib only ever passes the request's text.
    def get_allowed_scope(self, scope: str) -> str:  # type: ignore[override]
        if not scope:
            return ""
        allowed = self.allowed_scopes
        if allowed is None:
            return scope
        return " ".join(s for s in scope_values(scope) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # OIDC Core §3.1.2.1 with Keycloak's two allowances (redirect_uri_matches), and none
        # that already holds a response parameter (carries_response_parameter). A URI is no
        # secret: "==", which any text compares with (non-ASCII too).
        return not carries_response_parameter(redirect_uri) and redirect_uri_matches(
            redirect_uri, self.redirect_uris
        )

    def check_client_secret(self, client_secret: str) -> bool:
        if not self.secret_digest or not isinstance(client_secret, str):
            return False
        return hmac.compare_digest(_secret_digest(client_secret), self.secret_digest)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # Keycloak: any secret method for a secret-holding client (client_auth.py).
        return client_auth.method_accepted(self.token_endpoint_auth_method, method)

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.metadata.get("response_types", [])

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.metadata.get("grant_types", [])

    # -- santeid --------------------------------------------------------
    @property
    def name(self) -> str:
        return self.metadata.get("client_name") or self.client_id

    @property
    def redirect_uris(self) -> list[str]:
        """The registered redirect URIs, relative ones resolved against :attr:`origin` (once
        each: a path and its absolute form, :func:`internal_uris`, are one URI here)."""
        return list(
            dict.fromkeys(self._resolved(u) for u in self.metadata.get("redirect_uris", []))
        )

    @property
    def post_logout_redirect_uris(self) -> list[str]:
        return list(
            dict.fromkeys(
                self._resolved(u) for u in self.metadata.get("post_logout_redirect_uris", [])
            )
        )

    def _resolved(self, uri: str) -> str:
        if self.origin and is_relative(uri):
            return self.origin + uri
        return uri

    def check_post_logout_redirect_uri(self, uri: str, policy: str = "keycloak") -> bool:
        """RP-Initiated Logout 1.0 §3 match (:func:`redirect_uri_matches`, as the authorization
        endpoint's) against ``post_logout_redirect_uris``, where
        an entry ``+`` stands for the ``redirect_uris`` (Keycloak's syntax). ``keycloak``
        policy: a client that registered none may name any of its ``redirect_uris`` (Keycloak's
        default "+", ``docs/reference/keycloak-behaviour.md``, Logout)."""
        registered = self.post_logout_redirect_uris
        if not registered and policy == "keycloak":
            registered = ["+"]
        allowed = [u for u in registered if u != "+"]
        if "+" in registered:
            allowed += self.redirect_uris
        return redirect_uri_matches(uri, allowed)

    @property
    def client_uri(self) -> str | None:
        """The client's home page (RFC 7591 §2 ``client_uri``), a path resolved against the
        issuer's origin: Keycloak's "Home URL" (``baseUrl``, which its dynamic registration
        reads from ``client_uri``, ``DescriptionConverter.toInternal``), where the
        logged-out page's "Back to Application" link leads. None for a value registered
        before it was checked that :func:`_check_client_uri` refuses: no link."""
        try:
            return self._resolved(_check_client_uri(self.metadata.get("client_uri")))
        except InvalidClientMetadata:
            return None

    @property
    def backchannel_logout_uri(self) -> str | None:
        return self.metadata.get("backchannel_logout_uri")

    @property
    def backchannel_logout_session_required(self) -> bool:
        # Keycloak's default for the client switch "Backchannel logout session required".
        return bool(self.metadata.get("backchannel_logout_session_required", True))

    @property
    def frontchannel_logout_uri(self) -> str | None:
        return self.metadata.get("frontchannel_logout_uri")

    @property
    def frontchannel_logout_session_required(self) -> bool:
        return bool(self.metadata.get("frontchannel_logout_session_required", True))

    @property
    def web_origins(self) -> set[str]:
        """Origins allowed by CORS (Keycloak's "Web origins"): ``+`` adds the redirect URIs'
        origins, ``*`` allows every origin."""
        allowed: set[str] = set()
        for origin in self.metadata.get("web_origins") or []:
            if origin == "+":
                allowed.update(_origin_of(uri) for uri in self.redirect_uris)
            else:
                allowed.add(origin if origin == "*" else origin.rstrip("/").lower())
        return allowed

    def allows_origin(self, origin: str) -> bool:
        """Whether a page of ``origin`` may read this client's answers (CORS,
        ``santeid.oidc.cors``) and check its session (``santeid.oidc.session_status``)."""
        origins = self.web_origins
        return "*" in origins or origin.lower() in origins

    @property
    def token_endpoint_auth_method(self) -> str:
        return self.metadata.get("token_endpoint_auth_method", client_auth.DEFAULT_METHOD)

    @property
    def uses_secret(self) -> bool:
        """Whether a secret authenticates this client (``client_auth.SECRET_HOLDING_METHODS``:
        sent as it is, or keying a ``client_secret_jwt`` assertion): not one of
        ``private_key_jwt``, ``tls_client_auth`` or ``none``, which accept no secret."""
        return self.token_endpoint_auth_method in client_auth.SECRET_HOLDING_METHODS

    @property
    def is_public(self) -> bool:
        """A public client (``token_endpoint_auth_method`` ``none``, Keycloak's "Client
        authentication" off): it authenticates with nothing."""
        return self.token_endpoint_auth_method == client_auth.NONE

    @property
    def allowed_scopes(self) -> set[str] | None:
        scope = self.metadata.get("scope")
        return set(scope_values(scope)) if scope else None

    @property
    def jwks(self) -> dict | None:
        return self.metadata.get("jwks")

    @property
    def request_object_signing_alg(self) -> str | None:
        """The one algorithm of the client's request objects (``none``: unsigned ones only),
        None for any (:func:`validate_metadata`)."""
        return self.metadata.get("request_object_signing_alg")

    @property
    def token_endpoint_auth_signing_alg(self) -> str | None:
        """The one algorithm of its client assertions, if it registered one."""
        return self.metadata.get("token_endpoint_auth_signing_alg")

    @property
    def pkce_plain_allowed(self) -> bool:
        return bool(self.metadata.get("pkce_plain_allowed", False))

    @property
    def require_pkce(self) -> bool:
        return bool(self.metadata.get("require_pkce", False))

    @property
    def pkce_code_challenge_method(self) -> str | None:
        """Keycloak's "Proof Key for Code Exchange Code Challenge Method": the one method this
        client's authorization requests must use, or ``None`` (PKCE as the request has it)."""
        return self.metadata.get("pkce_code_challenge_method")

    @property
    def require_pushed_authorization_requests(self) -> bool:
        """RFC 9126 §6: its authorization requests only through the PAR endpoint."""
        return bool(self.metadata.get("require_pushed_authorization_requests", False))

    @property
    def introspection_allowed(self) -> bool:
        return bool(self.metadata.get("introspection_allowed", True))

    @property
    def exclude_issuer_from_auth_response(self) -> bool:
        """Keycloak's "Exclude Issuer From Authentication Response": no RFC 9207 ``iss`` in
        this client's authorization responses (``santeid.oidc.authorize.issuer_parameter``)."""
        return bool(self.metadata.get("exclude_issuer_from_auth_response", False))

    @property
    def userinfo_signed_response_alg(self) -> str | None:
        return self.metadata.get("userinfo_signed_response_alg")

    @property
    def id_token_signed_response_alg(self) -> str | None:
        return self.metadata.get("id_token_signed_response_alg")

    def public_metadata(self) -> dict:
        """Metadata without the secret, for listings."""
        return {k: v for k, v in self.metadata.items() if k != "client_secret"}


#: Client metadata is kept as one JSON document per client (RFC 7591 §2 names), so a new
#: metadata field needs no migration.
SCHEMA = db.Schema(
    db.CLIENTS,
    (
        db.Step(
            (
                "CREATE TABLE IF NOT EXISTS client ("
                " client_id     TEXT PRIMARY KEY,"
                " metadata      TEXT NOT NULL,"
                " secret_digest TEXT,"
                " created_at    BIGINT NOT NULL)",
            )
        ),
        # The secret of a client_secret_jwt client, which verifies its assertions' HMAC.
        db.Step(("ALTER TABLE client ADD COLUMN shared_secret TEXT",)),
    ),
)


class ClientRegistry:
    """The registered clients (:mod:`santeid.db`: an SQLite file or PostgreSQL). Reads go to
    the database each time so that ``santeid clients add`` takes effect in running workers
    (and on every host) without a restart.

    ``path``: an embedded SQLite file, or a :class:`~santeid.db.Database`. ``signing_algs``:
    the algorithms the key store signs with (``KeyStore.signing_algorithms``); given, a client
    whose ``id_token_signed_response_alg`` or ``userinfo_signed_response_alg`` has no active
    key is refused (:func:`validate_metadata`). ``settings``: the configuration its
    registrations are checked against (:func:`validate_metadata`)."""

    def __init__(
        self,
        path: Path | str | db.Database,
        *,
        sandbox: bool = False,
        clock: Clock = system_clock,
        signing_algs: Callable[[], Collection[str]] | None = None,
        settings: Settings | None = None,
    ):
        self.db = (
            path
            if isinstance(path, db.Database)
            else db.SqliteDatabase(path, durable=db.CLIENTS.durable)
        )
        self.sandbox = sandbox
        self.clock = clock
        self.signing_algs = signing_algs
        self.settings = settings
        #: Relative redirect URIs are resolved against the issuer's origin.
        self.origin = None
        if settings is not None:
            parts = urlsplit(settings.issuer)
            self.origin = f"{parts.scheme}://{parts.netloc}"
        # The table is made ready on first use (santeid.db.ensure, once per process), not here:
        # a worker started while the database is unavailable builds its registry all the same
        # (santeid.startup).

    @property
    def path(self) -> Path | None:
        return getattr(self.db, "path", None)

    @classmethod
    def for_settings(
        cls,
        settings,
        *,
        clock: Clock = system_clock,
        signing_algs: Callable[[], Collection[str]] | None = None,
    ) -> ClientRegistry:
        return cls(
            db.database_for(settings, db.CLIENTS),
            sandbox=bool(settings.sandbox.enabled),
            clock=clock,
            signing_algs=signing_algs,
            settings=settings,
        )

    def add(self, raw: dict, *, replace: bool = False) -> Client:
        return self.add_many([raw], replace=replace)[0]

    def add_many(self, raws: Iterable[dict], *, replace: bool = False) -> list[Client]:
        """Register several clients in one transaction: every document is checked before
        anything is written, and a refusal (invalid metadata, a client id twice, a client
        already registered without ``replace``) registers none of them."""
        clients: list[Client] = []
        rows: list[tuple[str, str, str | None, str | None, int]] = []
        now = int(self.clock())
        for raw in raws:
            meta = validate_metadata(
                raw,
                sandbox=self.sandbox,
                signing_algs=self.signing_algs,
                settings=self.settings,
            )
            secret = meta.pop("client_secret", None)
            digest = _secret_digest(secret) if secret else None
            keeps_secret = meta["token_endpoint_auth_method"] == client_auth.CLIENT_SECRET_JWT
            shared = secret if keeps_secret else None
            clients.append(Client(meta["client_id"], meta, digest, self.origin, shared))
            rows.append((meta["client_id"], json.dumps(meta), digest, shared, now))
        seen: set[str] = set()
        for client in clients:
            if client.client_id in seen:
                raise InvalidClientMetadata(f"client {client.client_id!r} is given twice")
            seen.add(client.client_id)
        sql = (
            "INSERT INTO client (client_id, metadata, secret_digest, shared_secret, created_at) "
            "VALUES (?, ?, ?, ?, ?)"
        )
        if replace:
            sql += (
                " ON CONFLICT (client_id) DO UPDATE SET metadata = excluded.metadata,"
                " secret_digest = excluded.secret_digest,"
                " shared_secret = excluded.shared_secret, created_at = excluded.created_at"
            )
        db.ensure(self.db, SCHEMA)
        try:
            with self.db.connect() as conn, conn.transaction():
                conn.executemany(sql, rows)
        except db.IntegrityError:
            taken = next((c.client_id for c in clients if self.get(c.client_id)), "")
            raise ClientExists(taken) from None
        return clients

    def set_secret(self, client_id: str, secret: str) -> bool:
        """Give the registered ``client_id`` a new secret and change nothing else; ``True`` if
        it is registered. Its metadata is not checked again: a client registered under rules
        that no longer hold (in sandbox mode, or before a check was added) keeps them, and a
        new secret is no time to refuse it — replacing the metadata is :meth:`add`'s, with
        ``replace``. One of santeid's own clients (:data:`INTERNAL_CLIENT_IDS`) is never
        changed: :class:`InternalClient`."""
        refuse_internal(client_id)
        if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
            raise InvalidClientMetadata(
                f"client_secret must have at least {MIN_SECRET_LENGTH} characters"
            )
        client = self.get(client_id)
        if (
            client is not None
            and client.token_endpoint_auth_method == client_auth.CLIENT_SECRET_JWT
        ):
            _check_hmac_key(secret, client.token_endpoint_auth_signing_alg)
        # A client_secret_jwt client's kept secret changes with it (Client.shared_secret).
        sql = (
            "UPDATE client SET secret_digest = ?, shared_secret ="
            " CASE WHEN shared_secret IS NULL THEN NULL ELSE ? END WHERE client_id = ?"
        )
        return self.db.execute(sql, (_secret_digest(secret), secret, client_id)).rowcount > 0

    def get(self, client_id: str) -> Client | None:
        if not isinstance(client_id, str):
            return None
        db.ensure(self.db, SCHEMA)
        row = self.db.execute(
            "SELECT client_id, metadata, secret_digest, shared_secret FROM client"
            " WHERE client_id = ?",
            (client_id,),
        ).fetchone()
        if row is None:
            return None
        return Client(row[0], json.loads(row[1]), row[2], self.origin, row[3])

    def list(self) -> list[Client]:
        db.ensure(self.db, SCHEMA)
        rows = self.db.execute(
            "SELECT client_id, metadata, secret_digest, shared_secret FROM client"
            " ORDER BY client_id"
        ).fetchall()
        return [Client(r[0], json.loads(r[1]), r[2], self.origin, r[3]) for r in rows]

    def remove(self, client_id: str) -> bool:
        """Forget the client; ``True`` if it was registered. One of santeid's own
        (:data:`INTERNAL_CLIENT_IDS`) is never removed: :class:`InternalClient`."""
        refuse_internal(client_id)
        db.ensure(self.db, SCHEMA)
        return self.db.execute("DELETE FROM client WHERE client_id = ?", (client_id,)).rowcount > 0
