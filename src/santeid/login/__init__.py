"""The login pages a professional sees between the authorization request and the code.

They meet the authorization endpoint only through ``santeid.interaction``."""

from __future__ import annotations

from santeid.interaction import install_login_pages


def init_app(app) -> None:
    from santeid.login import card
    from santeid.login.transactions import LoginPagesEntry
    from santeid.login.views import bp

    settings = app.extensions["santeid"].settings
    install_login_pages(app, LoginPagesEntry())
    app.register_blueprint(bp, url_prefix=f"{settings.issuer_path}/login-actions")
    card.init_app(app, url_prefix=f"{settings.issuer_path}/login-actions")
