"""The request's path as the client sent it, and the paths refused from it before any endpoint
(docs/security.md, "Paths"; docs/reference/keycloak-behaviour.md, "Paths").

A proxy in front may read the target as received (HAProxy's ``path_beg``, Apache without
decoding, a WAF), while santeid's servers hand the application the path percent-decoded and
Werkzeug's routing drops leading slashes: a path one reads as ``/sandbox%2Fapi/…`` or
``//auth/…`` the other serves as ``/sandbox/api/…`` or ``/auth/…``, past the proxy's rule.
So, whatever the method:

* Under Keycloak's root (``/auth``: the realms, and PSC's wallet ``/auth``), as sent or once
  resolved, a path that needs normalising — an empty segment (``…/openid-connect//token``,
  ``//auth/…``), a ``.`` or ``..`` one, a percent-encoded unreserved character
  (``…/%74oken``, RFC 3986 §2.3 and §6.2.2.2) — or holding an encoded separator: 400
  ``missingNormalization`` (:data:`NOT_NORMALIZED`), Keycloak's answer since its 26.4
  releases to all but the encoded separator, which its routing finds no endpoint for (404).
  Werkzeug would redirect an empty segment to the path with its slashes merged, an HTML 308
  no Keycloak client expects.
* Anywhere else, more than one leading slash (``//sandbox/api/…``, which Werkzeug's routing
  serves as ``/sandbox/api/…``; an empty segment further on names nothing there,
  ``santeid.error_formats``), a percent-encoded unreserved character, slash (``%2F``) or
  backslash (``%5C``): 400 in the error format of the API the path is under
  (``santeid.errors``), as Tomcat refuses an encoded slash by default
  (``encodedSolidusHandling="reject"``,
  https://tomcat.apache.org/tomcat-10.1-doc/config/http.html). The one exception: an encoded
  slash inside a route's parameter that may hold slashes (a converter spanning segments:
  ``<path:…>``), the static parts of the route all sent as they are (the control API's
  ``/sandbox/api/professionals/{national_id}``, whose structure staff ids hold a slash that a
  client generated from its OpenAPI document encodes) — a proxy's rule reads those parts as
  santeid routes them.

This needs the target as received: gunicorn's ``RAW_URI``, and the one ``santeid.serving``
sets under Werkzeug's server — a path, or an absolute URL with a host (both servers answer any
other target 400 before the application). Granian's RSGI interface gives none, only the
decoded path: there only what shows once decoded (empty and dot segments) is refused.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import unquote
from urllib.parse import urlsplit

from flask import current_app
from flask import jsonify
from flask import request
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed

#: Keycloak's answer to a path that needs normalising (RFC 3986 §6.2.2.3 dot segments, or a
#: doubled slash): ``RejectNonNormalizedPathFilter``
#: (https://github.com/keycloak/keycloak/blob/main/quarkus/runtime/src/main/java/org/keycloak/quarkus/runtime/services/RejectNonNormalizedPathFilter.java),
#: a filter of every request since the Keycloak 26.4 releases (before, the path was served
#: collapsed).
NOT_NORMALIZED = {
    "error": "missingNormalization",
    "error_description": "Request path not normalized",
}

#: RFC 3986 §2.3: characters a URI never needs to percent-encode.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_SEPARATOR = re.compile(r"%(?:2[Ff]|5[Cc])")
_BACKSLASH = re.compile(r"%5[Cc]")
#: A variable of a Werkzeug rule: ``<name>``, ``<converter:name>``, ``<converter(args):name>``.
_VARIABLE = re.compile(r"<(?:([a-zA-Z_][a-zA-Z0-9_]*)(?:\(.*?\))?:)?[a-zA-Z_][a-zA-Z0-9_]*>")


def keycloak_root(issuer_path: str) -> str | None:
    """Keycloak's root path for an issuer shaped as a Keycloak realm URL
    (``/auth/realms/<name>`` → ``/auth``); ``None`` for any other issuer."""
    parent, _, realm = issuer_path.rpartition("/")
    if not parent.endswith("/realms") or not realm:
        return None
    return parent.rpartition("/")[0] or parent


def sent_path(environ) -> str | None:
    """The path of the request's target as received, still percent-encoded: the server's
    ``RAW_URI`` (``santeid.serving``); ``None`` when the server hands none (Granian)."""
    raw = environ.get("RAW_URI") or ""
    if raw.startswith("/"):
        return re.split("[?#]", raw, maxsplit=1)[0]
    if "://" in raw:  # absolute-form (RFC 9112 §3.2.2)
        return urlsplit(raw).path or "/"
    return None


def _decoded_sent_path(environ) -> str:
    """The path as the client sent it, percent-decoded as ``PATH_INFO`` is. Not Werkzeug's
    ``request.path`` (and routing), which drop leading slashes; nor, behind Werkzeug's server,
    ``PATH_INFO``, built after ``http.server`` reduced the leading slashes to one."""
    raw = sent_path(environ)
    if raw is not None:
        return unquote(raw, encoding="latin-1")
    return environ.get("PATH_INFO") or "/"


def _normalized(path: str) -> str:
    """``path`` with its empty, ``.`` and ``..`` segments resolved (a trailing slash kept)."""
    resolved = "/" + posixpath.normpath(path).lstrip("/")
    return resolved + "/" if path.endswith("/") and resolved != "/" else resolved


def _encodes_unreserved(raw: str) -> bool:
    return any(int(hex_, 16) in _UNRESERVED for hex_ in _ESCAPE.findall(raw))


def _matched_rule():
    """The rule the request's path matched, for its method or (405) another one."""
    if request.url_rule is not None:
        return request.url_rule
    routing = request.routing_exception
    if isinstance(routing, MethodNotAllowed) and routing.valid_methods:
        adapter = current_app.url_map.bind_to_environ(request.environ)
        try:
            return adapter.match(method=sorted(routing.valid_methods)[0], return_rule=True)[0]
        except HTTPException:
            return None
    return None


