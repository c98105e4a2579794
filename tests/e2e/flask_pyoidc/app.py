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

Its pages: ``/health`` (not protected); ``/me/<provider>`` (protected: the ID token's claims
and userinfo the library keeps in ``flask.session``, as JSON); ``/logout`` (the library's
logout: the session ended, the browser sent to santeid's end-session endpoint with the ID
token, back here with ``state``)."""

from __future__ import annotations

import json
import logging
import os

import flask
from flask_pyoidc import OIDCAuthentication
from flask_pyoidc.provider_configuration import ClientMetadata
from flask_pyoidc.provider_configuration import ProviderConfiguration
from flask_pyoidc.user_session import UserSession

#: What PSC integrators send beside ``openid``: the scope that releases the professional's
#: claims and the level of assurance (docs/reference/pro-sante-connect.md).
PSC_AUTH_PARAMS = {"scope": ["openid", "scope_all"], "acr_values": "eidas1"}


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
    auth = OIDCAuthentication(providers, app)

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

    # One protected view per provider (the library's decorator names the provider).
    for name in providers:
        app.add_url_rule(f"/me/{name}", f"me_{name}", auth.oidc_auth(name)(me))

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
