"""A Django service's Pro Santé Connect login as integrators write it with django-allauth 65's
generic OpenID Connect provider (https://docs.allauth.org/en/latest/socialaccount/providers/openid_connect.html),
run as a process of its own: ``python -m tests.support.allauth_rp``, its configuration a JSON
document in ``ALLAUTH_RP`` (``port``, ``database``, ``apps``: the provider's ``APPS``).

Django is configured once per process, and the test process may already hold
mozilla-django-oidc's service (tests/e2e/test_mozilla_django_oidc.py): this service's
``INSTALLED_APPS`` and URLs could not join it there. Its pages: allauth's under ``/accounts/``,
``/me/`` (who is logged in, their social accounts as allauth stored them, how many users and
accounts the database holds). It logs every record of ``WARNING`` and above, and every request
that failed, to its standard error, which the test reads."""

from __future__ import annotations

import json

from django.http import HttpResponse
from django.urls import include
from django.urls import path

from tests.support.python_rp import DJANGO_LOGGING
from tests.support.python_rp import serve_django


def me(request) -> HttpResponse:
    """The service's page, as JSON: the logged-in user (``null`` for nobody) with the social
    accounts allauth made (provider, ``uid``, ``extra_data``), and the database's counts."""
    from allauth.socialaccount.models import SocialAccount
    from django.contrib.auth import get_user_model

    user = request.user
    body: dict = {
        "user": None,
        "users": get_user_model().objects.count(),
        "social_accounts": SocialAccount.objects.count(),
    }
    if user.is_authenticated:
        body["user"] = {
            "id": user.pk,
            "username": user.username,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "accounts": [
                {"provider": a.provider, "uid": a.uid, "extra_data": a.extra_data}
                for a in SocialAccount.objects.filter(user=user)
            ],
        }
    return HttpResponse(json.dumps(body), content_type="application/json")


def __getattr__(name: str) -> list:
    """The URLconf's ``urlpatterns`` (``ROOT_URLCONF`` is this module), made when Django
    first asks: allauth's URLs read its settings, which :func:`configure` gives later than
    this module's import (PEP 562's module ``__getattr__``)."""
    if name != "urlpatterns":
        raise AttributeError(name)
    return [path("accounts/", include("allauth.urls")), path("me/", me)]


def configure(config: dict) -> None:
    """Django's settings in code, allauth's as its documentation lists them for the
    ``openid_connect`` provider; the database made (``migrate``)."""
    import django
    from django.conf import settings
    from django.core.management import call_command

    settings.configure(
        SECRET_KEY="a-test-secret-key-for-the-allauth-service",
        ALLOWED_HOSTS=["localhost"],
        ROOT_URLCONF="tests.support.allauth_rp",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "allauth",
            "allauth.account",
            "allauth.socialaccount",
            "allauth.socialaccount.providers.openid_connect",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "allauth.account.middleware.AccountMiddleware",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        AUTHENTICATION_BACKENDS=[
            "django.contrib.auth.backends.ModelBackend",
            "allauth.account.auth_backends.AuthenticationBackend",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": config["database"]}},
        USE_TZ=True,
        LOGIN_REDIRECT_URL="/me/",
        SOCIALACCOUNT_PROVIDERS={"openid_connect": {"APPS": config["apps"]}},
        LOGGING=DJANGO_LOGGING,
    )
    django.setup()
    call_command("migrate", verbosity=0)


def main() -> None:
    """Configure Django from ``ALLAUTH_RP`` and serve until stopped."""
    serve_django("ALLAUTH_RP", configure)


if __name__ == "__main__":
    main()
