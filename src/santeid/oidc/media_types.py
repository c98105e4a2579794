"""The media-type rules of the endpoints: the ``Content-Type`` that is no media type
(:func:`malformed_content_type`, userinfo's), and the ``Accept`` check of the endpoints whose
Keycloak counterpart declares the media types it produces: userinfo and introspection
(``@Produces({APPLICATION_JSON, APPLICATION_JWT})`` on
``UserInfoEndpoint.issueUserInfoGet``/``issueUserInfoPost`` and
``TokenIntrospectionEndpoint.introspect``; docs/reference/keycloak-behaviour.md, "Userinfo and
introspection: ``UserInfoTest`` and ``TokenIntrospectionTest``, method by method").

RESTEasy Reactive refuses a request none of whose ``Accept`` values is compatible with one of
those types before the endpoint runs — no token read, no client authenticated, no CORS — with
406 and ``NotAcceptableException("The accept header value did not match the value in
@Produces")`` (``ClassRoutingHandler.handle``), which Keycloak's ``KeycloakErrorHandler``
writes as ``{"error": <that message>}`` (``application/json``), or as its HTML error page when
the ``Accept`` names an HTML type. What is compatible (``jakarta.ws.rs.core.MediaType
.isCompatible``): the same type and subtype, case aside, or a ``*`` in either; parameters and
quality values are not looked at, and an ``Accept`` value one of whose media types does not
parse (no ``/``, or more than one) matches nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from flask import Response
from flask import json
from flask import request

from santeid.errors import error_page
from santeid.i18n import Translator
from santeid.i18n import pick_locale

JSON = "application/json"
JWT = "application/jwt"
#: What userinfo and introspection produce (the order of Keycloak's ``@Produces``).
JSON_OR_JWT = (JSON, JWT)
#: RESTEasy Reactive's ``ClassRoutingHandler.INVALID_ACCEPT_HEADER_MESSAGE``.
NOT_ACCEPTABLE = "The accept header value did not match the value in @Produces"
#: Keycloak 26.8's ``ContentTypeValidationUtil.requireValidOrNoContentType``
#: (https://github.com/keycloak/keycloak/pull/51737, for
#: https://github.com/keycloak/keycloak/issues/49785: releases 25 to 26.6 answer a 500).
MALFORMED_CONTENT_TYPE = "The content-type header value did not correspond to a valid media type"
#: RFC 9110 §8.3.1 ``type "/" subtype``, each a §5.6.2 token, then anything from the first
#: ``;`` (the parameters, which Keycloak's parser reads leniently).
_TCHARS = "[!#$%&'*+.^`|~0-9A-Za-z_-]+"
_CONTENT_TYPE = re.compile(rf"{_TCHARS}/{_TCHARS}[ \t]*(;.*)?", re.S)


def malformed_content_type() -> bool:
    """This request's ``Content-Type`` is no media type. An empty one is no header: a WSGI
    server may give an absent header as an empty ``CONTENT_TYPE`` (PEP 3333)."""
    value = request.headers.get("Content-Type", "").strip(" \t")
    return bool(value) and _CONTENT_TYPE.fullmatch(value) is None


def _media_type(text: str) -> tuple[str, str] | None:
    """``type/subtype`` of one media range, lower-cased, its parameters dropped; ``*`` alone is
    ``*/*`` (RESTEasy's ``MediaTypeHeaderDelegate.parse``); ``None`` when it does not parse."""
    bare = text.split(";", 1)[0].strip()
    if bare == "*":
        return ("*", "*")
    # Java's String.split drops trailing empty strings: "application/" is one part.
    parts = bare.split("/")
    while parts and parts[-1] == "":
        parts.pop()
    if len(parts) != 2:
        return None
    return (parts[0].strip().lower(), parts[1].strip().lower())


def _compatible(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """``MediaType.isCompatible``."""
    if "*" in (a[0], b[0]):
        return True
    return a[0] == b[0] and (a[1] == b[1] or "*" in (a[1], b[1]))


def _ranges(value: str) -> list[tuple[str, str]] | None:
    """The media ranges of one ``Accept`` value; ``None`` if one of them does not parse."""
    ranges = []
    for part in value.split(","):
        parsed = _media_type(part)
        if parsed is None:
            return None
        ranges.append(parsed)
    return ranges


def acceptable(values: Iterable[str], produces: Iterable[str]) -> bool:
    """Whether one of the ``Accept`` header ``values`` (none: anything goes) accepts one of
    ``produces``."""
    values = [value.strip() for value in values if value.strip()]
    if not values:
        return True
    offered = [_media_type(media_type) for media_type in produces]
    for value in values:
        if value == "*/*":
            return True
        ranges = _ranges(value)
        if ranges and any(_compatible(o, r) for o in offered if o for r in ranges):
            return True
    return False


def html_request(values: Iterable[str]) -> bool:
    """Keycloak's ``MediaTypeMatcher.isHtmlRequest``: an accepted type, not ``*``, compatible
    with ``text/html`` (``text/html``, ``text/*``; its quality value not looked at), the one
    reading of whether an ``Accept`` asks for a page
    (https://github.com/keycloak/keycloak/blob/1eede321418bfd7cf861655234ff6b89fb1eccb2/services/src/main/java/org/keycloak/utils/MediaTypeMatcher.java)."""
    for value in values:
        for part in value.split(","):
            parsed = _media_type(part)
            if parsed and parsed[0] != "*" and _compatible(parsed, ("text", "html")):
                return True
    return False


def refusal(produces: Iterable[str] = JSON_OR_JWT) -> Response | None:
    """Keycloak's 406 for this request's ``Accept``, or ``None`` when it accepts one of
    ``produces``. Called first by the endpoint, as RESTEasy checks before the resource method
    runs."""
    values = request.headers.getlist("Accept")
    if acceptable(values, produces):
        return None
    if html_request(values):
        # KeycloakErrorHandler's error page (a 406 is not a 404: its "internal server error"
        # message), in santeid's own page.
        t = Translator(pick_locale(None))
        return error_page(t, t("error_title"), t("internal_error"), 406)
    body = json.dumps({"error": NOT_ACCEPTABLE})
    return Response(body, status=406, mimetype=JSON)
