"""The admin console (``/admin``, docs/operations.md): off unless an admin password hash is
configured (``admin_password_hash``, made by ``santeid admin set-password``), professionals are
allowed in (``admin_professionals``: they sign in through santeid's own login, e-CPS or card),
or in sandbox mode (the documented demo admin). Every sign-in and every change is recorded as an
admin event."""

from __future__ import annotations

from santeid.settings import ConfigurationError


def admin_professionals(settings) -> frozenset[str]:
    """The normalised national identifiers of ``admin_professionals``; a malformed one stops
    the start (``ConfigurationError``)."""
    from santeid.psc.national_id import NationalIdError
    from santeid.psc.national_id import parse_national_id

    allowed = set()
    for typed in settings.admin_professionals.replace(",", " ").split():
        try:
            allowed.add(parse_national_id(typed).value)
        except NationalIdError as exc:
            raise ConfigurationError(
                f"admin_professionals: {typed!r} is not a national identifier ({exc.message('en')})"
            ) from None
    return frozenset(allowed)


def enabled(settings) -> bool:
    return bool(settings.admin_password_hash or settings.admin_professionals or settings.sandbox)


def init_app(app) -> None:
    settings = app.extensions["santeid"].settings
    if not enabled(settings):
        return
    from santeid.admin import professional_sign_in
    from santeid.admin import views

    app.register_blueprint(views.bp)
    professional_sign_in.init_app(app)
