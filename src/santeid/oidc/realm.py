"""Keycloak's realm endpoints (``docs/reference/keycloak-behaviour.md``, Realm endpoints).

* ``GET {issuer}`` (``/auth/realms/esante-wallet``): the realm's public information —
  ``realm``, ``public_key`` (base64 DER SubjectPublicKeyInfo of the key that signs),
  ``token-service``, ``account-service``, ``tokens-not-before`` — as Keycloak serves it.
* ``{issuer}/account`` (the ``account-service``): the professional's own page, the e-CPS
  device management, when installed.
* Any path under another realm (``/auth/realms/<other>`` and below): 404
  ``{"error":"Realm does not exist"}``, as Keycloak answers.
* A path under Keycloak's root (``/auth``: the realms, and PSC's wallet ``/auth``), as sent
  or once resolved, that needs normalising — an empty segment (``…/openid-connect//token``,
  ``//auth/…``), a ``.`` or ``..`` one — whatever the method and before any endpoint: 400
  ``missingNormalization``, as Keycloak since its 26.4 releases
  (:func:`refuse_non_normalized_path`). Werkzeug would redirect it to the path with its
  slashes merged, an HTML 308 no Keycloak client expects, and which a proxy filtering paths
  would not have seen (or, for leading slashes, serve it).

Only for an issuer shaped as a Keycloak realm URL (``…/realms/<name>``, the default).
"""

from __future__ import annotations

import base64
import posixpath
import re
from urllib.parse import unquote

from cryptography.hazmat.primitives import serialization
from flask import abort
from flask import jsonify
from flask import redirect
from flask import request
from flask import url_for
from werkzeug.routing import BaseConverter
from werkzeug.routing import BuildError

from santeid.services import services


def realm_info():
    settings = services().settings
    key, _ = services().keys.signing_key()
    der = key.raw_value.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return jsonify(
        {
            "realm": settings.issuer_path.rsplit("/", 1)[-1],
            "public_key": base64.b64encode(der).decode(),
            "token-service": settings.oidc_base,
            "account-service": f"{settings.issuer}/account",
            # Keycloak's "not before" revocation policy: santeid never pushes one.
            "tokens-not-before": 0,
        }
    )


def account():
    try:
        return redirect(url_for("web_ecps.devices"), code=302)
    except BuildError:
        abort(404)


def realm_does_not_exist(**_):
    return jsonify(error="Realm does not exist"), 404


#: Keycloak's answer to a path that needs normalising (RFC 3986 §6.2.2.3 dot segments, or a
#: doubled slash): ``RejectNonNormalizedPathFilter``
#: (https://github.com/keycloak/keycloak/blob/main/quarkus/runtime/src/main/java/org/keycloak/quarkus/runtime/services/RejectNonNormalizedPathFilter.java),
#: a filter of every request since the Keycloak 26.4 releases (before, the path was served
#: collapsed).
NOT_NORMALIZED = {
    "error": "missingNormalization",
    "error_description": "Request path not normalized",
}


def _normalized(path: str) -> str:
    """``path`` with its empty, ``.`` and ``..`` segments resolved (a trailing slash kept)."""
    resolved = "/" + posixpath.normpath(path).lstrip("/")
    return resolved + "/" if path.endswith("/") and resolved != "/" else resolved


def _sent_path(environ) -> str:
    """The request's path as the client sent it, percent-decoded as ``PATH_INFO`` is. Not
    Werkzeug's ``request.path`` (and routing), which drop leading slashes; nor, behind
    Werkzeug's server, ``PATH_INFO``, built after ``http.server`` reduced the leading slashes
    to one: the server's ``RAW_URI``, the target as received (``santeid.serving``), then."""
    raw = environ.get("RAW_URI") or ""
    if raw.startswith("/"):
        return unquote(re.split("[?#]", raw, maxsplit=1)[0], encoding="latin-1")
    return environ.get("PATH_INFO") or "/"


def refuse_non_normalized_path(root: str):
    """A ``before_request`` hook answering :data:`NOT_NORMALIZED` (400) for a path that is
    not its own normal form, under ``root`` (Keycloak's root, ``/auth``) as sent or once
    resolved (``/auth/../x`` as ``/x/../auth/…``); the path as sent (:func:`_sent_path`):
    ``//auth/…``, which a proxy's rule on ``/auth/…`` does not match, must not be served as
    ``/auth/…``."""

    def under_root(path: str) -> bool:
        return path == root or path.startswith(root + "/")

    def refuse():
        path = _sent_path(request.environ)
        if "//" not in path and "/." not in path:
            return None
        normal = _normalized(path)
        if normal == path or not (under_root(path) or under_root(normal)):
            return None
        return jsonify(NOT_NORMALIZED), 400

    return refuse


def init_app(app) -> None:
    settings = app.extensions["santeid"].settings
    path = settings.issuer_path
    parent, _, realm = path.rpartition("/")
    if not parent.endswith("/realms") or not realm:
        return  # an issuer that is not a Keycloak realm URL has no realm endpoints
    app.before_request(refuse_non_normalized_path(parent.rpartition("/")[0] or parent))
    app.add_url_rule(path, "realm_info", realm_info, methods=["GET"])
    app.add_url_rule(f"{path}/account", "realm_account", account, methods=["GET"])

    class OtherRealm(BaseConverter):
        """A path segment that is not this realm's name."""

        regex = rf"(?!{re.escape(realm)}(?![^/]))[^/]+"

    app.url_map.converters["other_realm"] = OtherRealm
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    app.add_url_rule(
        f"{parent}/<other_realm:name>", "unknown_realm", realm_does_not_exist, methods=methods
    )
    app.add_url_rule(
        f"{parent}/<other_realm:name>/<path:rest>",
        "unknown_realm_path",
        realm_does_not_exist,
        methods=methods,
    )
