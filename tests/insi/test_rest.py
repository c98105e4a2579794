"""REST adapter: routes, OpenAPI 3.1 document, problem details, authentication."""

from __future__ import annotations

import datetime
from urllib.parse import quote

import pytest
from jsonschema import Draft202012Validator
from jsonschema import FormatChecker
from openapi_spec_validator import validate as validate_spec
from referencing import Registry
from referencing import Resource
from referencing.jsonschema import DRAFT202012

from santeid import create_app
from santeid.insi.auth import insi_test_authority
from santeid.pki import TestAuthority
from santeid.pki import certificate_pem
from santeid.pki import issue_certificate
from santeid.pki import subject_name
from santeid.settings import Settings
from santeid.storage import MemoryStore
from tests.support.oidc_flow import CLIENT_SECRET
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import register_client
from tests.support.servers import CERT_HEADER
from tests.support.servers import behind_proxy

SEARCH = "/insi/v1/ins/search-by-traits"
VITALE = "/insi/v1/ins/search-by-vitale"
VERIFY = "/insi/v1/ins/verify"
ADRTROIS = {"birthName": "ADRTROIS", "givenNames": ["DOMINIQUE"], "sex": "F",
            "birthDate": "1997-02-26"}  # fmt: skip


@pytest.fixture
def openapi(client) -> dict:
    response = client.get("/insi/openapi.json")
    assert response.status_code == 200
    return response.get_json()


@pytest.fixture
def schema(openapi):
    """``schema(name)(instance)``: validate against ``#/components/schemas/{name}``."""
    registry = Registry().with_resource(
        "urn:santeid:insi-openapi", Resource.from_contents(openapi, DRAFT202012)
    )

    def check(name: str, instance) -> None:
        validator = Draft202012Validator(
            {"$ref": f"urn:santeid:insi-openapi#/components/schemas/{name}"},
            registry=registry,
            format_checker=FormatChecker(),
        )
        validator.validate(instance)

    return check


@pytest.fixture
def call(client, bearer, schema):
    """POST a body validated as ``request``; validate the answer as ``response`` or Problem."""

    def post(path: str, body: dict, request: str, response: str, headers=None):
        schema(request, body)
        answer = client.post(path, json=body, headers=bearer if headers is None else headers)
        if answer.status_code == 200:
            assert answer.mimetype == "application/json"
            schema(response, answer.get_json())
        else:
            assert answer.mimetype == "application/problem+json"
            schema("Problem", answer.get_json())
        assert answer.headers["Cache-Control"] == "no-store"
        return answer

    return post


def test_openapi_document_is_valid_openapi_3_1(openapi):
    validate_spec(openapi)
    assert openapi["openapi"] == "3.1.0"
    assert set(openapi["paths"]) == {SEARCH, VITALE, VERIFY, "/insi/v1/stats"}
    assert openapi["servers"] == [{"url": "http://localhost"}]


def test_openapi_servers_follow_the_origin_served_from_never_the_host(client):
    # Plain HTTP: the configured issuer's origin, whatever Host the request carried.
    forged = client.get("/insi/openapi.json", base_url="http://forged.example.org")
    assert forged.get_json()["servers"] == [{"url": "http://localhost"}]
    # Received over santeid's own TLS listener (make run's second port): https on that port.
    secure = client.get("/insi/openapi.json", base_url="https://localhost:5443")
    assert secure.get_json()["servers"] == [{"url": "https://localhost:5443"}]


def test_openapi_declares_every_status_the_api_returns(client, openapi, bearer):
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            declared = set(operation["responses"])
            assert {"200", "400", "401", "403", "405", "500", "503"} <= declared, (path, method)
            other = "get" if method == "post" else "post"
            answer = client.open(path, method=other.upper(), headers=bearer)
            assert str(answer.status_code) in declared
            assert answer.status_code == 405
            assert method.upper() in answer.headers["Allow"]


def test_search_by_traits(call):
    answer = call(SEARCH, ADRTROIS, "TraitsSearch", "SearchResult").get_json()
    assert answer["cr"] == "00" and answer["label"] == "OK"
    assert answer["identity"]["ins"] == {
        "matricule": "297022A020778", "key": "78", "value": "297022A02077878",
        "oid": "1.2.250.1.213.1.4.8", "kind": "NIR",
    }  # fmt: skip
    assert answer["identity"]["givenNames"] == ["DOMINIQUE"]
    assert answer["identity"]["birthplace"] == "2A020"


