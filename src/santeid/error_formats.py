"""Which format each part of santeid answers its errors in, declared once where the part's
blueprint is made, and read by the one error handler (``santeid.errors``).

Formats:

- ``json-oauth`` — ``{"error", "error_description"}``, the OAuth 2.0 error object
  (RFC 6749 §5.2) Keycloak also uses for its other JSON endpoints. Errors the endpoints decide
  themselves stay Authlib's responses; this format is for what escapes them (an unknown path,
  a wrong method, an oversized parameter, an outage, a bug).
- ``problem+json`` — RFC 9457 problem details (the catalogue: ``santeid.problems``).
- ``fhir`` — a FHIR ``OperationOutcome`` (``santeid.fhir``).
- ``soap`` — a SOAP 1.2 fault (``santeid.insi.soap.faults``).
- ``html`` — the error page, for people (the default).

Under Keycloak's root path (``/auth``, :func:`santeid.raw_paths.keycloak_root`), what escapes
an endpoint declared ``json-oauth`` or ``html`` — an unknown path or realm, a wrong method, an
oversized parameter, an outage, a bug — is answered as Keycloak's ``KeycloakErrorHandler``
answers it, by the request's ``Accept`` rather than by the endpoint: the error page to a
request that accepts HTML (``MediaTypeMatcher.isHtmlRequest``, a browser), the JSON error
object to any other (curl, an OIDC library), whichever endpoint the path names
(docs/reference/keycloak-behaviour.md, "Error pages: ``UncaughtErrorPageTest``, method by
method"). A refusal an endpoint writes itself keeps its own form.

A declaration names a blueprint (or a few endpoints of a blueprint that also serves pages),
a ``render`` function turning any exception into that API's error response (``None``: the
application's own rendering of ``json-oauth`` or ``html``), and the URL prefixes the API owns,
so that a 404 under them (no endpoint matched) is answered in its format too. A 405 is
answered in the format of the endpoint that owns the URL.

Werkzeug merges a path's repeated slashes when matching it (``merge_slashes``): a path with an
empty segment is redirected to the merged path (an HTML 308) or refused with the merged path's
405, whose owner is found on the merged path. Under the prefixes of the problem+json and FHIR
APIs (:data:`NO_MERGED_SLASHES`), or merged into one of their URLs, such a path —
``$API/requests//deny`` when a script's variable is empty — names nothing: it is a 404 in the
API's format (:func:`refuse_empty_segment`), never a redirect to another resource.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING

from flask import Response
from flask import current_app
from flask import request
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound
from werkzeug.routing import RequestRedirect

if TYPE_CHECKING:
    from santeid.settings import Settings

JSON_OAUTH = "json-oauth"
PROBLEM_JSON = "problem+json"
FHIR = "fhir"
SOAP = "soap"
HTML = "html"
FORMATS = (JSON_OAUTH, PROBLEM_JSON, FHIR, SOAP, HTML)
#: The APIs under whose prefixes a path with an empty segment is a 404 in their format rather
#: than a redirect to the path with its slashes merged (module docstring).
NO_MERGED_SLASHES = (PROBLEM_JSON, FHIR)

Render = Callable[[Exception], Response]
#: A URL prefix, or a function of the settings giving one (prefixes under the issuer path).
Prefix = str | Callable[["Settings"], str]


@dataclass(frozen=True)
class ErrorFormat:
    name: str
    render: Render | None = None
    prefixes: tuple[Prefix, ...] = field(default=())

    @property
    def is_json(self) -> bool:
        return self.name in (JSON_OAUTH, PROBLEM_JSON, FHIR)


DEFAULT = ErrorFormat(HTML)
_by_blueprint: dict[str, ErrorFormat] = {}
_by_endpoint: dict[str, ErrorFormat] = {}


def declare(
    blueprint,
    name: str,
    *,
    render: Render | None = None,
    prefixes: Iterable[Prefix] = (),
    endpoints: Iterable[str] | None = None,
) -> ErrorFormat:
    """Declare that ``blueprint`` (a Blueprint or its name) answers errors in format ``name``.

    ``endpoints``: only these endpoint names (full names, ``"oidc.token"``) of a blueprint
    that also serves pages; or endpoints of no blueprint (``"health"``) with ``blueprint=None``.
    """
    if name not in FORMATS:
        raise ValueError(f"unknown error format {name!r}")
    fmt = ErrorFormat(name, render, tuple(prefixes))
    if endpoints is not None:
        for endpoint in endpoints:
            _by_endpoint[endpoint] = fmt
    else:
        blueprint_name = blueprint if isinstance(blueprint, str) else blueprint.name
        _by_blueprint[blueprint_name] = fmt
    if blueprint is not None and not isinstance(blueprint, str):
        blueprint.error_format = name
    return fmt


def for_endpoint(endpoint: str | None) -> ErrorFormat:
    """The error format of ``endpoint`` (``"blueprint.view"`` or an application view)."""
    if not endpoint:
        return DEFAULT
    if endpoint in _by_endpoint:
        return _by_endpoint[endpoint]
    blueprint, dot, _ = endpoint.rpartition(".")
    if dot and blueprint in _by_blueprint:
        return _by_blueprint[blueprint]
    from santeid.security import API_ENDPOINTS  # names added the older way: JSON errors

    if endpoint in API_ENDPOINTS:
        return _LEGACY_JSON
    return DEFAULT


_LEGACY_JSON = ErrorFormat(JSON_OAUTH)


def _merged(path: str) -> str:
    """``path`` with its repeated slashes merged, as Werkzeug matches it (``merge_slashes``)."""
    return re.sub("/{2,}", "/", path)


def _owner(methods: Iterable[str]) -> str | None:
    """The endpoint whose URL was asked, with the first of ``methods`` it answers: a wrong
    method's (405), or the merged path's (a redirect to it). The URL as the routing matched it,
    its slashes merged (else its match would be that redirect, not the endpoint)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    for method in methods:
        try:
            endpoint, _ = adapter.match(_merged(request.path), method=method)
        except Exception:  # noqa: S112 - any routing answer: try the next method
            continue
        return endpoint
    return None


