"""``EcpsService``: the e-CPS mobile authenticator as the rest of santeid sees it.

One instance per application, ``app.extensions["santeid"].ecps`` (built by
:func:`santeid.create_services`). It needs no request context, so the login page, the CIBA
endpoint, the activation pages, the operators' command line and the tests all call it alike.

* :meth:`start_activation` — a single-use activation code (QR) for a professional of the
  directory (docs/reference/pro-sante-connect.md §13: "QR code … valable 90 s");
* :meth:`register_device` — the phone redeems the code with its public key and PIN;
* :meth:`create_browser_request` / :meth:`create_ciba_request` — ask the professional's
  phone; :meth:`get_request` / :meth:`cancel_request` — follow or withdraw it;
* :meth:`decide` — a decision JWT from the phone (``decisions.py``);
  :meth:`on_request_decided` — be told of each committed decision (the CIBA service);
* :meth:`verify_totp` — the offline code (``totp.py``).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import NoReturn
from urllib.parse import urlencode
from urllib.parse import urlsplit

from santeid.clock import Clock
from santeid.clock import system_clock
from santeid.db import DatabaseUnavailable
from santeid.db import storable
from santeid.ecps import totp as totp_module
from santeid.ecps.auth import public_jwk_and_thumbprint
from santeid.ecps.auth import verify_device_token
from santeid.ecps.decisions import DecisionOutcome
from santeid.ecps.decisions import process_decision
from santeid.ecps.devices import Device
from santeid.ecps.devices import DeviceRepository
from santeid.ecps.devices import DuplicateKey
from santeid.ecps.pin import PinHasher
from santeid.ecps.pin import is_valid_pin
from santeid.ecps.problems import Problem
from santeid.ecps.push import PushNotifier
from santeid.ecps.push import PushSubscriptionRepository
from santeid.ecps.requests import FAILURE_REPLACED
from santeid.ecps.requests import KIND_BROWSER
from santeid.ecps.requests import KIND_CIBA
from santeid.ecps.requests import AuthRequest
from santeid.ecps.requests import RequestBook
from santeid.ecps.totp import TotpError
from santeid.ecps.totp import TotpVerifier
from santeid.ecps.webhooks import WebhookNotifier
from santeid.ecps.webhooks import WebhookRefused
from santeid.ecps.webhooks import check_webhook_url
from santeid.observability import record as observe
from santeid.observability.events import EventStore
from santeid.storage import StoreUnavailable
from santeid.storage import keys
from santeid.storage.records import ECPS_ACTIVATION_CODE
from santeid.storage.records import RecordBook

log = logging.getLogger(__name__)

#: Scheme of the activation URI the QR code holds (read by the phone app).
ACTIVATION_SCHEME = "santeid-ecps"
#: Longest device name kept.
MAX_NAME_LENGTH = 100
#: Seconds an "already used" tombstone of an activation code is kept, to tell a second use
#: apart from a typo or an expired code (beside its key, whose documented lifetime it is).
USED_CODE_MEMORY = keys.USED_ACTIVATION_CODE_MEMORY


class ActivationError(ValueError):
    """No activation code for this professional; ``code`` is ``unknown_professional`` or
    ``inactive_professional``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Activation:
    """A fresh activation code. ``app_link`` (``https://…/ecps/app/#activation=<code>``) is
    what the QR code holds: a phone's camera opens the e-CPS app with it, and the code stays
    in the URL fragment, which browsers never send to a server (RFC 3986 §3.5). ``uri`` is
    the same code in the ``santeid-ecps://`` scheme that the device simulator also reads;
    ``code`` can be typed in the app."""

    #: The code, and the two links holding it, are out of the ``repr``: a bearer secret.
    code: str = field(repr=False)
    expires_at: int
    uri: str = field(repr=False)
    national_id: str = ""
    app_link: str = field(default="", repr=False)

    def to_dict(self) -> dict:
        """As ``santeid ecps activate --json`` prints it and the sandbox control API answers
        it (docs/ecps-activation.md)."""
        return {
            "national_id": self.national_id,
            "code": self.code,
            "expires_at": self.expires_at,
            "uri": self.uri,
            "app_link": self.app_link,
        }


