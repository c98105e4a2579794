"""Checks of a back-channel authentication request, one small named function each, run in
order by :class:`~santeid.ciba.endpoint.BackchannelAuthenticationEndpoint` (the way
node-oidc-provider composes ``lib/actions/authorization/*`` per endpoint:
https://github.com/panva/node-oidc-provider/tree/main/lib/actions/authorization).

Each check reads :class:`BackchannelAuthenticationRequest` and fills in what it validated,
or raises the CIBA Core 1.0 §13 error. The order is Keycloak's where it has the check
(docs/reference/keycloak-behaviour.md "CIBA: the order of the back-channel checks", and the
order measured in docs/reference/pro-sante-connect.md §14), then santeid's own; the client was
authenticated before the first check runs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any

from authlib.oauth2.rfc6749.endpoint import EndpointRequest
from werkzeug.datastructures import MultiDict

from santeid.ciba import metadata as client_meta
from santeid.ciba.errors import AuthenticationChannelError
from santeid.ciba.errors import BackchannelAccessDeniedError
from santeid.ciba.errors import InvalidBindingMessageError
from santeid.ciba.errors import InvalidRequestError
from santeid.ciba.errors import InvalidScopeError
from santeid.ciba.errors import KeycloakCibaNotAllowedError
from santeid.ciba.errors import UnauthorizedClientError
from santeid.ciba.errors import UnknownUserIdError
from santeid.oidc import keycloak_errors as oidc_errors
from santeid.oidc import scopes
from santeid.oidc.tls_client_auth import CertificateMissing
from santeid.oidc.tls_client_auth import bound_certificate_thumbprint
from santeid.psc import proofs
from santeid.security import whole_number
from santeid.services import services

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from santeid.ciba.endpoint import BackchannelAuthenticationEndpoint

#: CIBA Core §7.1: exactly one of these identifies the end-user.
HINTS = ("login_hint", "id_token_hint", "login_hint_token")
#: The authentication request parameters (CIBA Core §7.1, PSC's ``channel``,
#: docs/reference/pro-sante-connect.md §14).
#: Each may appear once; with a signed request they must all be inside it (§7.1.1).
REQUEST_PARAMETERS = (
    "scope",
    "client_notification_token",
    "acr_values",
    "login_hint_token",
    "id_token_hint",
    "login_hint",
    "binding_message",
    "user_code",
    "requested_expiry",
    "channel",
)
#: Keycloak's rule for ``binding_message`` (docs/reference/pro-sante-connect.md §14 row 8): PSC's
#: two-digit value passes,
#: spaces and non-ASCII text do not (FAPI-CIBA "potentially bad binding message": refusing
#: it with ``invalid_binding_message`` is one of the two accepted outcomes).
BINDING_MESSAGE_RE = re.compile(r"^[a-zA-Z0-9\-._+/!?#]{1,50}$")
BINDING_MESSAGE_ERROR = (
    "the binding_message value has to be max 50 characters in length and must contain only "
    "basic plain-text characters without spaces"
)
#: RFC 6750 §2.1 ``b64token``, the syntax CIBA Core §7.1 requires of
#: ``client_notification_token``, and its length limit.
BEARER_TOKEN_RE = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
MAX_NOTIFICATION_TOKEN_LENGTH = 1024
#: PSC's custom parameter (docs/reference/pro-sante-connect.md §14): the authentication means the
#: professional uses, named as the ``authMode`` the login will have.
CHANNELS = proofs.AUTH_MODES
DEFAULT_CHANNEL = proofs.AUTH_MODE_MOBILE
#: Longest ``requested_expiry`` honoured when the client's own default is shorter; longer
#: requests are shortened to it (CIBA Core §7.1 lets the OP choose ``expires_in``).
MAX_REQUESTED_EXPIRY = 600


@dataclass
class BackchannelAuthenticationRequest(EndpointRequest):
    """A back-channel authentication request as validated so far."""

    #: The authenticated client (the endpoint authenticates it before building the request).
    client: Any = None
    params: dict[str, str] = field(default_factory=dict)
    #: From a signed request object (step 4), when there was one.
    signed: bool = False
    scope: str = ""
    hint_name: str = ""
    hint_value: Any = None
    national_id: str = ""
    professional: Any = None
    binding_message: str | None = None
    acr_values: list[str] = field(default_factory=list)
    expires_in: int = client_meta.DEFAULT_REQUEST_EXPIRY
    interval: int = client_meta.DEFAULT_POLLING_INTERVAL
    channel: str = DEFAULT_CHANNEL
    mode: str = client_meta.POLL
    client_notification_token: str | None = None
    user_code: str | None = None
    request_context: Any = None
    #: How the professional will approve (``service.MEANS_*``), set by ``can_authenticate``.
    means: str | None = None
    #: Push mode: the certificate the pushed tokens are bound to (:func:`check_push_binding`).
    certificate_thumbprint: str | None = None


Check = Callable[["BackchannelAuthenticationEndpoint", BackchannelAuthenticationRequest], None]

#: Keycloak's descriptions (``docs/reference/pro-sante-connect.md §14``).
CIBA_NOT_ALLOWED = "Client not allowed OIDC CIBA Grant"
KEYCLOAK_INVALID_USER = "invalid_user"
KEYCLOAK_CHANNEL_FAILED = "Failed to send authentication request"
POLL_NOTIFICATION_TOKEN = "Client Notification token supported only for the ping mode"  # noqa: S105
#: Keycloak's words for a ping client's missing and overlong token
#: (``BackchannelAuthenticationEndpoint.authorizeClient``).
PING_NOTIFICATION_TOKEN_MISSING = (
    "Client Notification token needs to be provided with the ping mode"  # noqa: S105
)
NOTIFICATION_TOKEN_TOO_LONG = "Client Notification token length is limited to 1024 characters"  # noqa: S105


def keycloak_errors() -> bool:
    """``error_style``: Keycloak's codes (default) or CIBA Core §13's."""
    return services().settings.keycloak.error_style == "keycloak"


def check_ciba_client(endpoint, req: BackchannelAuthenticationRequest) -> None:
    """Only clients registered for CIBA may call the endpoint (docs/reference/pro-sante-connect.md
    §14: "la fonctionnalité
    activée sur votre service"; CIBA Core §13 ``unauthorized_client``), in a delivery mode
    this server offers: a push client registered by a command with push on is refused while
    push is off here (``metadata.py``), and the operator told why."""
    client = req.client
    if not client_meta.is_ciba_client(client, services().settings):
        if (
            client.check_grant_type(client_meta.CIBA_GRANT_TYPE)
            and client_meta.delivery_mode(client) == client_meta.PUSH
        ):
            log.warning(
                "CIBA request of %s refused: registered in push mode, but %s",
                client.get_client_id(),
                client_meta.push_is_off(),
            )
        if keycloak_errors():
            raise KeycloakCibaNotAllowedError(CIBA_NOT_ALLOWED)
        raise UnauthorizedClientError(CIBA_NOT_ALLOWED)
    req.mode = client_meta.delivery_mode(client)
    req.expires_in = client_meta.request_expiry(client)
    req.interval = client_meta.polling_interval(client)


def check_request_object(endpoint, req: BackchannelAuthenticationRequest) -> None:
    """CIBA Core §7.1.1: a client registered with
    ``backchannel_authentication_request_signing_alg`` MUST send a signed ``request``; its
    claims then replace the form parameters (``request_object.py``)."""
    endpoint.resolve_request_object(req)


def check_single_values(endpoint, req: BackchannelAuthenticationRequest) -> None:
    """RFC 6749 §3.1: request parameters MUST NOT be included more than once; refused with the
    text Keycloak's parser gives a repeated one, "duplicated parameter" (Keycloak's endpoint
    then uses the first value: docs/psc-integration.md §5.1)."""
    form = req.request.form
    if not isinstance(form, MultiDict):
        return  # a plain mapping cannot hold a parameter twice
    for name in REQUEST_PARAMETERS:
        if len(form.getlist(name)) > 1:
            raise InvalidRequestError(oidc_errors.DUPLICATED_PARAMETER)


def check_hints(endpoint, req: BackchannelAuthenticationRequest) -> None:
    """CIBA Core §7.1: exactly one of ``login_hint_token``, ``id_token_hint``, ``login_hint``.
    An empty ``login_hint`` is present and names nobody, as in Keycloak (its form parser gives
    ``""``, docs/reference/keycloak-behaviour.md "CIBA: the order of the back-channel checks")."""
    given = [
        name
        for name in HINTS
        if req.params.get(name) not in (None, "") or (name == "login_hint" and name in req.params)
    ]
    if not given:
        raise InvalidRequestError("missing parameter : login_hint")
    if len(given) > 1:
        raise InvalidRequestError(
            "exactly one of login_hint, id_token_hint and login_hint_token is allowed"
        )
    req.hint_name = given[0]
    req.hint_value = req.params[given[0]]


def check_scope_present(endpoint, req: BackchannelAuthenticationRequest) -> None:
    """CIBA Core §7.1: ``scope`` is REQUIRED (its values: :func:`check_scope_values`). Present
    is enough, as Keycloak's ``scope == null``: an empty or blank one is judged by its values
    (docs/reference/keycloak-behaviour.md, "Scope values")."""
    scope = req.params.get("scope")
    if not isinstance(scope, str):
        raise InvalidRequestError("missing parameter : scope")
    req.scope = scope


def check_user_code(endpoint, req: BackchannelAuthenticationRequest) -> None:
    """``backchannel_user_code_parameter_supported`` is false: a ``user_code`` is refused with
    ``invalid_request``, as Keycloak does (docs/reference/pro-sante-connect.md §14 row 7)."""
    user_code = req.params.get("user_code")
    if user_code not in (None, ""):
        raise InvalidRequestError("User code not supported")


def check_binding_message(endpoint, req: BackchannelAuthenticationRequest) -> None:
    """CIBA Core §7.1 ``binding_message``, shown on the device; hook
    ``validate_binding_message``."""
    message = req.params.get("binding_message")
    if message is None:
        return
    if not isinstance(message, str):
        raise InvalidBindingMessageError(BINDING_MESSAGE_ERROR)
    endpoint.validate_binding_message(message, req)
    req.binding_message = message


def parse_requested_expiry(value: Any) -> int:
    """CIBA Core §7.1: "a positive integer", sent as a JSON number or a string (FAPI-CIBA
    ``ensure-requested-expiry-as-string-succeeds``)."""
    if isinstance(value, bool):
        raise InvalidRequestError("requested_expiry must be a positive integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and (parsed := whole_number(value)) is not None:
        number = parsed
    else:
        raise InvalidRequestError("requested_expiry must be a positive integer")
    if number < 1:
        raise InvalidRequestError("requested_expiry must be a positive integer")
    return number


def check_requested_expiry(endpoint, req: BackchannelAuthenticationRequest) -> None:
    value = req.params.get("requested_expiry")
    if value is None or value == "":
        return
    requested = parse_requested_expiry(value)
    req.expires_in = min(requested, max(MAX_REQUESTED_EXPIRY, req.expires_in))


def check_channel(endpoint, req: BackchannelAuthenticationRequest) -> None:
    """PSC's ``channel`` (docs/reference/pro-sante-connect.md §14): ``MOBILE`` (e-CPS, the default)
    or ``CARD``."""
    channel = req.params.get("channel")
    if channel is None or channel == "":
        req.channel = DEFAULT_CHANNEL
        return
    if channel not in CHANNELS:
        raise InvalidRequestError("channel must be MOBILE or CARD")
    req.channel = channel


def check_notification_token(endpoint, req: BackchannelAuthenticationRequest) -> None:
    """CIBA Core §7.1: ``client_notification_token`` is REQUIRED for ping and push, at most
    1024 characters of RFC 6750 §2.1 bearer syntax. A poll client's is refused, even empty,
    as Keycloak refuses any but a ping client's (``BackchannelAuthenticationEndpoint``,
    docs/reference/keycloak-behaviour.md "CIBA: a notification token in poll mode")."""
    if req.mode not in client_meta.NOTIFIED_MODES:
        if "client_notification_token" in req.params:
            raise InvalidRequestError(POLL_NOTIFICATION_TOKEN)
        return
    token = req.params.get("client_notification_token")
    if token is None:
        if req.mode == client_meta.PING:
            raise InvalidRequestError(PING_NOTIFICATION_TOKEN_MISSING)
        raise InvalidRequestError("missing parameter : client_notification_token")
    if isinstance(token, str) and len(token) > MAX_NOTIFICATION_TOKEN_LENGTH:
        raise InvalidRequestError(NOTIFICATION_TOKEN_TOO_LONG)
    # RFC 6750 §2.1, which Keycloak does not check (it takes an empty token too).
    if not isinstance(token, str) or not BEARER_TOKEN_RE.fullmatch(token):
        raise InvalidRequestError(
            "client_notification_token must be a bearer token of at most 1024 characters"
        )
    req.client_notification_token = token


def check_push_binding(endpoint, req: BackchannelAuthenticationRequest) -> None:
    """Push mode (CIBA Core §10.3) delivers the tokens with no token request: those of a
    client whose tokens are bound to its certificate (RFC 8705 §3: ``tls_client_auth``, or
    ``tls_client_certificate_bound_access_tokens``; ``santeid.oidc.tls_client_auth``) are
    bound to the certificate of this request, which such a client must present — without one,
    400 ``invalid_request``, Keycloak's refusal of a poll or ping token request without it
    (Keycloak has no push mode)."""
    if req.mode != client_meta.PUSH:
        return
    try:
        req.certificate_thumbprint = bound_certificate_thumbprint(req.client)
    except CertificateMissing:
        raise InvalidRequestError(oidc_errors.CERTIFICATE_MISSING_FOR_BINDING) from None


def check_acr_values(endpoint, req: BackchannelAuthenticationRequest) -> None:
    """CIBA Core §7.1 ``acr_values``: voluntary; kept with the request (PSC sends eidas1)."""
    value = req.params.get("acr_values")
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidRequestError("acr_values must be a space-separated string")
    req.acr_values = value.split()


def check_request_context(endpoint, req: BackchannelAuthenticationRequest) -> None:
    """Hook ``validate_request_context`` (node-oidc-provider's ``validateRequestContext``)."""
    endpoint.validate_request_context(req.params.get("request_context"), req)


def resolve_user(endpoint, req: BackchannelAuthenticationRequest) -> None:
    """The end-user the hint names, through the hooks ``process_login_hint``,
    ``process_login_hint_token`` or the ``id_token_hint`` check; ``unknown_user_id`` when
    none (CIBA Core §13), or Keycloak's ``invalid_request`` / ``invalid_user`` (``error_style``)."""
    if req.hint_name == "login_hint":
        national_id = endpoint.process_login_hint(req.hint_value, req)
    elif req.hint_name == "login_hint_token":
        national_id = endpoint.process_login_hint_token(req.hint_value, req)
    else:
        national_id = endpoint.process_id_token_hint(req.hint_value, req)
    if not national_id:
        if keycloak_errors():
            raise InvalidRequestError(KEYCLOAK_INVALID_USER)
        raise UnknownUserIdError("could not identify end-user")
    req.national_id = national_id


def check_scope_values(endpoint, req: BackchannelAuthenticationRequest) -> None:
    """The scope policy of every endpoint (``santeid.oidc.scopes``; Keycloak's
    ``Invalid scopes: <raw>``, ``docs/reference/pro-sante-connect.md §14`` row 6).

    Keycloak accepts a request without ``openid`` (tokens without an ID token,
    docs/reference/keycloak-behaviour.md "CIBA without openid"), so poll and ping do too; push,
    which Keycloak lacks, needs it: the push payload's ID token is what binds the tokens to
    the request (CIBA Core 1.0 §7.1: ``openid`` REQUIRED; §10.3.1)."""
    try:
        req.scope = scopes.granted_scope(
            req.scope,
            req.client.allowed_scopes,
            where=scopes.BACKCHANNEL,
            policy=scopes.current_policy(),
        )
    except scopes.ScopeError as exc:
        raise InvalidScopeError(exc.description) from None
    if req.mode == client_meta.PUSH and not scopes.is_openid(req.scope):
        raise InvalidScopeError(scopes.OPENID_REQUIRED)


def check_user_code_hook(endpoint, req: BackchannelAuthenticationRequest) -> None:
    """Hook ``verify_user_code`` (``missing_user_code`` / ``invalid_user_code``)."""
    endpoint.verify_user_code(req.national_id, req.params.get("user_code"), req)


def check_authentication_channel(endpoint, req: BackchannelAuthenticationRequest) -> None:
    """The professional must be reachable on the requested channel. A professional who is
    identified but has no usable means (no active e-CPS device for MOBILE) gets what Keycloak
    answers when its authentication channel refuses the request, ``503 server_error``; with
    ``error_style = "strict"``, ``access_denied`` (403): the hint named someone (so not
    ``unknown_user_id``), and the OP cannot, so does not, authenticate them (docs/ciba.md,
    "Decisions")."""
    if not endpoint.can_authenticate(req):
        if keycloak_errors():
            raise AuthenticationChannelError(KEYCLOAK_CHANNEL_FAILED)
        raise BackchannelAccessDeniedError(
            f"the professional cannot be authenticated on the {req.channel} channel"
        )


#: The checks, in order (module docstring).
CHECKS: tuple[Check, ...] = (
    check_ciba_client,
    check_request_object,
    check_single_values,
    check_requested_expiry,
    check_hints,
    check_scope_present,
    check_channel,
    check_acr_values,
    check_request_context,
    resolve_user,
    check_scope_values,
    check_binding_message,
    check_notification_token,
    check_push_binding,
    check_user_code,
    check_user_code_hook,
    check_authentication_channel,
)
