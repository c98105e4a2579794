"""What every section of the settings shares: conversion by the declared type, the flat-name
rule, and the one error a bad configuration raises.

A value read from the environment is text; from a TOML file, a TOML value. Each is converted
by pydantic according to the type its field declares (``int``, ``float``, ``str``, a
``Literal`` of choices, :data:`Flag`), and checked against the constraints declared on the
field (``PositiveInt``, ``Field(ge=0)``, validators). Every failure becomes one
:class:`ConfigurationError` that names the setting by its flat name (the TOML key and the
``SANTEID_<NAME>`` variable operators know, docs/configuration.md) and says what it expected.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated
from typing import Any
from typing import ClassVar
from typing import Literal
from typing import NoReturn
from typing import get_args
from typing import get_origin
from urllib.parse import urlsplit

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import BeforeValidator
from pydantic import ConfigDict
from pydantic import Field
from pydantic import ValidationError
from pydantic_core import PydanticCustomError

#: Environment variables: ``SANTEID_<FLAT NAME>`` (and ``SANTEID_CONFIG``, the TOML file).
ENV_PREFIX = "SANTEID_"


class ConfigurationError(Exception):
    """The configuration cannot be used; the message says what to change."""


# Where the values being validated came from (flat name → ``SANTEID_*`` variable, TOML key),
# for the message about a value of the wrong type. pydantic validates each section through
# its ``__init__``, so the label cannot travel as an argument.
_SOURCES: ContextVar[Mapping[str, str] | None] = ContextVar("settings_sources", default=None)


@contextmanager
def value_sources(labels: Mapping[str, str]) -> Iterator[None]:
    """Within the block, a value of the wrong type is named by ``labels[flat name]``."""
    token = _SOURCES.set(labels)
    try:
        yield
    finally:
        _SOURCES.reset(token)


_TRUE = frozenset({"1", "true", "yes", "on"})
# An empty variable (``SANTEID_SANDBOX=``) reads as false, as an unset one.
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _to_flag(raw: object) -> bool:
    """The booleans docs/configuration.md promises: true/false, 1/0, yes/no, on/off (any case),
    and nothing else (pydantic alone would also take ``t``, ``y``, ``f``, ``n``)."""
    if isinstance(raw, bool):
        return raw
    value = str(raw).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise PydanticCustomError("bool_parsing", "not a boolean")


#: A boolean setting.
Flag = Annotated[bool, BeforeValidator(_to_flag)]


def _to_auto_or_flag(raw: object) -> bool | str:
    """``auto`` (any case; also an empty value, as the default is ``auto``) or a boolean as
    :func:`_to_flag` reads it; anything else is refused, never read as ``auto``."""
    if isinstance(raw, str) and raw.strip().lower() in ("auto", ""):
        return "auto"
    try:
        return _to_flag(raw)
    except PydanticCustomError:
        raise ValueError(
            f"must be auto or a boolean (true/false, 1/0, yes/no, on/off), got {raw!r}"
        ) from None


#: A setting that is ``auto`` (decided from the rest of the configuration) or a boolean.
AutoFlag = Annotated[Literal["auto"] | bool, BeforeValidator(_to_auto_or_flag)]


#: The addresses ``santeid serve --host`` listens on every interface with; their pages are
#: reached at 127.0.0.1 (the issuer ``serve`` makes when none is configured).
WILDCARD_HOSTS = ("0.0.0.0", "::")  # noqa: S104


#: One label of a host name (RFC 1123 §2.1): letters, digits and hyphens, 1 to 63, no hyphen
#: at either end.
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
#: A last label that makes a name an IPv4 address to a browser: decimal or ``0x`` hexadecimal
#: (the WHATWG URL Standard's "ends in a number checker",
#: https://url.spec.whatwg.org/#ends-in-a-number-checker).
_NUMBER_LABEL = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*")
#: What :func:`is_host_name` accepts, in the words of the refusals that rely on it.
HOST_NAME_SYNTAX = "letters, digits and hyphens in dot-separated labels, the last not a number"


def is_host_name(name: str) -> bool:
    """Whether ``name`` is a host name in the preferred name syntax (RFC 1123 §2.1, RFC 5280
    §4.2.1.6 for a dNSName): dot-separated labels, at most 253 characters, the last one not a
    number — "the highest-level component label will be alphabetic" (RFC 1123 §2.1), and a
    browser reads ``0x7f.1`` or ``127.1`` as the IPv4 address 127.0.0.1 (:data:`_NUMBER_LABEL`),
    so that a URL or a certificate naming it would name no host a browser goes to."""
    labels = name.split(".")
    return (
        0 < len(name) <= 253
        and all(_HOST_LABEL.fullmatch(label) for label in labels)
        and not _NUMBER_LABEL.fullmatch(labels[-1])
    )


def bracketed(host: str) -> str:
    """``host`` as it stands in a URL's authority: an IPv6 literal in brackets (RFC 3986
    §3.2.2), anything else as it is."""
    return f"[{host}]" if ":" in host else host


def authority_host(host: str) -> str:
    """An address ``santeid serve`` listens on, written as a URL's authority writes it:
    :func:`bracketed`, an IPv6 zone (``fe80::1%eth0``) as ``%25eth0`` (RFC 6874 §2,
    https://www.rfc-editor.org/rfc/rfc6874#section-2)."""
    return bracketed(host.replace("%", "%25") if ":" in host else host)


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)  # an IPv6 one with its zone too (fe80::1%eth0)
    except ValueError:
        return False
    return True


