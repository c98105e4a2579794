"""Configuration: built-in defaults < TOML file (``SANTEID_CONFIG``) < ``SANTEID_*`` variables.

Every field below is documented in ``docs/configuration.md``; keep the two in step.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from urllib.parse import urlsplit

ENV_PREFIX = "SANTEID_"

#: Keycloak realm path PSC uses; the issuer of a default install ends with it.
DEFAULT_REALM_PATH = "/auth/realms/esante-wallet"
#: Values of ``userinfo_layout`` (docs/reference/pro-sante-connect.md §9.5).
USERINFO_LAYOUTS = ("classic", "late-2023")


class ConfigurationError(Exception):
    """The configuration cannot be used; the message says what to change."""


@dataclass
class Settings:
    #: Issuer identifier (OIDC Core §2). Endpoints live under ``{issuer}/protocol/openid-connect/``.
    issuer: str = "http://127.0.0.1:5000" + DEFAULT_REALM_PATH
    #: Authorization endpoint advertised by the wallet discovery document (PSC serves it on a
    #: separate "wallet" host at ``/auth``); its path is served too. Empty means
    #: ``<issuer origin>/auth``; ``{issuer}/protocol/openid-connect/auth`` turns the alias off.
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
    # -- Sandbox for integrators (docs/sandbox.md) --------------------------------------------
    #: A YAML or JSON file of professionals (with their scenarios) loaded at start.
    sandbox_professionals: str = ""
    #: Sandbox mode: seconds the INSi scenario ``SANTEID-FAUTE`` / ``LENT`` waits before its
    #: answer (01), so that client software can test its time-outs.
    sandbox_insi_delay: float = 5.0
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
    # -- Logout and Keycloak's realm endpoints ---------------------------------
    #: Which ``post_logout_redirect_uri`` a client may name at logout: ``keycloak`` = its
    #: registered ``post_logout_redirect_uris``, or, when it registered none, any of its
    #: ``redirect_uris`` (Keycloak's "+"); ``strict`` = only ``post_logout_redirect_uris``.
    post_logout_redirect_policy: str = "keycloak"
    #: Seconds a back-channel logout delivery may take (connect and answer); deliveries run
    #: in the background and never delay the professional's logout.
    backchannel_logout_timeout: float = 5.0
    #: Seconds a pushed authorization request's ``request_uri`` stays usable (RFC 9126 §2.2).
    par_lifetime: int = 60
    # -- INSi SOAP drop-in fidelity ----------------------------------------------
    #: Answer ``Sender`` SOAP faults with HTTP 400 (SOAP 1.2 Part 2 §7.5.2.2) instead of the
    #: real service's 500 for every fault.
    insi_soap_sender_400: bool = False
    # -- Keycloak behaviour: client authentication, scopes, PKCE, errors ------------------
    #: ``keycloak``: a client holding a secret sends it by HTTP Basic or in the form body,
    #: whatever it registered; ``strict``: only its registered method (RFC 7591 §2).
    client_authentication: str = "keycloak"
    #: ``keycloak``: ``openid`` optional (plain OAuth 2.0 without it), ``Invalid scopes: <raw>``;
    #: ``strict``: ``openid`` required at the authorization and CIBA endpoints.
    scope_policy: str = "keycloak"
    #: PKCE ``plain`` for every client (Keycloak); false: only for clients registered with
    #: ``pkce_plain_allowed``.
    pkce_plain_for_all_clients: bool = True
    #: ``keycloak``: Keycloak's error codes where it departs from CIBA Core (``invalid_user``,
    #: ``Client not allowed OIDC CIBA Grant``, a professional without e-CPS, ``slow_down``)
    #: and from RFC 7009 (``Unmatching clients``); ``strict``: the specifications' codes.
    error_style: str = "keycloak"
    # -- tokens as Keycloak issues them: refresh reuse, userinfo layout, mTLS-bound tokens --
    #: Keycloak's realm setting "Revoke Refresh Token". false (Keycloak's default): a refresh
    #: token stays usable until it expires. true: rotation with reuse detection — a refresh
    #: token works ``refresh_token_max_reuse`` + 1 times and an older one stops working once
    #: a newer one is used; beyond, the grant's tokens are revoked (RFC 9700 §4.14.2).
    refresh_token_revoke: bool = False
    #: Keycloak's "Refresh Token Max Reuse" (used only when ``refresh_token_revoke`` is on).
    refresh_token_max_reuse: int = 0
    #: Userinfo layout: ``classic`` (``codeCivilite`` inside ``SubjectRefPro``, PSC 2021–2023)
    #: or ``late-2023`` (``codeCivilite`` and ``codeGenreActivite`` at the top level).
    userinfo_layout: str = "classic"
    #: Userinfo errors: ``keycloak`` (no token: 400 "Token not provided"; any bad token: 401
    #: "Token verification failed") or ``rfc6750`` (no token: 401 with a bare challenge,
    #: RFC 6750 §3.1; the reason a token was refused in ``error_description``).
    userinfo_errors: str = "keycloak"
    #: Origin (``https://host:port``) of the HTTPS listener where clients present their
    #: certificate: discovery's ``mtls_endpoint_aliases`` point there (RFC 8705 §5). Empty:
    #: the issuer's origin when it is HTTPS (``santeid serve --tls-port`` sets it).
    mtls_base_url: str = ""
    # -- persistence (docs/deployment.md) ---------------------------------------
    #: Durable data (clients, e-CPS devices, CPS cards, INSi software/audit/statistics, sandbox
    #: outbox): empty = one SQLite file per component under ``data_dir`` (embedded);
    #: ``sqlite:///path`` = one SQLite file; ``postgresql://user:password@host:5432/db`` = one
    #: PostgreSQL database shared by several hosts (TLS: ``?sslmode=verify-full&sslrootcert=…``).
    database_url: str = field(default="", repr=False)  # may hold a password
    #: Connections each server process may open to PostgreSQL.
    database_pool_size: int = 10
    #: Apply missing schema migrations at start-up; false = refuse to start until
    #: ``santeid db upgrade`` has run.
    database_auto_upgrade: bool = True
    # -- e-CPS app (the installable web app under /ecps/app/) ---------------------------
    #: Public address of the app that activation QR codes open, e.g.
    #: ``https://192.168.1.20:5443/ecps/app/`` for a phone on the same network; empty = the
    #: issuer's origin followed by ``/ecps/app/``.
    ecps_app_url: str = ""
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
    # -- operations: health, metrics, logs, authentication events (docs/operations.md) --
    #: Seconds each dependency check of ``/health/ready`` may take before it counts as down.
    health_check_timeout: float = 1.0
    #: Client addresses (comma-separated IPs or CIDR networks) allowed to read ``/metrics``;
    #: empty = ``/metrics`` answers 404 to everyone.
    metrics_allowed_addresses: str = "127.0.0.1/32, ::1/128"
    #: ``text`` (one human-readable line per record) or ``json`` (one JSON object per line).
    log_format: str = "text"
    #: Days authentication events are kept; ``santeid events purge`` deletes older ones.
    events_retention_days: int = 90
    #: Argon2id hash of the admin console's password (``santeid admin set-password``); empty =
    #: ``/admin`` off (sandbox mode: the documented demo admin).
    admin_password_hash: str = field(default="", repr=False)
    #: National identifiers (comma- or space-separated) of the professionals allowed into the
    #: admin console through santeid's own login (e-CPS, or CPS card when installed).
    admin_professionals: str = ""
    # -- logins, assertions and INSi: limits against abuse (docs/security.md) -----------
    #: Pending e-CPS requests one professional may have at a time; a new one withdraws the
    #: oldest (a professional approves one login at a time).
    ecps_max_pending_requests: int = 1
    #: e-CPS requests (pushes to the phone) the login page may start per professional and per
    #: client address within ``ecps_push_window`` seconds; beyond, 429 on the login page.
    ecps_push_limit_per_professional: int = 10
    ecps_push_limit_per_address: int = 30
    ecps_push_window: int = 600
    #: Wrong offline codes a professional may receive from all addresses together within
    #: ``ecps_totp_lock`` seconds (each address is locked after ``ecps_totp_failures``).
    ecps_totp_failures_per_professional: int = 20
    #: Self-service activation: code pairs sent per professional and per requesting address
    #: within ``ecps_activation_window`` seconds.
    ecps_activation_sends_per_professional: int = 5
    ecps_activation_sends_per_address: int = 3
    ecps_activation_window: int = 600
    #: Longest lifetime (``exp`` after ``iat`` and after now) of a ``private_key_jwt`` client
    #: assertion, and of a signed CIBA request or request object, in seconds.
    client_assertion_max_lifetime: int = 300
    signed_request_max_lifetime: int = 3600
    #: INSi CPx assertions: oldest ``IssueInstant`` accepted, in seconds; an assertion is
    #: accepted once (its ``ID`` is remembered until it is too old).
    insi_assertion_max_age: int = 300
    #: INSi: software numbers (IDAM) each establishment certificate may claim, as JSON
    #: ``{"<certificate subject, RFC 4514>": ["IDAM", …]}``; a subject not listed may claim any.
    insi_idam_by_certificate: str = ""
    #: Check at start-up that the Redis store persists (AOF or RDB) and warn when it does not.
    store_persistence_check: bool = True
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
        """PSC's wallet authorization URL (``docs/reference/pro-sante-connect.md §1``): the
        configured one, else ``/auth`` on the issuer's host."""
        if self.authorization_endpoint:
            return self.authorization_endpoint
        parts = urlsplit(self.issuer)
        return f"{parts.scheme}://{parts.netloc}/auth"

    @property
    def keycloak_authorization_endpoint(self) -> str:
        """The realm's own authorization endpoint, always served."""
        return f"{self.oidc_base}/auth"

    @property
    def mtls_oidc_base(self) -> str | None:
        """``{oidc_base}`` on the certificate listener (RFC 8705 §5), or None without one."""
        if self.mtls_base_url:
            return f"{self.mtls_base_url.rstrip('/')}{self.issuer_path}/protocol/openid-connect"
        if urlsplit(self.issuer).scheme == "https":
            return self.oidc_base
        return None

    @property
    def data_path(self) -> Path:
        """The data directory, absolute (:func:`resolve_data_dir`): the server and every
        command read and write the same one."""
        return resolve_data_dir(self)

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

    @property
    def insi_idam_bindings(self) -> dict[str, frozenset[str]]:
        """``insi_idam_by_certificate`` read: certificate subject (RFC 4514) → IDAM allowed."""
        return parse_idam_bindings(self.insi_idam_by_certificate)

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)