@pytest.mark.parametrize("birthplace", ["", "   ", None])
def test_a_birthplace_not_given_is_one_the_document_accepts(call, birthplace):
    """docs/insi-rest.md: a search's ``birthplace`` ``null``, empty or blank is "not given" —
    the document's schema refused the empty and blank strings the server answers, so a client
    generated from it could not send them."""
    answer = call(SEARCH, {**ADRTROIS, "birthplace": birthplace}, "TraitsSearch", "SearchResult")
    assert answer.status_code == 200
    assert answer.get_json()["cr"] == "00"


def test_results_01_and_02_are_answers(call):
    body = {**ADRTROIS, "birthName": "HOUILLES", "givenNames": ["PIERRE"], "sex": "M",
            "birthDate": "1993-01-27"}  # fmt: skip
    answer = call(SEARCH, body, "TraitsSearch", "SearchResult")
    assert answer.status_code == 200
    assert answer.get_json() == {"cr": "01", "label": "Aucune identite trouvee", "identity": None}
    body = {"birthName": "DE VINCI", "givenNames": ["LEONARDO"], "sex": "M",
            "birthDate": "2014-02-01"}  # fmt: skip
    assert call(SEARCH, body, "TraitsSearch", "SearchResult").get_json()["cr"] == "02"
    body["birthplace"] = "69381"
    identity = call(SEARCH, body, "TraitsSearch", "SearchResult").get_json()["identity"]
    assert identity["ins"]["value"] == "114026938115213"


def test_normalisation_at_the_rest_boundary(call):
    body = {"birthName": "Ecetinsi", "givenNames": ["Pierre–Alain", "floriant"], "sex": "m",
            "birthDate": "2009-07-14"}  # fmt: skip
    identity = call(SEARCH, body, "TraitsSearch", "SearchResult").get_json()["identity"]
    assert identity["ins"]["value"] == "109076322083489"
    assert [h["value"] for h in identity["history"]] == ["209076322083439"]
    assert identity["history"][0] == {
        "matricule": "2090763220834", "key": "39", "value": "209076322083439",
        "oid": "1.2.250.1.213.1.4.8", "start": "2019-03-01", "end": "2019-02-28",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("given", "status", "code"),
    [("INDISPONIBLE", 503, "desir_1020"), ("TECHNIQUE", 503, "insi_102"),
     ("ACCES", 403, "DESIR_560")],
)  # fmt: skip
def test_the_sandbox_fault_scenarios_statuses(call, given, status, code):
    """``SANTEID-FAUTE`` in sandbox mode over REST (docs/sandbox.md's table)."""
    body = {"birthName": "SANTEID-FAUTE", "givenNames": [given], "sex": "F",
            "birthDate": "1990-01-01"}  # fmt: skip
    answer = call(SEARCH, body, "TraitsSearch", "SearchResult")
    assert (answer.status_code, answer.get_json()["code"]) == (status, code)


def test_technical_error_case(call):
    body = {"birthName": "D'AEION", "givenNames": ["COEUR"], "sex": "M", "birthDate": "1987-01-25"}
    answer = call(SEARCH, body, "TraitsSearch", "SearchResult")
    assert answer.status_code == 503
    problem = answer.get_json()
    assert problem["code"] == "insi_102"
    assert problem["type"] == "http://localhost/problems/insi_102"


