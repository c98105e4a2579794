"""Every route answers its errors in the format its API declared (``santeid.error_formats``):
JSON for the JSON APIs (OAuth error object, RFC 9457 problem, FHIR OperationOutcome), SOAP
faults for INSi SOAP, an HTML page for pages — under Keycloak's root path (``/auth``), the page
to a browser and the JSON error object to any other client, whatever the endpoint, as Keycloak's
``KeycloakErrorHandler``. Walks the application's URL map, so a new route is checked without
being listed here."""

from __future__ import annotations

import pytest
from flask import url_for

from santeid import error_formats
from santeid.raw_paths import keycloak_root

MEDIA_TYPES = {
    error_formats.JSON_OAUTH: "application/json",
    error_formats.PROBLEM_JSON: "application/problem+json",
    error_formats.FHIR: "application/fhir+json",
    error_formats.SOAP: "application/soap+xml",
    error_formats.HTML: "text/html",
}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: A browser's ``Accept`` on a navigation (Chromium's).
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
#: Each request of the walks below: without ``Accept`` (the test client, as a script), then as
#: a browser.
ACCEPTS = ({}, {"Accept": BROWSER})


def _value(rule, name: str):
    """A value the argument's converter accepts: one of an ``any(…)``'s items, a number for a
    number, else "x1"."""
    from werkzeug.routing.converters import NumberConverter

    converter = rule._converters[name]
    items = getattr(converter, "items", None)
    if items:
        return sorted(items)[0]
    return 1 if isinstance(converter, NumberConverter) else "x1"


def _routes(app):
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.endpoint == "static":
                continue
            url = url_for(rule.endpoint, **{name: _value(rule, name) for name in rule.arguments})
            methods = [m for m in METHODS if m in rule.methods]
            yield rule, url, methods


def _answered_in(app, url: str, fmt: error_formats.ErrorFormat, headers: dict):
    """The format an error of ``url``, declared ``fmt``, is answered in for a request with
    ``headers``: ``fmt``, but under Keycloak's root path a ``json-oauth`` or ``html`` one is the
    page for a browser and the JSON error object for anyone else."""
    root = keycloak_root(app.extensions["santeid"].settings.issuer_path)
    under_root = root is not None and (url == root or url.startswith(root + "/"))
    if not under_root or fmt.render is not None or fmt.name not in ("json-oauth", "html"):
        return fmt
    browser = headers.get("Accept") == BROWSER
    return error_formats.ErrorFormat(error_formats.HTML if browser else error_formats.JSON_OAUTH)


def _assert_format(response, fmt: error_formats.ErrorFormat, status: int, where: str) -> None:
    assert response.status_code == status, (where, response.get_data(as_text=True)[:300])
    assert response.mimetype == MEDIA_TYPES[fmt.name], (where, response.mimetype)
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and "forced failure" not in body, where
    if fmt.is_json:
        assert response.get_json(), where


def test_every_api_declares_a_known_format(app):
    list(_routes(app))  # every route builds
    declared = {name: fmt.name for name, fmt in error_formats.declared().items()}
    assert declared["ecps_device"] == error_formats.PROBLEM_JSON
    assert declared["insi_rest"] == error_formats.PROBLEM_JSON
    assert declared["insi_fhir"] == declared["fhir_directory"] == error_formats.FHIR
    assert declared["insi_soap"] == error_formats.SOAP
    assert declared["oidc.token"] == error_formats.JSON_OAUTH
    assert set(declared.values()) <= set(error_formats.FORMATS)


def test_a_bug_in_any_view_is_a_500_in_its_format(app, client, caplog):
    def fail(**_):
        raise RuntimeError("forced failure")

    checked = 0
    for rule, url, methods in _routes(app):
        app.view_functions[rule.endpoint] = fail
        fmt = error_formats.for_endpoint(rule.endpoint)
        for headers in ACCEPTS:
            response = client.open(url, method=methods[0], headers=headers)
            answered = _answered_in(app, url, fmt, headers)
            _assert_format(response, answered, 500, f"{methods[0]} {url} ({rule.endpoint})")
            checked += 1
    assert checked > 80


def test_an_oversized_parameter_is_a_400_in_its_format(app, client):
    limit = app.extensions["santeid"].settings.http.max_parameter_length
    for rule, url, methods in _routes(app):
        fmt = error_formats.for_endpoint(rule.endpoint)
        for headers in ACCEPTS:
            response = client.open(
                url, method=methods[0], query_string={"q": "x" * (limit + 1)}, headers=headers
            )
            answered = _answered_in(app, url, fmt, headers)
            _assert_format(response, answered, 400, f"{methods[0]} {url} ({rule.endpoint})")


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "identity, gzip"])
def test_a_body_in_a_content_coding_is_a_415_in_its_format(app, client, coding):
    """santeid decodes no content coding (RFC 9110 §8.4): a compressed body was read as it
    came and answered "malformed XML" or "not valid JSON", which sent the client looking at
    its document. RFC 9110 §15.5.16: 415 for a content coding the server does not accept."""
    import gzip

    body = gzip.compress(b"grant_type=client_credentials")
    checked = 0
    for rule, url, methods in _routes(app):
        if "POST" not in methods:
            continue
        fmt = _answered_in(app, url, error_formats.for_endpoint(rule.endpoint), {})
        response = client.post(
            url,
            data=body,
            headers={"Content-Encoding": coding},
            content_type="application/x-www-form-urlencoded",
        )
        _assert_format(response, fmt, 415, f"POST {url} ({rule.endpoint})")
        assert "Content-Encoding" in response.get_data(as_text=True), url
        # RFC 9110 §12.5.3: the codings accepted, which tells a client that the coding, not
        # the media type, was refused.
        assert response.headers.get("Accept-Encoding") == "identity", url
        checked += 1
    assert checked > 20