def parse_idam_bindings(text: str) -> dict[str, frozenset[str]]:
    """``insi_idam_by_certificate``: a JSON object mapping a certificate subject (RFC 4514
    string, as ``openssl x509 -nameopt RFC2253`` prints it) to the list of IDAM it may claim."""
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"insi_idam_by_certificate: not JSON ({exc})") from None
    if not isinstance(document, dict) or not all(
        isinstance(subject, str)
        and isinstance(idams, list)
        and idams
        and all(isinstance(idam, str) and idam for idam in idams)
        for subject, idams in document.items()
    ):
        raise ConfigurationError(
            'insi_idam_by_certificate must be {"<certificate subject>": ["IDAM", ...], ...}'
        )
    return {subject: frozenset(idams) for subject, idams in document.items()}


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


def resolve_data_dir(settings: Settings) -> Path:
    """``data_dir`` as an absolute path, resolved the same way by the server and the commands:
    an absolute ``data_dir`` as is; a relative one against the directory of the TOML file the
    configuration was read from (``SANTEID_CONFIG``), else against the working directory — so
    a command run elsewhere with the server's configuration file finds the server's data."""
    path = Path(settings.data_dir).expanduser()
    if path.is_absolute():
        return path
    if settings.config_file:
        return (Path(settings.config_file).resolve().parent / path).resolve()
    return (Path.cwd() / path).resolve()