def listen_host(host: str) -> str:
    """The address ``santeid serve --host`` listens on: an IP address, an IPv6 one possibly in
    brackets as a URL writes it (``[::1]``, RFC 3986 §3.2.2) and with its zone
    (``fe80::1%eth0``), or a host name (:func:`is_host_name`). Raises :class:`ValueError`
    for anything else: brackets around what is no IPv6 address, or left open."""
    if host.startswith("[") or host.endswith("]"):
        inner = host[1:-1] if host.startswith("[") and host.endswith("]") else ""
        if ":" not in inner or not _is_ip_address(inner):
            raise ValueError(
                f"{host!r}: brackets enclose an IPv6 address, as in [::1] (RFC 3986 §3.2.2)"
            )
        return inner
    if _is_ip_address(host) or (":" not in host and is_host_name(host)):
        return host
    raise ValueError(f"{host!r} is neither an IP address nor a host name ({HOST_NAME_SYNTAX})")


def url_host(host: str) -> str:
    """The host of this server's URLs when it listens on ``host``: 127.0.0.1 for a wildcard
    (:data:`WILDCARD_HOSTS`), else ``host`` as :func:`authority_host` writes it — a host name
    in lower case, as URL parsers normalise it (RFC 3986 §6.2.2.1; the WHATWG URL host parser)
    and relying parties then compare the issuer with it as a string (OpenID Connect Discovery
    1.0 §4.3): ``LOCALHOST`` makes ``http://localhost:…``. An IPv6 zone keeps its case (an
    interface name)."""
    if host in WILDCARD_HOSTS:
        return "127.0.0.1"
    return authority_host(host if _is_ip_address(host) else host.lower())


#: What precedes the host in a URL's authority, ``user:password@`` (RFC 3986 §3.2.1).
_USERINFO = re.compile(r"^([^/?#]*//)[^/?#]*@")


def masked_url(value: str) -> str:
    """``value`` as a message shows it: user information, which may hold a password, as
    ``***``."""
    return _USERINFO.sub(r"\1***@", value)


def absolute_http_url(value: str) -> str:
    """An absolute http(s) URL with a host, without user information, query or fragment — an
    issuer (OIDC Discovery §2) and the addresses published beside it — or empty. An empty query
    or fragment (a bare ``?`` or ``#``) is one still (RFC 3986 §3: the delimiter starts the
    component), and a port is a number a connection can go to (1 to 65535): either way, URLs
    built on it would lead nowhere. User information (``user:password@``, which RFC 3986
    §3.2.1 deprecates) is no part of an issuer, "scheme, host, and optionally, port number and
    path components" (OpenID Connect Core 1.0 §2,
    https://openid.net/specs/openid-connect-core-1_0.html#IDToken), nor of an address sent to
    browsers or called (Python's urllib takes it for part of the host name)."""
    return _http_url(value, query=False)


def called_http_url(value: str) -> str:
    """An address santeid calls (the SMS hook), or empty: :func:`absolute_http_url`'s rule, but
    a query is allowed (a gateway's key, say), as nothing is built on it."""
    return _http_url(value, query=True)


