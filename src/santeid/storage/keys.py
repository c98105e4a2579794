"""Every key santeid writes to the short-lived store, built here and nowhere else.

A key is segments joined by ``:`` — a namespace of one or more fixed words (lower case, words
joined by ``-``), then the identifying parts (``fam:<fid>:at`` ends with a fixed word too).
Each namespace is a :class:`Namespace` constant below, whose ``pattern`` is the form shown in
``docs/storage.md`` (a test checks that the table there lists exactly :data:`NAMESPACES`, and
another that no module outside this one builds a key).

The names are those santeid has always written, so a rolling upgrade keeps the sessions,
codes and tokens in flight. A value that must not be readable in a dump of the store (a bearer
code, an ``auth_req_id``, a rate limit's subject, a client address) goes in as :func:`digest`
of it (docs/storage.md).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from dataclasses import field
from typing import Literal

#: What a key holds (``docs/storage.md``, "The contract").
Holds = Literal["record", "counter", "set"]

SEPARATOR = ":"

_PLACEHOLDER = re.compile(r"<[^<>]+>")
_FIXED_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")


def digest(value: str, length: int = 64) -> str:
    """Hex SHA-256 of ``value`` (its first ``length`` hex digits): the form in which a bearer
    value or a client-supplied string enters a key. ``surrogatepass``: any ``str`` hashes,
    even one holding lone surrogates from a malformed request."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def duration(seconds: int) -> str:
    """A lifetime as ``docs/storage.md`` shows it: ``30`` → ``30 s``, ``900`` → ``15 min``,
    ``3600`` → ``1 h``, ``2592000`` → ``30 days``."""
    if seconds >= 86400 and seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day" if days == 1 else f"{days} days"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds >= 600 and seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def lifetime_through(until: float, now: float) -> int:
    """The ``ttl`` of a single-use marker written at ``now`` that must outlive ``until``, the
    last instant its JWT can be accepted (its ``exp``, plus the clock skew allowed on it): a
    ``jti`` seen, a revoked access token. Keycloak's rule for its revoked-token entry,
    ``exp`` − now + 1 counted in whole seconds (``TokenRevocationEndpoint.revokeAccessToken``):
    the entry lapses at the whole second after ``until`` or later, never in the last fraction
    of a second before it when ``now`` is not on a whole second (a lifetime of
    ``int(until - now)`` seconds would). At most 2 s longer than needed; 1 at least, as every
    ``ttl``."""
    return max(1, math.floor(until) - math.floor(now) + 1)


