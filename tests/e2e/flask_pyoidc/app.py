"""A Flask service logging professionals in with Flask-pyoidc
(https://github.com/zamzterz/Flask-pyoidc, on pyoidc's ``oic``), configured as its README's
"Getting started" does: ``OIDC_REDIRECT_URI``, a ``ProviderConfiguration`` with the realm's
``issuer`` (discovery at start-up) and a ``ClientMetadata`` with ``client_id`` and
``client_secret`` (static registration), the extra authorization parameters a Pro Santé
Connect integrator sends in ``auth_request_params``; ``@auth.oidc_auth`` on the protected view,
``@auth.oidc_logout`` on the logout view, ``@auth.error_view`` for the library's errors.

It runs from its own virtual environment (``.venv`` beside this file), not the suite's: its
``oic`` pin clashes with the project's. ``python app.py``; its configuration a JSON document in
``FLASK_PYOIDC_RP``: ``port``, ``origin`` (where the browser reaches it), ``issuer``,
``client_id``, ``providers``, a client secret by provider name (one provider per view, a
wrong secret among them for the refusal it meets), and ``sessions``: a folder for Flask-Session's
server-side sessions, or ``null`` for Flask's own cookie session, which the README's example
uses. The library's HTTP client is ``requests``:
the server's authority is trusted through ``REQUESTS_CA_BUNDLE``, nothing else relaxed. It
logs every record of ``WARNING`` and above (the library's errors are ``ERROR``) to its
standard error.

Two more optional keys: ``session_refresh_intervals``, the
``session_refresh_interval_seconds`` of a provider by name (the library's silent
re-authentication with ``prompt=none``), and ``audience_from_client_id``, the providers whose
token introspection does without ``aud`` (:class:`PscTokenAuthentication`).

Its pages: ``/health`` (not protected); ``/me/<provider>`` (protected: the ID token's claims
and userinfo the library keeps in ``flask.session``, as JSON); ``/logout`` (the library's
logout: the session ended, the browser sent to santeid's end-session endpoint with the ID
token, back here with ``state``); ``/tokens`` (not protected: the tokens and times the library
keeps in the session); ``/refresh`` (``valid_access_token(force_refresh=True)``: the access
token the library got with the refresh token, ``null`` when it got none). The API, by
Flask-pyoidc's bearer-token decorators (README, "Token-based authorization"):
``/api/<provider>`` (``@auth.token_auth``: the introspection answer the library keeps in
``auth.current_token_identity``), ``/api/<provider>/professionals`` (the same with
``scopes_required=["scope_all"]``) and ``/either/<provider>`` (``@auth.access_control`` with
``scopes_required=["scope_all"]``: a bearer token, or else the login session)."""

from __future__ import annotations

import json
import logging
import os

import flask
from flask_pyoidc import OIDCAuthentication
from flask_pyoidc.provider_configuration import ClientMetadata
from flask_pyoidc.provider_configuration import ProviderConfiguration
from flask_pyoidc.user_session import UserSession
from oic.extension.message import TokenIntrospectionResponse

#: What PSC integrators send beside ``openid``: the scope that releases the professional's
#: claims and the level of assurance (docs/reference/pro-sante-connect.md).
PSC_AUTH_PARAMS = {"scope": ["openid", "scope_all"], "acr_values": "eidas1"}


#: The scope of PSC's professional claims, which a service's own ``client_credentials`` token
#: lacks (docs/psc-integration.md).
PROFESSIONALS_SCOPE = "scope_all"


class PscTokenAuthentication(OIDCAuthentication):
    """Flask-pyoidc's ``OIDCAuthentication``, whose token introspection, for the providers in
    ``without_audience``, reads the answer's ``client_id`` where the library reads ``aud``.

    Flask-pyoidc 3.14's ``introspect_token`` requires the client's identifier in the answer's
    ``aud`` and reads it as ``result['aud']``: RFC 7662 §2.2 makes ``aud`` optional, and PSC's
    access tokens carry none (docs/psc-integration.md §3), so its check raises ``KeyError`` for
    every active token. The maintainer agreed it should be optional
    (https://github.com/zamzterz/Flask-pyoidc/issues/158) and advises a Keycloak audience
    mapper, which PSC's realm has not. The token's ``client_id`` (the service it was issued
    to, in every Keycloak introspection answer) stands in for it; the rest is the library's
    check (``active``, then every scope of ``scopes_required`` in ``scope``)."""

    def __init__(self, providers, app, *, without_audience: list[str]) -> None:
        self._without_audience = without_audience
        super().__init__(providers, app)

    def introspect_token(
        self, request, client, scopes: list | None = None
    ) -> TokenIntrospectionResponse | None:
        if not any(client is self.clients[name] for name in self._without_audience):
            return super().introspect_token(request, client, scopes)
        # The library's own request: RFC 7662 with the client's credentials (HTTP Basic).
        result = client._token_introspection_request(access_token=self._parse_access_token(request))
        if not result.get("active"):
            return None
        if result.get("client_id") != client._client.client_id:
            return None
        if scopes and not set(scopes).issubset(set(result.get("scope", []))):
            return None
        return result


