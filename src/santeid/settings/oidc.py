"""``[oidc]``: tokens and the requests that lead to them (santeid.oidc,
docs/endpoints.md)."""

from __future__ import annotations

from typing import Literal

from santeid.settings.base import CountOrZero
from santeid.settings.base import Flag
from santeid.settings.base import FractionalSeconds
from santeid.settings.base import Seconds
from santeid.settings.base import Section
from santeid.settings.base import UuidText


class OidcSettings(Section):
    #: Default JWS algorithm for tokens (RS256 as PSC; ES256 and PS256 available).
    signing_alg: Literal["RS256", "ES256", "PS256"] = "RS256"
    #: Lifetimes, in seconds (PSC: 120 s access token, 1800 s refresh token). ID tokens
    #: expire with their access token, as Keycloak's (no lifetime of their own).
    access_token_lifetime: Seconds = 120
    refresh_token_lifetime: Seconds = 1800
    authorization_code_lifetime: Seconds = 60
    #: Keycloak's realm setting "Revoke Refresh Token". false (Keycloak's default): a refresh
    #: token stays usable until it expires. true: rotation with reuse detection — a refresh
    #: token works ``refresh_token_max_reuse`` + 1 times and an older one stops working once
    #: a newer one is used; beyond, the grant's tokens are revoked (RFC 9700 §4.14.2).
    refresh_token_revoke: Flag = False
    #: Keycloak's "Refresh Token Max Reuse" (used only when ``refresh_token_revoke`` is on).
    refresh_token_max_reuse: CountOrZero = 0
    #: UUID in ``sub`` = ``f:<uuid>:<nationalId>`` (Keycloak federated user id format).
    federation_id: UuidText = "7a0d1f9e-3c55-4f0e-9d7b-2b5e1c8a4f10"
    #: Seconds a pushed authorization request's ``request_uri`` stays usable (RFC 9126 §2.2).
    par_lifetime: Seconds = 60
    #: Seconds a ``private_key_jwt`` or ``client_secret_jwt`` client assertion is usable after
    #: its ``iat`` whatever its ``exp`` (without ``iat``: how far ahead its ``exp`` may be),
    #: Keycloak's per-client "Max expiration"; and the longest lifetime (``exp`` after ``iat``
    #: and after now) of a signed CIBA request or request object.
    client_assertion_max_lifetime: Seconds = 300
    #: A client assertion's ``aud`` may hold several values, one of them this server's, as
    #: Keycloak before 26.2 accepts (since, its option
    #: ``allow-multiple-audiences-for-jwt-client-authentication``, off by default). false:
    #: one value only, 400 ``invalid_client`` "Multiple audiences not allowed".
    client_assertion_multiple_audiences: Flag = True
    signed_request_max_lifetime: Seconds = 3600
    #: Seconds a back-channel logout delivery may take (connect and answer); deliveries run
    #: in the background and never delay the professional's logout.
    backchannel_logout_timeout: FractionalSeconds = 5.0
    #: Seconds one attempt of a CIBA ping or push delivery may take (connect and answer).
    ciba_notification_timeout: FractionalSeconds = 5.0
    #: CIBA push mode (CIBA Core 1.0 §10.3), which Pro Santé Connect neither implements nor
    #: advertises (docs/reference/pro-sante-connect.md §2, §14). Off: discovery lists PSC's
    #: ``poll`` and ``ping`` only, and push clients are refused (santeid.ciba.metadata).
    ciba_push_enabled: Flag = False
    #: PEM file of the authorities that issue the certificates of ``tls_client_auth`` clients
    #: (RFC 8705 §2.1): a client's certificate must be signed directly by one of them,
    #: whatever the transport (direct TLS or a proxy's header); empty = no client
    #: authenticates with ``tls_client_auth`` (docs/endpoints.md, "mTLS").
    tls_client_auth_ca_file: str = ""

    @property
    def longest_token_lifetime(self) -> int:
        """How long a retired signing key must stay published (every token it signed expires)."""
        return max(self.access_token_lifetime, self.refresh_token_lifetime)
