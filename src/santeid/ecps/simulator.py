"""An e-CPS phone, simulated: it speaks only the documented HTTP device protocol
(``docs/ecps-device-protocol.md``), exactly as a real phone app would, so it doubles as the
protocol's reference client and as the way CI approves e-CPS logins (``docs/ecps-simulator.md``).

It never imports the server side of santeid: the key pair is made here, tokens are signed
here, and everything goes over HTTP with ``requests``.

The device file (JSON, mode 0600 since it holds the private key) records what a phone keeps:
``server``, ``device_id``, ``national_id``, ``name``, ``private_jwk`` and ``totp_secret``.
Its default place is ``~/.santeid/device.json`` (``$SANTEID_DEVICE_FILE`` overrides it):
outside any working tree, so a private key is never committed by accident.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pyotp
import requests
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

#: Environment variable naming the device file.
from santeid.clock import system_clock

DEVICE_FILE_ENV = "SANTEID_DEVICE_FILE"
#: Default device file.
DEFAULT_DEVICE_FILE = Path("~/.santeid/device.json")
#: Activation URI scheme (what QR codes held before the e-CPS app link; still accepted).
ACTIVATION_SCHEME = "santeid-ecps"
#: Name of the activation code in the fragment of an e-CPS app link.
APP_LINK_PARAMETER = "activation"
#: Lifetime of the device tokens this simulator signs (the server accepts up to 60 s).
TOKEN_LIFETIME = 30
#: Seconds of network time allowed beyond a long poll's wait.
HTTP_MARGIN = 15.0
#: Longest wait the simulator asks for in one long poll (the server caps it too).
MAX_WAIT = 25
#: Members every device file has (``name`` and ``audience`` may be missing).
_DEVICE_FILE_REQUIRED = ("server", "device_id", "national_id", "private_jwk", "totp_secret")


class SimulatorError(Exception):
    """The simulator cannot go on; the message is for people."""


class ProtocolError(SimulatorError):
    """The server refused a call; ``code`` is the problem's stable code (RFC 9457)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.code = str(problem.get("code") or f"http_{status}")
        detail = problem.get("detail") or problem.get("title") or ""
        super().__init__(f"{status} {self.code}: {detail}".rstrip(": "))


def default_device_file() -> Path:
    return Path(os.environ.get(DEVICE_FILE_ENV) or DEFAULT_DEVICE_FILE).expanduser()


def parse_activation_uri(uri: str) -> tuple[str, str]:
    """``(server origin, activation code)`` from what an activation QR code holds: the e-CPS
    app link ``https://host/ecps/app/#activation=…`` or the older
    ``santeid-ecps://activate?server=…&code=…``."""
    parts = urlsplit(uri.strip())
    if parts.scheme in ("http", "https"):
        code = (parse_qs(parts.fragment).get(APP_LINK_PARAMETER) or [""])[0]
        if not parts.netloc or not code:
            raise SimulatorError(
                f"not an e-CPS app link (https://host/ecps/app/#{APP_LINK_PARAMETER}=…): {uri}"
            )
        return f"{parts.scheme}://{parts.netloc}", code
    query = parse_qs(parts.query)
    if parts.scheme != ACTIVATION_SCHEME or parts.netloc != "activate":
        raise SimulatorError(
            f"not an activation URI ({ACTIVATION_SCHEME}://activate?… or an e-CPS app link): {uri}"
        )
    server = (query.get("server") or [""])[0].rstrip("/")
    code = (query.get("code") or [""])[0]
    if not server.startswith(("http://", "https://")) or not code:
        raise SimulatorError("the activation URI lacks its server or code")
    return server, code


def _device_file_problem(data: Any) -> str | None:
    """What makes ``data`` (a parsed device file) unusable, or ``None``."""
    if not isinstance(data, dict):
        return "not a JSON object"
    missing = [name for name in _DEVICE_FILE_REQUIRED if name not in data]
    if missing:
        return "no " + ", ".join(missing)
    for name in (*_DEVICE_FILE_REQUIRED, "name", "audience"):
        if name != "private_jwk" and name in data and not isinstance(data[name], str):
            return f"{name} is not a string"
    for name in ("server", "audience"):
        if data.get(name) and not data[name].startswith(("http://", "https://")):
            return f"{name} is not an http(s) origin"
    if not data["device_id"] or not data["national_id"]:
        return "empty device_id or national_id"
    try:
        pyotp.TOTP(data["totp_secret"]).byte_secret()
    except (ValueError, TypeError):
        return "totp_secret is not a base32 TOTP secret"
    jwk = data["private_jwk"]
    try:
        key = ECKey.import_key(jwk) if isinstance(jwk, dict) else None
    except (JoseError, ValueError, TypeError):
        key = None
    if key is None or not key.is_private or key.curve_name != "P-256":
        return "private_jwk is not a private P-256 key"
    return None