@dataclass(frozen=True)
class Namespace:
    """One family of store keys: ``pattern`` names its parts, :meth:`key` fills them in."""

    #: ``"fam:<fid>:at"``: fixed words and ``<placeholders>``, ``:``-separated.
    pattern: str
    holds: Holds
    #: What the key holds, for ``docs/storage.md``.
    meaning: str
    #: Where its lifetime comes from: a setting in backquotes, or a duration built with
    #: :func:`duration` from the constant the code uses (never a number written here: a test
    #: checks it).
    lifetime: str
    _segments: tuple[str, ...] = field(init=False, repr=False, compare=False)
    #: Each segment's fixed word, or ``None`` for a placeholder: read once here, since a
    #: code-flow login builds 26 keys (docs/performance.md, "Levers of the code flow").
    _fixed: tuple[str | None, ...] = field(init=False, repr=False, compare=False)
    _parts: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        segments = tuple(self.pattern.split(SEPARATOR))
        for segment in segments:
            if not (_PLACEHOLDER.fullmatch(segment) or _FIXED_WORD.fullmatch(segment)):
                raise ValueError(f"bad key pattern segment {segment!r} in {self.pattern!r}")
        if _PLACEHOLDER.fullmatch(segments[0]):
            raise ValueError(f"a key pattern starts with a fixed word: {self.pattern!r}")
        object.__setattr__(self, "_segments", segments)
        fixed = tuple(None if _PLACEHOLDER.fullmatch(s) else s for s in segments)
        object.__setattr__(self, "_fixed", fixed)
        parts = tuple(s[1:-1] for s, f in zip(segments, fixed, strict=True) if f is None)
        object.__setattr__(self, "_parts", parts)

    @property
    def prefix(self) -> str:
        """The fixed words before the first part, with the separator (``"ecps:req:"``)."""
        fixed = []
        for segment in self._segments:
            if _PLACEHOLDER.fullmatch(segment):
                break
            fixed.append(segment)
        return SEPARATOR.join(fixed) + SEPARATOR

    @property
    def arity(self) -> int:
        return self._fixed.count(None)

    @property
    def parts(self) -> tuple[str, ...]:
        """The placeholders' names, in order: ``("national_id", "sha256(origin)")``."""
        return self._parts

    def key(self, *parts: str) -> str:
        """The key for these parts, in the order of the pattern's placeholders."""
        if len(parts) != self.arity:
            raise TypeError(f"{self.pattern} takes {self.arity} part(s), got {len(parts)}")
        values = iter(parts)
        built = []
        for fixed in self._fixed:
            if fixed is None:
                part = next(values)
                if not isinstance(part, str):
                    raise TypeError(f"{self.pattern}: parts are strings, got {part!r}")
                built.append(part)
            else:
                built.append(fixed)
        return SEPARATOR.join(built)


# -- browser login and OpenID Connect --------------------------------------------------------

LOGIN = Namespace(
    "login:<txid>",
    "record",
    "a login transaction (validated request, browser binding, state, proof)",
    "`login_transaction_lifetime`",
)
CODE = Namespace(
    "code:<sha256(code)>",
    "record",
    "an authorization code; becomes a `consumed` tombstone naming its token family",
    "`authorization_code_lifetime`, then the tombstone `refresh_token_lifetime`",
)
SSO = Namespace(
    "sso:<sid>",
    "record",
    "an SSO session (`auth_time`, `acr`, `amr`, `authMode`)",
    "min(`sso_idle_timeout`, what remains of `sso_max_lifetime`)",
)
SESSION_FAMILIES = Namespace(
    "sidfams:<sid>",
    "set",
    "the token families opened under an SSO session (revoked at logout; a client's, when one"
    " of its refresh tokens is revoked)",
    "`sso_max_lifetime`",
)
CLIENT_SESSION = Namespace(
    "clientsess:<sid>:<client>",
    "record",
    "whether a client is in an SSO session (Keycloak's client session): attached by each"
    " authorization code issued to it there, detached when its grants there end (a refresh"
    " token revoked, a replayed code, a refused reuse); a code issued before the detachment"
    " is then refused",
    "`sso_max_lifetime`",
)
SESSION_ENDED = Namespace(
    "ended:<sid>",
    "record",
    "marks a session (or a CIBA grant, by its family id) already ended, so its back-channel "
    "logout is sent once",
    "`sso_max_lifetime`",
)
FAMILY = Namespace(
    "fam:<fid>",
    "record",
    "a refresh-token family: its client, login, scope, when it was opened (with "
    "`refresh_token_revoke`: the refresh token last used, and when)",
    "min(`refresh_token_lifetime`, `sso_idle_timeout`), renewed with each refresh token, never "
    "past its SSO session's `sso_max_lifetime`",
)
FAMILY_ACCESS_TOKENS = Namespace(
    "fam:<fid>:at",
    "set",
    "the ids of the access tokens of a family (revoked with it)",
    "the longer of `access_token_lifetime` and `refresh_token_lifetime`",
)
REFRESH_TOKEN = Namespace(
    "rt:<jti>",
    "record",
    "a refresh token's server state (its family, `active`)",
    "min(`refresh_token_lifetime`, `sso_idle_timeout`), never past its SSO session's "
    "`sso_max_lifetime`",
)
REFRESH_TOKEN_USES = Namespace(
    "rtuse:<jti>",
    "counter",
    "uses of a refresh token (only with `refresh_token_revoke`)",
    "`refresh_token_lifetime`",
)
REVOKED_ACCESS_TOKEN = Namespace(
    "revoked:<jti>",
    "record",
    "access-token deny list",
    "what remains of the token's life (revoked alone: a second past its `exp`, or more)",
)
#: Seconds of clock skew on the time claims of the JWTs a client signs but its assertions
#: (request objects, CIBA signed requests, ``login_hint_token``s): a CIBA request is still
#: accepted, and its ``jti`` remembered, this long after its ``exp``. Here because the key
#: lifetimes below are written from it; ``santeid.oidc.client_auth.LEEWAY`` is this value.
CLIENT_JWT_LEEWAY = 30
#: Seconds of clock skew on a client assertion (``private_key_jwt``, ``client_secret_jwt``):
#: Keycloak's, whose ``JWTClientValidator.getAllowedClockSkew`` is 15
#: (docs/reference/keycloak-behaviour.md, "Client authentication"), where the other JWTs a
#: client signs keep :data:`CLIENT_JWT_LEEWAY`.
CLIENT_ASSERTION_CLOCK_SKEW = 15
CLIENT_ASSERTION_JTI = Namespace(
    "jti:<client>:<sha256(jti)>",
    "record",
    "`private_key_jwt` and `client_secret_jwt` assertion ids already seen",
    "until `exp`, or `iat` + `client_assertion_max_lifetime` if sooner, + clock skew "
    f"(≤ `client_assertion_max_lifetime` + {duration(CLIENT_ASSERTION_CLOCK_SKEW)}), to the next "
    "whole second",
)
PUSHED_REQUEST = Namespace(
    "par:<id>",
    "record",
    "a pushed authorization request (client id and parameters), taken atomically at first use "
    "by its own client",
    "`par_lifetime`",
)

