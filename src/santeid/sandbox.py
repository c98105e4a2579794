"""Sandbox mode: the single switch for test conveniences (sandbox authenticator, generated
dev keys, demo directory). When it is on, every page shows a banner and every response
carries ``X-Santeid-Sandbox: true``; when it is off none of these exist."""

from __future__ import annotations

import logging

from flask import render_template

from santeid.i18n import Translator
from santeid.services import services

log = logging.getLogger(__name__)


def home():
    svc = services()
    professionals = svc.directory.list(sandbox_only=True) if svc.settings.sandbox else []
    return render_template(
        "home.html",
        t=Translator("fr"),
        settings=svc.settings,
        professionals=professionals,
        discovery=f"{svc.settings.issuer}/.well-known/wallet-openid-configuration",
    )


def init_app(app) -> None:
    settings = app.extensions["santeid"].settings
    app.jinja_env.globals["sandbox"] = settings.sandbox
    app.add_url_rule("/", "home", home)
    if settings.sandbox:
        log.warning(
            "SANDBOX MODE: sandbox authenticator on, dev keys and demo directory in use. "
            "Never expose this instance to real users."
        )
