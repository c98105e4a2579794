"""The grant types santeid implements: the single list discovery, client registration, the
metrics and the grants read.

Nothing is imported here, so that any module (metrics, a command) may read it.
"""

from __future__ import annotations

#: RFC 6749 §4.1.
AUTHORIZATION_CODE = "authorization_code"
#: RFC 6749 §6.
REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant type name
#: RFC 6749 §4.4.
CLIENT_CREDENTIALS = "client_credentials"
#: CIBA Core 1.0 §4 (``santeid.ciba``).
CIBA = "urn:openid:params:grant-type:ciba"

#: Those any client may register (RFC 7591 §2 ``grant_types``); a feature adds its own with
#: ``clients.register_metadata_check`` (CIBA: :data:`CIBA`).
CORE: tuple[str, ...] = (AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS)
#: Every grant type, in the order of discovery's ``grant_types_supported``
#: (``docs/reference/pro-sante-connect.md §2``).
SUPPORTED: tuple[str, ...] = (*CORE, CIBA)
#: A client's ``grant_types`` when it registers none (RFC 7591 §2 says ``authorization_code``;
#: Keycloak's clients also refresh).
DEFAULT: tuple[str, ...] = (AUTHORIZATION_CODE, REFRESH_TOKEN)
#: Those a public client (``token_endpoint_auth_method`` ``none``) may register: Keycloak
#: gives service accounts and CIBA to confidential clients only.
PUBLIC_CLIENT_GRANTS: tuple[str, ...] = (AUTHORIZATION_CODE, REFRESH_TOKEN)
