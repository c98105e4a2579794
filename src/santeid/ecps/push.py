"""Web Push for the e-CPS app: a login request wakes the phone while the app is closed.

* The app subscribes through the browser's push service (Push API) and hands santeid the
  subscription (``POST /ecps/device/push``): the push service's endpoint URL and the
  browser's keys ``p256dh`` (P-256 public key) and ``auth`` (16-byte secret).
* When a request is created for the professional, santeid POSTs to each active device's
  endpoint (RFC 8030 §5) a message encrypted for that browser alone (RFC 8291, content
  coding ``aes128gcm`` of RFC 8188; ``http_ece``), authenticated to the push service with a
  VAPID JWT signed by the server's key (RFC 8292; ``py_vapid``). The message holds the
  request id, a title and a line naming the service, so the notification reads well; the
  app then fetches the request through the authenticated device API, as with a webhook.
* The VAPID key is a P-256 key in ``{keys_dir}/vapid-private.pem`` (:mod:`santeid.keys.vapid`:
  made by ``santeid keys generate`` with the other keys, else at start-up if missing; mode
  0600; never committed); the app gets its public half from ``GET /ecps/device/push``. A
  keys directory that has none and cannot hold one disables Web Push (logged), nothing
  else.
* Subscriptions are kept with the devices (table ``push_subscriptions`` of the e-CPS
  component of :mod:`santeid.db`: ``{data_dir}/ecps.sqlite3`` or the shared PostgreSQL
  database), one per device, removed when the device is revoked.

The endpoint is chosen by whoever holds the device: it goes through the webhooks' guard and
pinned transport (``webhooks.deliver``: ``https`` only, public addresses only, no redirects;
in sandbox mode ``http://127.0.0.1`` too, for the tests' stand-in push service).
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
from collections.abc import Callable
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from santeid import db
from santeid.clock import Clock
from santeid.clock import system_clock
from santeid.ecps.devices import FILE_NAME
from santeid.ecps.devices import SCHEMA as DEVICES_SCHEMA
from santeid.ecps.webhooks import TIMEOUT
from santeid.ecps.webhooks import WebhookRefused
from santeid.ecps.webhooks import check_webhook_url
from santeid.ecps.webhooks import deliver
from santeid.keys.vapid import make_vapid_key
from santeid.keys.vapid import vapid_key_path

log = logging.getLogger(__name__)

#: Longest push endpoint accepted (the webhook URL limit).
MAX_ENDPOINT_LENGTH = 2048
#: Texts of the notification, by the app's language.
TEXTS = {
    "fr": ("Demande de connexion e-CPS", "{service} demande votre validation."),
    "en": ("e-CPS login request", "{service} asks for your approval."),
}


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class InvalidSubscription(ValueError):
    """The subscription is not a Push API subscription santeid may use; says why."""


@dataclass(frozen=True)
class PushSubscription:
    device_id: str
    endpoint: str
    p256dh: str
    #: The subscription's authentication secret (RFC 8291 §3.2): out of the ``repr``.
    auth: str = field(repr=False)
    lang: str = "fr"

    @classmethod
    def parse(cls, device_id: str, document: Any, lang: Any, *, sandbox: bool) -> PushSubscription:
        """From ``PushSubscription.toJSON()`` (W3C Push API §4): ``{endpoint, keys: {p256dh,
        auth}}``. The keys must decode to a P-256 point and 16 bytes (RFC 8291 §3)."""
        if not isinstance(document, dict):
            raise InvalidSubscription("'subscription' must be PushSubscription.toJSON()")
        endpoint = document.get("endpoint")
        keys = document.get("keys")
        if not isinstance(endpoint, str) or len(endpoint) > MAX_ENDPOINT_LENGTH:
            raise InvalidSubscription("'endpoint' must be a URL of at most 2048 characters")
        try:
            check_webhook_url(endpoint, sandbox=sandbox)
        except WebhookRefused as exc:
            raise InvalidSubscription(f"the push endpoint is not allowed: {exc}") from None
        if not isinstance(keys, dict):
            raise InvalidSubscription("'keys' {p256dh, auth} is required")
        p256dh, auth = keys.get("p256dh"), keys.get("auth")
        if not isinstance(p256dh, str):
            raise InvalidSubscription("'p256dh' must be a P-256 public key (base64url)")
        if not isinstance(auth, str):
            raise InvalidSubscription("'auth' must be 16 bytes (base64url)")
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(p256dh))
            auth_ok = len(b64url_decode(auth)) == 16
        except (TypeError, ValueError, AttributeError):
            raise InvalidSubscription("'p256dh' must be a P-256 public key (base64url)") from None
        if not auth_ok:
            raise InvalidSubscription("'auth' must be 16 bytes (base64url)")
        return cls(device_id, endpoint, p256dh, auth, "en" if lang == "en" else "fr")


class PushSubscriptionRepository:
    """The ``push_subscriptions`` table, beside ``devices`` in the e-CPS component of
    :mod:`santeid.db` (its schema is the devices' :data:`~santeid.ecps.devices.SCHEMA`), so
    that every host sharing a database notifies the same phones. One statement per method."""

    def __init__(self, database: Path | str | db.Database, *, clock: Clock = system_clock) -> None:
        self.db = (
            database
            if isinstance(database, db.Database)
            else db.SqliteDatabase(database, durable=True)
        )
        self.clock = clock

    @classmethod
    def for_data_dir(cls, data_path: Path, **kwargs: Any) -> PushSubscriptionRepository:
        return cls(Path(data_path) / FILE_NAME, **kwargs)

    def _run(self, sql: str, params: tuple = ()) -> list[tuple]:
        db.ensure(self.db, DEVICES_SCHEMA)
        return self.db.execute(sql, params).rows

    def put(self, subscription: PushSubscription) -> None:
        """Keep the device's subscription, replacing its previous one."""
        self._run(
            "INSERT INTO push_subscriptions (device_id, endpoint, p256dh, auth, lang, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET"
            " endpoint = excluded.endpoint, p256dh = excluded.p256dh, auth = excluded.auth,"
            " lang = excluded.lang, created_at = excluded.created_at",
            (
                subscription.device_id,
                subscription.endpoint,
                subscription.p256dh,
                subscription.auth,
                subscription.lang,
                int(self.clock()),
            ),
        )

    def get(self, device_id: str) -> PushSubscription | None:
        rows = self._run(
            "SELECT device_id, endpoint, p256dh, auth, lang FROM push_subscriptions"
            " WHERE device_id = ?",
            (device_id,),
        )
        return PushSubscription(*rows[0]) if rows else None

    def for_devices(self, device_ids: Iterable[str]) -> list[PushSubscription]:
        found = (self.get(device_id) for device_id in device_ids)
        return [subscription for subscription in found if subscription is not None]

    def delete(self, device_id: str) -> None:
        self._run("DELETE FROM push_subscriptions WHERE device_id = ?", (device_id,))


def load_vapid_key(keys_dir: Path | str) -> Vapid02:
    """The server's VAPID key (:mod:`santeid.keys.vapid`), made on first use if missing."""
    make_vapid_key(keys_dir)
    return Vapid02.from_pem(vapid_key_path(keys_dir).read_bytes())


def vapid_public_key(vapid: Vapid02) -> str:
    """The ``applicationServerKey`` of ``PushManager.subscribe``: the uncompressed P-256
    point, base64url (RFC 8292 §3.2)."""
    return b64url(
        vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )


def encrypt(subscription: PushSubscription, payload: bytes) -> bytes:
    """RFC 8291 message encryption (``aes128gcm``, RFC 8188) for this browser only."""
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    return http_ece.encrypt(
        payload,
        salt=secrets.token_bytes(16),
        private_key=ephemeral,
        dh=b64url_decode(subscription.p256dh),
        auth_secret=b64url_decode(subscription.auth),
        version="aes128gcm",
    )


class PushNotifier:
    """Sends push messages on a thread pool: never blocks the caller, never raises."""

    def __init__(
        self,
        keys_dir: Path | str,
        *,
        contact: str,
        sandbox: bool,
        gone: Callable[[str], None] | None = None,
        max_workers: int = 4,
        timeout: float = TIMEOUT,
        clock: Clock = system_clock,
    ) -> None:
        self.clock = clock
        self.keys_dir = Path(keys_dir)
        self.gone = gone
        self.contact = contact
        self.sandbox = sandbox
        self.timeout = timeout
        self._vapid: Vapid02 | None = None
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="web-push")

    @property
    def vapid(self) -> Vapid02:
        with self._lock:
            if self._vapid is None:
                self._vapid = load_vapid_key(self.keys_dir)
            return self._vapid

    def prepare(self) -> bool:
        """Load (or make) the VAPID key now, at start-up; ``False`` — logged — when the keys
        directory cannot hold it: the app then works without notifications."""
        try:
            self.vapid  # noqa: B018 — loads the key
        except (OSError, ValueError) as exc:
            log.warning("Web Push disabled: no VAPID key in %s (%s)", self.keys_dir, exc)
            return False
        return True

    @property
    def public_key(self) -> str | None:
        """The ``applicationServerKey``, or ``None`` when Web Push is unavailable."""
        return vapid_public_key(self.vapid) if self.prepare() else None

    def notify(self, subscriptions: Iterable[PushSubscription], request: Any) -> None:
        if not self.prepare():
            return
        for subscription in subscriptions:
            try:
                self._executor.submit(self._send, subscription, request)
            except RuntimeError:  # the pool is shut down (interpreter exit)
                log.warning("push for request %s not sent: shutting down", request.request_id)

    def message(self, subscription: PushSubscription, request: Any) -> bytes:
        title, body = TEXTS[subscription.lang]
        document = {
            "request_id": request.request_id,
            "title": title,
            "body": body.format(service=request.client_name),
        }
        return json.dumps(document, ensure_ascii=False).encode()

    def send(self, subscription: PushSubscription, request: Any) -> int:
        """Encrypt, sign and POST one message; the push service's HTTP status."""
        parts = urlsplit(subscription.endpoint)
        # RFC 8292 §2: "aud" is the push resource's origin; "exp" within 24 h (py_vapid: 24 h).
        claims = {"aud": f"{parts.scheme}://{parts.netloc}", "sub": self.contact}
        headers = self.vapid.sign(claims)
        ttl = max(0, int(request.expires_at - self.clock()))
        headers.update(
            {
                "Content-Type": "application/octet-stream",
                "Content-Encoding": "aes128gcm",
                # RFC 8030 §5.2–5.3: useless once the request expires; wake the phone now.
                "TTL": str(ttl),
                "Urgency": "high",
            }
        )
        return deliver(
            subscription.endpoint,
            encrypt(subscription, self.message(subscription, request)),
            sandbox=self.sandbox,
            timeout=self.timeout,
            headers=headers,
            user_agent="santeid-ecps-push",
        )

    def _send(self, subscription: PushSubscription, request: Any) -> None:
        try:
            status = self.send(subscription, request)
        except Exception as exc:  # noqa: BLE001 — a push must never break anything
            log.warning("push for request %s failed: %s", request.request_id, exc)
            return
        if status in (404, 410) and self.gone is not None:
            # RFC 8030 §7.3: the subscription has expired or was cancelled: forget it. The
            # endpoint is a capability URL: the log names the device, never the endpoint.
            self.gone(subscription.device_id)
            log.info(
                "push subscription of e-CPS device %s removed: the push service answered %s"
                " (expired or cancelled)",
                subscription.device_id,
                status,
            )
        elif not 200 <= status < 300:
            log.warning("push for request %s answered %s", request.request_id, status)

    def shutdown(self, wait: bool = False) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=not wait)
