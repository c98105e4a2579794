"""``/admin`` pages. Server-rendered HTML forms; every POST checks the session's CSRF token
(:func:`santeid.security.check_csrf`) and every change writes an admin event."""

from __future__ import annotations

import csv
import functools
import hmac
import io
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from urllib.parse import urlencode
from urllib.parse import urlsplit

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from werkzeug.exceptions import HTTPException

from santeid import rate_limits
from santeid.admin import allows_professionals
from santeid.admin import messages  # noqa: F401 - registers the console's texts
from santeid.admin import professional_sign_in
from santeid.admin.charts import Chart
from santeid.admin.sessions import ConsoleSessions
from santeid.admin.sessions import credential_fingerprint
from santeid.cache_control import no_store
from santeid.clock import utc_datetime
from santeid.ecps.pin import PinHasher
from santeid.i18n import SUPPORTED as SUPPORTED_LOCALES
from santeid.i18n import Translator
from santeid.i18n import pick_locale
from santeid.keystore import KeyStoreError
from santeid.observability import events
from santeid.proxies import client_address
from santeid.psc import proofs
from santeid.psc.national_id import NationalIdError
from santeid.psc.national_id import parse_national_id
from santeid.security import CsrfError
from santeid.security import ParameterTooLarge
from santeid.security import check_csrf
from santeid.security import whole_number
from santeid.services import services
from santeid.untrusted_json import loads_untrusted_json

bp = Blueprint("admin", __name__, url_prefix="/admin")
#: No answer of the console is kept by a cache: its pages, the CSV figures, its redirects and
#: refusals (docs/security.md, "Browser").
bp.after_request(no_store)

ADMIN_USER = "admin"
#: Sandbox mode only, when no admin_password_hash is configured (README, docs/operations.md).
SANDBOX_DEMO_PASSWORD = "santeid-demo-admin"  # noqa: S105 - a documented sandbox password
PAGE = 50
#: Failed sign-ins from one address allowed per window before the form answers 429.
SIGN_IN_LIMIT = rate_limits.ADMIN_SIGN_IN.of()
HOURS = 48
#: The series of the logins-by-mode chart counting codes issued from an SSO session.
SSO_SERIES = "SSO"
_hasher = PinHasher()


def _t() -> Translator:
    lang = request.args.get("lang")
    if lang in SUPPORTED_LOCALES:
        session["admin_lang"] = lang
    return Translator(pick_locale(session.get("admin_lang", "fr")))


def _password_ok(user: str, password: str) -> bool:
    settings = services().settings
    user_ok = hmac.compare_digest(user.encode(), ADMIN_USER.encode())
    if settings.admin.password_hash:
        return _hasher.verify(settings.admin.password_hash, password) and user_ok
    if settings.sandbox.enabled:
        return hmac.compare_digest(password.encode(), SANDBOX_DEMO_PASSWORD.encode()) and user_ok
    return False


def _sessions() -> ConsoleSessions:
    return ConsoleSessions(services().store, services().clock)


def _session_id() -> str | None:
    """The console session id this browser's cookie carries, if any."""
    state = session.get("admin")
    sid = state.get("sid") if isinstance(state, dict) else None
    return sid if isinstance(sid, str) else None


def _password_credential() -> str:
    """The fingerprint of what the password form checks now: the configured hash, or the
    sandbox demo admin's (no hash)."""
    return credential_fingerprint(services().settings.admin.password_hash)


def _still_allowed(record: dict) -> bool:
    """Whether the admin of a session would be let in now: a password session while the
    password it was opened with is still the one configured, a professional's while they are
    still in ``admin_professionals`` (docs/operations.md, "Admin console")."""
    from santeid.admin import admin_professionals

    if record.get("method") == PASSWORD_METHOD:
        given = str(record.get("credential", ""))
        return _password_sign_in() and hmac.compare_digest(given, _password_credential())
    settings = services().settings
    return allows_professionals(settings) and record.get("who") in admin_professionals(settings)


