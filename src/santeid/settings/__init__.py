"""Configuration: built-in defaults < TOML file (``SANTEID_CONFIG``) < ``SANTEID_*`` variables
< the caller's overrides.

The top level holds what every feature shares — where the server is (``issuer``), where its
data and keys live, how many processes serve it. Everything else lives in a section owned by
the feature that reads it, declared in the module of this package named after it
(``settings.ecps.request_lifetime``: :mod:`santeid.settings.ecps`), with its type and
constraints on each field.

Operators name every setting by its *flat name*, the one docs/configuration.md lists: the
section's prefix and the field (``ecps_request_lifetime``), as a TOML key or as the variable
``SANTEID_ECPS_REQUEST_LIFETIME``. A TOML file may also use the sections as tables
(``[ecps] request_lifetime = 120``). :data:`SETTINGS` maps each flat name to its place; it is
derived from the declarations, and tests/settings/test_docs.py checks docs/configuration.md
against it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated
from typing import Any
from typing import NamedTuple
from urllib.parse import urlsplit

from pydantic import Field
from pydantic import ValidationError
from pydantic import field_validator
from pydantic import model_validator

from santeid.settings.admin import AdminSettings
from santeid.settings.base import ENV_PREFIX
from santeid.settings.base import AutoFlag
from santeid.settings.base import ConfigurationError
from santeid.settings.base import HttpUrlText
from santeid.settings.base import Section
from santeid.settings.base import SettingsModel
from santeid.settings.base import absolute_http_url
from santeid.settings.base import describe
from santeid.settings.base import masked_url
from santeid.settings.base import value_sources
from santeid.settings.cps import CpsSettings
from santeid.settings.database import DatabaseSettings
from santeid.settings.ecps import EcpsSettings
from santeid.settings.http import HttpSettings
from santeid.settings.insi import InsiSettings
from santeid.settings.insi import parse_idam_bindings
from santeid.settings.keycloak import USERINFO_LAYOUTS
from santeid.settings.keycloak import KeycloakBehaviour
from santeid.settings.login import LoginSettings
from santeid.settings.messaging import MessagingSettings
from santeid.settings.observability import ObservabilitySettings
from santeid.settings.oidc import OidcSettings
from santeid.settings.sandbox import SandboxSettings
from santeid.settings.store import StoreSettings

__all__ = [
    "DEFAULT_REALM_PATH",
    "ENV_PREFIX",
    "LIST_SETTINGS",
    "PATH_SETTINGS",
    "SETTINGS",
    "USERINFO_LAYOUTS",
    "ConfigurationError",
    "SettingPath",
    "Settings",
    "load_settings",
    "parse_idam_bindings",
    "resolve_data_dir",
    "resolve_path",
    "setting",
    "validate",
]

#: Keycloak realm path PSC uses; the issuer of a default install ends with it.
DEFAULT_REALM_PATH = "/auth/realms/esante-wallet"


#: The most server processes one host runs (the setting ``workers``, ``serve --workers``): a
#: typo of a few digits would otherwise start a process each until the host gave way.
MAX_WORKERS = 64


class Settings(SettingsModel):
    #: Issuer identifier (OIDC Core §2). Endpoints live under ``{issuer}/protocol/openid-connect/``.
    issuer: str = "http://127.0.0.1:5000" + DEFAULT_REALM_PATH
    #: Authorization endpoint advertised by the wallet discovery document (PSC serves it on a
    #: separate "wallet" host at ``/auth``); its path is served too. Empty means
    #: ``<issuer origin>/auth``; ``{issuer}/protocol/openid-connect/auth`` turns the alias off.
    authorization_endpoint: HttpUrlText = ""
    #: Origin (``https://host:port``) of the HTTPS listener where clients present their
    #: certificate: discovery's ``mtls_endpoint_aliases`` point there (RFC 8705 §5). Empty:
    #: the issuer's origin when it is HTTPS (``santeid serve --tls-port`` sets it).
    mtls_base_url: str = ""
    #: Persistent data (SQLite: clients, directory) lives here.
    data_dir: str = "./var"
    #: Signing keys (generated with ``santeid keys generate``).
    keys_dir: str = "./keys"
    #: Number of server processes; more than one needs a shared (redis://) store.
    workers: Annotated[int, Field(ge=1, le=MAX_WORKERS)] = 1
    #: Flask session secret; empty means a random one kept in ``{data_dir}/secret_key``.
    secret_key: str = Field(default="", repr=False)
    #: Set the ``Secure`` cookie flag (a boolean); ``auto`` = unless the issuer is plain-HTTP
    #: localhost.
    cookie_secure: AutoFlag = "auto"
    #: The TOML file this configuration was read from (``SANTEID_CONFIG``); not a setting.
    config_file: str = ""

    # -- the features' sections (one module of this package each) ----------------------
    store: StoreSettings = Field(default_factory=StoreSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    keycloak: KeycloakBehaviour = Field(default_factory=KeycloakBehaviour)
    login: LoginSettings = Field(default_factory=LoginSettings)
    ecps: EcpsSettings = Field(default_factory=EcpsSettings)
    messaging: MessagingSettings = Field(default_factory=MessagingSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    cps: CpsSettings = Field(default_factory=CpsSettings)
    insi: InsiSettings = Field(default_factory=InsiSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_names(cls, data: Any) -> Any:
        """``Settings(ecps_request_lifetime=5)`` as ``Settings(ecps={"request_lifetime": 5})``."""
        if not isinstance(data, Mapping):
            return data
        return _anchor_paths(_nest(data.items(), {}))

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        if not value:
            raise ValueError("must be set: an absolute http(s) URL")
        return absolute_http_url(value).rstrip("/")

    @field_validator("data_dir", "keys_dir")
    @classmethod
    def _a_directory(cls, value: str) -> str:
        """An empty value would mean the working directory, wherever a command runs: the
        data or the keys written there, and not found from elsewhere. ``.`` says it."""
        if not value.strip():
            raise ValueError(
                f"must name a directory ('.' for the working directory), got {value!r}"
            )
        return value

    @field_validator("mtls_base_url")
    @classmethod
    def _https_origin(cls, value: str) -> str:
        """Scheme, host and port alone (RFC 6454 §4): the aliases are this origin followed by
        the issuer's path, which a query, a fragment or user information (refused by
        :func:`absolute_http_url`) would spoil."""
        try:
            absolute_http_url(value)
        except ValueError:
            parts = None
        else:
            parts = urlsplit(value)
        if value and (parts is None or parts.scheme != "https" or parts.path not in ("", "/")):
            raise ValueError(
                f"must be an https origin such as https://host:5443, got {masked_url(value)!r}"
            )
        return value

    @model_validator(mode="after")
    def _shared_store_for_workers(self) -> Settings:
        if self.workers > 1 and self.store.url.startswith("memory:"):
            raise ValueError(
                "the memory:// store lives inside one process: with "
                f"{self.workers} workers a login started in one would be unknown to the "
                "others. Set SANTEID_STORE_URL=redis://host:6379/0 (or store_url in the TOML "
                "file), or run a single worker."
            )
        return self

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
        """The keys directory, absolute (:func:`resolve_path`)."""
        return resolve_path(self.keys_dir, self.config_file)

    @property
    def secure_cookies(self) -> bool:
        if isinstance(self.cookie_secure, bool):
            return self.cookie_secure
        parts = urlsplit(self.issuer)
        local = parts.hostname in ("127.0.0.1", "localhost", "::1")
        return not (parts.scheme == "http" and local)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (flat names, or sections as mappings) applied, validated."""
        return _validated(_nest(changes.items(), self.model_dump()))


