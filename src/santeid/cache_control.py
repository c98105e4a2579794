"""Answers no cache may keep (RFC 9111 §5.2.2.5,
https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.5): every answer that carries credentials,
personal data or a one-time value. The one statement of that header: :func:`no_store` for a
response object, :data:`NO_STORE` for the header lists of raw WSGI answers and of Authlib's
errors, :func:`credential_response` for a token answer's two; and of Keycloak's two headers,
:func:`keycloak_no_cache` and :func:`keycloak_no_back_button`. A module of its own, importing
nothing of santeid's, so that the lowest layers (the WSGI middleware, the client
authentication) can use it."""

from __future__ import annotations

from typing import TypeVar

NO_STORE = ("Cache-Control", "no-store")

#: For HTTP/1.0 caches, beside ``no-store`` on a token answer (RFC 6749 §5.1).
PRAGMA_NO_CACHE = ("Pragma", "no-cache")

#: A token or back-channel authentication answer: RFC 6749 §5.1 asks for ``no-store`` and,
#: for HTTP/1.0 caches, ``Pragma: no-cache``
#: (https://www.rfc-editor.org/rfc/rfc6749#section-5.1).
CREDENTIAL_RESPONSE_HEADERS = (("Content-Type", "application/json"), NO_STORE, PRAGMA_NO_CACHE)

#: Keycloak's ``CacheControlUtil.noCache()`` as JAX-RS writes it (``no-transform`` is on by
#: default there), set by :func:`keycloak_no_cache`.
KEYCLOAK_NO_CACHE = ("Cache-Control", "no-cache, must-revalidate, no-transform, no-store")

#: Keycloak's ``CacheControlUtil.noBackButtonCacheControlHeader``, set by
#: :func:`keycloak_no_back_button`.
KEYCLOAK_NO_BACK_BUTTON = ("Cache-Control", "no-store, must-revalidate, max-age=0")

Answer = TypeVar("Answer")


def _with_header(header: tuple[str, str], response: Answer) -> Answer:
    name, value = header
    response.headers[name] = value  # type: ignore[attr-defined]
    return response


def no_store(response: Answer) -> Answer:
    """``Cache-Control: no-store`` on ``response`` (any Werkzeug response), returned: a view's
    own, or the ``after_request`` of a blueprint none of whose answers a cache may keep (the
    admin console's, the control API's). HTML pages get it from
    :data:`santeid.security.HTML_SECURITY_HEADERS`."""
    return _with_header(NO_STORE, response)


def credential_response(response: Answer) -> Answer:
    """The two cache headers of :data:`CREDENTIAL_RESPONSE_HEADERS` on ``response``, returned:
    on every answer of the token endpoint, as Keycloak's ``TokenEndpoint`` sets them before
    any check — a refusal made before Authlib writes its own headers too."""
    return _with_header(PRAGMA_NO_CACHE, no_store(response))


def keycloak_no_cache(response: Answer) -> Answer:
    """Keycloak's ``CacheControlUtil.noCache()`` header (:data:`KEYCLOAK_NO_CACHE`) on
    ``response``, returned: the discovery documents' (``RealmsResource.getWellKnown``;
    docs/reference/keycloak-behaviour.md, "Discovery") and the session-status iframe pages'
    (``IframeUtil``; "Session status iframe"). A client fetches them again each time."""
    return _with_header(KEYCLOAK_NO_CACHE, response)


def keycloak_no_back_button(response: Answer) -> Answer:
    """Keycloak's ``CacheControlUtil.noBackButtonCacheControlHeader``
    (:data:`KEYCLOAK_NO_BACK_BUTTON`) on ``response``, returned: on every answer of its
    authorization endpoint, so that no cache keeps a code (``santeid.oidc.authorize.respond``;
    docs/reference/keycloak-behaviour.md, "Authorization endpoint")."""
    return _with_header(KEYCLOAK_NO_BACK_BUTTON, response)