def _unwritable(path: Path, exc: OSError) -> SimulatorError:
    return SimulatorError(f"cannot write the device file {path}: {exc.strerror or exc}")


def _temporary_beside(path: Path, overwrite: bool) -> tuple[int, str]:
    """A new temporary file in the directory of ``path`` (created 0700), which must not exist
    unless ``overwrite`` nor be a directory."""
    if path.exists() and not overwrite:
        raise SimulatorError(f"{path} exists; pass --force to replace that device")
    if path.is_dir():
        raise SimulatorError(f"cannot write the device file {path}: it is a directory")
    existing = next((folder for folder in path.parents if folder.exists()), None)
    if existing is not None and not existing.is_dir():
        raise SimulatorError(f"cannot write the device file {path}: {existing} is not a directory")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=".device-", dir=path.parent)
    except OSError as exc:
        raise _unwritable(path, exc) from None


@dataclass
class DeviceFile:
    server: str
    device_id: str
    national_id: str
    private_jwk: dict[str, Any]
    totp_secret: str
    name: str = ""
    #: The server's origin as registration answered it (``server``), the ``aud`` of tokens;
    #: empty = ``server``. They differ when the app link named another address of the same
    #: server (e.g. its LAN address while the issuer says ``127.0.0.1``).
    audience: str = ""

    @classmethod
    def load(cls, path: Path) -> DeviceFile:
        """Read and check a device file; :class:`SimulatorError` ``not a device file: …``
        when it is not JSON, lacks a member or one is of the wrong kind."""
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise SimulatorError(
                f"no device file at {path}: run `santeid device enroll` first"
            ) from None
        except OSError as exc:
            raise SimulatorError(f"cannot read the device file {path}: {exc}") from None
        except ValueError as exc:  # not JSON, or not UTF-8 (UnicodeDecodeError)
            raise SimulatorError(f"not a device file: {path} (not JSON: {exc})") from None
        problem = _device_file_problem(data)
        if problem:
            raise SimulatorError(f"not a device file: {path} ({problem})")
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    @staticmethod
    def check_writable(path: Path, *, overwrite: bool = False) -> None:
        """Make sure a device file can be saved at ``path`` (its 0700 directory created, a
        temporary file written there) before a device is registered, whose private key would
        otherwise be lost with the activation code."""
        fd, temporary = _temporary_beside(Path(path), overwrite)
        os.close(fd)
        os.unlink(temporary)

    def save(self, path: Path, *, overwrite: bool = False) -> None:
        """Write atomically, mode 0600 (it holds the private key), in a 0700 directory;
        :class:`SimulatorError` when it cannot be written."""
        path = Path(path)
        fd, temporary = _temporary_beside(path, overwrite)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(asdict(self), fh, indent=2)
                fh.write("\n")
            os.replace(temporary, path)
        except BaseException as exc:
            Path(temporary).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise _unwritable(path, exc) from None
            raise

    @property
    def key(self) -> ECKey:
        return ECKey.import_key(self.private_jwk)


def _sign(device: DeviceFile, claims: dict[str, Any]) -> str:
    header = {"alg": "ES256", "kid": device.device_id, "typ": "JWT"}
    return jws.serialize_compact(header, json.dumps(claims).encode(), device.key)


def make_device_token(device: DeviceFile, *, now: float | None = None) -> str:
    """The ``Authorization: Bearer`` JWT of one call (a fresh ``jti`` each time)."""
    issued = int(system_clock() if now is None else now)
    return _sign(
        device,
        {
            "iss": device.device_id,
            "aud": device.audience or device.server,
            "iat": issued,
            "exp": issued + TOKEN_LIFETIME,
            "jti": secrets.token_urlsafe(16),
        },
    )


def make_decision(
    device: DeviceFile,
    request_id: str,
    decision: str,
    pin: str,
    code: str | None = None,
    *,
    now: float | None = None,
) -> str:
    """The decision JWT (``approve``/``deny``) for one request."""
    claims: dict[str, Any] = {
        "iss": device.device_id,
        "aud": device.audience or device.server,
        "iat": int(system_clock() if now is None else now),
        "jti": secrets.token_urlsafe(16),
        "request_id": request_id,
        "decision": decision,
        "pin": pin,
    }
    if code is not None:
        claims["code"] = code
    return _sign(device, claims)


