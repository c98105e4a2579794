"""A Streamlit app logging professionals in with ``st.login``
(https://docs.streamlit.io/develop/api-reference/user/st.login), run by ``streamlit run
tests/support/streamlit_rp.py`` in a folder whose ``.streamlit/secrets.toml`` holds the
``[auth]`` section Streamlit's documentation describes (the test writes it).

Logged out, the page shows a button that calls ``st.login("psc")``; logged in, it shows what
``st.user`` holds as JSON (in a code block the test reads), what ``st.user.email`` does (PSC
sends no ``email``), the claims of userinfo fetched with the access token the app is given
(``expose_tokens``; the userinfo endpoint read from the discovery document of the ID token's
``iss``), and a button that calls ``st.logout()``. ``?provider=<name>`` makes the login button
use another ``[auth.<name>]`` section."""

from __future__ import annotations

import json

import requests
import streamlit as st

#: The ``[auth.<provider>]`` section ``st.login`` is given by default.
PROVIDER = "psc"


def userinfo(access_token: str) -> dict:
    """The professional's userinfo claims, with the access token Streamlit was given."""
    metadata_url = f"{st.user.iss}/.well-known/openid-configuration"
    endpoint = requests.get(metadata_url, timeout=10).json()["userinfo_endpoint"]
    response = requests.get(
        endpoint, headers={"Authorization": f"Bearer {access_token}"}, timeout=10
    )
    if response.headers.get("Content-Type", "").startswith("application/json"):
        return {"status": response.status_code, "claims": response.json()}
    return {"status": response.status_code, "claims": None}


if not st.user.is_logged_in:
    provider = st.query_params.get("provider", PROVIDER)
    st.button(
        "Se connecter avec Pro Santé Connect", key="login", on_click=st.login, args=[provider]
    )
else:
    try:
        email = {"value": st.user.email}
    except AttributeError as error:
        email = {"error": type(error).__name__, "message": str(error)}
    user = {name: value for name, value in st.user.to_dict().items() if name != "tokens"}
    shown = {
        "user": user,
        "email": email,
        "tokens": sorted(st.user.tokens),
        "userinfo": userinfo(st.user.tokens["access"]),
    }
    st.code(json.dumps(shown), language="json")
    st.button("Se déconnecter", key="logout", on_click=st.logout)
