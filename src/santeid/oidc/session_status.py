"""The session-status iframe of OpenID Connect Session Management 1.0 §3.2
(https://openid.net/specs/openid-connect-session-1_0.html#OPiframe), at Keycloak's paths and
with its answers (docs/reference/keycloak-behaviour.md, "Session status iframe"):

* ``…/protocol/openid-connect/login-status-iframe.html``: the page discovery advertises as
  ``check_session_iframe``. Its script (``static/login-status-iframe.js``) answers a relying
  party's ``"<client_id> <session_state>"`` with ``unchanged``, ``changed`` or ``error``,
  comparing the SHA-256 of that ``session_state`` with the browser's ``santeid_session_state``
  cookie (``santeid.security.SESSION_STATE``, Keycloak's ``KEYCLOAK_SESSION``).
* ``…/login-status-iframe.html/init?client_id=…&origin=…``: 204 when the client exists and
  the origin is one of its web origins (or santeid's own), 403 otherwise — Keycloak's
  ``LoginStatusIframeEndpoint.preCheck``. The script asks it once, for the first message.
* ``…/3p-cookies/step1.html`` and ``step2.html``: keycloak-js's check that the browser keeps
  this site's cookies inside another site's page, told to the page as ``supported`` or
  ``unsupported`` (Keycloak's ``ThirdPartyCookiesIframeEndpoint``).

Any page may frame these three, as at Keycloak: they show nothing, and the iframe answers
``error`` to a page whose origin ``/init`` did not accept for the client it names.
"""

from __future__ import annotations

from flask import Response
from flask import render_template
from flask import request

from santeid.cache_control import keycloak_no_cache
from santeid.security import allow_framing_by
from santeid.services import services


def _framed_by_any_site() -> None:
    """The page may be framed by any site (``frame-ancestors *``), as Keycloak's: the iframe is
    loaded without a client id (Session Management §3.2; keycloak-js, oidc-client-ts), so the
    embedding page is not known. Naming every registered client's web origins instead made a
    header that grew with the clients — past the header buffer of a reverse proxy (nginx: 502)
    from about a hundred — and showed any visitor which services use santeid."""
    allow_framing_by(("*",))


def _iframe_page(html: str) -> Response:
    """One of the three pages, with Keycloak's ``Cache-Control`` (``IframeUtil``:
    ``CacheControlUtil.noCache()`` without ``version``; santeid ignores ``version``, and
    Keycloak's newest release no longer lets the pages be cached with one either)."""
    return keycloak_no_cache(Response(html, mimetype="text/html"))


def login_status_iframe():
    """``GET …/login-status-iframe.html``: the OP iframe."""
    _framed_by_any_site()
    return _iframe_page(render_template("session_status/login_status_iframe.html"))


def login_status_iframe_init():
    """``GET …/login-status-iframe.html/init``: whether ``client_id`` may check the session
    from ``origin`` — 204, else 403 with no body, whatever is wrong (an unknown client, an
    origin it did not register, a parameter missing), as Keycloak's ``preCheck``."""
    client_id = request.args.get("client_id")
    origin = request.args.get("origin")
    client = services().clients.get(client_id) if client_id else None
    if client is not None and origin:
        # Keycloak adds the origin the request came to: santeid's own pages may check.
        if client.allows_origin(origin) or origin == request.host_url.rstrip("/"):
            return Response(status=204)
    return Response(status=403)


def third_party_cookies_step(step: int):
    """``GET …/3p-cookies/step1.html`` and ``step2.html``."""
    _framed_by_any_site()
    return _iframe_page(render_template("session_status/third_party_cookies.html", step=step))


def third_party_cookies_step1():
    return third_party_cookies_step(1)


def third_party_cookies_step2():
    return third_party_cookies_step(2)