def create_app(config: dict) -> flask.Flask:
    app = flask.Flask("psc_flask_pyoidc_service")
    app.config.update(
        OIDC_REDIRECT_URI=f"{config['origin']}/redirect_uri",
        SECRET_KEY="a-test-secret-key-for-the-flask-pyoidc-service",
    )
    providers = {
        name: ProviderConfiguration(
            issuer=config["issuer"],
            client_metadata=ClientMetadata(client_id=config["client_id"], client_secret=secret),
            auth_request_params=PSC_AUTH_PARAMS,
            session_refresh_interval_seconds=config.get("session_refresh_intervals", {}).get(name),
        )
        for name, secret in config["providers"].items()
    }
    if config["sessions"]:
        # The library keeps the tokens and both sets of claims in ``flask.session``: PSC's
        # come near or over the 4 kB a browser keeps of a cookie, and the maintainer advises
        # server-side sessions (https://github.com/zamzterz/Flask-pyoidc/issues/41).
        from cachelib.file import FileSystemCache
        from flask_session import Session

        app.config.update(
            SESSION_TYPE="cachelib", SESSION_CACHELIB=FileSystemCache(config["sessions"])
        )
        Session(app)
    auth = PscTokenAuthentication(
        providers, app, without_audience=config.get("audience_from_client_id", [])
    )

    @app.get("/health")
    def health():
        return "ok"

    def me():
        session = UserSession(flask.session)
        return flask.jsonify(
            provider=session.current_provider,
            id_token=flask.session["id_token"],
            id_token_jwt=session.id_token_jwt,
            userinfo=flask.session["userinfo"],
            access_token=session.access_token,
        )

    def token_identity():
        return flask.jsonify(dict(auth.current_token_identity))

    def token_or_session():
        # A proxy (werkzeug's ``LocalProxy``): false when ``token_auth`` set nothing.
        if auth.current_token_identity:
            return flask.jsonify(token=dict(auth.current_token_identity))
        return flask.jsonify(session=flask.session["userinfo"])

    # One protected view per provider (the library's decorators name the provider).
    for name in providers:
        app.add_url_rule(f"/me/{name}", f"me_{name}", auth.oidc_auth(name)(me))
        app.add_url_rule(f"/api/{name}", f"api_{name}", auth.token_auth(name)(token_identity))
        app.add_url_rule(
            f"/api/{name}/professionals",
            f"api_professionals_{name}",
            auth.token_auth(name, scopes_required=[PROFESSIONALS_SCOPE])(token_identity),
        )
        app.add_url_rule(
            f"/either/{name}",
            f"either_{name}",
            auth.access_control(name, scopes_required=[PROFESSIONALS_SCOPE])(token_or_session),
        )

    @app.get("/tokens")
    def tokens():
        return flask.jsonify(
            {
                name: flask.session.get(name)
                for name in (
                    "access_token",
                    "refresh_token",
                    "id_token_jwt",
                    "access_token_expires_at",
                    "last_session_refresh",
                )
            }
        )

    @app.get("/refresh")
    def refresh():
        return flask.jsonify(access_token=auth.valid_access_token(force_refresh=True))

    @app.get("/logout")
    @auth.oidc_logout
    def logout():
        return flask.jsonify(logged_out=True, state=flask.request.args.get("state"))

    @auth.error_view
    def error(error=None, error_description=None):
        return flask.jsonify(error=error, error_description=error_description), 401

    return app


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    # Werkzeug's server logs every request at INFO unless its logger has a level.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    config = json.loads(os.environ["FLASK_PYOIDC_RP"])
    create_app(config).run(host="127.0.0.1", port=config["port"], threaded=True)


if __name__ == "__main__":
    main()
