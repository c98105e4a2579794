"""Keycloak's realm endpoints (``docs/reference/keycloak-behaviour.md``, Realm endpoints).

* ``GET {issuer}`` (``/auth/realms/esante-wallet``): the realm's public information —
  ``realm``, ``public_key`` (base64 DER SubjectPublicKeyInfo of the key that signs),
  ``token-service``, ``account-service``, ``tokens-not-before`` — as Keycloak serves it.
* ``{issuer}/account`` (the ``account-service``): the professional's own page, the e-CPS
  device management, when installed.
* ``GET {issuer}/clients/<client_id>/redirect``: 303 to the client's ``client_uri`` (its
  "Home URL"); 204 and no body, Keycloak's answer (``RealmsResource.getRedirect``) for a
  client it does not know or one without root and base URL.
* Any path under another realm (``/auth/realms/<other>`` and below): 404
  ``{"error":"Realm does not exist"}``, as Keycloak answers; to a browser, the 404 page
  (``santeid.error_formats``: Keycloak's ``KeycloakErrorHandler`` writes the
  ``NotFoundException("Realm does not exist")`` of ``RealmsResource`` as its "Page not found"
  page to a request that accepts HTML).
* A path under Keycloak's root (``/auth``) that needs normalising: 400
  ``missingNormalization``, as Keycloak answers, before any endpoint (``santeid.raw_paths``).

Only for an issuer shaped as a Keycloak realm URL (``…/realms/<name>``, the default).
"""

from __future__ import annotations

import base64
import re

from cryptography.hazmat.primitives import serialization
from flask import Response
from flask import abort
from flask import jsonify
from flask import redirect
from flask import url_for
from werkzeug.exceptions import NotFound
from werkzeug.routing import BaseConverter
from werkzeug.routing import BuildError

from santeid import error_formats
from santeid.raw_paths import keycloak_root
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


def client_redirect(client_id: str):
    # Keycloak sends the browser to the client's root or base URL (303), and returns null
    # (JAX-RS: 204 No Content) for an unknown client or one with neither. santeid's client
    # has one URL of the two, its "Home URL": client_uri, a path resolved against the issuer.
    client = services().clients.get(client_id)
    home = None if client is None else client.client_uri
    if home:
        return redirect(home, code=303)
    answer = Response(status=204)
    del answer.headers["Content-Type"]
    return answer


def realm_does_not_exist(**_):
    if error_formats.for_request().name == error_formats.HTML:
        raise NotFound()  # the error page, in the visitor's language
    return jsonify(error="Realm does not exist"), 404


def init_app(app) -> None:
    settings = app.extensions["santeid"].settings
    path = settings.issuer_path
    if keycloak_root(path) is None:
        return  # an issuer that is not a Keycloak realm URL has no realm endpoints
    parent, _, realm = path.rpartition("/")
    app.add_url_rule(path, "realm_info", realm_info, methods=["GET"])
    app.add_url_rule(f"{path}/account", "realm_account", account, methods=["GET"])
    app.add_url_rule(
        f"{path}/clients/<client_id>/redirect", "client_redirect", client_redirect, methods=["GET"]
    )

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
