"""``/sandbox/debugger``: an OpenID Connect relying party in the sandbox itself, for people
learning the flows (sandbox mode only).

Build an authorization request (scope, ``acr_values``, ``prompt``, PKCE, ``response_mode``,
``login_hint``), run it, see the callback, exchange the code with the built-in client
``santeid-debugger``, read the decoded ID, access and refresh tokens, then call userinfo,
introspection (RFC 7662), refresh and logout; or start a CIBA request and watch its status
live (CIBA Core 1.0 §7, §10.1).

The debugger calls santeid's own endpoints through the application itself (Flask's test
client: the real endpoints, not a copy), so it works whatever host name the browser uses. Its
state (PKCE verifier, nonce, tokens) lives in the ephemeral store under
``sandbox:debugger:<id>`` for :data:`LIFETIME` seconds, never in the browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any
from urllib.parse import urlencode
from urllib.parse import urlsplit

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from santeid.ciba.metadata import POLL
from santeid.i18n import Translator
from santeid.keystore import InvalidSignature
from santeid.oidc import client_auth
from santeid.oidc import clients
from santeid.oidc import grant_types
from santeid.oidc import pkce
from santeid.oidc.clients import DEBUGGER_CLIENT_ID
from santeid.security import check_csrf
from santeid.services import services
from santeid.storage import keys

bp = Blueprint("sandbox_debugger", __name__, url_prefix="/sandbox/debugger")

CLIENT_ID = DEBUGGER_CLIENT_ID
CIBA_GRANT = grant_types.CIBA
#: Seconds the debugger remembers a request and its tokens (beside its key).
LIFETIME = keys.SANDBOX_DEBUGGER_LIFETIME
#: The choices offered on the form (``docs/endpoints.md`` lists what santeid accepts; the
#: others are there to see the errors).
PROMPTS = ("", "none", "login", "consent")
PKCE_METHODS = (pkce.S256, pkce.PLAIN, "none")
RESPONSE_MODES = ("query", "form_post", "fragment", "query.jwt", "form_post.jwt", "fragment.jwt")


def client_secret() -> str:
    """The debugger client's secret: derived from the application secret, so every worker
    registers the same one and nobody needs to be told it."""
    key = current_app.config["SECRET_KEY"]
    key = key.encode() if isinstance(key, str) else key
    return hmac.new(key, b"santeid-sandbox-debugger", hashlib.sha256).hexdigest()


def origin() -> str:
    parts = urlsplit(services().settings.issuer)
    return f"{parts.scheme}://{parts.netloc}"


def register_client(app) -> None:
    """(Re)register ``santeid-debugger`` at start: the same metadata in every worker and
    every server of one data folder (its URIs are paths, resolved against each server's
    issuer origin, and this server's absolute URIs, which the previous release compares:
    :func:`santeid.oidc.clients.internal_uris`)."""
    with app.app_context():
        base = "/sandbox/debugger"
        registry = services().clients
        registry.add(
            {
                "client_id": CLIENT_ID,
                "client_name": "Débogueur du bac à sable",
                "client_secret": client_secret(),
                "redirect_uris": clients.internal_uris(base + "/callback", registry.origin),
                "post_logout_redirect_uris": clients.internal_uris(base, registry.origin),
                "grant_types": [
                    grant_types.AUTHORIZATION_CODE,
                    grant_types.REFRESH_TOKEN,
                    CIBA_GRANT,
                ],
                "backchannel_token_delivery_mode": POLL,
                "backchannel_polling_interval": 0,
                "token_endpoint_auth_method": client_auth.CLIENT_SECRET_BASIC,
            },
            replace=True,
        )


# -- helpers ----------------------------------------------------------------------------------
def _key(record_id: str) -> str:
    return keys.SANDBOX_DEBUGGER.key(record_id)


def _load(record_id: str) -> dict:
    if not isinstance(record_id, str) or not 8 <= len(record_id) <= 64:
        abort(404)
    record = services().store.get(_key(record_id))
    if record is None:
        abort(404)
    return record


def _save(record_id: str, record: dict) -> None:
    services().store.put(_key(record_id), record, LIFETIME)


def _oidc_path(name: str) -> str:
    return urlsplit(f"{services().settings.oidc_base}/{name}").path


def _call(method: str, path: str, **kwargs) -> dict:
    """Call one of santeid's endpoints as the debugger client; the exchange as shown."""
    response = current_app.test_client().open(path, method=method, **kwargs)
    try:
        body: Any = response.get_json(force=True, silent=True)
    except Exception:  # noqa: BLE001 — shown as text below
        body = None
    if body is None:
        body = response.get_data(as_text=True)[:2000]
    call: dict = {"status": response.status_code, "body": body}
    if "WWW-Authenticate" in response.headers:
        # Userinfo's errors travel in the challenge alone, with an empty body (RFC 6750 §3).
        call["www_authenticate"] = response.headers["WWW-Authenticate"][:2000]
    return call