def test_a_415_for_a_media_type_names_no_coding(client):
    """RFC 9110 §12.5.3: a 415 "for reasons unrelated to content codings MUST NOT include
    the Accept-Encoding header field"."""
    response = client.post("/insi/soap", data="{}", content_type="application/json")
    assert response.status_code == 415, response.get_data(as_text=True)
    assert "Accept-Encoding" not in response.headers


@pytest.mark.parametrize("coding", ["identity", "IDENTITY", ""])
def test_an_identity_content_coding_is_no_coding(client, coding):
    response = client.post(
        "/auth/realms/esante-wallet/protocol/openid-connect/token",
        data={"grant_type": "client_credentials"},
        headers={"Content-Encoding": coding},
    )
    assert response.status_code == 401  # read as a token request: no client authenticated


def test_a_content_coding_without_a_body_is_no_refusal(client):
    response = client.get(
        "/auth/realms/esante-wallet/.well-known/openid-configuration",
        headers={"Content-Encoding": "gzip"},
    )
    assert response.status_code == 200


def test_a_wrong_method_is_a_405_in_its_format(app, client):
    checked = 0
    for rule, url, methods in _routes(app):
        fmt = error_formats.for_endpoint(rule.endpoint)
        for method in (m for m in METHODS if m not in methods):
            response = client.open(url, method=method)
            if response.status_code != 405:
                continue  # another route answers this method on this URL
            for headers in ACCEPTS:
                response = client.open(url, method=method, headers=headers)
                answered = _answered_in(app, url, fmt, headers)
                _assert_format(response, answered, 405, f"{method} {url} ({rule.endpoint})")
                assert "OPTIONS" in response.headers["Allow"]
                checked += 1
            break
    assert checked > 40


@pytest.mark.parametrize("headers", ACCEPTS, ids=["script", "browser"])
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/ecps/device/nothing", error_formats.PROBLEM_JSON),
        ("/insi/v1/nothing", error_formats.PROBLEM_JSON),
        ("/insi/problems/a/b", error_formats.PROBLEM_JSON),
        ("/problems/a/b", error_formats.PROBLEM_JSON),
        ("/insi/fhir/Nothing", error_formats.FHIR),
        ("/fhir/v1/Nothing", error_formats.FHIR),
        ("/insi/soap/nothing", error_formats.SOAP),
        ("{realm}/protocol/openid-connect/nothing", error_formats.JSON_OAUTH),
        ("{realm}/protocol/openid-connect/ext/ciba/x", error_formats.JSON_OAUTH),
        ("/no-such-page", error_formats.HTML),
        ("{realm}/login-actions/nothing", error_formats.HTML),
        ("/ecps/devicex", error_formats.HTML),
    ],
)
def test_an_unknown_url_is_a_404_in_the_format_of_the_api_owning_it(
    app, client, path, expected, headers
):
    path = path.format(realm=app.extensions["santeid"].settings.issuer_path)
    response = client.get(path, headers=headers)
    answered = _answered_in(app, path, error_formats.ErrorFormat(expected), headers)
    _assert_format(response, answered, 404, path)


#: The APIs whose every answer under their URL prefixes is in their format, double slashes
#: included (docs/endpoints.md, "Errors").
_EMPTY_SEGMENT_FORMATS = (error_formats.PROBLEM_JSON, error_formats.FHIR)


def test_a_path_with_an_empty_segment_is_answered_in_the_apis_format(app, client):
    """Each URL of the problem+json and FHIR APIs with one of its slashes doubled (an empty
    segment, as ``$API/requests//deny`` when a script's variable is empty), asked with each
    method: never Werkzeug's redirect to the merged path (an HTML 308) nor an HTML 405, but a
    refusal in the API's own format."""
    checked = 0
    for rule, url, _ in _routes(app):
        fmt = error_formats.for_endpoint(rule.endpoint)
        if fmt.name not in _EMPTY_SEGMENT_FORMATS:
            continue
        for at in (i for i, char in enumerate(url) if char == "/" and i > 0):
            doubled = url[:at] + "/" + url[at:]
            for method in ("GET", "POST"):
                response = client.open(doubled, method=method)
                where = f"{method} {doubled} ({rule.endpoint})"
                assert 400 <= response.status_code < 500, (where, response.status_code)
                _assert_format(response, fmt, response.status_code, where)
                checked += 1
    assert checked > 100


def test_a_path_with_an_empty_segment_under_keycloaks_paths_is_keycloaks_400(app, client):
    """Keycloak (26.4 and later, ``RejectNonNormalizedPathFilter``) refuses a path that needs
    normalising — a doubled slash — before any endpoint, whatever the method: 400
    ``missingNormalization``. Every URL under ``/auth`` (the realm, its OIDC endpoints and
    login pages, PSC's wallet ``/auth``) with one of its slashes doubled, never a redirect to
    the merged path (docs/reference/keycloak-behaviour.md, "Paths")."""
    root = app.extensions["santeid"].settings.issuer_path.split("/realms/")[0]
    checked = 0
    for _, url, _ in _routes(app):
        if url != root and not url.startswith(root + "/"):
            continue
        # Not the first slash: the test client would read "//auth/…" as a host.
        for at in (i for i, char in enumerate(url) if char == "/" and i > 0):
            doubled = url[:at] + "/" + url[at:]
            for method in ("GET", "POST"):
                response = client.open(doubled, method=method)
                where = f"{method} {doubled}"
                assert response.status_code == 400, (where, response.status_code)
                assert response.get_json() == {
                    "error": "missingNormalization",
                    "error_description": "Request path not normalized",
                }, where
                checked += 1
    assert checked > 100