def test_problem_details_name_element_field_and_rule(call, client):
    answer = call(SEARCH, {**ADRTROIS, "birthName": "ADR3"}, "TraitsSearch", "SearchResult")
    assert answer.status_code == 400
    assert answer.get_json() == {
        "type": "http://localhost/problems/santeid_invalid_trait",
        "title": "Invalid identity trait",
        "status": 400,
        "detail": "'ADR3' contains characters INSi refuses: '3'",
        "code": "santeid_invalid_trait",
        "element": "NomNaissance",
        "field": "birthName",
        "rule": "charset",
    }
    # The problem type resolves to its description (RFC 9457 §3.1.1).
    described = client.get("/problems/santeid_invalid_trait").get_json()
    assert described["status"] == 400 and described["title"] == "Invalid identity trait"
    # The former INSi-only URIs, as logged before, still lead there.
    moved = client.get("/insi/problems/santeid_invalid_trait")
    assert (moved.status_code, moved.location) == (308, "/problems/santeid_invalid_trait")
    # Whatever the segment holds (a newline here, found by bench/fuzz.py), a redirect, not a 500.
    odd = client.get("/insi/problems/-%0A_a")
    assert (odd.status_code, odd.location) == (308, "/problems/-%0A_a")
    assert client.get(odd.location).status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "rule", "code"),
    [
        ({**ADRTROIS, "sex": None}, "sex", "required", "santeid_invalid_trait"),
        ({k: v for k, v in ADRTROIS.items() if k != "birthDate"}, "birthDate", "required",
         "santeid_invalid_trait"),
        ({**ADRTROIS, "givenNames": "DOMINIQUE"}, "givenNames", "type", "santeid_invalid_request"),
        ({**ADRTROIS, "sex": 1}, "sex", "type", "santeid_invalid_request"),
        ({**ADRTROIS, "birthname": "X"}, "birthname", "unknown-member", "santeid_invalid_request"),
        ({**ADRTROIS, "birthDate": "26/02/1997"}, "birthDate", "date-format",
         "santeid_invalid_trait"),
        ({**ADRTROIS, "birthplace": "2A02"}, "birthplace", "cog-format", "santeid_invalid_trait"),
    ],
)  # fmt: skip
def test_malformed_requests(client, bearer, body, field, rule, code):
    answer = client.post(SEARCH, json=body, headers=bearer)
    assert answer.status_code == 400
    problem = answer.get_json()
    assert (problem["field"], problem["rule"], problem["code"]) == (field, rule, code)


def test_body_must_be_a_json_object(client, bearer):
    answer = client.post(SEARCH, data="birthName=X", headers=bearer,
                         content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert answer.status_code == 415
    assert answer.get_json()["code"] == "santeid_unsupported_media_type"
    answer = client.post(SEARCH, data="{", headers=bearer, content_type="application/json")
    assert (answer.status_code, answer.get_json()["rule"]) == (400, "json")
    answer = client.post(SEARCH, json=[1], headers=bearer)
    assert (answer.status_code, answer.get_json()["rule"]) == (400, "type")
    # Nested deeper than Python's parser goes: malformed JSON too, never a 500.
    deep = "[" * 100_000 + "]" * 100_000
    answer = client.post(SEARCH, data=deep, headers=bearer, content_type="application/json")
    assert (answer.status_code, answer.get_json()["rule"]) == (400, "json")
    # An integer longer than Python converts: malformed for the caller, with no advice meant
    # for santeid's operator (Python's text names sys.set_int_max_str_digits()).
    long = '{"birthName": "X", "sex": ' + "1" * 5_000 + "}"
    answer = client.post(SEARCH, data=long, headers=bearer, content_type="application/json")
    problem = answer.get_json()
    assert (answer.status_code, problem["rule"]) == (400, "json")
    assert problem["detail"] == "the body is not valid JSON: an integer with more than 4300 digits"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        # Python's json kept the last: a parser that keeps the first reads another person.
        ('{"birthName": "ADRTROIS", "birthName": "DURAND", "givenNames": ["DOMINIQUE"], '
         '"sex": "F", "birthDate": "1997-02-26"}', "birthName"),
        # The same name once escaped (RFC 8259 §7): the same member.
        ('{"birthName": "ADRTROIS", "givenNames": ["DOMINIQUE"], "sex": "F", '
         '"\\u0073ex": "M", "birthDate": "1997-02-26"}', "sex"),
        # Refused although unknown: the duplicate is found while reading the JSON.
        ('{"birthName": "ADRTROIS", "x": 1, "x": 2}', "x"),
    ],
)  # fmt: skip
def test_a_member_twice_is_refused_naming_it(client, bearer, raw, field):
    """RFC 7493 (I-JSON) §2.3: names unique. Two readings of one body (a gateway, an audit log,
    santeid) would otherwise search two different people."""
    answer = client.post(SEARCH, data=raw, headers=bearer, content_type="application/json")
    problem = answer.get_json()
    assert answer.status_code == 400, problem
    assert (problem["field"], problem["rule"], problem["code"]) == (
        field, "duplicate-member", "santeid_invalid_request"
    )  # fmt: skip
    assert f"{field!r} appears more than once" in problem["detail"]


