"""Configuration: built-in defaults < TOML file (``SANTEID_CONFIG``) < ``SANTEID_*`` variables.

Every field below is documented in ``docs/configuration.md``; keep the two in step.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from urllib.parse import urlsplit

ENV_PREFIX = "SANTEID_"

#: Keycloak realm path PSC uses; the issuer of a default install ends with it.
DEFAULT_REALM_PATH = "/auth/realms/esante-wallet"


class ConfigurationError(Exception):
    """The configuration cannot be used; the message says what to change."""


@dataclass
class Settings:
    #: Issuer identifier (OIDC Core §2). Endpoints live under ``{issuer}/protocol/openid-connect/``.
    issuer: str = "http://127.0.0.1:5000" + DEFAULT_REALM_PATH
    #: Advertised authorization endpoint; PSC serves it on a separate "wallet" host.
    #: Empty means ``{issuer}/protocol/openid-connect/auth``.
    authorization_endpoint: str = ""
    #: Short-lived state: ``memory://`` (one process) or ``redis://host:port/db``.
    store_url: str = "memory://"
    #: Persistent data (SQLite: clients, directory) lives here.
    data_dir: str = "./var"
    #: Signing keys (generated with ``santeid keys generate``).
    keys_dir: str = "./keys"
    #: Sandbox mode: test conveniences on, and every page says so.
    sandbox: bool = False
    #: Seconds the sandbox authenticator waits before approving an auto-approve professional.
    sandbox_approval_delay: float = 1.0
    #: Number of server processes; more than one needs a shared (redis://) store.
    workers: int = 1
    #: Default JWS algorithm for tokens (RS256 as PSC; ES256 and PS256 available).
    signing_alg: str = "RS256"
    #: Lifetimes, in seconds (PSC: 120 s access token, 1800 s refresh token).
    access_token_lifetime: int = 120
    id_token_lifetime: int = 120
    refresh_token_lifetime: int = 1800
    authorization_code_lifetime: int = 60
    #: Time a professional has to finish logging in on the login page.
    login_transaction_lifetime: int = 600
    #: SSO session: 4 h at most, 30 min idle (PSC IG).
    sso_max_lifetime: int = 14400
    sso_idle_timeout: int = 1800
    #: ``acr`` given to a login by the first (sandbox) authenticator.
    default_acr: str = "eidas1"
    #: UUID in ``sub`` = ``f:<uuid>:<nationalId>`` (Keycloak federated user id format).
    federation_id: str = "7a0d1f9e-3c55-4f0e-9d7b-2b5e1c8a4f10"
    #: Requests whose parameters exceed this many bytes are refused with 400.
    max_parameter_length: int = 4096
    #: Flask session secret; empty means a random one kept in ``{data_dir}/secret_key``.
    secret_key: str = ""
    #: Set the ``Secure`` cookie flag; ``auto`` = unless the issuer is plain-HTTP localhost.
    cookie_secure: str = "auto"
    # -- e-CPS mobile authenticator -----------------------------------------
    #: Seconds a professional has to approve a login on the phone.
    ecps_request_lifetime: int = 120
    #: Seconds an activation code (QR) stays valid; single use.
    ecps_activation_code_lifetime: int = 90
    #: Wrong PINs in a row that lock a device until it is activated again.
    ecps_pin_attempts: int = 3
    #: Wrong offline (TOTP) codes that lock the offline fallback, and for how long (s).
    ecps_totp_failures: int = 5
    ecps_totp_lock: int = 900
    #: Longest wait of a device long-poll, in seconds.
    ecps_long_poll: int = 25
    #: ``acr`` of e-CPS logins (``authMode`` MOBILE) and of CPS-card logins (``authMode`` CARD).
    ecps_acr: str = "eidas1"
    card_acr: str = "eidas3"
    # -- messages (activation codes) ---------------------------------------
    #: SMTP relay for e-mails outside sandbox mode (sandbox mode uses /sandbox/outbox).
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "santeid@localhost"
    smtp_starttls: bool = True
    #: HTTP hook receiving SMS as JSON ``{"to", "text"}`` (Bearer ``sms_hook_token`` if set).
    sms_hook_url: str = ""
    sms_hook_token: str = ""
    # -- TLS client certificates (CPS card, INSi) -------------------------------
    #: Header in which a TLS-terminating proxy forwards the verified client certificate
    #: (URL-encoded PEM); honoured only from ``trusted_proxies``.
    tls_client_cert_header: str = ""
    #: Comma-separated addresses or CIDR ranges of those proxies.
    trusted_proxies: str = ""
    #: PEM file of the certification authorities CPS card certificates must chain to;
    #: empty = the test CA under ``keys_dir`` (created by ``santeid cps issue-card``).
    cps_ca_file: str = ""
    # -- INSi teleservice ------------------------------------------------------
    #: Civil-status base the INSi service answers from (``santeid civil generate``);
    #: empty = ``{data_dir}/civil-status.sqlite3``.
    insi_base: str = ""
    #: PEM file of the authorities INSi establishment certificates (CN INSI-AUTO /
    #: INSI-MANU) must be issued by; empty = the test INSi CA ``{keys_dir}/insi-test-ca.pem``.
    insi_ca_file: str = ""
    #: Serve the INSi JSON operations through a thin WSGI layer ahead of Flask (same code,
    #: about half the cost per call); false = through Flask only.
    insi_fast_path: bool = True
    # -- hardening: reverse proxies, slow clients (docs/security.md) ------------
    #: Proxies in front that append to ``X-Forwarded-*`` (applied only when the peer is one
    #: of ``trusted_proxies``; the rightmost ``proxy_hops`` values are believed).
    proxy_hops: int = 1
    #: Seconds a client has to send its request line and headers, then its body; the server
    #: closes the connection after that (408), before any application code runs.
    request_header_timeout: float = 10.0
    request_body_timeout: float = 10.0
    #: Connections one client address may hold open at once per server process (0 = no
    #: limit); trusted proxies are exempt.
    max_connections_per_address: int = 32
    #: e-CPS long polls and event streams one device may hold open at once (429 beyond).
    ecps_waits_per_device: int = 2
    #: ``Strict-Transport-Security`` max-age on HTTPS responses (0 = not sent).
    hsts_max_age: int = 31536000
    #: Optional TOML file this configuration was read from (informational).
    config_file: str = ""
    #: Python logging level.
    log_level: str = "INFO"
    extra: dict = field(default_factory=dict, repr=False)

    # -- derived values -------------------------------------------------
    @property
    def issuer_path(self) -> str:
        """Path part of the issuer, where the realm's routes are mounted."""
        return urlsplit(self.issuer).path.rstrip("/")

    @property
    def oidc_base(self) -> str:
        return f"{self.issuer}/protocol/openid-connect"

    @property
    def advertised_authorization_endpoint(self) -> str:
        return self.authorization_endpoint or f"{self.oidc_base}/auth"

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def keys_path(self) -> Path:
        return Path(self.keys_dir)

    @property
    def longest_token_lifetime(self) -> int:
        """How long a retired signing key must stay published (every token it signed expires)."""
        return max(self.access_token_lifetime, self.id_token_lifetime, self.refresh_token_lifetime)

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure.lower() in ("true", "1", "yes"):
            return True
        if self.cookie_secure.lower() in ("false", "0", "no"):
            return False
        parts = urlsplit(self.issuer)
        local = parts.hostname in ("127.0.0.1", "localhost", "::1")
        return not (parts.scheme == "http" and local)

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)