#: Keys of the signed cookie session while signed out: the console page a form was posted
#: from after the session had ended (sign-in leads back there), and whether the login page
#: has yet to say that the form was not sent.
_RETURN_TO = "admin_return_to"
_NOT_SENT = "admin_form_not_sent"


def admin_required(view):
    """The view needs a live console session (``santeid.admin.sessions``) of an admin still
    allowed in; else the browser goes to the login page. A form posted there (from a tab left
    open after a sign-out, or past the session's lifetime) is not sent: the login page says
    so, and the sign-in leads back to the page the form was on (:func:`_posted_from`); the
    form itself is never posted again."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        sid = _session_id()
        record = _sessions().get(sid) if sid else None
        if record is not None and not _still_allowed(record):
            _sessions().close(sid)
            record = None
        if record is None:
            session.pop("admin", None)
            if request.method != "POST":
                return redirect(url_for("admin.login"))
            # Remembered only for this browser's own form (its CSRF token): a form posted
            # from another site, which the browser sends without the console's cookies, must
            # not write a cookie that replaces them — it would sign the admin out.
            if request.endpoint != "admin.logout" and _csrf_matches():
                session[_NOT_SENT] = True
                back = _posted_from()
                if back is not None:
                    session[_RETURN_TO] = back
            return redirect(url_for("admin.login"), 303)
        g.admin_session = record
        if request.method == "POST":
            check_csrf()
        return view(*args, **kwargs)

    return wrapper


def _csrf_matches() -> bool:
    """The posted form carries this browser's CSRF token (:func:`santeid.security.check_csrf`)."""
    try:
        check_csrf()
    except CsrfError:
        return False
    return True


#: Longest page address a form's ``back`` field may name (a search holds a name or an id).
MAX_BACK = 512


def _console_page(address: object) -> str | None:
    """``address`` when it is the path (with its query) of a console page shown by GET on
    this server, else ``None``: never another site's address (``//host``, a scheme, a
    backslash), nor a path of santeid outside the console, nor the login page — the sign-in
    may lead there without being an open redirect (OWASP Unvalidated Redirects and Forwards
    Cheat Sheet,
    https://cheatsheetseries.owasp.org/cheatsheets/Unvalidated_Redirects_and_Forwards_Cheat_Sheet.html)."""
    if not isinstance(address, str) or not 0 < len(address) <= MAX_BACK:
        return None
    if not address.startswith("/") or address.startswith("//") or "\\" in address:
        return None
    if not address.isascii() or not address.isprintable():
        return None
    parts = urlsplit(address)
    if parts.scheme or parts.netloc or parts.fragment:
        return None
    try:
        endpoint, _ = current_app.url_map.bind_to_environ(request.environ).match(
            parts.path, method="GET"
        )
    except HTTPException:  # no page there (a redirect to another path included)
        return None
    if not endpoint.startswith(f"{bp.name}.") or endpoint == "admin.login":
        return None
    return address


def _posted_from() -> str | None:
    """The console page the posted form was on: its ``back`` field (written by the page,
    ``admin/_form.html``), or else the section's page of the address it was posted to."""
    return _console_page(request.form.get("back")) or _console_page(_here())


def _after_sign_in():
    """Where a sign-in leads: back to the page whose form found the session ended, or the
    dashboard. Read before the session's cookie is cleared."""
    back = _console_page(session.get(_RETURN_TO))
    return redirect(request.script_root + back if back else url_for("admin.dashboard"))


def posted_id(field: str) -> str:
    """The identifier a console action acts on (a client, a professional, a device): the
    ``field`` of the posted form, exactly as the page wrote it in the row the button is in.
    Never a segment of the URL's path: the browser rewrites a path before sending it (a ``..``
    segment removes the one before it, https://url.spec.whatwg.org/#path-state), and an
    identifier holding a ``/`` would match no route. Missing or empty: 400."""
    value = request.form.get(field, "")
    if not value:
        abort(400)
    return value