def _basic() -> dict:
    raw = f"{CLIENT_ID}:{client_secret()}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def decode_jwt(token: Any) -> dict | None:
    """Header and payload of a compact JWS, unverified (display only); ``None`` if opaque."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    try:
        header, payload, _ = token.split(".")
        return {
            "header": json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))),
            "payload": json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))),
        }
    except (ValueError, UnicodeDecodeError):
        return None


def _page(template: str, **context):
    return render_template(template, t=Translator("fr"), **context)


# -- authorization code flow --------------------------------------------------------------------
@bp.get("")
def form():
    return _page(
        "sandbox/debugger.html",
        prompts=PROMPTS,
        pkce_methods=PKCE_METHODS,
        response_modes=RESPONSE_MODES,
        scenarios=_scenario_ids(),
    )


def _scenario_ids() -> list[str]:
    from santeid.sandbox.api import scenario_listing

    return [row["national_id"] for row in scenario_listing()]


@bp.get("/authorize")
def build():
    """The authorization request, built from the form and shown before it is run."""
    args = request.args
    record_id = secrets.token_urlsafe(16)
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": origin() + url_for("sandbox_debugger.callback"),
        "scope": args.get("scope", "openid scope_all")[:500],
        "acr_values": args.get("acr_values", "eidas1")[:100],
        "state": record_id,
        "nonce": secrets.token_urlsafe(16),
    }
    prompt = args.get("prompt", "")
    if prompt:
        params["prompt"] = prompt[:50]
    mode = args.get("response_mode", "query")
    if mode != "query":
        params["response_mode"] = mode[:50]
    if args.get("login_hint"):
        params["login_hint"] = args["login_hint"][:100]
    verifier = None
    method = args.get("pkce", pkce.S256)
    if method in pkce.METHODS:
        verifier = secrets.token_urlsafe(48)
        challenge = verifier
        if method == pkce.S256:
            digest = hashlib.sha256(verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        params["code_challenge"] = challenge
        params["code_challenge_method"] = method
    _save(record_id, {"kind": "code", "params": params, "verifier": verifier, "calls": []})
    url = services().settings.advertised_authorization_endpoint + "?" + urlencode(params)
    return _page("sandbox/debugger_request.html", url=url, params=params, verifier=verifier)


def jarm_parameters(token: str) -> dict[str, str]:
    """The parameters a JARM response JWT (``response_mode`` ``query.jwt``, ``form_post.jwt``)
    carries, once checked as a relying party checks it (JARM §2.4): signed by a published key,
    ``iss`` the issuer, ``aud`` the debugger, ``exp`` not past. Nothing when a check fails: the
    page then shows ``response`` alone."""
    svc = services()
    try:
        claims = svc.keys.verify(token)["claims"]
    except InvalidSignature:
        return {}
    exp = claims.get("exp")
    if (
        claims.get("iss") != svc.settings.issuer
        or claims.get("aud") != CLIENT_ID
        or not isinstance(exp, int)
        or exp < svc.clock()
    ):
        return {}
    return {k: v for k, v in claims.items() if k not in ("exp", "aud") and isinstance(v, str)}


@bp.route("/callback", methods=["GET", "POST"])
def callback():
    """Where the authorization server sends the browser back (query or form_post, JWT or
    not: :func:`jarm_parameters`)."""
    values = request.values.to_dict()
    if "response" in values:
        values.update(jarm_parameters(values["response"]))
    state = values.get("state", "")
    record = services().store.get(_key(state)) if 8 <= len(state) <= 64 else None
    return _page(
        "sandbox/debugger_callback.html",
        values=values,
        known_state=record is not None,
        state=state,
        method=request.method,
    )


@bp.post("/exchange")
def exchange():
    check_csrf()
    record_id = request.form.get("state", "")
    record = _load(record_id)
    data = {
        "grant_type": grant_types.AUTHORIZATION_CODE,
        "code": request.form.get("code", ""),
        "redirect_uri": record["params"]["redirect_uri"],
    }
    if record.get("verifier"):
        data["code_verifier"] = record["verifier"]
    call = _call("POST", _oidc_path("token"), data=data, headers=_basic())
    record["calls"].append({"name": "token (authorization_code)", **call})
    if call["status"] == 200 and isinstance(call["body"], dict):
        record["tokens"] = call["body"]
    _save(record_id, record)
    return redirect(url_for("sandbox_debugger.result", record_id=record_id), code=303)


@bp.get("/result/<record_id>")
def result(record_id: str):
    record = _load(record_id)
    tokens = record.get("tokens") or {}
    decoded = {
        name: decode_jwt(tokens.get(name)) for name in ("id_token", "access_token", "refresh_token")
    }
    logout_url = None
    if tokens.get("id_token"):
        logout_url = f"{services().settings.oidc_base}/logout?" + urlencode(
            {
                "id_token_hint": tokens["id_token"],
                "post_logout_redirect_uri": origin() + url_for("sandbox_debugger.form"),
                "state": record_id,
            }
        )
    return _page(
        "sandbox/debugger_result.html",
        record_id=record_id,
        record=record,
        tokens=tokens,
        decoded=decoded,
        logout_url=logout_url,
    )


@bp.post("/result/<record_id>/<action>")
def act(record_id: str, action: str):
    check_csrf()
    record = _load(record_id)
    tokens = record.get("tokens") or {}
    if action == "userinfo":
        call = _call(
            "GET",
            _oidc_path("userinfo"),
            headers={"Authorization": f"Bearer {tokens.get('access_token', '')}"},
        )
    elif action == "introspect":
        call = _call(
            "POST",
            _oidc_path("token/introspect"),
            data={"token": tokens.get("access_token", "")},
            headers=_basic(),
        )
    elif action == "refresh":
        call = _call(
            "POST",
            _oidc_path("token"),
            data={
                "grant_type": grant_types.REFRESH_TOKEN,
                "refresh_token": tokens.get("refresh_token", ""),
            },
            headers=_basic(),
        )
        if call["status"] == 200 and isinstance(call["body"], dict):
            record["tokens"] = call["body"]
    else:
        abort(404)
    record["calls"].append({"name": action, **call})
    _save(record_id, record)
    return redirect(
        url_for("sandbox_debugger.result", record_id=record_id) + f"#call-{len(record['calls'])}",
        code=303,
    )


# -- CIBA -------------------------------------------------------------------------------------
@bp.post("/ciba")
def ciba_start():
    check_csrf()
    data = {
        "scope": request.form.get("scope", "openid scope_all")[:500],
        "login_hint": request.form.get("login_hint", "")[:100],
    }
    if request.form.get("binding_message"):
        data["binding_message"] = request.form["binding_message"][:100]
    call = _call("POST", _oidc_path("ext/ciba/auth"), data=data, headers=_basic())
    record_id = secrets.token_urlsafe(16)
    record = {"kind": "ciba", "request": data, "calls": [{"name": "backchannel", **call}]}
    if call["status"] == 200 and isinstance(call["body"], dict):
        record["auth_req_id"] = call["body"].get("auth_req_id")
    _save(record_id, record)
    return redirect(url_for("sandbox_debugger.ciba_page", record_id=record_id), code=303)


@bp.get("/ciba/<record_id>")
def ciba_page(record_id: str):
    record = _load(record_id)
    return _page("sandbox/debugger_ciba.html", record_id=record_id, record=record)


@bp.post("/ciba/<record_id>/poll")
def ciba_poll(record_id: str):
    """One poll of the token endpoint (the page calls it every second): JSON ``{status,
    body, result_url}``; on tokens, the record becomes a result the token page shows."""
    check_csrf()
    record = _load(record_id)
    if record.get("tokens"):
        return jsonify(
            status=200, body={}, result_url=url_for("sandbox_debugger.result", record_id=record_id)
        )
    if not record.get("auth_req_id"):
        return jsonify(status=400, body={"error": "no auth_req_id"}, result_url=None)
    call = _call(
        "POST",
        _oidc_path("token"),
        data={"grant_type": CIBA_GRANT, "auth_req_id": record["auth_req_id"]},
        headers=_basic(),
    )
    result_url = None
    if call["status"] == 200 and isinstance(call["body"], dict):
        record["tokens"] = call["body"]
        record["calls"].append({"name": "token (ciba)", **call})
        _save(record_id, record)
        result_url = url_for("sandbox_debugger.result", record_id=record_id)
    return jsonify(status=call["status"], body=call["body"], result_url=result_url)


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.extensions["santeid"].start.needing(
        "database", f"registering {CLIENT_ID}", lambda: register_client(app)
    )