def _coerce(name: str, raw, target_type: str):
    if target_type == "bool":
        if isinstance(raw, bool):
            return raw
        value = str(raw).strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off", ""):
            return False
        raise ConfigurationError(f"{name}: expected a boolean (true/false), got {raw!r}")
    if target_type == "int":
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigurationError(f"{name}: expected a whole number, got {raw!r}") from None
    if target_type == "float":
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ConfigurationError(f"{name}: expected a number, got {raw!r}") from None
    if target_type == "str":
        if not isinstance(raw, str | int | float):
            raise ConfigurationError(f"{name}: expected a string, got {raw!r}")
        return str(raw)
    return raw


def _fields() -> dict[str, str]:
    return {f.name: f.type for f in dataclasses.fields(Settings) if f.name != "extra"}


def load_settings(environ: dict | None = None, **overrides) -> Settings:
    """Settings from defaults, then the TOML file, then the environment, then ``overrides``."""
    environ = os.environ if environ is None else environ
    types = _fields()
    values: dict = {}

    config_file = environ.get(ENV_PREFIX + "CONFIG", "")
    if config_file:
        try:
            with open(config_file, "rb") as fh:
                document = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigurationError(f"SANTEID_CONFIG: no such file {config_file!r}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"SANTEID_CONFIG: {config_file}: {exc}") from None
        # A [santeid] table or top-level keys are both accepted.
        document = document.get("santeid", document)
        for key, raw in document.items():
            if key not in types:
                raise ConfigurationError(f"{config_file}: unknown setting {key!r}")
            values[key] = _coerce(key, raw, types[key])
        values["config_file"] = config_file

    for key, target_type in types.items():
        env_name = ENV_PREFIX + key.upper()
        if env_name in environ and key != "config_file":
            values[key] = _coerce(env_name, environ[env_name], target_type)

    for key, raw in overrides.items():
        if raw is None:
            continue
        if key not in types:
            raise ConfigurationError(f"unknown setting {key!r}")
        values[key] = _coerce(key, raw, types[key])

    settings = Settings(**values)
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    parts = urlsplit(settings.issuer)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"issuer must be an absolute http(s) URL, got {settings.issuer!r}")
    if parts.query or parts.fragment:
        raise ConfigurationError("issuer must not carry a query or fragment (OIDC Discovery §2)")
    if settings.issuer.endswith("/"):
        settings.issuer = settings.issuer.rstrip("/")
    if settings.signing_alg not in ("RS256", "ES256", "PS256"):
        raise ConfigurationError("signing_alg must be RS256, ES256 or PS256")
    if settings.workers < 1:
        raise ConfigurationError("workers must be at least 1")
    for name in (
        "access_token_lifetime",
        "id_token_lifetime",
        "refresh_token_lifetime",
        "authorization_code_lifetime",
        "login_transaction_lifetime",
        "sso_max_lifetime",
        "sso_idle_timeout",
        "max_parameter_length",
        "ecps_request_lifetime",
        "ecps_activation_code_lifetime",
        "ecps_pin_attempts",
        "ecps_totp_failures",
        "ecps_totp_lock",
        "ecps_long_poll",
    ):
        if getattr(settings, name) <= 0:
            raise ConfigurationError(f"{name} must be positive")
    for name in ("proxy_hops", "request_header_timeout", "request_body_timeout",
                 "ecps_waits_per_device"):  # fmt: skip
        if getattr(settings, name) <= 0:
            raise ConfigurationError(f"{name} must be positive")
    if settings.max_connections_per_address < 0:
        raise ConfigurationError("max_connections_per_address must be 0 (no limit) or more")
    if settings.hsts_max_age < 0:
        raise ConfigurationError("hsts_max_age must be 0 (not sent) or more")
    if settings.workers > 1 and settings.store_url.startswith("memory:"):
        raise ConfigurationError(
            "the memory:// store lives inside one process: with "
            f"{settings.workers} workers a login started in one would be unknown to the others. "
            "Set SANTEID_STORE_URL=redis://host:6379/0 (or store_url in the TOML file), "
            "or run a single worker."
        )