def _admin_event(type_: str, reason: str, *, details: dict | None = None, **fields) -> None:
    """An admin event (:func:`santeid.observability.events.record_admin`); its admin:
    ``admin``, or the national identifier of the professional signed in with e-CPS or card."""
    who = g.get("admin_session", {}).get("who", ADMIN_USER)
    events.record_admin(type_, reason, admin=who, channel=events.CONSOLE, details=details, **fields)


def _password_sign_in() -> bool:
    settings = services().settings
    return bool(settings.admin.password_hash or settings.sandbox.enabled)


def _page(template: str, **context):
    """A console page. Its status box (``notice``) says what the server just did: the
    ``notice`` given — a view's own, or what a change kept for this page's next display
    (:func:`_shown_once`) — never text from the URL."""
    t = _t()
    return render_template(
        template,
        t=t,
        sandbox=services().settings.sandbox.enabled,
        lang=t.locale,
        language_links=_language_links(),
        here=_here(),
        **context,
    )


def _page_address() -> tuple[str, list[tuple[str, str]]]:
    """This page's path and query (its ``lang`` left out): the page with its query kept (a
    search, the events' filters), or, for the answer to a form posted to an address that is
    no page (``/admin/clients/rotate``), its section's page."""
    rule = request.url_rule
    if rule is not None and rule.methods is not None and "GET" in rule.methods:
        kept = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
        return request.path, kept
    return request.path.rsplit("/", 1)[0], []


def _here() -> str:
    """This page's address (:func:`_page_address`), which its forms post as ``back``."""
    path, kept = _page_address()
    return f"{path}?{urlencode(kept)}" if kept else path


def _language_links() -> dict[str, str]:
    """This page in each language (``?lang=``), at :func:`_page_address` — a bare ``?lang=``
    after a form posted to ``/admin/clients/rotate`` led there to a 405."""
    path, kept = _page_address()
    return {code: f"{path}?{urlencode([*kept, ('lang', code)])}" for code in SUPPORTED_LOCALES}


# -- Post/Redirect/Get ------------------------------------------------------------------------
# A form that changes something is answered by a redirect (303) to its section's page, so that
# reloading that page reads it again and sends nothing: a reload no longer made a second
# secret, key, activation code, registration or removal. What the change shows once travels in
# the store (``santeid.admin.sessions``), never in the URL or a cookie. A refused form changes
# nothing: it is answered at once with its page, its error and its status (400, 404, 409), the
# form as typed — sending it again is harmless (docs/operations.md, "Admin console").

#: The pages a change leads to (their flash's name).
CLIENTS_PAGE = "clients"
KEYS_PAGE = "keys"


def _professional_page(national_id: str) -> str:
    return f"professionals/{national_id}"


def _done(page: str, location: str, **shown):
    """The answer to a change made: ``shown`` kept for ``page``'s next display, and a 303 to
    ``location``, that page."""
    sid = _session_id()
    if sid:  # always, behind admin_required
        _sessions().show_once(sid, page, shown)
    return redirect(location, 303)


def _shown_once(page: str) -> dict:
    """What a change kept for this display of ``page`` (:func:`_done`), taken: a reload shows
    it no more."""
    return _sessions().take_shown(_session_id(), page)


#: ``details["method"]`` of an ``ADMIN_LOGIN`` event with the password.
PASSWORD_METHOD = "password"  # noqa: S105 - the name of a sign-in method, not a password


def _login_page(error: str | None = None, status: int = 200):
    """The sign-in page; after a refused password the user typed stays in its field (never
    the password). Once after a form found the session ended, it says that the form was not
    sent (:func:`admin_required`)."""
    settings = services().settings
    demo = (
        SANDBOX_DEMO_PASSWORD
        if settings.sandbox.enabled and not settings.admin.password_hash
        else None
    )
    body = _page(
        "admin/login.html",
        error=error,
        demo=demo,
        password=_password_sign_in(),
        professionals=allows_professionals(settings),
        notice=_t()("admin_form_not_sent") if session.pop(_NOT_SENT, False) else None,
        typed_user=request.form.get("user", "")[:64] if request.method == "POST" else "",
    )
    return body, status