class SettingPath(NamedTuple):
    """Where a flat name lives: ``settings.<section>.<field>``, or ``settings.<field>`` when
    ``section`` is empty."""

    section: str
    field: str


# Top-level fields that are not settings an operator sets.
_NOT_SETTINGS = frozenset({"config_file"})


def _setting_paths() -> dict[str, SettingPath]:
    paths: dict[str, SettingPath] = {}
    sections = Settings.sections()
    for name in Settings.model_fields:
        if name in _NOT_SETTINGS:
            continue
        section = sections.get(name)
        entries = (
            [(name, SettingPath("", name))]
            if section is None
            else [
                (section.flat_name(field), SettingPath(name, field))
                for field in section.model_fields
            ]
        )
        for flat, path in entries:
            if flat in paths:
                raise AssertionError(f"two settings are named {flat!r}: {paths[flat]}, {path}")
            paths[flat] = path
    for name in sections:
        # ``settings.<section>`` must never read as another setting (``sandbox`` is the flat
        # name of ``sandbox.enabled``, the section's own switch).
        if name in paths and paths[name].section != name:
            raise AssertionError(f"section {name!r} has the name of the setting {paths[name]}")
    return paths


#: Every setting: flat name (TOML key; ``SANTEID_<FLAT NAME>``) → its place in :class:`Settings`.
SETTINGS: dict[str, SettingPath] = _setting_paths()