#: Path of the e-CPS app (``santeid.ecps_app``) on the issuer's origin.
APP_PATH = "/ecps/app/"
#: Name of the activation code in the app link's fragment.
APP_LINK_PARAMETER = "activation"


def app_url(settings: Any) -> str:
    """The e-CPS app's address: ``ecps_app_url`` or ``{issuer origin}/ecps/app/``."""
    return settings.ecps.app_url or server_origin(settings.issuer) + APP_PATH


def app_link(settings: Any, code: str) -> str:
    """``{app}#activation=<code>`` (the code is URL-safe base64: no escaping needed)."""
    return f"{app_url(settings)}#{urlencode({APP_LINK_PARAMETER: code})}"


def server_origin(issuer: str) -> str:
    """``scheme://host[:port]`` of the issuer (RFC 6454 §4): the device API's audience."""
    parts = urlsplit(issuer)
    return f"{parts.scheme}://{parts.netloc}"


class _AnnouncingRequestBook(RequestBook):
    """The request book, telling listeners about each committed decision: every status change
    goes through :meth:`RequestBook.decide`, whose compare-and-set has exactly one winner."""

    def __init__(self, store: Any, *, clock: Callable[[], float], listeners: list) -> None:
        super().__init__(store, clock=clock)
        self._listeners = listeners

    def decide(
        self, request_id: str, changes: dict[str, Any], *, current: AuthRequest | None = None
    ) -> AuthRequest | None:
        decided = super().decide(request_id, changes, current=current)
        if decided is not None:
            observe.ecps_decided(decided)
            for listener in self._listeners:
                try:
                    listener(decided)
                except Exception:  # noqa: BLE001 — a listener must not undo a decision
                    log.exception("listener of e-CPS request %s failed", request_id)
        return decided


