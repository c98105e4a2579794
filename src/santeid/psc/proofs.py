"""What each way of proving one's identity tells clients: PSC's ``authMode``, ``acr``, ``amr``.

The one mapping every login path uses — the browser login (sandbox, e-CPS, offline code, CPS
card), CIBA (sandbox, e-CPS, card) — so that a client switching on ``authMode`` or ``acr``
sees the same values whichever endpoint issued the token.

* ``authMode`` (docs/reference/pro-sante-connect.md §11): PSC sends ``CARD`` for a CPS card
  and ``MOBILE`` for the e-CPS application; no other value has ever been observed. The sandbox
  authenticator stands in for an e-CPS approval on the phone (it approves the professionals
  who have no device yet), so it reports ``MOBILE``: a client never sees a value PSC would not
  send. Its ``amr`` (``["sandbox"]``) is what tells a sandbox login apart.
* ``acr``: settings ``default_acr`` (sandbox), ``ecps_acr`` (e-CPS, offline code) and
  ``card_acr`` (card) — ``eidas1`` / ``eidas1`` / ``eidas3`` by default, as PSC (§11).
* ``amr``: RFC 8176 §2 method references (https://www.rfc-editor.org/rfc/rfc8176#section-2).
  PSC sends none; santeid puts them in the ID token. e-CPS: something you know (PIN) with a
  software-secured key, multi-factor; offline code: one-time password only — the e-CPS app
  asks the PIN before it shows the code, but the server verifies the code alone and cannot
  tell it from one an authenticator app or the simulator made without a PIN, so ``pin`` is
  not claimed (docs/ecps-device-protocol.md §6); card: smart card, PIN, hardware-secured key,
  multi-factor (the ``["sc","pin","mfa","hwk"]`` set ANS defines for CPx, §11).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # santeid.oidc imports the login and e-CPS packages, which import this one
    from santeid.oidc.authentication import Authentication
    from santeid.settings import Settings

#: PSC's ``authMode`` values (docs/reference/pro-sante-connect.md §11).
AUTH_MODE_CARD = "CARD"
AUTH_MODE_MOBILE = "MOBILE"
#: Every ``authMode`` santeid issues; each is one PSC sends.
AUTH_MODES = (AUTH_MODE_CARD, AUTH_MODE_MOBILE)

#: RFC 8176 method references of an e-CPS approval and of a CPS-card login.
ECPS_AMR = ("swk", "pin", "mfa")
CARD_AMR = ("sc", "pin", "hwk", "mfa")

# The proofs.
SANDBOX = "sandbox"
ECPS = "ecps"
ECPS_OFFLINE = "ecps_offline"
CARD = "card"


@dataclass(frozen=True)
class ProofKind:
    auth_mode: str
    #: The field of ``settings.login`` holding the ``acr`` of this proof.
    acr_setting: str
    amr: tuple[str, ...]


PROOFS: dict[str, ProofKind] = {
    SANDBOX: ProofKind(AUTH_MODE_MOBILE, "default_acr", ("sandbox",)),
    ECPS: ProofKind(AUTH_MODE_MOBILE, "ecps_acr", ECPS_AMR),
    ECPS_OFFLINE: ProofKind(AUTH_MODE_MOBILE, "ecps_acr", ("otp",)),
    CARD: ProofKind(AUTH_MODE_CARD, "card_acr", CARD_AMR),
}


def proof_claims(proof: str, settings: Settings, amr: list[str] | None = None) -> dict:
    """``{"auth_mode", "acr", "amr"}`` of ``proof``. ``amr``: what the device reported for
    this approval, when it reported something (e-CPS), instead of the proof's default."""
    kind = PROOFS[proof]
    return {
        "auth_mode": kind.auth_mode,
        "acr": getattr(settings.login, kind.acr_setting),
        "amr": list(amr or kind.amr),
    }


def authentication_for(
    proof: str,
    *,
    national_id: str,
    auth_time: int,
    settings: Settings,
    amr: list[str] | None = None,
) -> Authentication:
    """The :class:`Authentication` a completed ``proof`` yields."""
    from santeid.oidc.authentication import Authentication

    return Authentication(
        national_id=national_id, auth_time=auth_time, **proof_claims(proof, settings, amr)
    )