def _answer(response: requests.Response) -> dict[str, Any]:
    """The JSON object a call answered; :class:`ProtocolError` for a refusal,
    :class:`SimulatorError` for a success that is not a JSON object."""
    try:
        data = response.json()
    except ValueError:
        data = {"detail": response.text[:200]} if not response.ok else None
    if not response.ok:
        raise ProtocolError(response.status_code, data if isinstance(data, dict) else {})
    if not isinstance(data, dict):
        raise _unexpected(response.url, "not a JSON object")
    return data


def _unexpected(url: str, what: str) -> SimulatorError:
    return SimulatorError(f"unexpected answer from {url}: {what}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_request_item(item: Any) -> bool:
    """A pending request as ``GET /requests`` lists them (docs/ecps-device-protocol.md), to
    the extent this simulator reads it."""
    if not isinstance(item, dict) or not isinstance(item.get("request_id"), str):
        return False
    candidates = item.get("candidates")
    return (
        bool(item["request_id"])
        and (candidates is None or isinstance(candidates, list))
        and all(isinstance(c, str) for c in candidates or ())
        and all(
            item.get(name) is None or isinstance(item[name], str)
            for name in ("kind", "sandbox_expected_code", "requested_from")
        )
        and all(name not in item or _is_number(item[name]) for name in ("created_at", "expires_at"))
    )


class DeviceSimulator:
    """One simulated phone bound to one device file."""

    def __init__(
        self,
        device: DeviceFile,
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.device = device
        self.http = session or requests.Session()
        self.timeout = timeout

    # -- enrolment ------------------------------------------------------------------------
    @classmethod
    def enroll(
        cls,
        activation_uri: str,
        pin: str,
        *,
        name: str = "santeid device simulator",
        webhook_url: str | None = None,
        session: requests.Session | None = None,
        timeout: float = 10.0,
    ) -> DeviceSimulator:
        """Make a P-256 key pair here, register its public half with the activation code."""
        server, code = parse_activation_uri(activation_uri)
        key = ECKey.generate_key("P-256", private=True)
        http = session or requests.Session()
        body: dict[str, Any] = {
            "activation_code": code,
            "public_jwk": key.as_dict(private=False),
            "pin": pin,
            "name": name,
        }
        if webhook_url:
            body["webhook_url"] = webhook_url
        try:
            response = http.post(f"{server}/ecps/device/register", json=body, timeout=timeout)
        except requests.RequestException as exc:
            raise SimulatorError(f"cannot reach {server}: {exc}") from None
        registered = _answer(response)
        device = DeviceFile(
            server=server,
            device_id=registered.get("device_id"),  # type: ignore[arg-type]  # checked below
            national_id=registered.get("national_id"),  # type: ignore[arg-type]
            private_jwk=dict(key.as_dict(private=True)),
            totp_secret=registered.get("totp_secret"),  # type: ignore[arg-type]
            name=registered.get("name", name),
            audience="" if registered.get("server") in (None, server) else registered["server"],
        )
        problem = _device_file_problem(asdict(device))
        if problem:
            raise _unexpected(response.url, problem)
        return cls(device, session=http, timeout=timeout)

    # -- calls ----------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return f"{self.device.server}/ecps/device{path}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_device_token(self.device)}"}

    def _call(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any):
        try:
            response = self.http.request(
                method,
                self._url(path),
                headers=self._headers(),
                timeout=timeout or self.timeout,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise SimulatorError(f"cannot reach {self.device.server}: {exc}") from None
        return _answer(response)

    def me(self) -> dict[str, Any]:
        return self._call("GET", "/me")

    def set_webhook(self, url: str | None) -> dict[str, Any]:
        return self._call("POST", "/webhook", json={"webhook_url": url})

    def pending(self, wait: float = 0) -> list[dict[str, Any]]:
        """Pending requests; long-polls up to ``wait`` seconds (server-capped) for one."""
        wait = max(0.0, min(float(wait), MAX_WAIT))
        answer = self._call(
            "GET", "/requests", params={"wait": f"{wait:g}"}, timeout=wait + HTTP_MARGIN
        )
        items = answer.get("requests")
        if not isinstance(items, list) or not all(_is_request_item(i) for i in items):
            raise _unexpected(self._url("/requests"), "'requests' is not a list of requests")
        return items

    def stream(self, *, timeout: float = 120.0) -> Iterator[tuple[str, dict[str, Any]]]:
        """Server-Sent Events of ``/requests/stream`` as ``(event, data)`` pairs."""
        try:
            response = self.http.get(
                self._url("/requests/stream"),
                headers=self._headers(),
                stream=True,
                timeout=(self.timeout, timeout),
            )
        except requests.RequestException as exc:
            raise SimulatorError(f"cannot reach {self.device.server}: {exc}") from None
        if not response.ok:
            _answer(response)
        with response:
            event = "message"
            data: list[str] = []
            for line in response.iter_lines(decode_unicode=True):
                if line == "":
                    if data:
                        try:
                            parsed = json.loads("\n".join(data))
                        except ValueError:
                            raise _unexpected(self._url("/requests/stream"), "not JSON") from None
                        yield event, parsed
                    event, data = "message", []
                elif line.startswith(":"):
                    continue
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())

    def decide(
        self, request_id: str, decision: str, pin: str, code: str | None = None
    ) -> dict[str, Any]:
        token = make_decision(self.device, request_id, decision, pin, code)
        try:
            response = self.http.post(
                self._url(f"/requests/{request_id}/decision"),
                data=token,
                headers={"Content-Type": "application/jwt"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise SimulatorError(f"cannot reach {self.device.server}: {exc}") from None
        result = _answer(response)
        if not all(isinstance(result.get(name), str) for name in ("request_id", "status")):
            raise _unexpected(response.url, "no request_id or status")
        return result

    def approve(self, request_id: str, pin: str, code: str | None = None) -> dict[str, Any]:
        return self.decide(request_id, "approve", pin, code)

    def deny(self, request_id: str, pin: str) -> dict[str, Any]:
        return self.decide(request_id, "deny", pin)

    def totp(self, now: float | None = None) -> str:
        """The offline code the phone shows now (RFC 6238, 30 s, 6 digits)."""
        return pyotp.TOTP(self.device.totp_secret).at(int(system_clock() if now is None else now))

    # -- watching ---------------------------------------------------------------------------
    def watch(
        self,
        pin: str,
        *,
        auto_approve: bool = False,
        code: str | None = None,
        deny: bool = False,
        once: bool = False,
        timeout: float | None = None,
        choose: Callable[[dict[str, Any]], str | None] | None = None,
        echo: Callable[[str], None] = print,
    ) -> int:
        """Long-poll and decide each request as it arrives; return how many were decided.

        CIBA requests need no code. For a browser request the code is ``code``, else (with
        ``auto_approve``) the server's ``sandbox_expected_code`` hint, else what ``choose``
        returns (an interactive prompt); a request with no code is left alone. ``deny``
        denies everything instead. Stops after the first decision with ``once``, after
        ``timeout`` seconds, or when the device can no longer decide (locked, revoked).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        seen: set[str] = set()
        decided = 0
        while True:
            remaining = MAX_WAIT if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return decided
            for item in self.pending(wait=min(MAX_WAIT, remaining)):
                request_id = item["request_id"]
                if request_id in seen:
                    continue
                seen.add(request_id)
                if self._handle(item, pin, auto_approve, code, deny, choose, echo):
                    decided += 1
                    if once:
                        return decided

    def _handle(
        self,
        item: dict[str, Any],
        pin: str,
        auto_approve: bool,
        code: str | None,
        deny: bool,
        choose: Callable[[dict[str, Any]], str | None] | None,
        echo: Callable[[str], None],
    ) -> bool:
        request_id = item["request_id"]
        echo(describe(item))
        if deny:
            action, chosen = "deny", None
        elif item.get("kind") == "ciba":
            action, chosen = "approve", None
        else:
            chosen = code
            if chosen is None and auto_approve:
                chosen = item.get("sandbox_expected_code")
            if chosen is None and choose is not None:
                chosen = choose(item)
            if chosen is None:
                echo(f"  skipped {request_id}: no code (--code NN, or --auto-approve on a sandbox)")
                return False
            action = "approve"
        shown = f" with code {chosen}" if chosen else ""
        echo(f"  {'approving' if action == 'approve' else 'denying'} {request_id}{shown}")
        try:
            result = self.decide(request_id, action, pin, chosen)
        except ProtocolError as exc:
            echo(f"  refused: {exc}")
            if exc.code in ("device_locked", "device_revoked", "pin_locked", "unknown_device"):
                raise
            return False
        echo(f"  {result['status']}")
        return True


def describe(item: dict[str, Any]) -> str:
    """One line about a pending request, for people."""
    if item.get("kind") == "ciba":
        binding = item.get("binding_message")
        what = f"binding message {binding!r}" if binding is not None else "no binding message"
    else:
        what = "candidates " + " ".join(item.get("candidates") or [])
        if item.get("sandbox_expected_code"):
            what += f" (sandbox hint: {item['sandbox_expected_code']})"
    left = int(item.get("expires_at", 0) - system_clock())
    where = f" at {item['requested_from']}" if item.get("requested_from") else ""
    return (
        f"request {item['request_id']} ({item.get('kind')}) from {item.get('client_name')!r}"
        f"{where}: {what}; expires in {max(0, left)} s"
    )
