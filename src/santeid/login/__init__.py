"""The login pages a professional sees between the authorization request and the code."""

from __future__ import annotations


def init_app(app) -> None:
    # Imported here: the views import the authorization endpoint, which imports
    # santeid.login.transactions — a module-level import would be circular.
    from santeid.login import card
    from santeid.login.views import bp

    settings = app.extensions["santeid"].settings
    app.register_blueprint(bp, url_prefix=f"{settings.issuer_path}/login-actions")
    card.init_app(app, url_prefix=f"{settings.issuer_path}/login-actions")
