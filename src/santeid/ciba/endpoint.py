"""The back-channel authentication endpoint (CIBA Core 1.0 §7), on Authlib's
:class:`~authlib.oauth2.rfc6749.endpoint.Endpoint`.

``POST {issuer}/protocol/openid-connect/ext/ciba/auth`` (Keycloak's path,
docs/reference/pro-sante-connect.md §14),
``application/x-www-form-urlencoded``, client authentication as at the token endpoint.
The checks are in ``validators.py``; the integration points are methods named after
node-oidc-provider's CIBA hooks (docs/reference/openid-standards.md §1.4) which
:class:`BackchannelAuthenticationEndpoint`
leaves to a subclass ("Developers MUST implement", Authlib's idiom), and
:class:`SanteidBackchannelAuthenticationEndpoint` implements with santeid's directory,
tokens and e-CPS.

Success (CIBA Core §7.3): ``200 {"auth_req_id", "expires_in", "interval"}`` (``interval``
in poll and ping modes). Errors (§13): 400 ``invalid_request``, ``invalid_scope``,
``expired_login_hint_token``, ``unknown_user_id``, ``unauthorized_client``,
``missing_user_code``, ``invalid_user_code``, ``invalid_binding_message``; 401
``invalid_client``; 403 ``access_denied``.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.endpoint import Endpoint
from authlib.oauth2.rfc6749.endpoint import EndpointRequest

from santeid.cache_control import CREDENTIAL_RESPONSE_HEADERS
from santeid.ciba.errors import InvalidBindingMessageError
from santeid.ciba.errors import InvalidRequestError
from santeid.ciba.metadata import PING
from santeid.ciba.metadata import POLL
from santeid.ciba.request_object import login_hint_token_subject
from santeid.ciba.request_object import resolve_request_object
from santeid.ciba.requests import new_auth_req_id
from santeid.ciba.validators import BINDING_MESSAGE_ERROR
from santeid.ciba.validators import BINDING_MESSAGE_RE
from santeid.ciba.validators import CHECKS
from santeid.ciba.validators import REQUEST_PARAMETERS
from santeid.ciba.validators import BackchannelAuthenticationRequest
from santeid.ciba.validators import keycloak_errors
from santeid.oidc import client_auth
from santeid.psc.national_id import NationalIdError
from santeid.psc.national_id import parse_national_id
from santeid.services import services


class BackchannelAuthenticationEndpoint(Endpoint):
    """CIBA Core §7: validate, persist, reach the user's device, acknowledge."""

    ENDPOINT_NAME = "backchannel_authentication"
    #: Client authentication methods accepted (CIBA Core §7.1: as at the token endpoint).
    CLIENT_AUTH_METHODS = client_auth.methods_for("backchannel_authentication")
    #: Response headers (RFC 6749 §5.1: no caching of credentials).
    RESPONSE_HEADERS = list(CREDENTIAL_RESPONSE_HEADERS)

    def authenticate_client(self, request) -> Any:
        # Failures are 401 invalid_client (CIBA Core §13; client_auth.invalid_client).
        return self.server.authenticate_client(
            request, self.CLIENT_AUTH_METHODS, self.ENDPOINT_NAME
        )

    def validate_request(self, request) -> BackchannelAuthenticationRequest:
        client = self.authenticate_client(request)
        request.client = client
        form = request.form
        params = {name: form.get(name) for name in (*REQUEST_PARAMETERS, "request", "request_uri")}
        req = BackchannelAuthenticationRequest(
            request=request,
            client=client,
            params={k: v for k, v in params.items() if v is not None},
        )
        for check in CHECKS:
            check(self, req)
        return req

    def create_response(self, validated: EndpointRequest):
        if not isinstance(validated, BackchannelAuthenticationRequest):
            raise TypeError("not a request this endpoint validated")
        auth_req_id = new_auth_req_id()
        saved = self.save_request(auth_req_id, validated)
        self.trigger_authentication_device(saved, validated)
        body: dict[str, Any] = {"auth_req_id": auth_req_id, "expires_in": validated.expires_in}
        if validated.mode in (POLL, PING):
            # CIBA Core §7.3: present for poll and ping clients (clients assume 5 s without).
            body["interval"] = validated.interval
        return 200, body, list(self.RESPONSE_HEADERS)

    # -- hooks: Developers MUST implement -----------------------------------------------------
    def resolve_request_object(self, req: BackchannelAuthenticationRequest) -> None:
        """Replace ``req.params`` by the claims of a signed ``request`` (CIBA Core §7.1.1),
        refuse an unsigned request from a client registered to sign. Default: refuse any
        ``request``."""
        if "request" in req.params:
            raise InvalidRequestError("signed authentication requests are not supported")

    def process_login_hint(self, login_hint: str, req: BackchannelAuthenticationRequest):
        """The account id ``login_hint`` names, or ``None`` (→ ``unknown_user_id``); raise
        ``InvalidRequestError`` when it is malformed (node-oidc-provider ``processLoginHint``)."""
        raise NotImplementedError()

    def process_login_hint_token(self, token: str, req: BackchannelAuthenticationRequest):
        """The account id a ``login_hint_token`` names, or ``None``; raise
        ``ExpiredLoginHintTokenError`` / ``InvalidRequestError`` (``processLoginHintToken``)."""
        raise NotImplementedError()

    def process_id_token_hint(self, token: str, req: BackchannelAuthenticationRequest):
        """The account id of an ID token previously issued by this OP, or ``None``."""
        raise NotImplementedError()

    def validate_binding_message(self, message: str, req: BackchannelAuthenticationRequest):
        """Raise ``InvalidBindingMessageError`` for a message the device cannot show
        (``validateBindingMessage``). Default: Keycloak's rule (docs/reference/pro-sante-connect.md
        §14 row 8)."""
        if not BINDING_MESSAGE_RE.fullmatch(message):
            raise InvalidBindingMessageError(BINDING_MESSAGE_ERROR)

    def validate_request_context(self, context: Any, req: BackchannelAuthenticationRequest):
        """Raise ``InvalidRequestError`` when policy requires a context
        (``validateRequestContext``). Default: nothing required."""

    def verify_user_code(self, account: str, user_code: Any, req: BackchannelAuthenticationRequest):
        """Raise ``MissingUserCodeError`` / ``InvalidUserCodeError`` (``verifyUserCode``).
        Default: no user code is used (``backchannel_user_code_parameter_supported`` false)."""

    def can_authenticate(self, req: BackchannelAuthenticationRequest) -> bool:
        """Whether the account can approve on ``req.channel`` (sets ``req.means``)."""
        raise NotImplementedError()

    def save_request(self, auth_req_id: str, req: BackchannelAuthenticationRequest) -> Any:
        """Persist the request before the device is reached."""
        raise NotImplementedError()

    def trigger_authentication_device(self, saved: Any, req: BackchannelAuthenticationRequest):
        """Reach the user (``triggerAuthenticationDevice``): called after the request is
        persisted and before the response is sent."""
        raise NotImplementedError()