def _http_url(value: str, *, query: bool) -> str:
    """:func:`absolute_http_url`; ``query``: a query is allowed."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
        port = parts.port  # a port that is no number, or out of range 0-65535, raises
    except ValueError:  # that, or an unbalanced [ of an IPv6 address
        parts, host, port = None, None, None
    if value and (
        parts is None
        or parts.scheme not in ("http", "https")
        or not host
        or port == 0
        or (not query and "?" in value)
        or "#" in value
    ):
        without = "fragment" if query else "query or fragment"
        raise ValueError(
            f"must be an absolute http(s) URL with a host, without {without}, "
            f"got {masked_url(value)!r}"
        )
    if parts is not None and "@" in parts.netloc:
        raise ValueError(
            "must not hold user information (user:password@ before the host), "
            f"got {masked_url(value)!r}"
        )
    return value


#: A URL setting that may be empty (:func:`absolute_http_url`).
HttpUrlText = Annotated[str, AfterValidator(absolute_http_url)]
#: A URL setting of an address santeid calls, which may be empty (:func:`called_http_url`).
CalledUrlText = Annotated[str, AfterValidator(called_http_url)]

# -- the kinds of number a setting is: each kind's range, declared once ------------------------
# (Whatever the kind, a number that is not finite — inf, nan, 1e400 — is refused by every
# float setting: ``allow_inf_nan`` of :class:`SettingsModel`.)

#: The longest duration a setting may hold: 100 years, far past any real lifetime, timeout or
#: retention, and still a time that a date (up to the year 9999), a Redis TTL and a thread's
#: wait (``threading.TIMEOUT_MAX``) can hold — a longer one was taken, then failed in the
#: middle of the work (an ``OverflowError`` turning it into a date or into milliseconds).
MAX_DURATION_SECONDS = 100 * 365 * 86_400
MAX_DURATION_DAYS = MAX_DURATION_SECONDS // 86_400

#: A duration in whole seconds, more than 0 (a lifetime, a window).
Seconds = Annotated[int, Field(gt=0, le=MAX_DURATION_SECONDS)]
#: A duration in whole seconds where 0 turns the thing off (``hsts_max_age``).
SecondsOrZero = Annotated[int, Field(ge=0, le=MAX_DURATION_SECONDS)]
#: A duration in seconds, fractions allowed, more than 0 (a timeout).
FractionalSeconds = Annotated[float, Field(gt=0, le=MAX_DURATION_SECONDS)]
#: A duration in seconds, fractions allowed, where 0 means no wait (a delay).
FractionalSecondsOrZero = Annotated[float, Field(ge=0, le=MAX_DURATION_SECONDS)]
#: A duration in whole days, more than 0 (a retention).
Days = Annotated[int, Field(gt=0, le=MAX_DURATION_DAYS)]
#: A TCP port.
Port = Annotated[int, Field(ge=1, le=65535)]

#: The largest count a setting may hold — attempts, requests, hops, connections, bytes of a
#: parameter: a million, far past what a deployment sets (a CI sandbox raising its e-CPS limits
#: sets 10000), and still a number every place that holds one takes: a PostgreSQL ``integer``
#: (2^31 − 1), an SQLite or Redis integer (2^63 − 1), a JSON number a JavaScript client reads
#: exactly (2^53), a loop over it. A larger one was taken, then failed in the middle of the
#: work (``ecps_pin_attempts`` = 10^20: every wrong PIN a 500, SQLite refusing the number).
MAX_COUNT = 1_000_000

#: A count, 1 or more (a limit on attempts or requests, a number of proxies, a pool's size).
Count = Annotated[int, Field(gt=0, le=MAX_COUNT)]
#: A count where 0 has a meaning (no limit, no reuse).
CountOrZero = Annotated[int, Field(ge=0, le=MAX_COUNT)]

#: A UUID as written in an identifier: 8-4-4-4-12 hexadecimal digits (RFC 9562 §4), in any
#: case — not the other spellings ``uuid.UUID`` also reads (braces, ``urn:uuid:``, no hyphens).
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _uuid(value: str) -> str:
    if not _UUID.fullmatch(value):
        raise ValueError(
            f"must be a UUID (8-4-4-4-12 hexadecimal digits, as 7a0d1f9e-3c55-4f0e-9d7b-"
            f"2b5e1c8a4f10), got {value!r}"
        )
    return value


#: A UUID setting (:data:`_UUID`).
UuidText = Annotated[str, AfterValidator(_uuid)]


@dataclass(frozen=True)
class FlatName:
    """Field metadata: the flat name of a field whose flat name is not its section's
    ``flat_prefix`` followed by the field's name (``sandbox.enabled`` is ``sandbox``)."""

    name: str


