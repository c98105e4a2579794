"""The two validation codes of self-service e-CPS activation
(docs/reference/pro-sante-connect.md §13: the arrêté du 4 avril 2022 allows activating an
e-CPS "en saisissant deux codes de validation … envoyés respectivement au téléphone et à
l'adresse e-mail enregistrés dans l'annuaire"). The pages are ``santeid.web_ecps.activation``.

* The pair is a record of kind :data:`~santeid.storage.records.ECPS_CODE_PAIR`,
  :data:`CODE_LIFETIME` seconds, as HMAC-SHA256 digests keyed with the application secret (a
  copy of the store alone does not give the codes away, although 10⁶ candidates would be
  quick to try).
* Every attempt is counted *before* the comparison (the limit ``ecps-activation-codes`` of
  ``santeid.rate_limits``), so even concurrent guesses get at most :data:`MAX_ATTEMPTS` tries;
  the fifth wrong attempt deletes the pair.
  Both codes are compared with :func:`hmac.compare_digest`, always both.
* A right pair is consumed (deleted atomically, ``RecordBook.consume``): it serves once.
* Sends are limited per professional (``ecps_activation_sends_per_professional``: no SMS
  flooding of a colleague's phone) *and* per requesting address
  (``ecps_activation_sends_per_address``), in windows of ``ecps_activation_window`` seconds, so
  one stranger cannot spend the professional's budget alone.
* A new pair cancels the previous one *of the same browser* only: a stranger asking codes for
  the professional never cancels the pair the professional's own browser started
  (``docs/security.md``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from santeid import rate_limits
from santeid.clock import system_clock
from santeid.storage import keys
from santeid.storage.records import ECPS_CODE_PAIR
from santeid.storage.records import RecordBook

#: Seconds the two codes stay valid (beside their keys, whose documented lifetime it is).
CODE_LIFETIME = keys.ECPS_CODE_PAIR_LIFETIME
#: Attempts (right or wrong) allowed on one pair; the last wrong one deletes the pair.
TRIES = rate_limits.ECPS_ACTIVATION_CODES.of()
MAX_ATTEMPTS = TRIES.limit
CODE_DIGITS = 6
_FLOW_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class Verification:
    """Outcome of :meth:`CodePairs.verify`: ``ok``, ``wrong``, ``locked`` or ``expired``."""

    outcome: str
    record: dict | None = None
    remaining: int = 0


class CodePairs:
    """The two activation codes of each flow, in the ephemeral store."""

    def __init__(self, store, secret: bytes, *, clock=system_clock) -> None:
        self.store = store
        self.secret = secret
        self.clock = clock
        self.pairs = RecordBook(store, ECPS_CODE_PAIR, clock=clock)

    def _key(self, flow: str) -> str:
        return self.pairs.key(flow)

    @staticmethod
    def _tries_key(flow: str) -> str:
        return TRIES.key(flow)

    def _digest(self, flow: str, channel: str, code: str) -> str:
        # The flow and channel are in the MAC: a digest cannot be moved to another flow or
        # swapped between the e-mail and the SMS.
        message = f"{flow}|{channel}|{code}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def throttled(self, national_id: str, address: str, settings) -> rate_limits.Limit | None:
        """Count one sending for the requesting address, then for this professional; the
        limit (``ecps_activation_sends_per_*``) this sending is beyond, which the refusal
        names, or ``None``."""
        per_address = rate_limits.ECPS_ACTIVATION_ADDRESS.of(settings)
        if per_address.hit(self.store, address):
            # Refused for this requester: the professional's budget is not spent.
            return per_address
        per_professional = rate_limits.ECPS_ACTIVATION_PROFESSIONAL.of(settings)
        return per_professional if per_professional.hit(self.store, national_id) else None

    @staticmethod
    def _current_key(national_id: str, bid: str) -> str:
        # Per professional *and browser*: a pair started elsewhere is never cancelled here.
        return keys.ECPS_CODE_PAIR_CURRENT.key(national_id, keys.digest(bid, 32))

    def create(self, national_id: str, *, bid: str, **details: Any) -> tuple[str, str, str]:
        """A new pair for this professional, replacing any previous one; returns
        ``(flow, email_code, sms_code)`` — the codes exist in clear only in the messages."""
        flow = secrets.token_urlsafe(24)
        email_code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        sms_code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        record = {
            "national_id": national_id,
            "bid": bid,
            "email_digest": self._digest(flow, "email", email_code),
            "sms_digest": self._digest(flow, "sms", sms_code),
            "created_at": int(self.clock()),
            **details,
        }
        current_key = self._current_key(national_id, bid)
        previous = self.store.get(current_key)
        if previous is not None:
            # One live pair per professional and browser: codes of this browser's older
            # request stop working; other browsers' pairs are left alone.
            self.discard(previous["flow"])
        self.pairs.create(flow, record, lifetime=CODE_LIFETIME)
        self.store.put(current_key, {"flow": flow}, CODE_LIFETIME)
        return flow, email_code, sms_code

    def get(self, flow: str | None) -> dict | None:
        if not flow or not isinstance(flow, str) or not _FLOW_RE.match(flow):
            return None
        pair = self.pairs.get(flow)
        return None if pair is None else pair.data

    def verify(self, flow: str, email_code: str, sms_code: str) -> Verification:
        """Check both codes; consume the pair when they are right (single use)."""
        if self.get(flow) is None:
            return Verification("expired")
        # Counted before comparing: concurrent guesses cannot exceed MAX_ATTEMPTS.
        tries = TRIES.count(self.store, flow)
        if tries.beyond:
            self.discard(flow)
            return Verification("locked")
        record = self.get(flow)
        if record is None:
            return Verification("expired")
        email_ok = hmac.compare_digest(
            self._digest(flow, "email", email_code), record["email_digest"]
        )
        sms_ok = hmac.compare_digest(self._digest(flow, "sms", sms_code), record["sms_digest"])
        if email_ok and sms_ok:
            consumed = self.pairs.consume(self._key(flow))
            TRIES.clear(self.store, flow)
            if consumed is None:
                # Another request consumed it first: codes are single use.
                return Verification("expired")
            return Verification("ok", consumed.data)
        if tries.spent:
            self.discard(flow)
            return Verification("locked")
        return Verification("wrong", record, remaining=tries.limit - tries.hits)

    def discard(self, flow: str) -> None:
        self.store.delete(self._key(flow), self._tries_key(flow))
