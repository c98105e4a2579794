"""A Django service logging professionals in with python-social-auth (social-auth-core 7 in
its Django app, social-auth-app-django 8: https://python-social-auth.readthedocs.io/en/latest/configuration/django.html),
run as a process of its own: ``python -m tests.support.social_django_rp``, its configuration a
JSON document in ``SOCIAL_RP`` (``port``, ``database``, ``settings``: the ``SOCIAL_AUTH_*``
settings, as a Django settings file would hold them).

Its backends: social-auth-core's ``KeycloakOAuth2`` (``keycloak``), the same with no audience
to check (``keycloak-psc``, :class:`ProSanteConnectKeycloak`), and its generic
``OpenIdConnectAuth`` (``oidc``). Its pages: ``/`` (a button per backend, each a form POSTed
with Django's CSRF token to the library's ``/login/<backend>/``, which takes only that);
``/complete/<backend>/`` (the redirect URI); ``/me/`` (who is logged in, their social accounts
as the library stored them, how many users the database holds); ``/refresh/<backend>/`` (the
stored tokens renewed with the library's ``refresh_token``); ``/failed/`` (where the library's
exception middleware sends a failed login, with its ``message`` and ``backend``). It logs every
record of ``WARNING`` and above, and every request that failed, to its standard error, which
the test reads."""

from __future__ import annotations

import json

from django.http import HttpResponse
from django.urls import include
from django.urls import path
from social_core.backends.keycloak import KeycloakOAuth2

from tests.support.python_rp import DJANGO_LOGGING
from tests.support.python_rp import serve_django


class ProSanteConnectKeycloak(KeycloakOAuth2):
    """``KeycloakOAuth2`` without its ``aud`` check: PSC's access tokens carry no ``aud``
    (docs/reference/pro-sante-connect.md §6), and a service cannot add Keycloak's audience
    mapper to PSC's realm, which the backend's documentation asks for. PyJWT then checks no
    audience (``audience=None``); the token comes straight from the token endpoint."""

    name = "keycloak-psc"

    def audience(self):
        return None


def home(request) -> HttpResponse:
    """The service's login buttons."""
    from django.middleware.csrf import get_token

    token = get_token(request)
    forms = "".join(
        f'<form method="post" action="/login/{backend}/">'
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
        f'<button id="login-{backend}">Pro Santé Connect ({backend})</button></form>'
        for backend in ("keycloak", "keycloak-psc", "oidc")
    )
    return HttpResponse(f"<!doctype html><title>Service</title>{forms}")


def json_response(body) -> HttpResponse:
    return HttpResponse(json.dumps(body), content_type="application/json")


def me(request) -> HttpResponse:
    """The logged-in user (``null`` for nobody) with the social accounts the library made
    (provider, ``uid``, ``extra_data``), and how many users the database holds."""
    from django.contrib.auth import get_user_model

    user = request.user
    body: dict = {"user": None, "users": get_user_model().objects.count()}
    if user.is_authenticated:
        body["user"] = {
            "username": user.username,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "accounts": [
                {"provider": a.provider, "uid": a.uid, "extra_data": a.extra_data}
                for a in user.social_auth.all()
            ],
        }
    return json_response(body)


def refresh(request, backend: str) -> HttpResponse:
    """The account's tokens renewed by the library (``UserSocialAuth.refresh_token``): the
    stored data before and after."""
    from social_django.utils import load_strategy

    account = request.user.social_auth.get(provider=backend)
    before = dict(account.extra_data)
    account.refresh_token(load_strategy(request))
    account.refresh_from_db()
    return json_response({"before": before, "after": account.extra_data})


def failed(request) -> HttpResponse:
    return json_response(request.GET.dict())


def __getattr__(name: str) -> list:
    """The URLconf's ``urlpatterns`` (``ROOT_URLCONF`` is this module), made when Django
    first asks: the library's URLs read its settings, which :func:`configure` gives later than
    this module's import (PEP 562's module ``__getattr__``)."""
    if name != "urlpatterns":
        raise AttributeError(name)
    return [
        path("", include("social_django.urls", namespace="social")),
        path("", home),
        path("me/", me),
        path("refresh/<str:backend>/", refresh),
        path("failed/", failed),
    ]


def configure(config: dict) -> None:
    """Django's settings in code, python-social-auth's as its documentation lists them; the
    database made (``migrate``)."""
    import django
    from django.conf import settings
    from django.core.management import call_command

    settings.configure(
        SECRET_KEY="a-test-secret-key-for-the-social-auth-service",
        ALLOWED_HOSTS=["localhost"],
        ROOT_URLCONF="tests.support.social_django_rp",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "social_django",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "social_django.middleware.SocialAuthExceptionMiddleware",
        ],
        AUTHENTICATION_BACKENDS=[
            "social_core.backends.keycloak.KeycloakOAuth2",
            "tests.support.social_django_rp.ProSanteConnectKeycloak",
            "social_core.backends.open_id_connect.OpenIdConnectAuth",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": config["database"]}},
        USE_TZ=True,
        LOGIN_REDIRECT_URL="/me/",
        SOCIAL_AUTH_URL_NAMESPACE="social",
        SOCIAL_AUTH_LOGIN_ERROR_URL="/failed/",
        SOCIAL_AUTH_ERROR_TRANSPORT=["query"],
        LOGGING=DJANGO_LOGGING,
        **config["settings"],
    )
    django.setup()
    call_command("migrate", verbosity=0)


def main() -> None:
    """Configure Django from ``SOCIAL_RP`` and serve until stopped."""
    serve_django("SOCIAL_RP", configure)


if __name__ == "__main__":
    main()