class EcpsService:
    """See the module docstring. ``TotpError`` and ``ActivationError`` are reachable as
    attributes so callers holding only the service can catch them."""

    TotpError = TotpError
    ActivationError = ActivationError

    def __init__(
        self,
        settings: Any,
        store: Any,
        directory: Any,
        *,
        devices: DeviceRepository | None = None,
        pins: PinHasher | None = None,
        notifier: WebhookNotifier | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.settings = settings
        self.store = store
        self.directory = directory
        self.clock = clock
        self.devices = devices or DeviceRepository.for_settings(settings, clock=clock)
        self.pins = pins or PinHasher()
        self.notifier = notifier or WebhookNotifier(sandbox=settings.sandbox.enabled)
        # Web Push to the e-CPS app (push.py): subscriptions beside the devices.
        self.push_subscriptions = PushSubscriptionRepository(self.devices.db, clock=clock)
        self.push = PushNotifier(
            settings.keys_path,
            contact=f"mailto:{settings.messaging.smtp_from}",
            sandbox=settings.sandbox.enabled,
            gone=self.push_subscriptions.delete,
            clock=clock,
        )
        #: Activation codes (QR): consumed once, a ``used`` tombstone tells a second use apart.
        self.activation_codes = RecordBook(store, ECPS_ACTIVATION_CODE, clock=clock)
        self._decided_listeners: list[Callable[[AuthRequest], None]] = []
        self.requests = _AnnouncingRequestBook(
            store, clock=clock, listeners=self._decided_listeners
        )
        self.totp = TotpVerifier(store, self.devices, settings, clock=clock)

    @property
    def origin(self) -> str:
        return server_origin(self.settings.issuer)

    # -- activation and registration -------------------------------------------------------
    def start_activation(self, national_id: str) -> Activation:
        """A single-use code (128 random bits) valid ``ecps_activation_code_lifetime`` s.

        :raises ActivationError: the professional is not in the directory or not active.
        """
        professional = self.directory.get(national_id)
        if professional is None:
            raise ActivationError("unknown_professional", f"{national_id} is not in the directory")
        if not professional.is_active:
            raise ActivationError("inactive_professional", f"{national_id} is not active")
        code = secrets.token_urlsafe(16)
        lifetime = self.settings.ecps.activation_code_lifetime
        now = int(self.clock())
        record = {"national_id": professional.national_id, "created_at": now}
        # Stored by digest (the kind's hashed id): a dump of the store reveals no usable code.
        created = self.activation_codes.create(code, record, lifetime=lifetime)
        return self._activation(code, professional.national_id, created["expires_at"])

    def _activation(self, code: str, national_id: str, expires_at: int) -> Activation:
        uri = f"{ACTIVATION_SCHEME}://activate?" + urlencode({"server": self.origin, "code": code})
        return Activation(
            code=code,
            expires_at=expires_at,
            uri=uri,
            national_id=national_id,
            app_link=app_link(self.settings, code),
        )

    def issued_activation(self, code: Any) -> Activation | None:
        """The activation of ``code`` while a phone may still redeem it (issued, not expired,
        not used), as :meth:`start_activation` answered it; else ``None``. What the
        activation page shows again when it is reloaded."""
        issued = self.activation_codes.get(code)
        if issued is None or issued.state != "issued" or issued.expired:
            return None
        return self._activation(code, issued["national_id"], int(issued["expires_at"]))

    def check_webhook(self, url: Any) -> str | None:
        """``None`` for no webhook, else the URL if allowed; raises ``Problem``."""
        if url is None or url == "":
            return None
        try:
            check_webhook_url(url, sandbox=self.settings.sandbox.enabled)
        except WebhookRefused as exc:
            raise Problem("invalid_webhook_url", str(exc)) from None
        return url

    def register_device(
        self,
        *,
        activation_code: Any,
        public_jwk: Any,
        pin: Any,
        name: Any = None,
        webhook_url: Any = None,
    ) -> Device:
        """Redeem an activation code: the phone's public key and PIN become a device.

        Everything the phone sent is checked *before* the code is consumed, so a typo in the
        PIN does not burn the code; and a database outage while the device is written gives the
        code back before :data:`~santeid.db.DatabaseUnavailable` propagates (the API answers
        503), so the phone can retry with it. So does a key registered by a concurrent
        registration after the key check (``public_key_in_use``). Raises :class:`Problem`.
        """
        if not isinstance(activation_code, str) or not 0 < len(activation_code) <= 128:
            raise Problem("invalid_request", "'activation_code' (a string) is required")
        if not is_valid_pin(pin):
            raise Problem("invalid_pin", "the PIN must be a string of 4 to 8 digits")
        try:
            jwk, thumbprint = public_jwk_and_thumbprint(public_jwk)
        except ValueError as exc:
            raise Problem("invalid_public_key", str(exc)) from None
        if name is not None and not isinstance(name, str):
            raise Problem("invalid_request", "'name' must be a string")
        name = (name or "").strip()[:MAX_NAME_LENGTH]
        if not storable(name):
            raise Problem(
                "invalid_request", "'name' must not contain a NUL character or a lone surrogate"
            )
        codes = self.activation_codes
        # The code is looked at (not consumed) before the webhook's host name is resolved:
        # without a live code, nobody makes the server look up names of their choosing.
        issued = codes.get(activation_code)
        if issued is None or issued.state != "issued" or issued.expired:
            self._refuse_activation_code(issued)
        webhook_url = self.check_webhook(webhook_url)
        if self.devices.get_by_thumbprint(thumbprint) is not None:
            raise Problem("public_key_in_use", "make a new key pair for each activation")

        record = codes.consume(
            codes.key(activation_code), "issued", tombstone_lifetime=USED_CODE_MEMORY
        )
        if record is None:
            self._refuse_activation_code(codes.get(activation_code))
        national_id = record["national_id"]
        try:
            professional = self.directory.get(national_id)
            if professional is None or not professional.is_active:
                raise Problem("professional_inactive", f"{national_id} is no longer active")
            device = self.devices.create(
                national_id=national_id,
                public_jwk=jwk,
                jwk_thumbprint=thumbprint,
                pin_hash=self.pins.hash(pin),
                totp_secret=totp_module.new_secret(),
                name=name,
                sandbox_enrolled=bool(self.settings.sandbox.enabled),
                webhook_url=webhook_url,
            )
        except DuplicateKey:
            # Another registration of this key was written between the key check above and
            # now (the database's unique key decides the race): the key was refused, not the
            # code, which is given back as the key check would have left it.
            self._give_back_activation_code(record)
            raise Problem("public_key_in_use", "make a new key pair for each activation") from None
        except DatabaseUnavailable:
            # No device was written: the outage must not burn the code (answered 503).
            self._give_back_activation_code(record)
            raise
        log.info("e-CPS device %s registered for %s", device.device_id, national_id)
        observe.ecps_activated(device)
        return device

    def _give_back_activation_code(self, consumed: Any) -> None:
        """Make a code consumed by this registration ``issued`` again (``RecordBook.give_back``:
        only if its ``used`` tombstone is still this registration's), so that the phone can
        retry with it. A store outage meanwhile leaves the code used: it is logged, and the
        database outage being answered is what the caller raises."""
        try:
            given = self.activation_codes.give_back(consumed, "issued")
        except StoreUnavailable as exc:
            log.error("e-CPS activation code could not be given back: %s", exc)
            return
        if given is None:
            log.warning("e-CPS activation code was no longer this registration's to give back")
        else:
            log.info("e-CPS activation code given back: the device could not be written")

    @staticmethod
    def _refuse_activation_code(seen: Any) -> NoReturn:
        """Raise the problem of an activation code that cannot be redeemed (``seen``: its
        record as read now, or ``None``)."""
        if seen is not None and seen.state == "used" and not seen.consumed_late:
            raise Problem("activation_code_used", "ask for a new activation code")
        raise Problem("invalid_activation_code", "unknown or expired activation code")

    def totp_uri(self, device: Device) -> str:
        return totp_module.provisioning_uri(device.totp_secret, device.national_id)

    def set_webhook(self, device: Device, url: Any) -> Device:
        self.devices.set_webhook(device.device_id, self.check_webhook(url))
        updated = self.devices.get(device.device_id)
        assert updated is not None
        return updated

    def revoke_device(self, device_id: str, *, command_events: EventStore | None = None) -> bool:
        """Revoke the device, whoever asks (its phone, the e-CPS page, the console, the CLI);
        the ``DEVICE_REVOCATION`` event names its professional, as the other device events do,
        so that the professional's events list it (docs/operations.md). ``command_events``:
        the event store of an operator's command (no application at hand)."""
        device = self.devices.get(device_id)
        revoked = self.devices.revoke(device_id)
        # A revoked device is never woken again: its push subscription goes with it.
        self.push_subscriptions.delete(device_id)
        if revoked:
            log.info("e-CPS device %s revoked", device_id)
            observe.ecps_revoked(
                device_id,
                professional=device.national_id if device else None,
                store=command_events,
            )
        return revoked

    # -- device API -----------------------------------------------------------------------
    def authenticate_device(self, token: str, *, allow_inactive: bool = False):
        """The device behind a device JWT (``auth.py``); raises ``Problem``."""
        return verify_device_token(
            token,
            devices=self.devices,
            store=self.store,
            origin=self.origin,
            allow_inactive=allow_inactive,
            clock=self.clock,
        )

    def pending_for_device(self, device: Device) -> list[dict[str, Any]]:
        """What ``GET /ecps/device/requests`` lists: the professional's pending requests.

        The sandbox hint (``sandbox_expected_code``) is added only while the server is in
        sandbox mode *and* for a device enrolled in sandbox mode, so a device enrolled on a
        real server never learns a code even if the server is later switched to sandbox.
        """
        hint = bool(self.settings.sandbox.enabled and device.sandbox_enrolled)
        return [
            request.device_view(sandbox_hint=hint)
            for request in self.requests.pending_for(device.national_id)
        ]

    def decide(self, request_id: str, token: Any) -> DecisionOutcome:
        return process_decision(self, request_id, token)

    def on_request_decided(self, callback: Callable[[AuthRequest], None]) -> None:
        """Call ``callback(request)`` after each decision commits (approved, denied, failed,
        cancelled), once per request, in the deciding thread; the CIBA service completes its
        request (and pings the client) from there. Exceptions of a callback are logged."""
        self._decided_listeners.append(callback)

    # -- requests -----------------------------------------------------------------------------
    def create_browser_request(
        self,
        national_id: str,
        *,
        client_name: str,
        client_id: str | None = None,
        requested_from: str | None = None,
        sandbox_phone: dict[str, Any] | None = None,
    ) -> AuthRequest:
        """A request for the login page; show ``.code`` there. Lives ``ecps_request_lifetime``.

        ``client_id`` and ``requested_from`` (the browser's address) are shown on the phone, so
        the professional sees where a request comes from before approving it. ``sandbox_phone``:
        a request of the sandbox phone (``RequestBook.create``)."""
        request = self.requests.create(
            national_id,
            kind=KIND_BROWSER,
            client_name=client_name,
            lifetime=self.settings.ecps.request_lifetime,
            client_id=client_id,
            requested_from=requested_from,
            sandbox_phone=sandbox_phone,
        )
        self._withdraw_older(request)
        self._notify(request)
        return request

    def create_ciba_request(
        self,
        national_id: str,
        *,
        client_name: str,
        binding_message: str | None,
        expires_in: int,
        client_id: str | None = None,
        sandbox_phone: dict[str, Any] | None = None,
    ) -> AuthRequest:
        """A CIBA request (docs/reference/pro-sante-connect.md §14): the phone shows
        ``binding_message``, no code to pick.
        The caller validates ``binding_message`` and ``expires_in`` against CIBA's rules.
        ``sandbox_phone``: as for :meth:`create_browser_request`."""
        request = self.requests.create(
            national_id,
            kind=KIND_CIBA,
            client_name=client_name,
            lifetime=int(expires_in),
            binding_message=binding_message,
            client_id=client_id,
            sandbox_phone=sandbox_phone,
        )
        self._withdraw_older(request)
        self._notify(request)
        return request

    def _withdraw_older(self, newest: AuthRequest) -> None:
        """Keep at most ``ecps_max_pending_requests`` pending requests per professional: the
        oldest beyond are withdrawn (``failure`` ``replaced``). A professional approves one
        login at a time (the phone shows the code of one login page), and a bound stops anyone
        who starts logins from piling approval requests on a professional's phone.

        The sandbox phone is no phone: its requests are neither withdrawn nor counted, and it
        answers each of them by its scenario, so that parallel test jobs logging in one sandbox
        professional each get their own answer (docs/sandbox.md)."""
        if newest.sandbox_phone is not None:
            return
        pending = [
            request
            for request in self.requests.pending_for(newest.national_id, besides=newest.request_id)
            if request.sandbox_phone is None
        ]
        excess = len(pending) + 1 - self.settings.ecps.max_pending_requests
        for request in pending[: max(0, excess)]:
            self.requests.decide(
                request.request_id,
                {"status": "failed", "failure": FAILURE_REPLACED},
                current=request,
            )

    def get_request(self, request_id: str) -> AuthRequest | None:
        return self.requests.get(request_id)

    def cancel_request(self, request_id: str) -> None:
        """Withdraw a pending request (no-op if it is decided, expired or unknown)."""
        self.requests.cancel(request_id)

    def _notify(self, request: AuthRequest) -> None:
        devices = self.devices.active_for(request.national_id)
        urls = [device.webhook_url for device in devices if device.webhook_url]
        if urls:
            self.notifier.notify(urls, request.request_id)
        subscriptions = self.push_subscriptions.for_devices(d.device_id for d in devices)
        if subscriptions:
            self.push.notify(subscriptions, request)

    # -- offline code ---------------------------------------------------------------------------
    def verify_totp(self, national_id: str, code: str, *, origin: str = "") -> Device:
        """The device whose offline code this is; raises :class:`TotpError` (``no_device``,
        ``invalid_code``, ``replayed_code``, ``locked``). ``origin`` (the client address) is
        what a lock after wrong codes applies to (``totp.py``)."""
        return self.totp.verify(national_id, code, origin=origin)