def _open_session(who: str, method: str) -> None:
    previous = _session_id()
    if previous:
        _sessions().close(previous)
    session.clear()  # a fresh session (and CSRF token) once signed in
    credential = _password_credential() if method == PASSWORD_METHOD else ""
    session["admin"] = {"sid": _sessions().open(who, method, credential)}


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        if not _password_sign_in():
            abort(404)
        check_csrf()
        method = {"method": PASSWORD_METHOD}
        # Counted per client: behind a trusted proxy, the address it forwards, so that one
        # guesser does not lock out every admin behind the same proxy (docs/operations.md
        # "Admin console").
        address = str(client_address(request.environ))
        # Counted as a failure *before* the password is checked (one atomic incr): of any
        # number of concurrent tries at most SIGN_IN_LIMIT.limit are checked, the others are
        # refused unchecked. A right password takes its count back: the limit counts
        # failed sign-ins only (docs/security.md, "The client's address behind a proxy").
        if SIGN_IN_LIMIT.hit(services().store, address):
            events.record(events.ADMIN_LOGIN, reason="throttled", details=method)
            return _login_page(_t()("admin_throttled"), 429)
        user = request.form.get("user", "")
        if _password_ok(user, request.form.get("password", "")):
            SIGN_IN_LIMIT.take_back(services().store, address)
            answer = _after_sign_in()
            _open_session(ADMIN_USER, PASSWORD_METHOD)
            events.record(events.ADMIN_LOGIN, reason="success", details=method)
            return answer
        events.record(events.ADMIN_LOGIN, reason="failure", details=method)
        return _login_page(_t()("admin_bad_login"), 401)
    return _login_page()


@bp.route("/login/professional", methods=["POST"])
def login_professional():
    """The login page's e-CPS or card button: on to santeid's own login pages
    (``professional_sign_in``); 404 when the console takes no professional's login
    (:func:`santeid.admin.allows_professionals`)."""
    if not allows_professionals(services().settings):
        abort(404)
    check_csrf()
    t = _t()
    return professional_sign_in.begin(t.locale, t("admin_title"))


def professional_signed_in(authentication):
    """The login pages proved ``authentication``: a console session when the professional is
    in ``admin_professionals`` and the console takes professionals' logins
    (:func:`santeid.admin.allows_professionals`), else the login page says no (an
    ``ADMIN_LOGIN`` event either way, with the proof's ``authMode`` as the method)."""
    from santeid.admin import admin_professionals

    settings = services().settings
    national_id = authentication.national_id
    method = {"method": authentication.auth_mode}
    fields = {"professional": national_id, "auth_mode": authentication.auth_mode}
    if not allows_professionals(settings) or national_id not in admin_professionals(settings):
        events.record(events.ADMIN_LOGIN, reason="refused", details=method, **fields)
        return _login_page(_t()("admin_not_an_admin"), 403)
    answer = _after_sign_in()
    _open_session(national_id, authentication.auth_mode)
    events.record(events.ADMIN_LOGIN, reason="success", details=method, **fields)
    return answer


@bp.route("/logout", methods=["POST"])
@admin_required
def logout():
    """The session ends in the store: a copy of the cookie opens nothing afterwards."""
    _sessions().close(_session_id())
    session.pop("admin", None)
    return redirect(url_for("admin.login"))


# -- dashboard --------------------------------------------------------------------------------


def _hour_labels(start: int) -> list[str]:
    return [
        datetime.fromtimestamp(start + i * 3600, UTC).strftime("%d/%m %Hh") for i in range(HOURS)
    ]


