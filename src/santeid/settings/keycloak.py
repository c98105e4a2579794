"""``[keycloak]``: where Keycloak and the specifications part ways, Keycloak's reading by
default and the strict one on demand (santeid.oidc, docs/reference/keycloak-behaviour.md)."""

from __future__ import annotations

from typing import Literal

from santeid.settings.base import Flag
from santeid.settings.base import Section

#: Values of ``userinfo_layout`` (docs/reference/pro-sante-connect.md §9.5).
USERINFO_LAYOUTS = ("classic", "late-2023")


class KeycloakBehaviour(Section):
    #: Which ``post_logout_redirect_uri`` a client may name at logout: ``keycloak`` = its
    #: registered ``post_logout_redirect_uris``, or, when it registered none, any of its
    #: ``redirect_uris`` (Keycloak's "+"); ``strict`` = only ``post_logout_redirect_uris``.
    post_logout_redirect_policy: Literal["keycloak", "strict"] = "keycloak"
    #: ``keycloak``: a client holding a secret sends it by HTTP Basic or in the form body,
    #: whatever it registered; ``strict``: only its registered method (RFC 7591 §2).
    client_authentication: Literal["keycloak", "strict"] = "keycloak"
    #: ``keycloak``: ``openid`` optional (plain OAuth 2.0 without it), ``Invalid scopes: <raw>``;
    #: ``strict``: ``openid`` required at the authorization and CIBA endpoints.
    scope_policy: Literal["keycloak", "strict"] = "keycloak"
    #: PKCE ``plain`` for every client (Keycloak); false: only for clients registered with
    #: ``pkce_plain_allowed``.
    pkce_plain_for_all_clients: Flag = True
    #: ``keycloak``: Keycloak's error codes where it departs from CIBA Core (``invalid_user``,
    #: ``Client not allowed OIDC CIBA Grant``, a professional without e-CPS, ``slow_down``)
    #: and from RFC 7009 (``Unmatching clients``); ``strict``: the specifications' codes.
    error_style: Literal["keycloak", "strict"] = "keycloak"
    #: Userinfo layout: ``classic`` (``codeCivilite`` inside ``SubjectRefPro``, PSC 2021–2023)
    #: or ``late-2023`` (``codeCivilite`` and ``codeGenreActivite`` at the top level, no
    #: ``authMode``).
    userinfo_layout: Literal["classic", "late-2023"] = "classic"
    #: Userinfo errors, a ``WWW-Authenticate: Bearer`` challenge and an empty body either way:
    #: ``keycloak`` (Keycloak's texts; an ``Authorization`` header of another scheme is no
    #: token) or ``rfc6750`` (such a header is 400 ``invalid_request``, RFC 6750 §3.1; the
    #: reason a token was refused in ``error_description``).
    userinfo_errors: Literal["keycloak", "rfc6750"] = "keycloak"
