"""A phone for the tests: makes its key, registers through the Flask test client (or over HTTP
with a real server, :class:`HttpClient`) and signs device tokens and decisions, with every
claim overridable to build refusals."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import requests
from joserfc import jws
from joserfc.jwk import ECKey

from santeid.ecps.pin import PinHasher

#: Argon2id at its cheapest: the tests verify hundreds of PINs (the real parameters are
#: exercised by ``test_real_pin_hash_parameters``).
CHEAP_PINS = PinHasher(time_cost=1, memory_cost=8, parallelism=1)

PIN = "246813"
ORIGIN = "http://localhost"
API = "/ecps/device"


def sign(key: ECKey, kid: str, claims: dict[str, Any], **header: Any) -> str:
    protected = {"alg": "ES256", "kid": kid, "typ": "JWT", **header}
    return jws.serialize_compact(protected, json.dumps(claims).encode(), key)


class HttpClient:
    """The calls a :class:`Phone` makes on Flask's test client, over HTTP to the real server
    at ``base`` (its origin): the answers are ``requests`` responses (``.json()``)."""

    def __init__(self, base: str, timeout: float = 60) -> None:
        self.base = base
        self.timeout = timeout

    def get(self, path: str, *, headers: dict[str, str] | None = None):
        return requests.get(self.base + path, headers=headers, timeout=self.timeout)

    def post(
        self,
        path: str,
        *,
        json: Any = None,
        data: Any = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        headers = {**(headers or {}), **({"Content-Type": content_type} if content_type else {})}
        return requests.post(
            self.base + path, json=json, data=data, headers=headers, timeout=self.timeout
        )


def registration(activation_code: str, key: ECKey, pin: str, **extra: Any) -> dict[str, Any]:
    """The body of ``POST /ecps/device/register`` for ``key``'s public half."""
    return {
        "activation_code": activation_code,
        "public_jwk": key.as_dict(private=False),
        "pin": pin,
        **extra,
    }


class Phone:
    def __init__(
        self, client, key: ECKey, registered: dict[str, Any], origin: str = ORIGIN
    ) -> None:
        self.client = client
        self.key = key
        self.registered = registered
        self.device_id: str = registered["device_id"]
        self.national_id: str = registered["national_id"]
        #: The server's origin: the ``aud`` of the tokens and decisions.
        self.origin = origin

    @classmethod
    def register(cls, app, client, national_id: str, *, pin: str = PIN, **extra: Any) -> Phone:
        ecps = app.extensions["santeid"].ecps
        activation = ecps.start_activation(national_id)
        key = ECKey.generate_key("P-256", private=True)
        body = registration(activation.code, key, pin, **extra)
        response = client.post(f"{API}/register", json=body)
        assert response.status_code == 201, response.get_json()
        return cls(client, key, response.get_json())

    @classmethod
    def register_over_http(
        cls, base: str, activation_code: str, *, pin: str = PIN, **extra: Any
    ) -> Phone:
        """A device registered with the real server at ``base`` (its origin) with
        ``activation_code`` (``santeid ecps activate``)."""
        client = HttpClient(base)
        key = ECKey.generate_key("P-256", private=True)
        response = client.post(
            f"{API}/register", json=registration(activation_code, key, pin, **extra)
        )
        assert response.status_code == 201, response.text
        return cls(client, key, response.json(), origin=base)

    # -- tokens -------------------------------------------------------------------------
    def token(self, *, key: ECKey | None = None, kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        values: dict[str, Any] = {
            "iss": self.device_id,
            "aud": self.origin,
            "iat": now,
            "exp": now + 30,
            "jti": secrets.token_urlsafe(12),
        }
        values.update(claims)
        values = {k: v for k, v in values.items() if v is not None}
        return sign(key or self.key, kid or self.device_id, values)

    def auth(self, **overrides: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(**overrides)}"}

    def decision(
        self,
        request_id: str,
        decision: str = "approve",
        *,
        pin: str | None = PIN,
        code: str | None = None,
        key: ECKey | None = None,
        kid: str | None = None,
        **claims: Any,
    ) -> str:
        values: dict[str, Any] = {
            "aud": self.origin,
            "iat": int(time.time()),
            "jti": secrets.token_urlsafe(12),
            "request_id": request_id,
            "decision": decision,
            "pin": pin,
            "code": code,
        }
        values.update(claims)
        values = {k: v for k, v in values.items() if v is not None}
        return sign(key or self.key, kid or self.device_id, values)

    # -- calls ----------------------------------------------------------------------------
    def me(self, **overrides: Any):
        return self.client.get(f"{API}/me", headers=self.auth(**overrides))

    def pending(self, wait: float = 0, **overrides: Any):
        return self.client.get(f"{API}/requests?wait={wait}", headers=self.auth(**overrides))

    def decide(self, request_id: str, decision: str = "approve", **kwargs: Any):
        token = self.decision(request_id, decision, **kwargs)
        return self.post_decision(request_id, token)

    def post_decision(self, request_id: str, token: str, *, as_json: bool = False):
        url = f"{API}/requests/{request_id}/decision"
        if as_json:
            return self.client.post(url, json={"decision": token})
        return self.client.post(url, data=token, content_type="application/jwt")


class DownStore:
    """A store whose every operation raises ``StoreUnavailable``: put in place of the e-CPS
    service's store to see what the device API answers during an outage."""

    def __getattr__(self, name):
        from santeid.storage import StoreUnavailable

        def fail(*args, **kwargs):
            raise StoreUnavailable("down")

        return fail
