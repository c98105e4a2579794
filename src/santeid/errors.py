"""Error responses: the status and code the specs prescribe, in the format of the API that was
called, never a stack trace. A store or database outage is a clean 503
(``temporarily_unavailable``).

One handler (:func:`handle_error`) answers every exception that escapes a view, a
``before_request`` hook or the routing: it asks ``santeid.error_formats`` which format the
request's blueprint declared (or, with no endpoint matched, which API owns the URL) and
renders the error with that API's ``render`` function, or here for ``json-oauth`` and
``html``."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import current_app
from flask import g
from flask import jsonify
from flask import make_response
from flask import render_template
from flask import request
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed

from santeid import error_formats
from santeid import outages
from santeid.cache_control import no_store
from santeid.i18n import Translator
from santeid.i18n import pick_locale
from santeid.oidc.authorize import ErrorPage
from santeid.oidc.clients import SigningKeyUnavailable
from santeid.security import CsrfError
from santeid.security import ParameterTooLarge

log = logging.getLogger(__name__)


def _translator() -> Translator:
    """The error page's language: ``kc_locale`` in the URL first, as Keycloak's error page
    (``KeycloakErrorHandler``: ``resolveLocale``, the user's ``kc_locale`` before the rest,
    docs/reference/keycloak-behaviour.md, "Login pages"), then ``ui_locales``, else French."""
    return Translator(pick_locale(request.args.get("ui_locales"), request.args.get("kc_locale")))


#: ``flask.g`` attribute: where this request's pages lead back (:class:`WayBack`).
_WAY_BACK = "santeid_way_back"


@dataclass(frozen=True)
class WayBack:
    """Where this request's pages lead back: the one rule of the link under an error page
    (``_back_to_application.html``, :func:`back_link`) and of its advice
    (:func:`error_page`), set by the part of santeid that knows where the person came from.
    ``service``: a service sent the browser here (an authorization request, a logout, a
    login's pages), the page tells the person to go back to it; ``client_id``: that
    service's client, whose home page the pages link back to ("« Revenir à l'application",
    Keycloak's "« Back to Application" to the client's "Home URL"), when known;
    ``own_page``: a page of santeid's own they link back to instead (the e-CPS devices list).
    None of them (a page opened directly, the e-CPS pages): no link, no such advice."""

    service: bool = False
    client_id: str | None = None
    own_page: str | None = None


def _way_back() -> WayBack:
    return g.get(_WAY_BACK) or WayBack()


def lead_back_to_service(client_id: str | None = None) -> None:
    """This request's pages were reached from a service: they tell the person to go back to
    it, and link back to the home page of its client ``client_id`` once known
    (:func:`back_link`): the authorization endpoint's and the logout's client, a login's
    client on its pages. Keycloak's endpoints set the client in the session's context "to be
    shown on error/info page" — the authorization endpoint once ``checkClient`` found it, the
    logout before it checks ``post_logout_redirect_uri``, the login actions the one their
    URL's ``client_id`` names (``SessionCodeChecks.initialVerifyAuthSession``), then the
    authentication session's (``initialVerify``) — and ``FreeMarkerLoginFormsProvider`` hands
    that client to ``error.ftl``, ``info.ftl`` and ``logout-confirm.ftl``, which link to its
    ``baseUrl``
    (https://github.com/keycloak/keycloak/blob/45693915ebbe63b618d8aa0855b7dfb65a151297/services/src/main/java/org/keycloak/services/resources/SessionCodeChecks.java,
    https://github.com/keycloak/keycloak/blob/010ae0b336150f439e7029bcc37c7c399cd6edb6/services/src/main/java/org/keycloak/forms/login/freemarker/FreeMarkerLoginFormsProvider.java,
    https://github.com/keycloak/keycloak/blob/0cf946888b40c9e71b8a0b4943c991bf1161fb28/themes/src/main/resources/theme/base/login/error.ftl;
    docs/reference/keycloak-behaviour.md, "Authorization endpoint", "Login pages",
    "Logout")."""
    setattr(g, _WAY_BACK, WayBack(service=True, client_id=client_id))


def lead_back_to_own_page(url: str) -> None:
    """This request's pages link back to ``url``, a page of santeid's own the person came
    from (the e-CPS devices list), not to a client."""
    setattr(g, _WAY_BACK, WayBack(own_page=url))


def back_link() -> str | None:
    """Where this request's pages link back (:class:`WayBack`): the page of santeid's own,
    else the registered home page (``client_uri``, Keycloak's "Home URL") of the client they
    name, looked up now: none for a client removed since or registered without
    ``client_uri``, nor while the client registry does not answer (the outage page must
    still be shown). Never a URL of the request."""
    way_back = _way_back()
    if way_back.own_page is not None:
        return way_back.own_page
    if way_back.client_id is None:
        return None
    from santeid.services import services

    try:
        client = services().clients.get(way_back.client_id)
    except outages.OUTAGES:
        return None
    return None if client is None else client.client_uri


def error_page(
    t: Translator,
    title: str,
    detail: str,
    status: int,
    headers: dict | None = None,
):
    """The error page (``error.html``) every part of santeid shows a person, ``detail`` in
    ``t``'s language (an ``ErrorPage``'s, :meth:`~santeid.oidc.authorize.ErrorPage.detail`).
    It links back where the request's
    pages lead (:func:`back_link`), as Keycloak's ``error.ftl`` links to the client of its
    context, and only a page reached from a service advises going back to it (santeid's own
    words: Keycloak's ``error.ftl`` has none; :class:`WayBack`)."""
    home = back_link()
    advice = t("error_back") if _way_back().service else None
    response = make_response(
        render_template("error.html", t=t, title=title, detail=detail, home=home, advice=advice)
    )
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def oauth_error(
    status: int,
    error: str,
    description: str,
    headers: dict | None = None,
    *,
    challenge: str | None = None,
):
    """The ``json-oauth`` error object (RFC 6749 §5.2), never cached. ``challenge``: the
    ``WWW-Authenticate`` of a refusal on a Bearer-protected resource
    (:func:`santeid.oidc.protector.bearer_challenge`)."""
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    if challenge is not None:
        response.headers["WWW-Authenticate"] = challenge
    no_store(response)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def oauth_json_error(exc: Exception):
    """``json-oauth``: the OAuth 2.0 error object (RFC 6749 §5.2)."""
    failed = outages.failed_part(exc)
    if failed is not None:
        log.error("%s unavailable: %s", failed, exc)
        return oauth_error(
            503,
            "temporarily_unavailable",
            f"{outages.describe(failed)} is unavailable",
            {"Retry-After": "5"},
        )
    if isinstance(exc, ParameterTooLarge):
        return oauth_error(400, "invalid_request", str(exc))
    if isinstance(exc, SigningKeyUnavailable):
        # The server cannot sign for this client (docs/keys.md): nothing was consumed, the
        # same request succeeds once the operator made the key. Not the client's fault, so
        # no RFC 6749 §5.2 code: server_error, as §4.1.2.1 names it.
        log.error("%s", exc)
        return oauth_error(500, "server_error", exc.description)
    if isinstance(exc, HTTPException):
        if exc.response is not None:
            return exc.response
        error = "not_found" if exc.code == 404 else "invalid_request"
        if (exc.code or 500) >= 500:
            error = "server_error"
        return oauth_error(exc.code or 500, error, exc.description or exc.name)
    if isinstance(exc, CsrfError | ErrorPage):
        return html_error(exc)
    log.exception("unhandled error on %s %s", request.method, request.path)
    return oauth_error(500, "server_error", "internal error")


def _form_page() -> str | None:
    """The URL of a refused form's page, when the URL it was posted to shows it by GET (the
    login page does): a link there gets a fresh form. "Reload the page" re-posted the stale
    form, refused again; a form posted elsewhere only Back can reach."""
    if request.method != "POST":
        return None
    try:
        current_app.url_map.bind_to_environ(request.environ).match(method="GET")
    except HTTPException:
        return None
    # A path a route matched: never ``//host/…`` (such paths are answered 404 before any view).
    return request.script_root + (request.full_path if request.query_string else request.path)


def html_error(exc: Exception):
    """``html``: the error page, in the visitor's language. Only an :class:`ErrorPage` links
    back where the request's pages lead (:func:`back_link`), as Keycloak's ``ErrorPage.error``
    renders ``error.ftl`` with its context's client; any other error has no link:
    Keycloak's ``KeycloakErrorHandler`` renders ``error.ftl`` without a client
    (``initAttributes``,
    https://github.com/keycloak/keycloak/blob/898fdedcdabc022e43b06d99335d1cfda5adf204/services/src/main/java/org/keycloak/services/error/KeycloakErrorHandler.java),
    and a stale login form is its "page expired", which has no such link either. A page
    reached from a service still advises going back to it."""
    if not isinstance(exc, ErrorPage):
        setattr(g, _WAY_BACK, WayBack(service=_way_back().service))
    t = _translator()
    failed = outages.failed_part(exc)
    if failed is not None:
        log.error("%s unavailable: %s", failed, exc)
        return error_page(t, t("error_title"), t("unavailable"), 503, {"Retry-After": "5"})
    if isinstance(exc, ParameterTooLarge):
        return error_page(t, t("error_title"), t("too_large"), 400)
    if isinstance(exc, CsrfError):
        response = make_response(
            render_template(
                "csrf_error.html", t=t, title=t("error_title"), detail=t("csrf"), retry=_form_page()
            )
        )
        response.status_code = 400
        return response
    if isinstance(exc, SigningKeyUnavailable):
        # A JWT response mode whose algorithm lost its key (docs/keys.md): refused before any
        # login starts, as ``oauth_json_error`` refuses the token and userinfo requests.
        log.error("%s", exc)
        return error_page(t, t("error_title_code", error="server_error"), exc.description, 500)
    if isinstance(exc, ErrorPage):
        title = t("error_title_code", error=exc.error)
        return error_page(t, title, exc.detail(t), exc.status)
    if isinstance(exc, HTTPException):
        if exc.response is not None:
            return exc.response
        detail = t("not_found") if exc.code == 404 else (exc.description or exc.name)
        return error_page(t, f"{exc.code} {exc.name}", detail, exc.code or 500)
    # A bug: log it whole for operators, show nothing of it to the caller.
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_page(t, t("error_title"), t("internal_error"), 500)


def _method_rank(method: str) -> int:
    order = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    return order.index(method) if method in order else len(order)


def count_error(exc: Exception) -> None:
    """The metrics of an error about to be answered: a store or database outage (503), or a
    refusal of the hardening layers (``santeid_refusals_total``)."""
    from santeid.observability import metrics

    failed = outages.failed_part(exc)
    if failed == "store":
        from santeid.services import services

        metrics.store_unavailable(getattr(services().store, "backend", None), request.path)
    elif failed == "database":
        metrics.database_error(exc, metrics.family_of(request.path))
    elif isinstance(exc, ParameterTooLarge):
        metrics.refused("parameter_too_large")
    elif isinstance(exc, HTTPException) and exc.code == 413:
        metrics.refused("body_too_large")


def handle_error(exc: Exception):
    """Every error, in the format the called API declared (``santeid.error_formats``)."""
    count_error(exc)
    fmt = error_formats.for_request()
    if fmt.render is not None:
        answer = fmt.render(exc)
    elif fmt.name == error_formats.JSON_OAUTH:
        answer = oauth_json_error(exc)
    else:
        answer = html_error(exc)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        from flask import make_response

        answer = make_response(answer)
        answer.headers.setdefault("Allow", ", ".join(sorted(exc.valid_methods, key=_method_rank)))
    return answer


def init_app(app) -> None:
    # For Exception, Flask also hands this handler HTTP errors and routing errors (404, 405);
    # a redirect for a missing slash is answered by Werkzeug before any handler, and so would
    # be one to a path with its slashes merged, but under the problem+json and FHIR APIs.
    app.register_error_handler(Exception, handle_error)
    app.before_request(error_formats.refuse_empty_segment)
