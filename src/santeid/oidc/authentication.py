"""What a completed login proves, carried from the login page to codes, sessions and tokens."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field


@dataclass(frozen=True)
class Authentication:
    """The outcome of a login (OIDC Core §2: ``auth_time``, ``acr``, ``amr``).

    ``auth_mode`` is PSC's ``authMode`` claim (``CARD`` or ``MOBILE``; which proof gives
    which value, ``acr`` and ``amr``: ``santeid.psc.proofs``). ``sid`` names the SSO session
    the login opened or joined, and ``session_started`` when that session began (a login in
    an open session keeps its start, as Keycloak keeps the user session); ``0`` for a login
    without an SSO session (CIBA), whose session starts with the login itself.
    """

    national_id: str
    auth_time: int
    acr: str
    auth_mode: str
    amr: list[str] = field(default_factory=list)
    sid: str = ""
    session_started: int = 0

    @property
    def session_start(self) -> int:
        """When the session these tokens belong to began: its ``sso_max_lifetime`` counts from
        here."""
        return self.session_started or self.auth_time

    def to_dict(self) -> dict:
        """The fields as a plain dict (``amr`` copied), as ``dataclasses.asdict`` gives them;
        written out because ``asdict`` copies recursively and cost ≈ 8 µs a call, and every
        login writes this three times (session, code, token family)."""
        return {
            "national_id": self.national_id,
            "auth_time": self.auth_time,
            "acr": self.acr,
            "auth_mode": self.auth_mode,
            "amr": list(self.amr),
            "sid": self.sid,
            "session_started": self.session_started,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Authentication:
        return cls(
            national_id=data["national_id"],
            auth_time=int(data["auth_time"]),
            acr=data["acr"],
            auth_mode=data["auth_mode"],
            amr=list(data.get("amr") or []),
            sid=data.get("sid", ""),
            session_started=int(data.get("session_started") or 0),
        )

    def with_sid(self, sid: str, session_started: int) -> Authentication:
        """This login bound to the SSO session ``sid``, begun at ``session_started``."""
        return Authentication(
            self.national_id,
            self.auth_time,
            self.acr,
            self.auth_mode,
            self.amr,
            sid,
            session_started,
        )
