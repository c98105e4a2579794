"""Every Prometheus metric santeid exports, and the one-line hooks the cores call.

Multi-process mode: ``santeid serve`` gives each server start a fresh, empty
``PROMETHEUS_MULTIPROC_DIR`` (``prepare_multiprocess_dir``) before any worker starts, so each
worker writes its counts to its own files there and ``/metrics`` sums them
(https://prometheus.github.io/client_python/multiprocess/). Only counters and histograms are
used: their values stay summed after a worker exits, so nothing is lost when Granian or
gunicorn replaces a worker.

Names and labels follow https://prometheus.io/docs/practices/naming/ and stay low-cardinality:
no national identifier, no token, no value a client chose. A ``client`` label is a registered
client id (the hooks are called once the client is authenticated or looked up in the
registry), an INSi ``software`` label a registered authorisation number (else ``unknown``),
and every other label a value from a fixed set of the code.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import disable_created_metrics
from prometheus_client import generate_latest
from prometheus_client import multiprocess

from santeid.ciba.metadata import DELIVERY_MODES
from santeid.observability.multiproc import MULTIPROC_ENV
from santeid.oidc import grant_types

log = logging.getLogger(__name__)

#: santeid's metrics and nothing else. The client library's default registry also holds its
#: ``process_*``/``python_*`` collectors, which a server of one process would export and the
#: summed files of several workers do not (docs/operations.md, "Metrics"): one set whatever
#: the layout.
OWN_METRICS = CollectorRegistry()
_counter = functools.partial(Counter, registry=OWN_METRICS)
_histogram = functools.partial(Histogram, registry=OWN_METRICS)
# No ``*_created`` series either: multi-process mode has none, so one process must not add
# them (https://prometheus.github.io/client_python/instrumenting/#disabling-_created-metrics).
disable_created_metrics()

UNKNOWN = "unknown"

# -- logins (browser, authorization code flow) ------------------------------------------------
LOGINS_STARTED = _counter(
    "santeid_logins_started_total", "Browser logins started (login page shown).", ["client"]
)
LOGINS_COMPLETED = _counter(
    "santeid_logins_completed_total",
    "Browser logins completed (authorization code issued).",
    ["client", "auth_mode"],
)
LOGINS_BY_SSO = _counter(
    "santeid_logins_sso_total",
    "Codes issued from the browser's SSO session, without a login.",
    ["client"],
)
LOGINS_FAILED = _counter(
    "santeid_logins_failed_total",
    "Browser logins refused or abandoned, and cards refused at the CIBA CARD channel, by reason.",
    ["client", "auth_mode", "reason"],
)
#: Reasons of a failed login (the ``reason`` label and the event's ``reason``).
LOGIN_FAILURE_REASONS = (
    "unknown_id",
    "inactive",
    "no_authenticator",
    "denied",
    "expired",
    "wrong_code",
    "locked",
    "cancelled",
    # The login's client was removed while its pages were open (Keycloak's event error).
    "client_not_found",
    # The card link's own refusals (santeid.cps.cards.CardError; "expired" above is shared).
    "no_certificate",
    "untrusted_issuer",
    "not_yet_valid",
    "wrong_usage",
    "revoked",
    "no_national_id",
    # The CIBA CARD channel's (santeid.ciba.card): another professional's card, a signature
    # of the challenge that does not verify.
    "wrong_card",
    "invalid_signature",
    "failed",
)

# -- tokens ----------------------------------------------------------------------------------
TOKENS_ISSUED = _counter(
    "santeid_tokens_issued_total", "Token responses issued, by grant type.", ["client", "grant"]
)
GRANTS = grant_types.SUPPORTED

# -- CIBA -------------------------------------------------------------------------------------
CIBA_REQUESTS = _counter(
    "santeid_ciba_requests_total",
    "CIBA authentication requests accepted, by token delivery mode.",
    ["client", "delivery_mode"],
)
CIBA_OUTCOMES = _counter(
    "santeid_ciba_outcomes_total",
    "CIBA requests decided, by outcome and delivery mode.",
    ["delivery_mode", "outcome"],
)

# -- e-CPS ------------------------------------------------------------------------------------
ECPS_DECISIONS = _counter(
    "santeid_ecps_decisions_total",
    "e-CPS requests decided on the phone or ended, by outcome.",
    ["kind", "outcome"],
)
ECPS_WRONG_PINS = _counter("santeid_ecps_wrong_pins_total", "Wrong e-CPS PINs entered.")
ECPS_LOCKS = _counter("santeid_ecps_device_locks_total", "e-CPS devices locked after wrong PINs.")
ECPS_OFFLINE_CODE_LOCKS = _counter(
    "santeid_ecps_offline_code_locks_total",
    "e-CPS offline codes refused to everyone for a day after too many wrong codes.",
)
ECPS_ACTIVATIONS = _counter("santeid_ecps_activations_total", "e-CPS devices activated.")
ECPS_REVOCATIONS = _counter("santeid_ecps_revocations_total", "e-CPS devices revoked.")

# -- INSi -------------------------------------------------------------------------------------
INSI_CALLS = _counter(
    "santeid_insi_calls_total",
    "INSi calls by operation, CR code (or verification result), fault code and software.",
    ["operation", "cr", "fault", "software"],
)
#: Results that are answers (a CR code or a verification outcome); any other is a fault code.
INSI_ANSWERS = frozenset({"00", "01", "02", "conform", "not-conform", "unknown-ins"})
INSI_AUDIT_ROWS_DROPPED = _counter(
    "santeid_insi_audit_rows_dropped_total",
    "INSi audit rows the database refused for good (not an outage), logged and dropped.",
)

# -- HTTP and back ends -----------------------------------------------------------------------
REQUEST_DURATION = _histogram(
    "santeid_http_request_duration_seconds",
    "Time to answer a request, by endpoint family and status class.",
    ["family", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
STORE_ERRORS = _counter(
    "santeid_store_errors_total",
    "Requests answered 503 because the short-lived store failed, by backend and endpoint family.",
    ["backend", "operation"],
)
DATABASE_ERRORS = _counter(
    "santeid_database_errors_total",
    "Durable database failures: requests answered 503 (by endpoint family) and event writes.",
    ["backend", "operation"],
)
#: ``operation`` of an authentication event the database did not take (the login goes on).
EVENT_WRITE = "event_write"

# -- refusals of the hardening layers ---------------------------------------------------------
REFUSALS = _counter(
    "santeid_refusals_total",
    "Requests refused by the proxy and hardening layers, or beyond a rate limit, by reason.",
    ["reason"],
)

#: Path prefixes → endpoint family (first match wins; anything else is ``other``).
FAMILIES = (
    ("/health", "health"),
    ("/metrics", "metrics"),
    ("/admin", "admin"),
    ("/static", "static"),
    ("/ecps", "ecps"),
    ("/insi", "insi"),
    ("/fhir", "fhir"),
)
#: Segments of a realm path → family.
REALM_FAMILIES = (
    ("/protocol/openid-connect/ext/ciba", "ciba"),
    ("/login-actions", "login"),
    ("/protocol/openid-connect/token", "token"),
    ("/protocol/openid-connect/auth", "authorize"),
    ("/protocol/openid-connect/userinfo", "userinfo"),
    ("/protocol/openid-connect/logout", "logout"),
    ("/protocol/openid-connect", "oidc"),
    ("/.well-known", "discovery"),
)


def family_of(path: str) -> str:
    for prefix, family in FAMILIES:
        if path.startswith(prefix):
            return family
    for part, family in REALM_FAMILIES:
        if part in path:
            return family
    if path == "/auth" or path.startswith("/auth/"):
        return "authorize"
    return "other"


# -- hooks (one line each in the cores) -------------------------------------------------------


def _label(value: str | None) -> str:
    return value or UNKNOWN


def login_started(client_id: str) -> None:
    LOGINS_STARTED.labels(_label(client_id)).inc()


def login_completed(client_id: str, auth_mode: str) -> None:
    LOGINS_COMPLETED.labels(_label(client_id), _label(auth_mode)).inc()


def login_by_sso(client_id: str) -> None:
    LOGINS_BY_SSO.labels(_label(client_id)).inc()


def login_failed(client_id: str, reason: str, auth_mode: str | None = None) -> None:
    reason = reason if reason in LOGIN_FAILURE_REASONS else "failed"
    LOGINS_FAILED.labels(_label(client_id), _label(auth_mode), reason).inc()


def token_issued(client_id: str, grant: str) -> None:
    TOKENS_ISSUED.labels(_label(client_id), grant if grant in GRANTS else UNKNOWN).inc()


def _mode(mode: str) -> str:
    return mode if mode in DELIVERY_MODES else UNKNOWN


def ciba_requested(client_id: str, mode: str) -> None:
    CIBA_REQUESTS.labels(_label(client_id), _mode(mode)).inc()


def ciba_decided(mode: str, outcome: str) -> None:
    CIBA_OUTCOMES.labels(_mode(mode), outcome).inc()


def ciba_expired(mode: str) -> None:
    CIBA_OUTCOMES.labels(_mode(mode), "expired").inc()


def ecps_decided(kind: str, status: str, failure: str | None = None) -> None:
    outcome = {"approved": "approved", "denied": "denied", "expired": "timeout"}.get(status)
    if outcome is None:
        outcome = failure if failure in ("wrong_code", "pin_locked", "cancelled") else "failed"
    ECPS_DECISIONS.labels(kind if kind in ("browser", "ciba") else UNKNOWN, outcome).inc()


def ecps_wrong_pin(locked: bool) -> None:
    ECPS_WRONG_PINS.inc()
    if locked:
        ECPS_LOCKS.inc()


def ecps_offline_code_locked() -> None:
    ECPS_OFFLINE_CODE_LOCKS.inc()


def ecps_activated() -> None:
    ECPS_ACTIVATIONS.inc()


def ecps_revoked() -> None:
    ECPS_REVOCATIONS.inc()


_software_cache: dict[int, tuple[float, frozenset[str]]] = {}
_software_lock = threading.Lock()
SOFTWARE_CACHE_SECONDS = 60.0


def _registered_software(registry) -> frozenset[str]:
    """The registered IDAM numbers, read at most once a minute per process."""
    now = time.monotonic()
    with _software_lock:
        cached = _software_cache.get(id(registry))
        if cached is not None and now - cached[0] < SOFTWARE_CACHE_SECONDS:
            return cached[1]
    try:
        known = frozenset(s.idam for s in registry.list())
    except Exception:  # the audit path reports database trouble; a label must not fail a call
        known = frozenset()
    with _software_lock:
        _software_cache[id(registry)] = (now, known)
    return known


def insi_call(registry, software_id: str | None, operation: str, result: str) -> None:
    answer = result in INSI_ANSWERS
    software = software_id if software_id in _registered_software(registry) else UNKNOWN
    INSI_CALLS.labels(operation, result if answer else "", "" if answer else result, software).inc()


def insi_audit_row_dropped() -> None:
    INSI_AUDIT_ROWS_DROPPED.inc()


def store_unavailable(backend: str | None, path: str) -> None:
    """A request on ``path`` answered 503 because the store failed (``backend``: the store's
    ``backend`` name)."""
    STORE_ERRORS.labels(_label(backend), family_of(path)).inc()


def database_error(exc: BaseException, operation: str) -> None:
    """``operation``: the endpoint family of a request answered 503, or ``EVENT_WRITE``."""
    DATABASE_ERRORS.labels(_database_backend(exc), operation).inc()


def _database_backend(exc: BaseException) -> str:
    import sqlite3

    from santeid.db.backends import PostgresError  # on the error path only

    if isinstance(exc, sqlite3.Error):
        return "sqlite"
    if isinstance(exc, PostgresError):  # psycopg's errors, as the backend raises them
        return "postgresql"
    return UNKNOWN


def refused(reason: str) -> None:
    """``reason``: a fixed word of the refusing layer (``https_required``, ``malformed_host``,
    ``parameter_too_large``, ``body_too_large``) or ``rate_limit:<name>`` (``rate_limits.py``)."""
    REFUSALS.labels(reason).inc()


#: (family, status class) → its histogram child: ``labels()`` costs more than ``observe()``.
_durations: dict[tuple[str, int], Histogram] = {}


def observe_request(path: str, status: int, seconds: float) -> None:
    key = (family_of(path), status // 100)
    child = _durations.get(key)
    if child is None:
        child = _durations[key] = REQUEST_DURATION.labels(key[0], f"{key[1]}xx")
    child.observe(seconds)


# -- exposition -------------------------------------------------------------------------------


def _registry():
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        return registry
    return OWN_METRICS


def latency_percentiles(quantiles=(0.5, 0.95, 0.99)) -> dict[str, tuple[int, list[float]]]:
    """Per endpoint family, since the server started (every worker): the number of requests
    and, for each quantile, the upper bound of the histogram bucket it falls in (seconds;
    ``inf`` beyond the last bucket) — the figure a Prometheus ``histogram_quantile`` refines."""
    buckets: dict[str, dict[float, float]] = {}
    for family in _registry().collect():
        if family.name != "santeid_http_request_duration_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                per_family = buckets.setdefault(sample.labels["family"], {})
                per_family[bound] = per_family.get(bound, 0.0) + sample.value
    result: dict[str, tuple[int, list[float]]] = {}
    for name, cumulative in sorted(buckets.items()):
        bounds = sorted(cumulative)
        total = cumulative[bounds[-1]]
        if not total:
            continue
        result[name] = (
            int(total),
            [next(b for b in bounds if cumulative[b] >= q * total) for q in quantiles],
        )
    return result


def exposition() -> tuple[bytes, str]:
    """The text format of every worker's metrics (multi-process) or of this process."""
    return generate_latest(_registry()), CONTENT_TYPE_LATEST


def recreate_values() -> None:
    """Give the unlabelled metrics values of the current value class (multiproc.py)."""
    _durations.clear()
    for metric in list(globals().values()):
        if isinstance(metric, Counter | Histogram) and not metric._labelnames:
            metric._metric_init()


def worker_exited(pid: int) -> None:
    """gunicorn's ``child_exit``: the dead worker's live gauges go (its counts stay summed)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)