def dashboard_charts(t: Translator) -> list[Chart]:
    store = services().events
    now = int(services().clock())
    start = (now // 3600 - HOURS + 1) * 3600
    rows = store.counts(
        since=start,
        bucket=3600,
        types=(events.LOGIN, events.LOGIN_ERROR, events.CIBA_OUTCOME, events.PIN_FAILURE),
    )
    labels = _hour_labels(start)

    def empty() -> list[int]:
        return [0] * HOURS

    by_mode: dict[str, list[int]] = {}
    by_outcome: dict[str, list[int]] = {"success": empty()}
    ciba: dict[str, list[int]] = {}
    ecps: dict[str, list[int]] = {
        n: empty() for n in ("approved", "denied", "timeout", "wrong PIN")
    }
    for bucket, type_, auth_mode, reason, count in rows:
        i = (int(bucket) - start) // 3600
        if not 0 <= i < HOURS:
            continue
        if type_ == events.CIBA_OUTCOME:
            ciba.setdefault(reason or "unknown", empty())[i] += count
            # A CIBA request approved or refused is a login of the professional too: it counts
            # in the login and e-CPS charts like the same outcome of a browser login.
            if reason == "approved":
                type_ = events.LOGIN
            elif reason == "denied":
                type_ = events.LOGIN_ERROR
        if type_ == events.LOGIN and reason == events.SSO:
            # Answered by the SSO session: a login at a service, no means used, no outcome.
            by_mode.setdefault(SSO_SERIES, empty())[i] += count
        elif type_ == events.LOGIN:
            by_mode.setdefault(auth_mode or "unknown", empty())[i] += count
            by_outcome["success"][i] += count
            if auth_mode == proofs.AUTH_MODE_MOBILE:
                ecps["approved"][i] += count
        elif type_ == events.LOGIN_ERROR:
            by_outcome.setdefault(reason or "failed", empty())[i] += count
            if reason == "denied":
                ecps["denied"][i] += count
            elif reason == "expired":
                ecps["timeout"][i] += count
        elif type_ == events.PIN_FAILURE:
            ecps["wrong PIN"][i] += count
    return [
        Chart("logins-mode", t("admin_logins_by_mode"), labels, by_mode),
        Chart("logins-outcome", t("admin_logins_by_outcome"), labels, by_outcome),
        Chart("ciba", t("admin_ciba"), labels, ciba),
        Chart("ecps", t("admin_ecps"), labels, ecps),
        *insi_charts(t),
    ]


INSI_DAYS = 14


def insi_charts(t: Translator) -> list[Chart]:
    """INSi calls per day for the last two weeks, by operation and by result (CR code)."""
    insi_service = services().insi
    today = utc_datetime(services().clock).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [
        (today - timedelta(days=INSI_DAYS - 1 - i)).strftime("%Y-%m-%d") for i in range(INSI_DAYS)
    ]
    index = {day: i for i, day in enumerate(days)}
    by_operation: dict[str, list[int]] = {}
    by_result: dict[str, list[int]] = {}
    by_software: dict[str, list[int]] = {}
    for day, software, operation, result, calls in insi_service.audit.daily_counts(
        today - timedelta(days=INSI_DAYS - 1)
    ):
        if day in index:
            by_operation.setdefault(operation, [0] * INSI_DAYS)[index[day]] += calls
            by_result.setdefault(result, [0] * INSI_DAYS)[index[day]] += calls
            by_software.setdefault(software, [0] * INSI_DAYS)[index[day]] += calls
    labels = [day[5:] for day in days]
    return [
        Chart("insi-operation", t("admin_insi_by_operation"), labels, by_operation),
        Chart("insi-result", t("admin_insi_by_result"), labels, by_result),
        Chart("insi-software", t("admin_insi_by_software"), labels, by_software),
    ]


@bp.route("/")
@admin_required
def dashboard():
    from santeid.observability.metrics import latency_percentiles

    t = _t()
    return _page(
        "admin/dashboard.html", charts=dashboard_charts(t), latencies=latency_percentiles()
    )


@bp.route("/dashboard.csv")
@admin_required
def dashboard_csv():
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["chart", "period_utc", "series", "count"])
    for chart in dashboard_charts(_t()):
        for i, label in enumerate(chart.labels):
            for name, values in chart.series.items():
                writer.writerow([chart.chart_id, label, name, values[i]])
    from santeid.observability.metrics import latency_percentiles

    for family, (count, bounds) in latency_percentiles().items():
        writer.writerow(["latency", "since-start", f"{family} requests", count])
        for quantile, bound in zip(("p50", "p95", "p99"), bounds, strict=True):
            writer.writerow(["latency", "since-start", f"{family} {quantile} <= s", bound])
    return Response(
        out.getvalue(),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="santeid-dashboard.csv"'},
    )