# -- CIBA ------------------------------------------------------------------------------------

#: Seconds a CIBA or e-CPS request stays readable past its expiry, flagged expired (the
#: ``grace`` of their record kinds): a late poll learns that it expired.
REQUEST_GRACE = 300

CIBA_REQUEST = Namespace(
    "ciba:<sha256(auth_req_id)>",
    "record",
    "a CIBA request (state by compare-and-set, `consumed` tombstone), [ciba.md](ciba.md)",
    f"`expires_in` + {duration(REQUEST_GRACE)}",
)
CIBA_ECPS_LINK = Namespace(
    "ciba:ecps:<ecps_request_id>",
    "record",
    "the CIBA request an e-CPS request answers",
    f"`expires_in` + {duration(REQUEST_GRACE)}",
)
CIBA_EXPIRY_NOTED = Namespace(
    "ciba:<sha256(auth_req_id)>:expired",
    "record",
    "marks a CIBA request already counted as expired unanswered (metrics and event, once)",
    duration(REQUEST_GRACE),
)
CIBA_REQUEST_JTI = Namespace(
    "ciba:jti:<client>:<sha256(jti)>",
    "record",
    "signed CIBA request objects' `jti`s already seen",
    f"until the request object's `exp` + {duration(CLIENT_JWT_LEEWAY)}, to the next whole second",
)

# -- e-CPS -----------------------------------------------------------------------------------

