"""A service that logs health professionals in with Pro Santé Connect: the authorization code
flow with PKCE, then the userinfo. It knows only an issuer URL and a client; pointed at
santeid instead of PSC, nothing else changes."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlencode
from urllib.parse import urlsplit

import requests
from flask import Flask
from flask import abort
from flask import redirect
from flask import request
from flask import session


def create_app(*, issuer: str, client_id: str, client_secret: str, redirect_uri: str) -> Flask:
    app = Flask(__name__)
    app.secret_key = secrets.token_hex(32)
    discovery = requests.get(f"{issuer}/.well-known/wallet-openid-configuration", timeout=10)
    discovery.raise_for_status()
    endpoints = discovery.json()

    @app.get("/login")
    def login():
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        session["oidc"] = {"state": secrets.token_urlsafe(16), "verifier": verifier}
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid scope_all",
            "acr_values": "eidas1",
            "state": session["oidc"]["state"],
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
        return redirect(endpoints["authorization_endpoint"] + "?" + urlencode(query))

    # The callback is served at the path of the registered redirect URI.
    @app.get(urlsplit(redirect_uri).path)
    def callback():
        pending = session.pop("oidc", None)
        if pending is None or request.args.get("state") != pending["state"]:
            abort(400)
        if "code" not in request.args:
            return f"Connexion refusée : {request.args.get('error', '?')}", 403
        tokens = requests.post(
            endpoints["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": request.args["code"],
                "redirect_uri": redirect_uri,
                "code_verifier": pending["verifier"],
            },
            auth=(client_id, client_secret),
            timeout=10,
        )
        tokens.raise_for_status()
        userinfo = requests.get(
            endpoints["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {tokens.json()['access_token']}"},
            timeout=10,
        ).json()
        session["professional"] = {
            "national_id": userinfo["SubjectNameID"],
            "name": f"{userinfo['given_name']} {userinfo['family_name']}",
        }
        return redirect("/me")

    @app.get("/me")
    def me():
        professional = session.get("professional")
        if professional is None:
            return redirect("/login")
        return f"Bonjour {professional['name']} ({professional['national_id']})"

    return app
