"""A Flask service logging professionals in with flask-oidc 2 (https://flask-oidc.readthedocs.io/en/latest/),
the Flask extension on Authlib, run as a process of its own: ``python -m
tests.support.flask_oidc_rp``, its configuration a JSON document in ``FLASK_OIDC_RP``
(``port``, ``client_secrets``: the path of the ``client_secrets.json`` its documentation
describes, ``scopes``, ``sessions``: a folder).

The extension keeps the token answer and the userinfo profile in Flask's session. In Flask's
own session cookie, PSC's tokens and profile come to about 4.1 kB, at the 4 kB browsers keep
of a cookie (https://github.com/fedora-infra/flask-oidc/issues/57, a Keycloak user's report):
the service keeps its sessions on the server with Flask-Session
(https://flask-session.readthedocs.io/), in files (cachelib's ``FileSystemCache``), as such
services do; the cookie holds the session's identifier only.

Its pages: the extension's ``/login``, ``/authorize`` (the redirect URI) and ``/logout``;
``/me`` and ``/`` (``oidc.user_loggedin``, ``session["oidc_auth_profile"]`` and the tokens the
session holds, as JSON); ``/age`` (the session's access token made to look expired, as it is two
minutes after a login: the extension's next request refreshes it); ``/api`` and
``/api/scope-all``, protected by ``@oidc.accept_token()`` (introspection with the service's
credentials), which answer the introspection result. It logs every record of ``WARNING``
and above, and every request answered 5xx, to its standard error, which the test reads."""

from __future__ import annotations

import json
import logging
import os
import time


def create_app(config: dict):
    """The service: flask-oidc configured as its documentation says."""
    from authlib.integrations.flask_oauth2 import current_token
    from cachelib.file import FileSystemCache
    from flask import Flask
    from flask import jsonify
    from flask import session
    from flask_oidc import OpenIDConnect
    from flask_session import Session

    app = Flask("psc_flask_oidc_service")
    app.config.update(
        SECRET_KEY="a-test-secret-key-for-the-flask-oidc-service",
        OIDC_CLIENT_SECRETS=config["client_secrets"],
        OIDC_SCOPES=config["scopes"],
        SESSION_TYPE="cachelib",
        SESSION_CACHELIB=FileSystemCache(config["sessions"]),
    )
    Session(app)
    oidc = OpenIDConnect(app)

    @app.get("/")
    @app.get("/me")
    def me():
        token = session.get("oidc_auth_token") or {}
        return jsonify(
            logged_in=oidc.user_loggedin,
            profile=session.get("oidc_auth_profile"),
            access_token=token.get("access_token"),
            refresh_token=token.get("refresh_token"),
            expires_at=token.get("expires_at"),
        )

    @app.get("/age")
    def age():
        session["oidc_auth_token"] = {**session["oidc_auth_token"], "expires_at": time.time() - 1}
        return jsonify(aged=True)

    @app.get("/api")
    @oidc.accept_token()
    def api():
        return jsonify(dict(current_token))

    @app.get("/api/scope-all")
    @oidc.accept_token(scopes=["scope_all"])
    def api_scope_all():
        return jsonify(dict(current_token))

    @app.after_request
    def log_failures(response):
        if response.status_code >= 500:
            logging.getLogger("service").error("answered %s", response.status)
        return response

    return app


def main() -> None:
    """Serve on ``localhost:<port>`` with Werkzeug's threaded server until stopped; no access
    log (the callback's URL carries the code)."""
    from werkzeug.serving import WSGIRequestHandler
    from werkzeug.serving import make_server

    class QuietRequestHandler(WSGIRequestHandler):
        def log_request(self, code="-", size="-"):
            pass

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    config = json.loads(os.environ["FLASK_OIDC_RP"])
    app = create_app(config)
    make_server(
        "127.0.0.1", config["port"], app, threaded=True, request_handler=QuietRequestHandler
    ).serve_forever()


if __name__ == "__main__":
    main()