# -- clients ----------------------------------------------------------------------------------


def _clients_page(*, notice=None, error=None, secret=None, typed=None, status: int = 200):
    """``typed``: the registration form refused, shown again as it was typed."""
    from santeid.oidc.clients import is_internal

    return _page(
        "admin/clients.html",
        clients=services().clients.list(),
        internal=is_internal,
        notice=notice,
        error=error,
        secret=secret,
        typed=typed or {},
    ), status


def _internal_refusal(client_id: str):
    """The answer to a change asked of one of santeid's own clients
    (``santeid.oidc.clients.INTERNAL_CLIENT_IDS``): 409, nothing changed."""
    return _clients_page(error=_t()("admin_internal_client", client=client_id), status=409)


@bp.route("/clients", methods=["GET", "POST"])
@admin_required
def clients():
    from santeid.oidc.clients import InternalClient
    from santeid.oidc.clients import InvalidClientMetadata
    from santeid.oidc.clients import new_secret
    from santeid.oidc.clients import refuse_internal

    t = _t()
    if request.method == "GET":
        shown = _shown_once(CLIENTS_PAGE)
        return _clients_page(notice=shown.get("notice"), secret=shown.get("secret"))
    secret = None
    try:
        if "metadata" in request.form:
            raw = loads_untrusted_json(request.form["metadata"])
            if not isinstance(raw, dict):
                raise ValueError("a JSON object is expected")
        else:
            # The form: the usual confidential client of a PSC service, secret made here.
            secret = new_secret()
            raw = {
                "client_id": request.form.get("client_id", "").strip(),
                "client_name": request.form.get("client_name", "").strip(),
                "redirect_uris": [request.form.get("redirect_uri", "").strip()],
                "client_secret": secret,
            }
        refuse_internal(raw.get("client_id"))
        client = services().clients.add(raw)
    except InternalClient as exc:
        error = t("admin_internal_client", client=exc.client_id)
    except (ValueError, InvalidClientMetadata) as exc:
        error = t("admin_error", error=str(exc))
    else:
        _admin_event(events.ADMIN_CLIENT, "register", client_id=client.client_id)
        notice = t("admin_registered", client=client.client_id)
        return _done(CLIENTS_PAGE, url_for("admin.clients"), notice=notice, secret=secret)
    # The form as it was typed, to correct rather than type again.
    return _clients_page(error=error, typed=request.form, status=400)


@bp.errorhandler(ParameterTooLarge)
def parameter_too_large(exc: ParameterTooLarge):
    """A field of the client registration longer than ``max_parameter_length``
    (:func:`santeid.security.check_parameter_size`, the rule of every form, checked before
    any view): the clients page says which field and its limit, the form as typed; nothing is
    registered. Any other console address answers as the rest of santeid
    (:func:`santeid.errors.handle_error`)."""
    from santeid.errors import count_error
    from santeid.errors import handle_error

    if request.endpoint != "admin.clients" or request.method != "POST":
        return handle_error(exc)
    count_error(exc)

    @admin_required
    def refused():
        error = _t()("admin_too_long", field=exc.name, limit=exc.limit)
        return _clients_page(error=error, typed=request.form, status=400)

    try:
        return refused()
    except CsrfError as csrf:  # raised out of an error handler it would be a 500
        return handle_error(csrf)