class SanteidBackchannelAuthenticationEndpoint(BackchannelAuthenticationEndpoint):
    """The hooks, implemented with santeid's directory, tokens, e-CPS and sandbox."""

    def resolve_request_object(self, req: BackchannelAuthenticationRequest) -> None:
        resolve_request_object(services(), req)

    def _active_professional(self, national_id: Any, req: BackchannelAuthenticationRequest):
        """The national id of an active professional of the directory, or ``None``; the
        professional is kept on ``req`` (endpoint instances are shared between threads).

        A value that is not a national identifier at all (an RPPS without its leading 8, an
        e-mail address) names nobody: with Keycloak's errors it is a hint that matches no user
        (``None``, docs/reference/pro-sante-connect.md §14 row 5); with
        ``error_style = "strict"``, ``invalid_request`` about its syntax."""
        if not isinstance(national_id, str):
            return None
        try:
            parsed = parse_national_id(national_id)
        except NationalIdError:
            if keycloak_errors():
                return None
            raise InvalidRequestError("login_hint must be a national identifier") from None
        professional = services().directory.get(parsed.value)
        if professional is None or not professional.is_active:
            return None
        req.professional = professional
        return professional.national_id

    def process_login_hint(self, login_hint: str, req: BackchannelAuthenticationRequest):
        return self._active_professional(login_hint, req)

    def process_login_hint_token(self, token: str, req: BackchannelAuthenticationRequest):
        subject = login_hint_token_subject(services(), req.client, token)
        return self._active_professional(subject, req)

    def process_id_token_hint(self, token: str, req: BackchannelAuthenticationRequest):
        claims = services().tokens.id_token_hint_claims(token)
        if claims is None:
            raise InvalidRequestError("id_token_hint is not an ID token of this provider")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if req.client.get_client_id() not in audiences:
            # CIBA Core §7.1: "an ID Token previously issued to the Client".
            raise InvalidRequestError("id_token_hint was issued to another client")
        return self._active_professional(claims.get("SubjectNameID"), req)

    def can_authenticate(self, req: BackchannelAuthenticationRequest) -> bool:
        req.means = services().ciba.means_for(req.professional, req.channel)
        return req.means is not None

    def save_request(self, auth_req_id: str, req: BackchannelAuthenticationRequest):
        return services().ciba.create(auth_req_id, req)

    def trigger_authentication_device(self, saved, req: BackchannelAuthenticationRequest):
        services().ciba.trigger_device(saved, client_name=req.client.name)