def _fields() -> dict[str, str]:
    # ``from __future__ import annotations``: every field's type is its annotation's text.
    return {f.name: str(f.type) for f in dataclasses.fields(Settings) if f.name != "extra"}


def load_settings(environ: Mapping[str, str] | None = None, **overrides) -> Settings:
    """Settings from defaults, then the TOML file, then the environment, then ``overrides``."""
    if environ is None:
        environ = os.environ
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
        "database_pool_size",
        "ecps_max_pending_requests",
        "ecps_push_limit_per_professional",
        "ecps_push_limit_per_address",
        "ecps_push_window",
        "ecps_totp_failures_per_professional",
        "ecps_activation_sends_per_professional",
        "ecps_activation_sends_per_address",
        "ecps_activation_window",
        "client_assertion_max_lifetime",
        "signed_request_max_lifetime",
        "insi_assertion_max_age",
    ):
        if getattr(settings, name) <= 0:
            raise ConfigurationError(f"{name} must be positive")
    # Logout and Keycloak's realm endpoints.
    if settings.post_logout_redirect_policy not in ("keycloak", "strict"):
        raise ConfigurationError("post_logout_redirect_policy must be keycloak or strict")
    if settings.backchannel_logout_timeout <= 0 or settings.par_lifetime <= 0:
        raise ConfigurationError("backchannel_logout_timeout and par_lifetime must be positive")
    # Keycloak behaviour settings: each names Keycloak's reading or the strict one.
    for name in ("client_authentication", "scope_policy", "error_style"):
        if getattr(settings, name) not in ("keycloak", "strict"):
            raise ConfigurationError(f"{name} must be keycloak or strict")
    wallet = urlsplit(settings.authorization_endpoint)
    if settings.authorization_endpoint and (
        wallet.scheme not in ("http", "https")
        or not wallet.netloc
        or wallet.query
        or wallet.fragment
    ):
        raise ConfigurationError(
            "authorization_endpoint must be an absolute http(s) URL without query or fragment, "
            f"got {settings.authorization_endpoint!r}"
        )
    # Tokens as Keycloak issues them (refresh reuse, userinfo layout, mTLS aliases).
    if settings.refresh_token_max_reuse < 0:
        raise ConfigurationError("refresh_token_max_reuse must be 0 or more")
    if settings.userinfo_layout not in USERINFO_LAYOUTS:
        raise ConfigurationError(
            f"userinfo_layout must be one of {', '.join(USERINFO_LAYOUTS)}, "
            f"got {settings.userinfo_layout!r}"
        )
    if settings.userinfo_errors not in ("keycloak", "rfc6750"):
        raise ConfigurationError(
            f"userinfo_errors must be keycloak or rfc6750, got {settings.userinfo_errors!r}"
        )
    mtls = urlsplit(settings.mtls_base_url)
    if settings.mtls_base_url and (
        mtls.scheme != "https" or not mtls.netloc or mtls.path not in ("", "/")
    ):
        raise ConfigurationError(
            f"mtls_base_url must be an https origin such as https://host:5443, "
            f"got {settings.mtls_base_url!r}"
        )
    parse_idam_bindings(settings.insi_idam_by_certificate)  # raises if malformed
    if settings.database_url and not settings.database_url.startswith(
        ("sqlite:///", "postgresql://", "postgres://")
    ):
        raise ConfigurationError(
            "database_url must be empty (embedded SQLite files under data_dir), "
            "sqlite:///path or postgresql://user:password@host:5432/database"
        )
    if settings.ecps_app_url:
        app_parts = urlsplit(settings.ecps_app_url)
        if app_parts.scheme not in ("http", "https") or not app_parts.netloc:
            raise ConfigurationError(
                f"ecps_app_url must be an absolute http(s) URL, got {settings.ecps_app_url!r}"
            )
        if app_parts.query or app_parts.fragment:
            raise ConfigurationError("ecps_app_url must not carry a query or fragment")
    for name in ("proxy_hops", "request_header_timeout", "request_body_timeout",
                 "ecps_waits_per_device"):  # fmt: skip
        if getattr(settings, name) <= 0:
            raise ConfigurationError(f"{name} must be positive")
    if not 0 <= settings.sandbox_insi_delay <= 120:
        raise ConfigurationError("sandbox_insi_delay must be from 0 to 120 seconds")
    if settings.max_connections_per_address < 0:
        raise ConfigurationError("max_connections_per_address must be 0 (no limit) or more")
    if settings.hsts_max_age < 0:
        raise ConfigurationError("hsts_max_age must be 0 (not sent) or more")
    # Operations (docs/operations.md).
    if settings.health_check_timeout <= 0 or settings.events_retention_days <= 0:
        raise ConfigurationError("health_check_timeout and events_retention_days must be positive")
    if settings.log_format not in ("text", "json"):
        raise ConfigurationError(f"log_format must be text or json, got {settings.log_format!r}")
    from santeid.observability.access import parse_networks

    parse_networks(settings.metrics_allowed_addresses)
    from santeid.admin import admin_professionals

    admin_professionals(settings)
    if settings.workers > 1 and settings.store_url.startswith("memory:"):
        raise ConfigurationError(
            "the memory:// store lives inside one process: with "
            f"{settings.workers} workers a login started in one would be unknown to the others. "
            "Set SANTEID_STORE_URL=redis://host:6379/0 (or store_url in the TOML file), "
            "or run a single worker."
        )