def test_search_by_vitale(call, client, bearer, base_db):
    child = base_db.execute(
        "SELECT * FROM persons WHERE od_id != id ORDER BY id LIMIT 1"
    ).fetchone()
    parent = base_db.execute("SELECT * FROM persons WHERE id = ?", (child["od_id"],)).fetchone()
    body = {"odMatricule": parent["matricule"], "birthName": child["birth_name"],
            "birthDate": child["birth_date"], "birthRank": child["rang"]}  # fmt: skip
    answer = call(VITALE, body, "VitaleSearch", "SearchResult").get_json()
    assert answer["identity"]["ins"]["matricule"] == child["matricule"]
    body["birthRank"] = 0  # outside the schema: sent as is
    answer = client.post(VITALE, json=body, headers=bearer).get_json()
    assert (answer["element"], answer["field"], answer["rule"]) == (
        "RangNaissance", "birthRank", "rank",
    )  # fmt: skip


def test_search_by_vitale_with_null_optional_members(call, base_db):
    # JSON serialisers write an optional member left unset as null (System.Text.Json,
    # Jackson and serde by default): null is that member not given, birthRank's default 1
    # included, as individualMatricule's null is.
    twin_one = base_db.execute(
        "SELECT * FROM persons WHERE od_id != id AND rang = 1 ORDER BY id LIMIT 1"
    ).fetchone()
    parent = base_db.execute("SELECT * FROM persons WHERE id = ?", (twin_one["od_id"],)).fetchone()
    body = {"odMatricule": parent["matricule"], "individualMatricule": None,
            "birthName": twin_one["birth_name"], "birthDate": twin_one["birth_date"],
            "birthRank": None}  # fmt: skip
    answer = call(VITALE, body, "VitaleSearch", "SearchResult")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["identity"]["ins"]["matricule"] == twin_one["matricule"]


def test_verify(call):
    body = {"matricule": "297022A020778", "key": "78", **ADRTROIS, "birthplace": "2A020"}
    answer = call(VERIFY, body, "Verification", "VerifyResult").get_json()
    assert answer["conform"] and answer["differing"] == []
    body.update(sex="M", givenNames=["DOMINIQUE", "ANNE"])
    answer = call(VERIFY, body, "Verification", "VerifyResult").get_json()
    assert answer == {"conform": False, "differing": ["givenNames", "sex"], "identity": None}
    body["matricule"] = "297022A020787"
    body["key"] = "69"
    answer = call(VERIFY, body, "Verification", "VerifyResult").get_json()
    assert answer == {"conform": False, "differing": ["matricule"], "identity": None}


def test_stats_show_the_callers_own_software(client, bearer, schema, app):
    client.post(SEARCH, json=ADRTROIS, headers=bearer)
    client.post(SEARCH, json={**ADRTROIS, "givenNames": ["OLA"]}, headers=bearer)
    # Another software's calls are not shown.
    from santeid.insi.model import TraitsQuery
    from tests.support.insi import SOAP_CTX

    app.extensions["santeid"].insi.search_by_traits(
        TraitsQuery("ADRUN", ("ZOE",), "F", "1975-12-31"), SOAP_CTX
    )
    answer = client.get("/insi/v1/stats", headers=bearer)
    assert answer.status_code == 200
    report = answer.get_json()
    schema("Stats", report)
    assert report["softwareId"] == "service-test"  # the token's azp
    assert report["total"] == 2
    results = report["software"][0]["operations"]["rechercherInsAvecTraitsIdentite"]["results"]
    assert results == {"00": 1, "01": 1}
    month = report["month"]
    assert client.get(f"/insi/v1/stats?month={month}", headers=bearer).get_json() == report
    assert client.get("/insi/v1/stats?month=2020-13", headers=bearer).status_code == 400
    # The same month in digits of another script is no month (it was read as one, with no calls).
    other_digits = month[:4].translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    refused = client.get(f"/insi/v1/stats?month={other_digits}{month[4:]}", headers=bearer)
    assert (refused.status_code, refused.get_json()["rule"]) == (400, "month-format")
    assert client.get("/insi/v1/stats?software=X", headers=bearer).status_code == 400
    assert client.get("/insi/v1/stats").status_code == 401