def setting(settings: Settings, flat: str) -> Any:
    """The value of the setting named ``flat`` (:data:`SETTINGS`) in ``settings``."""
    section, field = SETTINGS[flat]
    return getattr(getattr(settings, section) if section else settings, field)


def _nest(items: Iterable[tuple[str, Any]], nested: dict[str, Any]) -> dict[str, Any]:
    """``items`` (flat names, top-level fields, or sections given whole) applied in order to
    ``nested``, the layout of :class:`Settings`. Unknown names are kept for pydantic to
    refuse."""
    sections = Settings.sections()
    for key, value in items:
        if key in sections and isinstance(value, Mapping | Section):
            given = value.model_dump() if isinstance(value, Section) else dict(value)
            nested[key] = {**_as_dict(nested.get(key)), **given}
            continue
        path = SETTINGS.get(key)
        if path is None or not path.section:
            nested[key] = value
        else:
            nested[path.section] = {**_as_dict(nested.get(path.section)), path.field: value}
    return nested


def _as_dict(section: object) -> dict[str, Any]:
    if isinstance(section, Section):
        return section.model_dump()
    return dict(section) if isinstance(section, Mapping) else {}


def _validated(data: dict[str, Any], labels: Mapping[str, str] | None = None) -> Settings:
    try:
        with value_sources(labels or {}):
            return Settings.model_validate(data)
    except ValidationError as error:
        raise ConfigurationError(describe(error, Settings)) from None


#: The settings that name a file or a directory (flat names), each resolved by
#: :func:`resolve_path`.
PATH_SETTINGS = (
    "data_dir",
    "keys_dir",
    "cps_ca_file",
    "insi_base",
    "insi_ca_file",
    "sandbox_professionals",
    "tls_client_auth_ca_file",
)


#: The settings that hold a list written as one text, its entries separated by commas (flat
#: names): in a TOML file each also takes an array of strings, its entries joined so
#: (:func:`_file_settings`), as an operator writes a list in TOML.
LIST_SETTINGS = ("trusted_proxies", "metrics_allowed_addresses", "admin_professionals")


