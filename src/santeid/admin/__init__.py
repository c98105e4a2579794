"""The admin console (``/admin``, docs/operations.md): off unless an admin password hash is
configured (``admin_password_hash``, made by ``santeid admin set-password``), professionals are
allowed in (``admin_professionals``: they sign in through santeid's own login, e-CPS or card),
or in sandbox mode (the documented demo admin). Every sign-in and every change is recorded as an
admin event."""

from __future__ import annotations

import logging

from santeid.settings.admin import professional_ids

log = logging.getLogger(__name__)


def admin_professionals(settings) -> frozenset[str]:
    """The normalised national identifiers of ``admin_professionals``."""
    return professional_ids(settings.admin.professionals)


def allows_professionals(settings) -> bool:
    """Whether a professional of ``admin_professionals`` may sign in through santeid's own
    login. Not in sandbox mode once ``admin_password_hash`` is set: there the control API
    answers anyone and makes every proof the login pages accept — it scripts any
    professional's e-CPS answer (``PUT /sandbox/api/professionals/<id>/scenario``), issues test
    CPS cards the sandbox trusts, and shows self-service activation codes in its outbox — so a
    professional's login proves nothing about who is at the keyboard, and the password is the
    only way in (docs/operations.md, "Admin console"; docs/sandbox.md)."""
    if not settings.admin.professionals:
        return False
    return not (settings.sandbox.enabled and settings.admin.password_hash)


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
    if settings.admin.professionals and not allows_professionals(settings):
        log.warning(
            "admin_professionals is ignored: in sandbox mode, with admin_password_hash set, "
            "only the password opens the admin console (the sandbox control API can make any "
            "professional's login succeed)"
        )
