"""A relying party's back-channel logout endpoint (OpenID Connect Back-Channel Logout 1.0
§2.5, https://openid.net/specs/openid-connect-backchannel-1_0.html) for the tests that run a
real ``santeid serve``."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs

from tests.support.ciba import Receiver


class LogoutReceiver(Receiver):
    """:class:`~tests.support.ciba.Receiver` answering ``status`` (200) to form POSTs, ``delay``
    seconds after reading them: each delivery's path, ``Content-Type``, form (``logout_token``)
    and arrival time (``at``, seconds since the epoch)."""

    def __init__(self, status: int = 200, *, delay: float = 0.0):
        super().__init__([status], delay=delay)

    def record(self, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        return {
            "path": path,
            "content_type": headers.get("Content-Type"),
            "form": {k: v[0] for k, v in parse_qs(body.decode()).items()},
            "at": time.time(),
        }