def resolve_path(value: str, config_file: str = "") -> Path:
    """A path setting as an absolute path, the same way for every one of them
    (:data:`PATH_SETTINGS`), by the server and every command: ``~`` expanded; an absolute
    path as is; a relative one against the directory of the TOML file the configuration was
    read from (``SANTEID_CONFIG``), else against the working directory — so a command run
    elsewhere with the server's configuration file finds the server's data and keys."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    if config_file:
        return (Path(config_file).resolve().parent / path).resolve()
    return (Path.cwd() / path).resolve()


def resolve_data_dir(settings: Settings) -> Path:
    """``data_dir`` as an absolute path (:func:`resolve_path`)."""
    return resolve_path(settings.data_dir, settings.config_file)


def _anchor_paths(nested: dict[str, Any]) -> dict[str, Any]:
    """With a configuration file, each path setting of ``nested`` (the layout of
    :class:`Settings`), its default included, made absolute by :func:`resolve_path`: a
    relative path then means the same file wherever the program runs. Without one, only
    ``~`` is expanded; a relative path stays relative to the working directory."""
    config_file = nested.get("config_file")
    if not isinstance(config_file, str):
        config_file = ""
    for flat in PATH_SETTINGS:
        section, field = SETTINGS[flat]
        if section:
            holder = nested.setdefault(section, {})
            value = holder.get(field, "")
        else:
            holder = nested
            value = holder.get(field, Settings.model_fields[field].default)
        if isinstance(value, str) and (config_file and value or value.startswith("~")):
            holder[field] = str(resolve_path(value, config_file))
    return nested


def _file_settings(config_file: str) -> Iterator[tuple[str, Any, str]]:
    """(flat name, value, how the file names it) of each setting of the TOML file: flat keys
    at the top level or in a ``[santeid]`` table, and sections as tables (``[ecps]``, or
    ``[santeid.ecps]`` under a ``[santeid]`` table)."""
    try:
        with open(config_file, "rb") as fh:
            document = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigurationError(f"SANTEID_CONFIG: no such file {config_file!r}") from None
    except OSError as exc:  # a directory, no permission…
        raise ConfigurationError(
            f"SANTEID_CONFIG: cannot read {config_file!r}: {exc.strerror or exc}"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"SANTEID_CONFIG: {config_file}: not UTF-8 text (TOML files are UTF-8): {exc.reason} "
            f"at byte {exc.start}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"SANTEID_CONFIG: {config_file}: {exc}") from None
    sections = Settings.sections()
    if "santeid" in document:
        # Other tables of the file belong to other programs, except a section misplaced.
        misplaced = sorted(set(document) & set(sections))
        if misplaced:
            raise ConfigurationError(
                f"{config_file}: [{misplaced[0]}] is outside the [santeid] table: "
                f"write it [santeid.{misplaced[0]}]"
            )
        document = document["santeid"]
        table_prefix = "santeid."
    else:
        table_prefix = ""
    seen: dict[str, str] = {}
    for key, raw in document.items():
        section = sections.get(key)
        if section is not None and isinstance(raw, dict):
            # The table as the file names it: [ecps], or [santeid.ecps] under [santeid].
            table = f"[{table_prefix}{key}]"
            entries = []
            for field, value in raw.items():
                if field not in section.model_fields:
                    raise ConfigurationError(
                        f"{config_file}: unknown setting {field!r} in the {table} table"
                    )
                entries.append((section.flat_name(field), value, f"{table} {field}"))
        elif key in SETTINGS:
            entries = [(key, raw, key)]
        else:
            raise ConfigurationError(f"{config_file}: unknown setting {key!r}")
        for flat, value, written in entries:
            if flat in LIST_SETTINGS and isinstance(value, list):
                if not all(isinstance(entry, str) for entry in value):
                    raise ConfigurationError(
                        f"{config_file}: {written} must be a string or an array of strings"
                    )
                value = ", ".join(value)
            if flat in seen:
                raise ConfigurationError(
                    f"{config_file}: {flat} is set twice ({seen[flat]} and {written})"
                )
            seen[flat] = written
            yield flat, value, written


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from defaults, then the TOML file, then the environment, then ``overrides``
    (flat names; a None override is ignored)."""
    if environ is None:
        environ = os.environ
    values: dict[str, Any] = {}
    #: Where each value came from, for a wrong type's message.
    labels: dict[str, str] = {}

    config_file = environ.get(ENV_PREFIX + "CONFIG", "")
    if config_file:
        for flat, raw, written in _file_settings(config_file):
            values[flat] = raw
            labels[flat] = flat if written == flat else f"{written} ({flat})"

    for flat in SETTINGS:
        variable = ENV_PREFIX + flat.upper()
        if variable in environ:
            values[flat] = environ[variable]
            labels[flat] = variable

    for key, raw in overrides.items():
        if raw is None:
            continue
        if key not in SETTINGS:
            raise ConfigurationError(f"unknown setting {key!r}")
        values[key] = raw
        labels[key] = key

    data = _nest(values.items(), {})
    if config_file:
        data["config_file"] = config_file
    return _validated(data, labels)


def validate(settings: Settings) -> None:
    """Check ``settings`` again (after attributes were assigned): raise
    :class:`ConfigurationError` if they cannot be used."""
    _validated(settings.model_dump())
