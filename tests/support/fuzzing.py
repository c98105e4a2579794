"""Malformed and random requests for every endpoint family of santeid (the routes of the
application, taken from its URL map), sent raw over HTTP so that any header can be wrong:
shared by tests/e2e/security/test_malformed_requests.py (short, seeded) and bench/fuzz.py (long)."""

from __future__ import annotations

import base64
import http.client
import json
import re
from urllib.parse import quote
from urllib.parse import urlencode

from hypothesis import strategies as st

#: Parameter names the endpoints read, so that random values reach their parsing code.
PARAMETERS = [
    "client_id", "client_secret", "redirect_uri", "response_type", "scope", "state", "nonce",
    "prompt", "acr_values", "ui_locales", "login_hint", "id_token_hint", "code",
    "code_verifier", "code_challenge", "code_challenge_method", "grant_type", "refresh_token",
    "token", "token_type_hint", "auth_req_id", "binding_message", "request", "tx",
    "national_id", "csrf_token", "wait", "post_logout_redirect_uri", "client_assertion",
    "client_assertion_type", "otp", "pin", "activation_code", "name", "_count", "identifier",
    "family", "given", "birthdate",
]  # fmt: skip

_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="ascii"), max_size=40),
    st.sampled_from(["", "é", "https://é.example/cb", "http://localhost/cb", "openid scope_all",
                     "\x00", "%", "a" * 5000, "-1", "1e309", "NaN", "☃" * 10]),
)  # fmt: skip

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(PARAMETERS) | st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _deeply_nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


_HOSTS = st.one_of(
    st.just(None),  # the right one
    st.sampled_from(["a" * 64 + ".example.org", "idp.example.org", "[::1]", "[::1", "host:port",
                     "xn--a.example", "..", "é.example", " ", "a" * 300]),
)  # fmt: skip

_AUTHORIZATIONS = st.one_of(
    st.none(),
    st.sampled_from(["Basic", "Basic ", "Basic ====", "Bearer", "Bearer ", "Negotiate x", "x"]),
    st.binary(max_size=24).map(lambda raw: "Basic " + base64.b64encode(raw).decode()),
    _TEXT.map(lambda text: "Bearer " + text),
)


def _path(rule: str, draw) -> str:
    def value(match: re.Match) -> str:
        return quote(draw(_TEXT) or "x", safe="")

    return re.sub(r"<(?:[^:>]+:)?[^>]+>", value, rule)


@st.composite
def requests_for(draw, rules: list[tuple[str, list[str]]]):
    """One request: ``(method, path, headers, body)``; ``rules`` are ``(rule, methods)``."""
    rule, methods = draw(st.sampled_from(rules))
    method = draw(st.sampled_from(methods + ["GET", "POST", "PUT", "DELETE"]))
    path = _path(rule, draw)
    query = draw(st.dictionaries(st.sampled_from(PARAMETERS), _TEXT, max_size=5))
    if query:
        path += "?" + urlencode(query)
    headers: dict[str, str | bytes] = {}
    host = draw(_HOSTS)
    if host is not None:
        headers["Host"] = host
    authorization = draw(_AUTHORIZATIONS)
    if authorization is not None:
        # Any bytes but line breaks, which would end the header (http.client refuses them).
        raw = authorization.encode("utf-8").replace(b"\r", b"").replace(b"\n", b"")
        headers["Authorization"] = raw
    kind = draw(st.sampled_from(["none", "form", "json", "nested", "bytes", "xml"]))
    body = b""
    if kind == "form":
        fields = draw(st.dictionaries(st.sampled_from(PARAMETERS), _TEXT, max_size=6))
        body = urlencode(fields).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif kind == "json":
        body = json.dumps(draw(_JSON)).encode()
        headers["Content-Type"] = "application/json"
    elif kind == "nested":
        body = _deeply_nested(draw(st.sampled_from([200, 5000, 100000])))
        headers["Content-Type"] = draw(st.sampled_from(["application/json",
                                                        "application/fhir+json"]))  # fmt: skip
    elif kind == "bytes":
        body = draw(st.binary(max_size=200))
        headers["Content-Type"] = draw(st.sampled_from(["application/json", "text/plain",
                                                        "application/jwt"]))  # fmt: skip
    elif kind == "xml":
        body = (
            b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>'
            + draw(st.binary(max_size=60))
            + b"</soap:Body></soap:Envelope>"
        )  # noqa: E501
        headers["Content-Type"] = "application/soap+xml; charset=utf-8"
    return method, path, headers, body


def send(port: int, method: str, path: str, headers: dict, body: bytes) -> int:
    """The request, as raw as ``http.client`` allows; the status code, where a SOAP 1.2 fault
    answered with 500 counts as the refusal it is (400): INSi sends its faults with HTTP 500,
    and santeid's SOAP endpoint does as the real service does (docs/insi-soap.md)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host="Host" in headers,
                              skip_accept_encoding=True)  # fmt: skip
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        answer = response.read()
        soap = (response.getheader("Content-Type") or "").startswith("application/soap+xml")
        if response.status == 500 and soap and b":Fault>" in answer:
            return 400
        return response.status
    finally:
        connection.close()


def application_rules(app) -> list[tuple[str, list[str]]]:
    """Every route of the application with its methods: the endpoint families."""
    rules = [(rule.rule, sorted(rule.methods - {"HEAD", "OPTIONS"}))
             for rule in app.url_map.iter_rules()]  # fmt: skip
    return sorted(rules)