@bp.route("/clients/rotate", methods=["POST"])
@admin_required
def rotate_secret():
    from santeid.oidc.clients import is_internal
    from santeid.oidc.clients import new_secret

    client_id = posted_id("client_id")
    registry = services().clients
    client = registry.get(client_id)
    if client is None:
        abort(404)
    if is_internal(client_id):
        return _internal_refusal(client_id)
    if not client.uses_secret:  # a secret would authenticate nothing (santeid.oidc.client_auth)
        error = _t()("admin_no_secret", client=client_id, method=client.token_endpoint_auth_method)
        return _clients_page(error=error, status=409)
    secret = new_secret()
    if not registry.set_secret(client_id, secret):  # removed meanwhile
        abort(404)
    _admin_event(events.ADMIN_CLIENT, "rotate_secret", client_id=client_id)
    notice = _t()("admin_new_secret", client=client_id)
    return _done(CLIENTS_PAGE, url_for("admin.clients"), notice=notice, secret=secret)


@bp.route("/clients/remove", methods=["POST"])
@admin_required
def remove_client():
    from santeid.oidc.clients import InternalClient

    client_id = posted_id("client_id")
    try:
        removed = services().clients.remove(client_id)
    except InternalClient:
        return _internal_refusal(client_id)
    if not removed:
        abort(404)
    _admin_event(events.ADMIN_CLIENT, "remove", client_id=client_id)
    notice = _t()("admin_removed", client=client_id)
    return _done(CLIENTS_PAGE, url_for("admin.clients"), notice=notice)


# -- professionals and devices ----------------------------------------------------------------


@bp.route("/professionals")
@admin_required
def professionals():
    return _professionals_page(request.args.get("q", "").strip(), shown_once=True)


def _national_id(text: str) -> str | None:
    """``text`` as a national identifier, normalised as the login page reads it (spaces
    between the groups of digits and around, ``ans`` for ``ANS``:
    :func:`santeid.psc.national_id.parse_national_id`), or ``None`` when it is none."""
    try:
        return parse_national_id(text).value
    except NationalIdError:
        return None


def _professionals_page(query: str, *, error=None, shown_once: bool = False):
    """A national identifier shows that professional; any other text searches names.
    ``shown_once``: this display takes what a change kept for that professional's page (an
    activation code, a notice: :func:`_done`)."""
    from santeid.directory.search import DirectorySearch

    t = _t()
    directory = services().directory
    professional = devices = recent = None
    matches: list = []
    shown: dict = {}
    national_id = _national_id(query) if query else None
    if query and national_id is None:
        ids = DirectorySearch(directory).by_names(name=query.split()[:3], limit=20)
        matches = [p for p in (directory.get(i) for i in ids) if p is not None]
        if not matches:
            error = t("admin_not_found", national_id=query)
    elif national_id is not None:
        professional = directory.get(national_id)
        if professional is None:
            error = t("admin_not_found", national_id=national_id)
        else:
            if shown_once:
                shown = _shown_once(_professional_page(national_id))
            ecps = services().ecps
            devices = ecps.devices.list_for(national_id) if ecps else []
            recent = services().events.list(professional=national_id, limit=20)
    return _page(
        "admin/professionals.html",
        query=query,
        professional=professional,
        matches=matches,
        devices=devices,
        recent=recent,
        activation=shown.get("activation"),
        error=error,
        notice=shown.get("notice"),
    )


@bp.route("/professionals/activation", methods=["POST"])
@admin_required
def start_activation():
    """A single-use activation code for the professional's new phone (shown once here)."""
    national_id = posted_id("national_id")
    ecps = services().ecps
    try:
        activation = ecps.start_activation(national_id)
    except ecps.ActivationError as exc:
        if exc.code == "unknown_professional":  # the page says there is no such professional
            return _professionals_page(national_id), 404
        error = _t()("admin_inactive", national_id=national_id)
        return _professionals_page(national_id, error=error), 400
    _admin_event(events.ADMIN_DEVICE, "activation", professional=national_id)
    return _done(
        _professional_page(national_id),
        url_for("admin.professionals", q=national_id),
        activation={"code": activation.code},
    )