ECPS_REQUEST = Namespace(
    "ecps:req:<request_id>",
    "record",
    "an e-CPS authentication request (the phone's approval)",
    f"`ecps_request_lifetime` (or the CIBA `expires_in`) + {duration(REQUEST_GRACE)}",
)
ECPS_PENDING = Namespace(
    "ecps:pending:<national_id>",
    "set",
    "a professional's e-CPS requests, as `<expires_at>:<request_id>`",
    "the longest of its requests' records",
)
ECPS_WRONG_PIN = Namespace(
    "ecps:req-pin:<request_id>",
    "record",
    "attempts left after a wrong PIN typed for a pending e-CPS request",
    "the request's",
)
#: Seconds the ``used`` tombstone of an activation code is kept, to tell a second use apart
#: from a typo or an expired code.
USED_ACTIVATION_CODE_MEMORY = 600
ECPS_ACTIVATION = Namespace(
    "ecps:activation:<sha256(code)>",
    "record",
    "an e-CPS activation code (QR); becomes a `used` tombstone",
    f"`ecps_activation_code_lifetime`, then the tombstone {duration(USED_ACTIVATION_CODE_MEMORY)}",
)
ECPS_DEVICE_TOKEN_JTI = Namespace(
    "ecps:jti:<device_id>:<sha256(jti)>",
    "record",
    "device-token `jti`s already seen",
    "until the token's `exp` + skew, to the next whole second",
)
ECPS_DECISION_JTI = Namespace(
    "ecps:decision-jti:<device_id>:<sha256(jti)>",
    "record",
    "decision `jti`s already seen",
    "the decision's maximum age + skew",
)
ECPS_TOTP_FAILURES = Namespace(
    "ecps:totp-fail:<national_id>:<sha256(origin)>",
    "counter",
    "wrong offline codes of a professional from one address",
    "`ecps_totp_lock`",
)
ECPS_TOTP_LOCK = Namespace(
    "ecps:totp-lock:<national_id>:<sha256(origin)>",
    "record",
    "offline codes locked for a professional from one address",
    "`ecps_totp_lock`",
)
ECPS_TOTP_FAILURES_ALL = Namespace(
    "ecps:totp-fail-all:<national_id>",
    "counter",
    "wrong offline codes of a professional from every address",
    "`ecps_totp_lock`",
)
#: Seconds of the long window of wrong offline codes per professional.
ECPS_TOTP_DAY_WINDOW = 86400
ECPS_TOTP_FAILURES_DAY = Namespace(
    "ecps:totp-fail-day:<national_id>",
    "counter",
    "wrong offline codes of a professional from every address, per day",
    duration(ECPS_TOTP_DAY_WINDOW),
)
ECPS_TOTP_USED = Namespace(
    "ecps:totp-used:<device_id>:<counter>",
    "record",
    "offline codes already used",
    "the code's validity window",
)
#: Seconds a wait slot outlives the longest wait it may cover (a crashed worker's slot frees
#: itself after that).
WAIT_SLOT_MARGIN = 30
ECPS_WAIT_SLOT = Namespace(
    "ecps:wait:<device_id>:<slot>",
    "record",
    "a device's long polls and event streams open (`ecps_waits_per_device` slots)",
    f"the wait + {duration(WAIT_SLOT_MARGIN)}",
)

# -- e-CPS activation pages ------------------------------------------------------------------

#: Seconds the two validation codes of a self-service activation stay valid.
ECPS_CODE_PAIR_LIFETIME = 600

ECPS_CODE_PAIR = Namespace(
    "ecps-act:<flow>",
    "record",
    "the two contact-detail codes of an activation, as keyed digests",
    duration(ECPS_CODE_PAIR_LIFETIME),
)
ECPS_CODE_PAIR_TRIES = Namespace(
    "ecps-act-tries:<flow>",
    "counter",
    "attempts at a pair of activation codes",
    duration(ECPS_CODE_PAIR_LIFETIME),
)
ECPS_CODE_PAIR_CURRENT = Namespace(
    "ecps-act-current:<national_id>:<sha256(bid)>",
    "record",
    "the live pair of a professional in one browser",
    duration(ECPS_CODE_PAIR_LIFETIME),
)

# -- rate limits, INSi, administration, sandbox ----------------------------------------------