class SettingsModel(BaseModel):
    """A model of settings: unknown names refused, values converted by their declared type
    (numbers given where text is expected become text, as TOML's ``federation_id = 123``),
    assignments validated too."""

    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        coerce_numbers_to_str=True,
        # No setting is infinite or not a number: 1e400 reads as inf.
        allow_inf_nan=False,
    )

    #: What precedes a field's name in its flat name (``ecps_`` for ``ecps.request_lifetime``).
    flat_prefix: ClassVar[str] = ""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise ConfigurationError(describe(error, type(self))) from None

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as error:
            raise ConfigurationError(describe(error, type(self))) from None

    @classmethod
    def flat_name(cls, attribute: str) -> str:
        """The flat name of one of this model's fields or properties."""
        field = cls.model_fields.get(attribute)
        if field is not None:
            for marker in field.metadata:
                if isinstance(marker, FlatName):
                    return marker.name
        return cls.flat_prefix + attribute

    @classmethod
    def sections(cls) -> dict[str, type[Section]]:
        """The fields of this model that are sections, by name."""
        return {
            name: field.annotation
            for name, field in cls.model_fields.items()
            if isinstance(field.annotation, type) and issubclass(field.annotation, Section)
        }


class Section(SettingsModel):
    """The settings of one feature: ``settings.<section>.<field>``."""

    def __bool__(self) -> NoReturn:
        # ``if settings.sandbox:`` written before ``sandbox`` became a section would otherwise
        # be always true: a section is never a setting's value.
        raise TypeError(
            f"{type(self).__name__} is a section of the settings, not a value: read its fields"
        )


_EXPECTED: dict[object, str] = {
    bool: "a boolean (true/false)",
    int: "a whole number",
    float: "a number",
    str: "a string",
}
_TYPE_ERRORS = frozenset(
    {
        "bool_parsing",
        "bool_type",
        "int_parsing",
        "int_type",
        "int_from_float",
        "float_parsing",
        "float_type",
        "string_type",
    }
)


def _choices(annotation: object) -> str:
    values = [str(value) for value in get_args(annotation)]
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def _bound(number: float) -> str:
    """A bound as an operator writes it: 3153600000, not 3.1536e+09."""
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def describe(error: ValidationError, model: type[SettingsModel]) -> str:
    """``error`` in an operator's words: the flat name of each refused setting (or, for a
    value of the wrong type, where it came from, such as the ``SANTEID_*`` variable: see
    :func:`value_sources`) and what it must be."""
    labels = _SOURCES.get() or {}
    messages = []
    for detail in error.errors(include_url=False):
        location = [str(part) for part in detail["loc"]]
        owner: type[SettingsModel] = model
        sections = model.sections()
        if len(location) > 1 and location[0] in sections:
            owner = sections[location[0]]
            location = location[1:]
        context = detail.get("ctx") or {}
        if not location:
            messages.append(str(context.get("error", detail["msg"])))
            continue
        flat = owner.flat_name(location[0])
        field = owner.model_fields.get(location[0])
        annotation = field.annotation if field is not None else None
        given = detail.get("input")
        kind = detail["type"]
        if kind in ("extra_forbidden", "no_such_attribute"):
            messages.append(f"unknown setting {flat!r}")
        elif kind == "finite_number":
            messages.append(f"{labels.get(flat, flat)} must be a finite number, got {given!r}")
        elif kind in _TYPE_ERRORS:
            label = labels.get(flat, flat)
            expected = _EXPECTED.get(annotation, "a value of its type")
            messages.append(f"{label}: expected {expected}, got {given!r}")
        elif kind == "literal_error" and get_origin(annotation) is Literal:
            messages.append(f"{flat} must be {_choices(annotation)}, got {given!r}")
        elif kind == "greater_than" and context.get("gt") == 0:
            messages.append(f"{flat} must be positive, got {given!r}")
        elif kind == "greater_than_equal":
            messages.append(f"{flat} must be {_bound(context['ge'])} or more, got {given!r}")
        elif kind == "less_than_equal":
            messages.append(f"{flat} must be {_bound(context['le'])} or less, got {given!r}")
        elif kind == "value_error":
            messages.append(f"{flat} {context['error']}")
        else:
            messages.append(f"{flat}: {detail['msg']}")
    return "; ".join(messages)
