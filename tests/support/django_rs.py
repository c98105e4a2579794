"""A Django REST framework API of a Pro Santé Connect service, its routes protected by PSC's
access tokens as Django shops protect them, run as a process of its own: ``python -m
tests.support.django_rs``, its configuration a JSON document in ``DJANGO_RS`` (``port``,
``database``, ``oauth2_provider``: django-oauth-toolkit's ``OAUTH2_PROVIDER``, ``oidc_auth``:
drf-oidc-auth's ``OIDC_AUTH``).

- django-oauth-toolkit 3 as a resource server
  (https://django-oauth-toolkit.readthedocs.io/en/latest/resource_server.html): its DRF
  ``OAuth2Authentication`` introspects every token it has not stored yet at
  ``RESOURCE_SERVER_INTROSPECTION_URL`` and stores the answer as an ``AccessToken`` row;
  ``/dot/me/`` needs an authenticated user (``IsAuthenticated``), ``/dot/prescriptions/`` the
  scope ``scope_all`` and ``/dot/scope-1/`` PSC's ``scope_1`` (``TokenHasScope``).
- drf-oidc-auth 4 (https://github.com/ByteInternet/drf-oidc-auth): ``/oidc/me/`` has the
  README's two authentication classes, ``JSONWebTokenAuthentication`` (``Authorization: JWT
  <token>``, checked against the JWK Set of ``OIDC_ENDPOINT``'s discovery) then
  ``BearerTokenAuthentication`` (``Authorization: Bearer <token>``, sent to userinfo).

Django is configured once per process (tests/support/python_rp.py), and drf-oidc-auth reads
its settings when imported: each configuration is a process. Every record of ``WARNING`` and
above, and every request that failed, goes to its standard error, which the test reads."""

from __future__ import annotations

from django.urls import path

from tests.support.python_rp import DJANGO_LOGGING
from tests.support.python_rp import serve_django


def professional(request, claims: dict):
    """drf-oidc-auth's ``OIDC_RESOLVE_USER_FUNCTION`` for PSC: the Django user named after
    ``preferred_username``, the professional's national identifier (the access token's claim,
    userinfo's too), made at the first call as django-oauth-toolkit makes it from
    introspection's ``username``. The library's default looks the user up by ``sub``, which
    PSC makes of a UUID and the identifier (``f:<uuid>:<national id>``) and never creates."""
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username=claims["preferred_username"])
    return user


def views() -> list:
    """The API's routes (imported once Django is configured: DRF and both libraries read
    settings at import)."""
    from oauth2_provider.contrib.rest_framework import OAuth2Authentication
    from oauth2_provider.contrib.rest_framework import TokenHasScope
    from rest_framework.permissions import IsAuthenticated
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class DotMe(APIView):
        """Who the token is, as django-oauth-toolkit stored it from the introspection answer."""

        authentication_classes = [OAuth2Authentication]
        permission_classes = [IsAuthenticated]

        def get(self, request):
            token = request.auth
            return Response(
                {
                    "username": request.user.username,
                    "scope": token.scope,
                    "expires": token.expires.timestamp(),
                    "application": token.application_id,
                    "resource": token.resource,
                }
            )

    class Scoped(APIView):
        authentication_classes = [OAuth2Authentication]
        permission_classes = [TokenHasScope]

        def get(self, request):
            return Response({"username": request.user.username})

    class Prescriptions(Scoped):
        required_scopes = ["scope_all"]

    class ScopeOne(Scoped):
        required_scopes = ["scope_1"]

    class OidcMe(APIView):
        """The README's classes (``DEFAULT_AUTHENTICATION_CLASSES``): the user, what checked
        the token, and the claims it read (the token's, or userinfo's)."""

        permission_classes = [IsAuthenticated]

        def get(self, request):
            return Response(
                {
                    "username": request.user.username,
                    "authenticator": type(request.successful_authenticator).__name__,
                    "claims": request.auth,
                }
            )

    return [
        path("dot/me/", DotMe.as_view()),
        path("dot/prescriptions/", Prescriptions.as_view()),
        path("dot/scope-1/", ScopeOne.as_view()),
        path("oidc/me/", OidcMe.as_view()),
    ]


def health(request):
    from django.http import HttpResponse

    return HttpResponse("ok")


def __getattr__(name: str) -> list:
    """The URLconf's ``urlpatterns`` (``ROOT_URLCONF`` is this module), made when Django first
    asks, once :func:`configure` has run (PEP 562's module ``__getattr__``)."""
    if name != "urlpatterns":
        raise AttributeError(name)
    return [path("health/", health), *views()]


def configure(config: dict) -> None:
    """Django's settings in code: DRF's default authentication classes as drf-oidc-auth's
    README lists them, ``OAUTH2_PROVIDER`` and ``OIDC_AUTH`` from ``config``; the database
    made (``migrate``: django-oauth-toolkit's tables)."""
    import django
    from django.conf import settings
    from django.core.management import call_command

    oauth2_provider = dict(config["oauth2_provider"])
    if "RESOURCE_SERVER_INTROSPECTION_CREDENTIALS" in oauth2_provider:  # a tuple, per its docs
        credentials = oauth2_provider["RESOURCE_SERVER_INTROSPECTION_CREDENTIALS"]
        oauth2_provider["RESOURCE_SERVER_INTROSPECTION_CREDENTIALS"] = tuple(credentials)
    settings.configure(
        SECRET_KEY="a-test-secret-key-for-the-django-api",
        ALLOWED_HOSTS=["localhost", "127.0.0.1"],
        ROOT_URLCONF="tests.support.django_rs",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "rest_framework",
            "oauth2_provider",
        ],
        MIDDLEWARE=[],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": config["database"]}},
        USE_TZ=True,
        OAUTH2_PROVIDER=oauth2_provider,
        OIDC_AUTH=config["oidc_auth"],
        REST_FRAMEWORK={
            "DEFAULT_AUTHENTICATION_CLASSES": (
                "oidc_auth.authentication.JSONWebTokenAuthentication",
                "oidc_auth.authentication.BearerTokenAuthentication",
            ),
            "DEFAULT_PERMISSION_CLASSES": ("rest_framework.permissions.IsAuthenticated",),
        },
        LOGGING=DJANGO_LOGGING,
    )
    django.setup()
    call_command("migrate", verbosity=0)


def main() -> None:
    """Configure Django from ``DJANGO_RS`` and serve until stopped."""
    serve_django("DJANGO_RS", configure)


if __name__ == "__main__":
    main()
