"""The admin console (``/admin``, docs/operations.md): off unless an admin password hash is
configured (``admin_password_hash``, made by ``santeid admin set-password``), professionals are
allowed in (``admin_professionals``: they sign in through santeid's own login, e-CPS or card),
or in sandbox mode (the documented demo admin). Every sign-in and every change is recorded as an
admin event."""

from __future__ import annotations

from santeid.settings.admin import professional_ids


def admin_professionals(settings) -> frozenset[str]:
    """The normalised national identifiers of ``admin_professionals``."""
    return professional_ids(settings.admin.professionals)


def enabled(settings) -> bool:
    return bool(
        settings.admin.password_hash or settings.admin.professionals or settings.sandbox.enabled
    )


def init_app(app) -> None:
    settings = app.extensions["santeid"].settings
    if not enabled(settings):
        return
    from santeid.admin import professional_sign_in
    from santeid.admin import views

    app.register_blueprint(views.bp)
    professional_sign_in.init_app(app)