RATE = Namespace(
    "rate:<limit>:<sha256(subject)>",
    "counter",
    "fixed-window counters of the login-page e-CPS pushes and activation sends, per "
    "professional and per address ([security.md](security.md#attempt-and-rate-limits))",
    "the window (`ecps_push_window`, `ecps_activation_window`)",
)
#: Seconds of the window in which failed sign-ins to the administration console are counted.
ADMIN_SIGN_IN_WINDOW = 900
ADMIN_LOGIN_FAILURES = Namespace(
    "admin-login-failures:<sha256(address)>",
    "counter",
    "failed sign-ins to the administration console from one address",
    duration(ADMIN_SIGN_IN_WINDOW),
)
#: Seconds an administration console session lives without a request.
ADMIN_SESSION_IDLE = 1800
#: Seconds an administration console session lives at most, however busy (OWASP Session
#: Management Cheat Sheet, "Absolute Timeout").
ADMIN_SESSION_MAX_LIFETIME = 8 * 3600
ADMIN_SESSION = Namespace(
    "admin-session:<sha256(id)>",
    "record",
    "an administration console session (who, how they signed in, since when; the cookie holds "
    "its id only), deleted at sign-out",
    f"min({duration(ADMIN_SESSION_IDLE)} idle, what remains of "
    f"{duration(ADMIN_SESSION_MAX_LIFETIME)})",
)
#: Seconds what a console change shows once waits for the page its answer leads to (the
#: browser follows the redirect at once).
ADMIN_FLASH_LIFETIME = 60
ADMIN_FLASH = Namespace(
    "admin-flash:<sha256(id, page)>",
    "record",
    "what a change made in the administration console shows once on the page its answer "
    "redirects to (a notice; a new client secret or e-CPS activation code), taken by that "
    "page's next display; found only with the session's id",
    duration(ADMIN_FLASH_LIFETIME),
)
INSI_ASSERTION_USED = Namespace(
    "insi:saml-used:<sha256(certificate, ID)>",
    "record",
    "CPx assertions already used (INSi SOAP, [insi-soap.md](insi-soap.md))",
    "until the assertion is too old (`insi_assertion_max_age` + skew)",
)
#: Seconds the sandbox debugger remembers a request and its tokens.
SANDBOX_DEBUGGER_LIFETIME = 3600
SANDBOX_DEBUGGER = Namespace(
    "sandbox:debugger:<id>",
    "record",
    "a sandbox debugger run (PKCE verifier, nonce, tokens)",
    duration(SANDBOX_DEBUGGER_LIFETIME),
)
#: Seconds a scripted login stays marked as being ended (its transaction used up, its answer
#: not recorded yet): a call that fails midway and cannot remove the mark leaves it this long.
SANDBOX_LOGIN_ENDING_LIFETIME = 10
SANDBOX_LOGIN = Namespace(
    "sandbox:login:<login_id>",
    "record",
    "a scripted login of the sandbox control API that has ended: its answer (the callback URL "
    "with its code or error), read back by `GET /sandbox/api/logins/{login_id}`; before, while "
    "a call ends it, the mark `ending`",
    f"`login_transaction_lifetime` (the mark: {duration(SANDBOX_LOGIN_ENDING_LIFETIME)})",
)
#: Seconds a scenario set through the sandbox control API (or a created professional's) is
#: kept (the store needs a lifetime).
SANDBOX_SCENARIO_LIFETIME = 30 * 24 * 3600
SANDBOX_SCENARIO = Namespace(
    "sandbox:scenario:<national_id>",
    "record",
    "a sandbox professional's scenario chosen through the sandbox API (the one it was created "
    "with there is in the directory; an earlier santeid kept it here too, field `base`, still "
    "read); read once per HTTP request, which sees its own changes at once and another "
    "worker's from its next request",
    duration(SANDBOX_SCENARIO_LIFETIME),
)

#: Every namespace, in the order of the table in ``docs/storage.md``.
NAMESPACES: tuple[Namespace, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, Namespace)
)