def _slash_inside_path_parameter(raw: str) -> bool:
    """Whether every encoded slash of ``raw`` is inside a parameter of the rule the request
    matched whose converter spans segments (``<path:…>``, the control API's national id), the
    rule's static parts sent as they are."""
    rule = _matched_rule()
    if rule is None or _BACKSLASH.search(raw):
        return False
    pattern, end = [], 0
    for variable in _VARIABLE.finditer(rule.rule):
        pattern.append(re.escape(rule.rule[end : variable.start()]))
        # A parameter whose converter spans segments may hold slashes, encoded or not; any
        # other, neither.
        converter = current_app.url_map.converters.get(variable.group(1) or "default")
        spans = converter is not None and not converter.part_isolating
        pattern.append(".+?" if spans else r"(?:(?!%2[Ff])[^/])+")
        end = variable.end()
    pattern.append(re.escape(rule.rule[end:]))
    return re.fullmatch("".join(pattern), raw) is not None


def refuse_unsafe_path(root: str | None):
    """A ``before_request`` hook refusing what the module docstring lists; ``root`` is
    Keycloak's (:func:`keycloak_root`), or ``None`` when the issuer is not a realm URL."""

    def under_root(path: str) -> bool:
        return root is not None and (path == root or path.startswith(root + "/"))

    def refuse():
        path = _decoded_sent_path(request.environ)
        raw = sent_path(request.environ) or ""
        unreserved = "%" in raw and _encodes_unreserved(raw)
        separator = "%" in raw and _SEPARATOR.search(raw) is not None
        unnormal = ("//" in path or "/." in path) and _normalized(path) != path
        if not (unreserved or separator or unnormal):
            return None
        if under_root(path) or under_root(_normalized(path)):
            return jsonify(NOT_NORMALIZED), 400
        if path.startswith("//"):
            raise BadRequest("The path begins with more than one slash.")
        if unreserved:
            raise BadRequest("A character of the path is percent-encoded where it never is.")
        if separator and not _slash_inside_path_parameter(raw):
            raise BadRequest("The path holds a percent-encoded slash or backslash.")
        return None

    return refuse


def init_app(app) -> None:
    settings = app.extensions["santeid"].settings
    app.before_request(refuse_unsafe_path(keycloak_root(settings.issuer_path)))
