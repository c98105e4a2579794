"""A Django service's Pro Santé Connect login as integrators write it with mozilla-django-oidc
(https://mozilla-django-oidc.readthedocs.io/en/stable/installation.html): its URLs under
``/oidc/``, a backend mapping PSC's claims to Django users, the provider logout URL, and two
pages of the service. Django imports it by name (``ROOT_URLCONF``, ``AUTHENTICATION_BACKENDS``,
``OIDC_OP_LOGOUT_URL_METHOD``, ``OIDC_CALLBACK_CLASS``) once
``tests/e2e/test_mozilla_django_oidc.py`` has configured Django; nothing here is imported
before."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponse
from django.urls import include
from django.urls import path
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView

#: The query of every request the callback received, in order: how the test sees what the
#: provider answered (a code, or ``error=login_required``).
CALLBACKS: list[dict[str, str]] = []


class ProSanteConnectBackend(OIDCAuthenticationBackend):
    """PSC's claims instead of the library's e-mail defaults (PSC releases no e-mail): the
    account is keyed on ``SubjectNameID``, the professional's national identifier, as PSC
    recommends (docs/psc-integration.md §4), which is also the access token's
    ``preferred_username``; the names come from userinfo."""

    def verify_claims(self, claims):
        return bool(claims.get("SubjectNameID")) and (
            claims.get("preferred_username") == claims["SubjectNameID"]
        )

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(username=claims["SubjectNameID"])

    def create_user(self, claims):
        user = self.UserModel.objects.create_user(claims["SubjectNameID"])
        return self.update_user(user, claims)

    def update_user(self, user, claims):
        user.first_name = claims.get("given_name", "")
        user.last_name = claims.get("family_name", "")
        user.save()
        return user


class RecordingCallbackView(OIDCAuthenticationCallbackView):
    """The library's callback view, which also records what it received (:data:`CALLBACKS`)."""

    def get(self, request):
        CALLBACKS.append(request.GET.dict())
        return super().get(request)


def provider_logout(request) -> str:
    """``OIDC_OP_LOGOUT_URL_METHOD``: RP-initiated logout at the provider with the ID token the
    library stored (``OIDC_STORE_ID_TOKEN``) as ``id_token_hint``."""
    query = urlencode(
        {
            "id_token_hint": request.session["oidc_id_token"],
            "post_logout_redirect_uri": request.build_absolute_uri("/logged-out/"),
        }
    )
    return f"{settings.OIDC_OP_LOGOUT_ENDPOINT}?{query}"


def me(request) -> HttpResponse:
    """The service's page: who is logged in, as JSON (``null`` for nobody)."""
    user = request.user
    if not user.is_authenticated:
        return HttpResponse("null", content_type="application/json")
    body = {"username": user.username, "first_name": user.first_name, "last_name": user.last_name}
    return HttpResponse(json.dumps(body), content_type="application/json")


def page(text: str):
    def view(request) -> HttpResponse:
        return HttpResponse(f'<!doctype html><p id="page">{text}</p>')

    return view


urlpatterns = [
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("me/", me),
    path("failed/", page("login failed")),
    path("logged-out/", page("logged out")),
]