@bp.route("/devices/revoke", methods=["POST"])
@admin_required
def revoke_device():
    device_id = posted_id("device_id")
    ecps = services().ecps
    device = ecps.devices.get(device_id) if ecps else None
    if device is None:
        abort(404)
    if ecps.revoke_device(device_id):
        _admin_event(
            events.ADMIN_DEVICE, "revoke", professional=device.national_id, device=device_id
        )
    return _done(
        _professional_page(device.national_id),
        url_for("admin.professionals", q=device.national_id),
        notice=_t()("admin_revoked", device=device_id),
    )


# -- keys -------------------------------------------------------------------------------------


@bp.route("/keys", methods=["GET", "POST"])
@admin_required
def keys():
    """Rotate the default key, or retire one active key: what ``santeid keys rotate [--alg]``
    does (``santeid.keys.lifecycle``): a new active key of its algorithm signs from now on, and
    the retired one stays in the JWK Set until every token it signed has expired."""
    store = services().keys
    if request.method == "GET":
        notice = _shown_once(KEYS_PAGE).get("notice")
        return _page("admin/keys.html", keys=store.list(), notice=notice, when=_when)
    retiring = request.form.get("retire")
    active = {k.kid: k for k in store.list() if k.status == "active"}
    if retiring is not None and retiring not in active:
        # Already retired (from another tab, by another admin, by `santeid keys rotate`),
        # or never there: nothing to change, and the page says so.
        error = _t()("admin_key_not_active", kid=retiring)
        return _page("admin/keys.html", keys=store.list(), error=error, when=_when), 409
    try:
        info = store.rotate(None if retiring is None else active[retiring].alg)
    except KeyStoreError as exc:
        # What `santeid keys rotate` says (a read-only key volume, a broken key file):
        # nothing was written.
        error = _t()("admin_error", error=str(exc))
        return _page("admin/keys.html", keys=store.list(), error=error, when=_when), 409
    if retiring is None:
        _admin_event(events.ADMIN_KEY, "rotate", details={"kid": info.kid})
        notice = _t()("admin_key_rotated", kid=info.kid)
    else:
        retired = next(k for k in store.list() if k.kid == retiring)
        _admin_event(events.ADMIN_KEY, "retire", details={"kid": info.kid, "retired": retiring})
        notice = _t()(
            "admin_key_retired",
            retired=retiring,
            until=_when(retired.published_until),
            kid=info.kid,
        )
    return _done(KEYS_PAGE, url_for("admin.keys"), notice=notice)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


# -- events -----------------------------------------------------------------------------------


@bp.route("/events")
@admin_required
def event_list():
    asked = request.args.get("page", "")
    page = whole_number(asked)
    # A number of more digits than whole_number reads is a page past the last event too: empty
    # (anything else that is no number is the first page).
    past_the_end = page is None and asked.isascii() and asked.isdigit()
    page = page or 0
    type_ = request.args.get("type", "")
    client_id = request.args.get("client", "").strip()
    typed = request.args.get("professional", "").strip()
    # A national identifier as the professionals' search reads it; any other text as typed.
    professional = (_national_id(typed) if typed else None) or typed
    found = (
        []
        if past_the_end
        else services().events.list(
            professional=professional or None,
            client_id=client_id or None,
            types=(type_,) if type_ in events.TYPES else (),
            limit=PAGE + 1,
            offset=page * PAGE,
        )
    )
    return _page(
        "admin/events.html",
        found=found[:PAGE],
        more=len(found) > PAGE,
        page=page,
        types=events.TYPES,
        filters={"type": type_, "client": client_id, "professional": professional},
        when=lambda at: datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S"),
    )


# -- INSi -------------------------------------------------------------------------------------


@bp.route("/insi")
@admin_required
def insi():
    svc = services()
    this_month = utc_datetime(svc.clock).strftime("%Y-%m")
    month = request.args.get("month") or this_month
    software = svc.insi.software().list()
    try:
        stats = svc.insi.stats(None, month)
    except Exception:  # an invalid month: the page says so instead of a 500
        stats, month = None, this_month
    return _page("admin/insi.html", software=software, stats=stats, month=month)