def for_request() -> ErrorFormat:
    """The error format of the request being served: its endpoint's (or its URL's owner's),
    chosen by ``Accept`` under Keycloak's root path (module docstring)."""
    fmt = _declared_for_request()
    if fmt.render is None and fmt.name in (JSON_OAUTH, HTML) and _under_keycloak_root():
        from santeid.oidc.media_types import html_request

        return DEFAULT if html_request(request.headers.getlist("Accept")) else _LEGACY_JSON
    return fmt


def _under_keycloak_root() -> bool:
    from santeid.raw_paths import keycloak_root
    from santeid.services import services

    root = keycloak_root(services().settings.issuer_path)
    return root is not None and (request.path == root or request.path.startswith(root + "/"))


def _declared_for_request() -> ErrorFormat:
    """The format the request's endpoint declared, or, with none matched, the format of the
    API owning its URL."""
    if request.endpoint is not None:
        return for_endpoint(request.endpoint)
    routing = request.routing_exception
    if isinstance(routing, MethodNotAllowed):
        return for_endpoint(_owner(routing.valid_methods or ()))
    if isinstance(routing, RequestRedirect):
        owner = _owner((request.method,))
        if owner is not None:
            return for_endpoint(owner)
    from santeid.services import services

    settings = services().settings
    # The path as the routing read it: ``/ecps//device/x`` is under ``/ecps/device``.
    asked = _merged(request.path)
    best, length = DEFAULT, -1
    for fmt in (*_by_blueprint.values(), *_by_endpoint.values()):
        for prefix in fmt.prefixes:
            path = (prefix(settings) if callable(prefix) else prefix).rstrip("/")
            under = asked == path or asked.startswith(path + "/")
            if under and len(path) > length:
                best, length = fmt, len(path)
    return best


def refuse_empty_segment() -> None:
    """``before_request`` hook: a path with an empty segment that no route took as it is,
    under the prefix of an API of :data:`NO_MERGED_SLASHES` or merged into one of its URLs, is
    :class:`~werkzeug.exceptions.NotFound` (answered in the API's format), whatever the
    routing made of its merged path."""
    if request.endpoint is None and "//" in request.path:
        if for_request().name in NO_MERGED_SLASHES:
            raise NotFound()


def declared() -> dict[str, ErrorFormat]:
    """Every declaration, by blueprint name and by endpoint (for tests and docs)."""
    return {**_by_blueprint, **_by_endpoint}
