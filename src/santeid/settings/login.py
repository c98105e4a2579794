"""``[login]``: logging in and staying logged in — login pages, SSO sessions, and the ``acr``
each proof gives (santeid.login, santeid.oidc.sessions, santeid.psc.proofs)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from santeid.settings.base import FlatName
from santeid.settings.base import Seconds
from santeid.settings.base import Section


def _acr(value: str) -> str:
    """One ``acr`` value: a client asks for it in ``acr_values``, a list separated by spaces
    (OpenID Connect Core 1.0 §3.1.2.1), and a login's ID token states it: an empty value, or
    one holding a space, is one no client could ask for."""
    if not value or any(character.isspace() for character in value):
        raise ValueError(f"must be one acr value, not empty and without spaces, got {value!r}")
    return value


#: An ``acr`` setting (:func:`_acr`).
Acr = Annotated[str, AfterValidator(_acr)]


class LoginSettings(Section):
    #: Time a professional has to finish logging in on the login page: Keycloak's default
    #: "Login timeout" (``accessCodeLifespanLogin``, 30 min; docs/reference/keycloak-behaviour.md,
    #: "Login forms"), PSC publishing none of its own.
    transaction_lifetime: Annotated[Seconds, FlatName("login_transaction_lifetime")] = 1800
    #: SSO session: 4 h at most, 30 min idle (PSC IG).
    sso_max_lifetime: Seconds = 14400
    sso_idle_timeout: Seconds = 1800
    #: ``acr`` given to a login by the first (sandbox) authenticator.
    default_acr: Acr = "eidas1"
    #: ``acr`` of e-CPS logins (``authMode`` MOBILE) and of CPS-card logins (``authMode`` CARD).
    ecps_acr: Acr = "eidas1"
    card_acr: Acr = "eidas3"
