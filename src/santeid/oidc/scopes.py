"""The scope policy: which scopes a request may carry, used alike by the authorization endpoint,
the ``client_credentials`` grant and CIBA's back-channel endpoint, and advertised by discovery.

``scope_policy = "keycloak"`` (default), as PSC's Keycloak behaves
(``docs/reference/keycloak-behaviour.md``, "Authorization endpoint"):

* ``openid`` is optional: a request without it is plain OAuth 2.0 — code and access token, no
  ID token (the token service issues an ID token only for ``openid``; Keycloak's userinfo then
  answers ``insufficient_scope``);
* every scope of PSC's discovery document is accepted (``docs/reference/pro-sante-connect.md
  §2``); only ``openid`` and ``scope_all`` change what is released (below);
* a scope that is not one of these, or that a client registered with ``scope`` may not ask
  for, is ``invalid_scope`` with Keycloak's description ``Invalid scopes: <the raw scope
  parameter>`` (at CIBA too, ``docs/reference/pro-sante-connect.md §14`` row 6).

``scope_policy = "strict"``: ``openid`` is REQUIRED at the authorization endpoint (OIDC Core
§3.1.2.1) and at CIBA (CIBA Core 1.0 §7.1); the description names only the refused scopes.

What the userinfo of an ``openid`` token releases, under either policy: with ``scope_all``, PSC's
whole claim set (``docs/claims.md``); without it, :data:`IDENTITY_CLAIMS` — the identity and the
``profile`` names (OIDC Core §5.4), whether ``profile`` was asked for or not. PSC's Keycloak
applies ``profile`` to every token as a default client scope (its access tokens list it,
``docs/reference/keycloak-behaviour.md``, "Tokens"; ``docs/reference/pro-sante-connect.md §6``),
and the ID token carries the same names whatever the scope.
"""

from __future__ import annotations

from collections.abc import Iterable

from santeid.oidc import grant_types
from santeid.oidc.keycloak_errors import safe_description
from santeid.services import services

OPENID = "openid"
#: PSC's ``scopes_supported``, in its published order (``docs/reference/pro-sante-connect.md §2``).
SCOPES_SUPPORTED: list[str] = [
    "openid",
    "microprofile-jwt",
    "rpps",
    "referentiel",
    "web-origins",
    "basic",
    "identity",
    "acr",
    "offline_access",
    "eidas1",
    "profile",
    "roles",
    "email",
    "scope_all",
    "phone",
    "interop",
    "scope_1",
    "address",
    "scope_2",
    "eidas2",
]
#: The scope that releases PSC's sectoral claims (``SubjectRefPro``, ``SubjectRole``…).
SCOPE_ALL = "scope_all"
#: The userinfo claims of a token without :data:`SCOPE_ALL`, in PSC's order (that of the full
#: claim set and of the short one, ``docs/reference/pro-sante-connect.md §9.4, §9.5``): the
#: identity, and ``given_name`` / ``family_name`` of the default ``profile`` scope.
IDENTITY_CLAIMS = ("sub", "preferred_username", "given_name", "SubjectNameID", "family_name")
POLICIES = ("keycloak", "strict")
#: Where a scope is asked for; ``openid`` is REQUIRED at the first two in the strict policy.
AUTHORIZATION = "authorization"
BACKCHANNEL = "backchannel_authentication"
CLIENT_CREDENTIALS = grant_types.CLIENT_CREDENTIALS
#: Where ``openid`` is required and missing.
OPENID_REQUIRED = "scope must contain openid"


class ScopeError(ValueError):
    """The scope cannot be granted: ``error`` (``invalid_scope``) and its description.

    Every endpoint answers with ``description`` as its ``error_description``; it names the
    client's raw scope, so it is made safe here, once, for all of them
    (:func:`~santeid.oidc.keycloak_errors.safe_description`)."""

    def __init__(self, description: str, error: str = "invalid_scope"):
        description = safe_description(description)
        super().__init__(description)
        self.error = error
        self.description = description


def scope_values(raw: str | None) -> list[str]:
    """The values of a ``scope`` (a request's parameter, a client's registered ``scope``, a
    grant's), read as Keycloak reads them: split on the space alone, Java's ``split(" ")``,
    which drops the empty values at the end only (``docs/reference/keycloak-behaviour.md``,
    "Scope values"). RFC 6749 §3.3 separates scope-tokens by
    %x20 and keeps tab, line feed and the no-break space out of them: ``"openid\tscope_all"``
    is one value, unknown; so is the empty one of ``" openid"`` or ``"openid  scope_all"``
    (Keycloak's ``isValidScope`` refuses it, no client scope being named ``""``).

    Java's two edge cases as well: ``"".split(" ")`` is one empty value (a ``scope=`` present
    but empty is "Invalid scopes: "), and ``"   ".split(" ")`` none (every empty value is at
    the end: no scope at all). ``None`` (no ``scope`` sent) has no value."""
    if raw is None:
        return []
    if raw == "":
        return [""]
    values = raw.split(" ")
    while values and not values[-1]:
        values.pop()
    return values


def granted_scope(
    raw: str | None, allowed: Iterable[str] | None, *, where: str, policy: str
) -> str:
    """The scope to grant for the requested ``raw`` scope, deduplicated in the client's order;
    raise :class:`ScopeError`.

    ``allowed``: the scopes the client registered (``scope`` metadata), ``None`` for any.
    """
    scopes = scope_values(raw)
    allowed_set = None if allowed is None else set(allowed) | {OPENID}
    if policy == "strict" and where in (AUTHORIZATION, BACKCHANNEL) and OPENID not in scopes:
        raise ScopeError(OPENID_REQUIRED)
    refused = [
        s
        for s in scopes
        if s not in SCOPES_SUPPORTED or (allowed_set is not None and s not in allowed_set)
    ]
    if refused:
        # strict names the refused values; an empty one (two spaces) only the raw scope shows.
        named = policy == "strict" and "" not in refused
        shown = " ".join(dict.fromkeys(refused)) if named else raw
        raise ScopeError(f"Invalid scopes: {shown}")
    return " ".join(dict.fromkeys(scopes))


def is_openid(scope: str | None) -> bool:
    """An OpenID Connect request (an ID token is issued, userinfo answers)."""
    return OPENID in scope_values(scope)


def released_userinfo(scope: str | None, claims: dict) -> dict:
    """The part of PSC's userinfo ``claims`` (``santeid.psc.claims.build_userinfo``) that a
    token granted ``scope`` releases: everything with :data:`SCOPE_ALL`, else
    :data:`IDENTITY_CLAIMS` (module docstring)."""
    if SCOPE_ALL in scope_values(scope):
        return claims
    return {key: claims[key] for key in IDENTITY_CLAIMS}


def current_policy() -> str:
    return services().settings.keycloak.scope_policy