def test_an_empty_month_is_this_month_as_the_document_says(client, bearer, openapi):
    """``GET /insi/v1/stats?month=`` (an empty value, as a form or a script with an unset
    variable sends it) answers this month's statistics, as no ``month`` does; the document's
    parameter refused the empty value, so a client generated from it could not send it."""
    (parameter,) = openapi["paths"]["/insi/v1/stats"]["get"]["parameters"]
    Draft202012Validator(parameter["schema"]).validate("")
    empty = client.get("/insi/v1/stats?month=", headers=bearer)
    assert empty.status_code == 200
    assert empty.get_json() == client.get("/insi/v1/stats", headers=bearer).get_json()


def test_a_repeated_month_is_refused(client, bearer):
    """``month`` given twice names two months: refused, as a repeated FHIR search parameter is,
    rather than one of them answered without a word."""
    answer = client.get("/insi/v1/stats?month=2026-11&month=2026-10", headers=bearer)
    assert answer.status_code == 400
    problem = answer.get_json()
    assert (problem["code"], problem["field"], problem["rule"]) == (
        "santeid_invalid_request", "month", "repeated",
    )  # fmt: skip
    assert problem["detail"] == "month can be given once"


# -- authentication ---------------------------------------------------------------------------
def test_no_token_is_401_with_a_challenge(client):
    answer = client.post(SEARCH, json=ADRTROIS)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="insi"'
    assert answer.mimetype == "application/problem+json"
    assert answer.get_json()["code"] == "santeid_unauthenticated"


@pytest.mark.parametrize("header", ["Bearer", "Basic dXNlcjpwYXNz", "Bearer not.a.token"])
def test_bad_authorization_is_401(client, header):
    answer = client.post(SEARCH, json=ADRTROIS, headers={"Authorization": header})
    assert answer.status_code == 401
    assert "error=" in answer.headers["WWW-Authenticate"]


def test_a_revoked_token_is_refused(client, token, bearer):
    # The first call caches the signature check; revocation is still read on every call.
    assert client.post(SEARCH, json=ADRTROIS, headers=bearer).status_code == 200
    revoked = client.post(
        f"{OIDC}/revoke",
        data={"token": token, "token_type_hint": "access_token"},
        headers=basic_auth("service-test", CLIENT_SECRET),
    )
    assert revoked.status_code == 200
    answer = client.post(SEARCH, json=ADRTROIS, headers=bearer)
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_an_expired_token_is_refused(clocked_app, clock):
    """Also once its signature check is cached (santeid.insi.auth.VerifiedTokens)."""
    client = clocked_app.test_client()
    token = Flow(clocked_app, client, register_client(clocked_app)).full_login()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.post(SEARCH, json=ADRTROIS, headers=bearer).status_code == 200
    clock.advance(clocked_app.extensions["santeid"].settings.oidc.access_token_lifetime + 1)
    assert client.post(SEARCH, json=ADRTROIS, headers=bearer).status_code == 401


def test_a_sandbox_login_reports_an_auth_mode_psc_sends(app, client, bearer):
    """The sandbox authenticator stands in for e-CPS: its tokens say MOBILE, which INSi
    accepts as it accepts any e-CPS login (santeid.psc.proofs)."""
    token = bearer["Authorization"].split(" ", 1)[1]
    claims = app.extensions["santeid"].tokens.verify_access_token(token)
    assert claims["authMode"] == "MOBILE"
    assert client.post(SEARCH, json=ADRTROIS, headers=bearer).status_code == 200


def test_a_service_account_token_is_desir_560_saying_why(app, client):
    """A client_credentials token has no authMode (nobody logged in): 403 DESIR_560, saying so
    rather than "authMode None" (docs/insi-overview.md, "Who may call")."""
    register_client(app, client_id="insi-batch", grant_types=["client_credentials"])
    issued = client.post(
        f"{OIDC}/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth("insi-batch", CLIENT_SECRET),
    )
    assert issued.status_code == 200, issued.get_data(as_text=True)
    bearer = {"Authorization": f"Bearer {issued.get_json()['access_token']}"}
    answer = client.post(SEARCH, json=ADRTROIS, headers=bearer)
    assert answer.status_code == 403
    problem = answer.get_json()
    assert problem["code"] == "DESIR_560"
    assert "None" not in problem["detail"]
    assert problem["detail"].startswith("un jeton de compte de service n'ouvre pas l'accès à INSi")


