"""``CibaService``: what happens to a CIBA request between the back-channel call and the
tokens, with no Flask request context (the e-CPS decision listener and the delivery threads
call it too).

* :meth:`create` persists a validated request; a sandbox auto-approving professional is
  approved at once (sandbox mode only, MOBILE channel);
* :meth:`trigger_device` sends a MOBILE request to the professional's e-CPS devices
  (``EcpsService.create_ciba_request``: the phone shows the service name and the binding
  message), CARD requests wait for the workstation (``card.py``);
* :meth:`approve` / :meth:`deny` are the single place a pending request is decided — the
  equivalent of node-oidc-provider's ``provider.backchannelResult`` — by compare-and-set from
  ``pending``; whoever wins also starts the ping or push delivery (``delivery.py``), unless
  it is the token endpoint's poll (:meth:`sync`). (A sandbox approval is written
  ``approved`` by :meth:`create` directly.)
* :meth:`sync` brings a pending MOBILE request up to date with its e-CPS request (the token
  endpoint calls it on every poll, so polling works even if a listener call was missed);
* :meth:`redeem` consumes an approved request once and issues the tokens.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from santeid.ciba import metadata as client_meta
from santeid.ciba.delivery import Notifier
from santeid.ciba.requests import APPROVED
from santeid.ciba.requests import CONSUMED
from santeid.ciba.requests import DENIED
from santeid.ciba.requests import PENDING
from santeid.ciba.requests import CibaRequest
from santeid.ciba.requests import CibaRequestBook
from santeid.clock import Clock
from santeid.clock import system_clock
from santeid.ecps.requests import FAILURE_REPLACED
from santeid.ecps.webhooks import WebhookRefused
from santeid.ecps.webhooks import check_webhook_url
from santeid.observability import record as observe
from santeid.oidc import keycloak_errors
from santeid.oidc.authentication import Authentication
from santeid.oidc.clients import SigningKeyUnavailable
from santeid.oidc.grant_types import REFRESH_TOKEN
from santeid.oidc.tls_client_auth import CertificateMissing
from santeid.oidc.tls_client_auth import bound_certificate_thumbprint
from santeid.oidc.tokens import SessionEnded
from santeid.oidc.tokens import SubjectDisabled
from santeid.oidc.tokens import UnknownSubject
from santeid.psc import proofs

if TYPE_CHECKING:
    from santeid.ecps.service import EcpsService
    from santeid.observability.events import EventStore
    from santeid.sandbox.phone import SandboxPhone

log = logging.getLogger(__name__)

#: How a request gets approved (``means`` in the record).
MEANS_ECPS = "ecps"
MEANS_SANDBOX = "sandbox"
MEANS_CARD = "card"

#: CIBA Core §10.3.1: the ``auth_req_id`` claim of a push-mode ID token.
AUTH_REQ_ID_CLAIM = "urn:openid:params:jwt:claim:auth_req_id"


class TokenRedemptionError(Exception):
    """The request could not be turned into tokens (consumed meanwhile, subject gone)."""


class CibaService:
    """See the module docstring. One per application: ``services().ciba``."""

    def __init__(
        self,
        *,
        settings: Any,
        store: Any,
        tokens: Any,
        clients: Any,
        directory: Any,
        ecps: EcpsService,
        sandbox_phone: SandboxPhone | None,
        secret_key: str,
        notifier: Notifier | None = None,
        events: EventStore | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.settings = settings
        #: Where the CIBA events go, whichever thread decides (a request's, the sandbox
        #: phone's timer, a delivery thread); ``None``: the current application's.
        self.events = events
        self.store = store
        self.tokens = tokens
        self.clients = clients
        self.directory = directory
        self.ecps = ecps
        self.clock = clock
        self.book = CibaRequestBook(store, clock=clock)
        self.notifier = notifier or Notifier(
            sandbox=bool(settings.sandbox.enabled),
            timeout=settings.oidc.ciba_notification_timeout,
        )
        #: Set while the token endpoint's poll brings a request up to date (:meth:`sync`): a
        #: decision taken then is not notified, the poll that took it has the answer.
        self._polling = threading.local()
        # The plain auth_req_id and client_notification_token of ping/push requests must be
        # readable by whichever worker delivers the notification, but a store dump must not
        # reveal them: they are kept sealed (AES-256-GCM, key derived from the app secret).
        seal_key = hashlib.sha256(b"santeid-ciba-notification:" + secret_key.encode()).digest()
        self._aead = AESGCM(seal_key)
        #: Sandbox mode only (``None`` otherwise): the sandbox phone (``santeid.sandbox.phone``)
        #: answers MOBILE requests of professionals by scenario.
        self.sandbox_phone = sandbox_phone

    # -- creation -----------------------------------------------------------------------------
    def means_for(self, professional: Any, channel: str) -> str | None:
        """How this professional can approve on ``channel``; ``None``: not at all.

        MOBILE: the e-CPS when a device is active, else (sandbox mode only) the sandbox phone
        of professionals with a scenario (``santeid.sandbox``) — the same precedence as the
        browser login (``login/authenticators.py``). CARD: always possible; the request waits
        for the workstation to prove the card.
        """
        if channel == proofs.AUTH_MODE_CARD:
            return MEANS_CARD
        if self.ecps.devices.active_for(professional.national_id):
            return MEANS_ECPS
        phone = self.sandbox_phone
        if phone is not None and phone.scenario_for(professional) is not None:
            return MEANS_SANDBOX
        return None

    def create(self, auth_req_id: str, req: Any) -> CibaRequest:
        """Persist a validated request (``validators.BackchannelAuthenticationRequest``)."""
        now = int(self.clock())
        record: dict[str, Any] = {
            "client_id": req.client.get_client_id(),
            "national_id": req.national_id,
            "scope": req.scope,
            "acr_values": req.acr_values,
            "binding_message": req.binding_message,
            "channel": req.channel,
            "means": req.means,
            "mode": req.mode,
            "created_at": now,
            "interval": req.interval,
            "last_poll": None,
            "ecps_request": None,
        }
        if req.mode in client_meta.NOTIFIED_MODES:
            record["notification"] = self._seal(
                {"id": auth_req_id, "token": req.client_notification_token}
            )
        if req.certificate_thumbprint:
            # Push mode: what the pushed tokens are bound to (validators.check_push_binding).
            record["certificate_thumbprint"] = req.certificate_thumbprint
        if req.means == MEANS_CARD:
            record["challenge"] = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
        approved_at_once = None
        phone = self.sandbox_phone if req.means == MEANS_SANDBOX else None
        professional = self.directory.get(req.national_id) if phone is not None else None
        if (
            phone is not None
            and professional is not None
            and phone.approves_ciba_at_once(professional)
        ):
            # Sandbox mode only (``means_for``): an ``approve`` scenario without a delay is
            # written approved in one store operation rather than created pending and moved.
            approved_at_once = proofs.authentication_for(
                proofs.SANDBOX, national_id=req.national_id, auth_time=now, settings=self.settings
            )
        created = self.book.create(
            auth_req_id,
            record,
            req.expires_in,
            approved=None if approved_at_once is None else approved_at_once.to_dict(),
        )
        log.info(
            "CIBA request for %s by %s (%s, %s mode)",
            req.national_id,
            record["client_id"],
            req.channel,
            req.mode,
        )
        observe.ciba_requested(
            record["client_id"], req.mode, professional=req.national_id, store=self.events
        )
        if approved_at_once is not None:
            observe.ciba_decided(created, "approved", approved_at_once.auth_mode, store=self.events)
        return created

    def trigger_device(self, request: CibaRequest, *, client_name: str) -> None:
        """Reach the professional (node-oidc-provider's ``triggerAuthenticationDevice``:
        after the request is persisted, before the response is sent)."""
        means = request.data["means"]
        if means == MEANS_SANDBOX and request.stored_state == APPROVED:
            # Approved by ``create``; ping/push as after any decision.
            log.info("CIBA request of %s approved (SANDBOX)", request.national_id)
            self._after_decision(request)
        elif means in (MEANS_ECPS, MEANS_SANDBOX):
            # The sandbox phone answers an e-CPS request like a phone, by scenario: only the
            # requests it made (``santeid.sandbox.phone``).
            lifetime = max(1, request.expires_at - int(self.clock()))
            maker = self.sandbox_phone if means == MEANS_SANDBOX else self.ecps
            if maker is None:  # MEANS_SANDBOX is only ever chosen in sandbox mode
                raise RuntimeError("a sandbox CIBA request outside sandbox mode")
            ecps_request = maker.create_ciba_request(
                request.national_id,
                client_name=client_name,
                binding_message=request.data.get("binding_message"),
                expires_in=lifetime,
                client_id=request.client_id,
            )
            # Index first, record second: the decision listener finds the request by the
            # index, the token endpoint's sync by the record.
            self.book.link_ecps(ecps_request.request_id, request.key, lifetime)
            self.book.note(request, {"ecps_request": ecps_request.request_id})
            phone = self.sandbox_phone
            if (
                means == MEANS_SANDBOX
                and phone is not None
                and request.mode in client_meta.NOTIFIED_MODES
            ):
                # A ping or push client need not poll: the sandbox phone answers by itself
                # once the scenario's delay has passed, and the decision is notified.
                phone.settle_later(ecps_request.request_id)

    # -- decisions ------------------------------------------------------------------------------
    def approve(self, key: str, authentication: Authentication) -> CibaRequest | None:
        """``pending`` → ``approved``; ``None`` if it was no longer pending."""
        decided = self.book.transition(key, PENDING, APPROVED, {"auth": authentication.to_dict()})
        if decided is not None:
            log.info(
                "CIBA request of %s approved (%s)", decided.national_id, authentication.auth_mode
            )
            observe.ciba_decided(decided, "approved", authentication.auth_mode, store=self.events)
            self._after_decision(decided)
        return decided

    def deny(self, key: str, description: str, failure: str | None = None) -> CibaRequest | None:
        """``pending`` → ``denied`` (``access_denied`` at the token endpoint, CIBA Core §11);
        ``failure``: the e-CPS request's, when it failed rather than was refused."""
        changes = {"error": "access_denied", "error_description": description}
        if failure:
            changes["failure"] = failure
        decided = self.book.transition(key, PENDING, DENIED, changes)
        if decided is not None:
            log.info("CIBA request of %s denied: %s", decided.national_id, description)
            observe.ciba_decided(decided, "denied", store=self.events)
            self._after_decision(decided)
        return decided

    def on_ecps_decided(self, ecps_request: Any) -> None:
        """``EcpsService.on_request_decided`` listener: a phone decided (any request kind)."""
        if getattr(ecps_request, "kind", None) != "ciba":
            return
        key = self.book.key_for_ecps(ecps_request.request_id)
        if key is not None:
            self._apply_ecps(key, ecps_request)

    def sync(self, request: CibaRequest) -> CibaRequest:
        """A pending MOBILE request, brought up to date with its e-CPS request (the token
        endpoint's poll). A decision this takes is not notified: the poll has the answer, and
        a ping for a request it then redeems would make the client present a used
        ``auth_req_id`` (a replay, which revokes the tokens)."""
        ecps_id = request.data.get("ecps_request")
        if request.state != PENDING or not ecps_id:
            return request
        self._polling.active = True
        try:
            if request.data.get("means") == MEANS_SANDBOX and self.sandbox_phone is not None:
                self.sandbox_phone.settle(ecps_id)
            ecps_request = self.ecps.get_request(ecps_id)
            if ecps_request is None or ecps_request.status in ("pending", "expired"):
                return request
            self._apply_ecps(request.key, ecps_request)
        finally:
            self._polling.active = False
        return self.book.get_by_key(request.key) or request

    def _apply_ecps(self, key: str, ecps_request: Any) -> None:
        if ecps_request.status == "approved":
            request = self.book.get_by_key(key)
            by_sandbox = request is not None and request.data.get("means") == MEANS_SANDBOX
            self.approve(
                key,
                proofs.authentication_for(
                    proofs.SANDBOX if by_sandbox else proofs.ECPS,
                    national_id=ecps_request.national_id,
                    auth_time=int(ecps_request.decided_at or self.clock()),
                    settings=self.settings,
                    # The sandbox phone proves nothing: the sandbox proof's acr, authMode, amr.
                    amr=None if by_sandbox else ecps_request.amr,
                ),
            )
        elif ecps_request.status == "denied":
            self.deny(key, "the professional refused on the e-CPS device")
        elif ecps_request.status == "failed":
            self.deny(
                key,
                f"the e-CPS approval failed ({ecps_request.failure or 'failed'})",
                failure=ecps_request.failure,
            )

    def note_expired(self, request: CibaRequest) -> None:
        """A request seen past its expiry without a decision: counted once (metrics and a
        ``CIBA_OUTCOME`` event), whichever worker or host sees it first."""
        if request.stored_state != PENDING:
            return  # approved then left unredeemed: decided, not unanswered
        if self.book.note_expiry_once(request):
            observe.ciba_expired(request, store=self.events)

    # -- tokens ---------------------------------------------------------------------------------
    def redeem(self, request: CibaRequest, client: Any, *, push: bool = False) -> dict[str, Any]:
        """Consume an approved request once and issue its tokens (OIDC Core §3.1.3.3 shape,
        ``auth_time``/``acr``/``amr``/``authMode`` always in the ID token). Push mode adds
        ``urn:openid:params:jwt:claim:auth_req_id`` and ``urn:openid:params:jwt:claim:rt_hash``
        (CIBA Core §10.3.1).

        :raises TokenRedemptionError: another redemption won, the professional is gone or
            inactive, or the session the approval opened is already over
            (``sso_max_lifetime``).
        :raises CertificateMissing: a poll or ping client whose tokens are bound to its
            certificate came without one (``santeid.oidc.tls_client_auth``); the request is
            consumed all the same, as Keycloak's ``CibaGrantType`` removes it before
            ``checkAndBindMtlsHoKToken`` refuses (docs/reference/keycloak-behaviour.md,
            "Token endpoint").
        """
        authentication = Authentication.from_dict(request.data["auth"])
        professional = self.directory.get(authentication.national_id)
        if professional is not None and not professional.is_active:
            # Keycloak's disabled user: CibaGrantType refuses before it removes the request
            # (docs/reference/keycloak-behaviour.md, "Disabled users"), so nothing is consumed.
            raise TokenRedemptionError(keycloak_errors.USER_DISABLED)
        # Poll and ping: the client is at the token endpoint, with its certificate if it
        # authenticated by one or registered its tokens bound to one (RFC 8705 §3). Push: the
        # certificate of the back-channel authentication request, if bound.
        if push:
            thumbprint = request.data.get("certificate_thumbprint")
        else:
            try:
                thumbprint = bound_certificate_thumbprint(client)
            except CertificateMissing:
                self.book.consume(request, {})
                raise
        # The family, the request's consumption and the token writes go to the store together
        # (one round trip, docs/storage.md), the family first so that the tombstone never
        # names a family not yet written.
        writes = self.tokens.store.batch()
        try:
            family = self.tokens.open_family(
                client=client,
                authentication=authentication,
                scope=request.scope,
                nonce=None,
                batch=writes,
            )
        except SessionEnded as exc:
            raise TokenRedemptionError(str(exc)) from None
        # Consumed by compare-and-set before any token is handed out: of two concurrent polls
        # only one gets tokens; the tombstone keeps the family id for replay revocation.
        consumed = self.book.consume_in(writes, request, {"fid": family.id})
        extra: dict[str, Any] = {"certificate_thumbprint": thumbprint}
        if push:
            extra["extra_id_claims"] = {AUTH_REQ_ID_CLAIM: self.notification_secrets(request)[0]}
            extra["with_rt_hash"] = True
        try:
            tokens = self.tokens.issue(
                client=client,
                authentication=authentication,
                scope=request.scope,
                family_id=family.id,
                nonce=None,
                include_refresh=client.check_grant_type(REFRESH_TOKEN) or push,
                opened=family,
                batch=writes,
                **extra,
            )
        except UnknownSubject as exc:
            self.tokens.revoke_family(family.id)
            if consumed.value is None:
                raise TokenRedemptionError("auth_req_id already used") from None
            if isinstance(exc, SubjectDisabled):  # made inactive since the check above
                raise TokenRedemptionError(keycloak_errors.USER_DISABLED) from None
            raise TokenRedemptionError("the professional is no longer in the directory") from None
        if consumed.value is None:
            self.tokens.revoke_family(family.id)
            raise TokenRedemptionError("auth_req_id already used")
        observe.token_issued(client.get_client_id(), client_meta.CIBA_GRANT_TYPE)
        return tokens

    def presented_again(self, request: CibaRequest) -> None:
        """A consumed ``auth_req_id`` presented again by its client: the tokens it gave are
        revoked (RFC 6749 §4.1.2's rule for codes, applied to this one-time grant), unless it
        is a ping client's answer to a ping sent while the request was approved, its poll
        having taken the tokens (``CibaRequestBook.answer_to_a_ping``: as many as there were
        pings)."""
        if self.book.answer_to_a_ping(request):
            log.info(
                "CIBA auth_req_id presented again by %s after its ping: already redeemed, "
                "nothing revoked",
                request.client_id,
            )
            return
        family_id = request.data.get("fid")
        if not family_id:
            # Spent by a poll refused for want of its certificate (redeem): no tokens.
            log.info("CIBA auth_req_id presented again by %s after its refusal", request.client_id)
            return
        self.tokens.revoke_family(family_id)
        log.warning("CIBA auth_req_id replayed by %s; its tokens are revoked", request.client_id)

    # -- ping and push ---------------------------------------------------------------------------
    def _seal(self, value: dict[str, Any]) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, json.dumps(value).encode(), b"ciba-notification")
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def notification_secrets(self, request: CibaRequest) -> tuple[str, str]:
        """The plain ``auth_req_id`` and ``client_notification_token`` of a ping/push request."""
        raw = base64.urlsafe_b64decode(request.data["notification"])
        try:
            plain = self._aead.decrypt(raw[:12], raw[12:], b"ciba-notification")
        except InvalidTag:
            raise ValueError(
                "the notification secrets cannot be opened (secret key changed?)"
            ) from None
        value = json.loads(plain)
        return value["id"], value["token"]

    def _after_decision(self, request: CibaRequest) -> None:
        if request.mode in client_meta.NOTIFIED_MODES and not getattr(
            self._polling, "active", False
        ):
            self.notifier.submit(self._deliver, request.key, client_id=request.client_id)

    def _ping_wanted(self, key: str) -> bool:
        """Before each attempt of a ping: a denied request is always pinged; an approved one
        while a poll has not redeemed it, each ping counted (``CibaRequestBook.note_ping``)
        by compare-and-set from ``approved``, so that none goes once the tokens are taken and
        each one sent excuses the one presentation of the used ``auth_req_id`` it may cause
        (:meth:`presented_again`)."""
        current = self.book.get_by_key(key)
        if current is None or current.stored_state == CONSUMED:
            return False
        return current.stored_state != APPROVED or self.book.note_ping(current) is not None

    def _deliver(self, key: str) -> None:
        """In a delivery thread: ping (CIBA Core §10.2) or push (§10.3) one decided request."""
        request = self.book.get_by_key(key)
        if request is None:
            return
        client = self.clients.get(request.client_id)
        if client is None:
            log.warning("CIBA notification dropped: client %s is gone", request.client_id)
            return
        url = client_meta.notification_endpoint(client)
        if not url:
            return
        if request.stored_state == CONSUMED:
            # Redeemed meanwhile (a poll of a ping client): the client has its tokens, and a
            # ping would make it present a used auth_req_id.
            log.info("CIBA notification to %s not sent: already redeemed", request.client_id)
            return
        still_wanted: Callable[[], bool] | None = None
        auth_req_id, bearer = self.notification_secrets(request)
        if request.mode == client_meta.PING:
            payload: dict[str, Any] = {"auth_req_id": auth_req_id}
            # Checked again before each attempt: a poll may redeem the request meanwhile.
            still_wanted = functools.partial(self._ping_wanted, key)
        elif request.stored_state == DENIED:
            # CIBA Core §12: push error payload.
            payload = {
                "auth_req_id": auth_req_id,
                "error": request.data.get("error", "access_denied"),
                "error_description": request.data.get("error_description", ""),
            }
        elif request.stored_state == APPROVED and request.state != "expired":
            # Push carries the tokens: none are minted for an endpoint the SSRF guard refuses.
            try:
                check_webhook_url(url, sandbox=self.notifier.sandbox)
            except WebhookRefused as exc:
                log.warning("CIBA push to %s refused by the SSRF guard: %s; no tokens issued",
                            request.client_id, exc)  # fmt: skip
                return
            try:
                payload = {"auth_req_id": auth_req_id, **self.redeem(request, client, push=True)}
            except TokenRedemptionError as exc:
                log.warning("CIBA push for %s not sent: %s", request.client_id, exc)
                return
            except SigningKeyUnavailable as exc:  # nothing consumed (docs/keys.md)
                log.error("CIBA push for %s not sent: %s", request.client_id, exc)
                return
        else:
            return
        status = self.notifier.send(
            url,
            payload,
            bearer=bearer,
            what=f"{request.mode} to {request.client_id}",
            # A request withdrawn for a newer one: one attempt, so that a client piling up
            # requests for one professional cannot keep its lane busy with retries.
            retry=request.data.get("failure") != FAILURE_REPLACED,
            still_wanted=still_wanted,
        )
        if "access_token" in payload and status is None:
            # Tokens no one received (refused at delivery, or never answered): revoked.
            consumed = self.book.get_by_key(key)
            if consumed is not None and consumed.data.get("fid"):
                self.tokens.revoke_family(consumed.data["fid"])
