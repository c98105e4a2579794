"""The admin console (``/admin``, docs/operations.md): off unless an admin password hash is
configured (``admin_password_hash``, made by ``santeid admin set-password``) or in sandbox mode
(the documented demo admin). Every change is recorded as an admin event."""

from __future__ import annotations


def enabled(settings) -> bool:
    return bool(settings.admin.password_hash) or bool(settings.sandbox.enabled)


def init_app(app) -> None:
    settings = app.extensions["santeid"].settings
    if not enabled(settings):
        return
    from santeid.admin import views

    app.register_blueprint(views.bp)