def test_missing_base_is_503(settings, app, bearer):
    broken = create_app(
        settings.replace(insi_base=settings.data_dir + "/absent.sqlite3"),
        store=app.extensions["santeid"].store,
    )
    answer = broken.test_client().post(SEARCH, json=ADRTROIS, headers=bearer)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"]
    problem = answer.get_json()
    assert problem["code"] == "desir_1020"
    assert "santeid civil generate" in problem["detail"]


# -- routing errors are problem details too ---------------------------------------------------
def test_unknown_paths_and_methods(client, bearer):
    answer = client.get("/insi/v1/nothing")
    assert (answer.status_code, answer.mimetype) == (404, "application/problem+json")
    answer = client.get(SEARCH, headers=bearer)
    assert (answer.status_code, answer.mimetype) == (405, "application/problem+json")
    assert answer.headers["Allow"] == "POST, OPTIONS"
    assert client.get("/problems/nothing").status_code == 404


def test_oversized_body_is_a_problem(client, bearer):
    answer = client.post(SEARCH, data="x" * 300_000, headers=bearer,
                         content_type="application/json")  # fmt: skip
    assert (answer.status_code, answer.mimetype) == (413, "application/problem+json")


# -- certificate authentication (santeid.tls via a trusted proxy header) -------------------------
def _certificate(authority: TestAuthority, cn: str = "INSI-AUTO", **kwargs) -> str:
    cert, _ = issue_certificate(
        authority,
        subject=subject_name(
            common_name=cn, country="FR", organization="CH TEST", organizational_unit="10B0152872"
        ),  # fmt: skip
        key_type="ec-p256",
        **kwargs,
    )
    return quote(certificate_pem(cert).decode())


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> TestAuthority:
    """One test INSi CA for the module (creating an RSA-3072 authority takes a while)."""
    keys = tmp_path_factory.mktemp("insi-ca")
    return insi_test_authority(Settings(keys_dir=str(keys)))


@pytest.fixture
def proxied(settings, authority):
    """An app behind a TLS-terminating proxy that forwards the client certificate."""
    configured = behind_proxy(settings, insi_ca_file=str(authority.cert_path))
    return create_app(configured, store=MemoryStore()), authority


def test_an_insi_auto_certificate_authenticates(proxied):
    app, authority = proxied
    client = app.test_client()
    answer = client.post(SEARCH, json=ADRTROIS,
                         headers={CERT_HEADER: _certificate(authority)})  # fmt: skip
    assert answer.status_code == 200
    row = app.extensions["santeid"].insi.audit.rows()[0]
    assert (row["software_id"], row["structure_id"], row["auth_method"], row["channel"]) == (
        "10B0152872", "10B0152872", "certificate", "rest",
    )  # fmt: skip
    manu = _certificate(authority, "INSI-MANU")
    assert client.post(SEARCH, json=ADRTROIS, headers={CERT_HEADER: manu}).status_code == 200


@pytest.mark.parametrize("cn", ["INSI-AUTRE", "insi-auto", "810000000004"])
def test_other_certificate_names_are_refused(proxied, cn):
    app, authority = proxied
    answer = app.test_client().post(
        SEARCH, json=ADRTROIS, headers={CERT_HEADER: _certificate(authority, cn)}
    )
    assert answer.status_code == 403
    assert answer.get_json()["code"] == "DESIR_560"


def test_a_certificate_of_another_authority_is_refused(proxied, tmp_path):
    app, _ = proxied
    stranger = TestAuthority.load_or_create(tmp_path / "other", "other", common_name="OTHER CA")
    answer = app.test_client().post(
        SEARCH, json=ADRTROIS, headers={CERT_HEADER: _certificate(stranger)}
    )
    assert answer.status_code == 403


def test_an_expired_certificate_is_refused(proxied):
    app, authority = proxied
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=30)
    pem = _certificate(authority, not_before=past, not_after=past + datetime.timedelta(days=1))
    answer = app.test_client().post(SEARCH, json=ADRTROIS, headers={CERT_HEADER: pem})
    assert answer.status_code == 403
