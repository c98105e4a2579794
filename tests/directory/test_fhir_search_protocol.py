"""The FHIR directory API's searches as HTTP sees them, asked of a running ``santeid serve`` with
its demo directory (docs/directory.md, "FHIR directory API"): whatever a client writes in a
search, an answer of FHIR R4 (https://hl7.org/fhir/R4/search.html) — a Bundle, or a 4xx
``OperationOutcome`` — never a 500."""

from __future__ import annotations

import pytest
import requests

from santeid.fhir import MAX_SEARCH_VALUES
from tests.support.fhir_formats import ANSWERED_IN_JSON
from tests.support.fhir_formats import NOT_ACCEPTABLE
from tests.support.fhir_formats import case_id

FAUVEL = "810000000001"  # demo: médecin, three activities


@pytest.fixture(scope="module")
def fhir(directory_server, directory_token):
    """``fhir(method, path, query=..., **requests_kwargs)`` under ``/fhir/v1`` with the reader's
    token; ``query`` is sent as written (already encoded)."""

    def call(method: str, path: str, query: str = "", **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {directory_token}", **kwargs.pop("headers", {})}
        url = f"{directory_server.base}/fhir/v1{path}" + (f"?{query}" if query else "")
        return requests.request(method, url, headers=headers, timeout=60, **kwargs)

    return call


def outcome(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == code, body
    return body["issue"][0]


def bundle(response: requests.Response) -> dict:
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["resourceType"], body["type"]) == ("Bundle", "searchset")
    return body


@pytest.mark.parametrize(
    "query",
    [
        "family=%F4%8F%BF%BF",  # U+10FFFF: the last code point, no upper bound
        "name=%F4%8F%BF%BF%F4%8F%BF%BF",
        "given=A%F4%8F%BF%BF",
        "given=A%ED%9F%BF",  # U+D7FF: the next code point, U+D800, is a surrogate
        f"identifier={FAUVEL}&family=%ED%9F%BF",
    ],
)
def test_a_name_of_any_code_point_is_searched(fhir, query):
    assert "entry" not in bundle(fhir("GET", "/Practitioner", query))


def _repeated(name: str, times: int) -> str:
    return "&".join(f"{name}=ZQ" for _ in range(times))


def _alternatives(name: str, times: int) -> str:
    return f"{name}=" + ",".join("ZQ" for _ in range(times))


@pytest.mark.parametrize(
    ("path", "query", "parameter"),
    [
        ("/Practitioner", _alternatives("name", 167), "name"),
        ("/Practitioner", _alternatives("family", 501), "family"),
        ("/Practitioner", _repeated("family", 600), "family"),
        ("/Practitioner", _alternatives("family", MAX_SEARCH_VALUES + 1), "family"),
        # Alternatives and repetitions count together.
        ("/Practitioner", f"{_alternatives('given', 60)}&{_alternatives('given', 41)}", "given"),
        ("/Practitioner", _alternatives("identifier", MAX_SEARCH_VALUES + 1), "identifier"),
        ("/Practitioner", _repeated("qualification-code", MAX_SEARCH_VALUES + 1), "qualification"),
        ("/PractitionerRole", _alternatives("practitioner", MAX_SEARCH_VALUES + 1), "practitioner"),
        ("/PractitionerRole", _repeated("role", MAX_SEARCH_VALUES + 1), "role"),
    ],
)
def test_more_values_than_the_cap_is_too_costly(fhir, path, query, parameter):
    """One cap for every search parameter (docs/directory.md, "Search parameters"): its values,
    comma-separated alternatives over all its repetitions."""
    issue = outcome(fhir("GET", path, query), 400, "too-costly")
    assert parameter in issue["diagnostics"] and str(MAX_SEARCH_VALUES) in issue["diagnostics"]


@pytest.mark.parametrize(
    "query",
    [
        _alternatives("name", MAX_SEARCH_VALUES),
        "&".join(_repeated(name, MAX_SEARCH_VALUES) for name in ("name", "family", "given")),
        "&".join(
            [_alternatives("name", MAX_SEARCH_VALUES)]
            + [_repeated(name, MAX_SEARCH_VALUES) for name in ("family", "given")]
        ),
        "&".join(
            [_alternatives("name", MAX_SEARCH_VALUES), _repeated("qualification-code", 100)]
            + [_repeated(name, MAX_SEARCH_VALUES) for name in ("family", "given")]
        ),
    ],
)
def test_every_parameter_at_the_cap_is_searched(fhir, query):
    """At the cap, every parameter at once, over the whole directory and over the people an
    identifier designates: a Bundle, within SQLite's limits (compound SELECT terms, expression
    depth, variables)."""
    assert "entry" not in bundle(fhir("GET", "/Practitioner", query))
    designated = ",".join([FAUVEL] * MAX_SEARCH_VALUES)
    assert "entry" not in bundle(fhir("GET", "/Practitioner", f"identifier={designated}&{query}"))


@pytest.mark.parametrize(
    ("prefix", "bounds"),
    [
        ("AB", ("AB", "AC")),
        ("A\ud7ff", ("A\ud7ff", "A\ue000")),  # surrogates are no text: skipped
        ("A\U0010ffff", ("A\U0010ffff", "B")),
        ("\U0010ffff\U0010ffff", ("\U0010ffff\U0010ffff", None)),  # no text is after them all
    ],
)
def test_prefix_bounds_hold_every_text_with_the_prefix(prefix, bounds):
    """SQLite compares TEXT by its UTF-8 bytes, which order as the code points do: the upper
    bound is the least text that no longer starts with the prefix."""
    from santeid.directory.search import _prefix_range

    assert _prefix_range(prefix) == bounds
    low, high = bounds
    for text in (prefix, prefix + "\U0010ffff", prefix + "\x00"):
        assert low <= text and (high is None or text < high)
        assert low.encode() <= text.encode() and (high is None or text.encode() < high.encode())


def _links(body: dict) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in body["link"]}


def _ids(body: dict) -> list[str]:
    return [e["resource"]["id"] for e in body.get("entry", []) if e["search"]["mode"] == "match"]


def test_a_search_can_be_posted(fhir, directory_server):
    """``POST [base]/[type]/_search`` with a form body (https://hl7.org/fhir/R4/http.html#search:
    servers that support search SHALL support it); the links are the GET of the search."""
    posted = bundle(fhir("POST", "/Practitioner/_search", data={"identifier": FAUVEL}))
    assert _ids(posted) == [FAUVEL]
    assert (
        _links(posted)["self"]
        == f"{directory_server.base}/fhir/v1/Practitioner?identifier={FAUVEL}"
    )
    roles = bundle(fhir("POST", "/PractitionerRole/_search", data={"practitioner": FAUVEL}))
    assert [r.rsplit("-", 2)[0] for r in _ids(roles)] == [FAUVEL] * 3


def test_a_posted_search_pages_with_get_links(fhir, directory_server):
    first = bundle(fhir("POST", "/Practitioner/_search", data={"active": "true", "_count": "2"}))
    following = _links(first)["next"]
    search = f"{directory_server.base}/fhir/v1/Practitioner?"
    assert following.startswith(search) and "_cursor=" in following
    second = bundle(fhir("GET", "/Practitioner", following.removeprefix(search)))
    assert len(_ids(first)) == len(_ids(second)) == 2
    assert _ids(first)[-1] < _ids(second)[0]


def test_links_name_a_docker_host_the_request_came_by(fhir, directory_server):
    """A ``Host`` with an underscore — Docker's names of containers and services
    (``santeid_app``), by which other containers reach santeid — is the host of the links,
    which Werkzeug 3.1 alone would leave empty (``http:///fhir/v1/…``)."""
    host = f"santeid_app:{directory_server.port}"
    first = bundle(fhir("GET", "/Practitioner", "active=true&_count=2", headers={"Host": host}))
    search = f"http://{host}/fhir/v1/Practitioner?"
    assert _links(first)["self"] == search + "active=true&_count=2"
    assert _links(first)["next"].startswith(search)


@pytest.mark.parametrize(
    ("query", "form", "expected"),
    [
        # In the URL and the body, a parameter is repeated: repetitions AND.
        (f"identifier={FAUVEL}", {"identifier": "810000000002"}, []),
        (f"identifier={FAUVEL}", {"identifier": f"{FAUVEL},810000000002"}, [FAUVEL]),
        ("family=fauvel", {"given": "zzz"}, []),
        ("family=fauvel", {"given": "hel"}, [FAUVEL]),
    ],
)
def test_parameters_of_the_url_and_the_body_combine(fhir, query, form, expected):
    assert _ids(bundle(fhir("POST", "/Practitioner/_search", query, data=form))) == expected


def test_a_search_posted_in_another_media_type_is_refused(fhir):
    response = fhir("POST", "/Practitioner/_search", json={"identifier": FAUVEL})
    outcome(response, 415, "not-supported")
    assert fhir("POST", "/Practitioner", data={"identifier": FAUVEL}).status_code == 405


#: Every endpoint of the directory API: method, path, query, form.
ENDPOINTS = [
    ("GET", "/metadata", "", None),
    ("GET", f"/Practitioner/{FAUVEL}", "", None),
    ("GET", "/Practitioner", f"identifier={FAUVEL}", None),
    ("POST", "/Practitioner/_search", "", {"identifier": FAUVEL}),
    ("GET", f"/PractitionerRole/{FAUVEL}-1-1", "", None),
    ("GET", "/PractitionerRole", f"practitioner={FAUVEL}", None),
    ("POST", "/PractitionerRole/_search", "", {"practitioner": FAUVEL}),
]


def _ask(fhir, endpoint, case) -> requests.Response:
    method, path, query, form = endpoint
    extra, headers = case
    return fhir(method, path, "&".join(filter(None, [query, extra])), data=form, headers=headers)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
@pytest.mark.parametrize("case", ANSWERED_IN_JSON, ids=case_id)
def test_every_json_spelling_is_answered_in_fhir_json(fhir, endpoint, case):
    """One check of the format asked for every FHIR endpoint (``santeid.fhir.check_format``,
    https://hl7.org/fhir/R4/http.html#mime-type)."""
    response = _ask(fhir, endpoint, case)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/fhir+json")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
@pytest.mark.parametrize("case", NOT_ACCEPTABLE, ids=case_id)
def test_another_format_is_not_acceptable(fhir, endpoint, case):
    outcome(_ask(fhir, endpoint, case), 406, "not-supported")


def test_format_in_a_posted_form(fhir):
    form = {"identifier": FAUVEL, "_format": "application/fhir+json"}
    assert _ids(bundle(fhir("POST", "/Practitioner/_search", data=form))) == [FAUVEL]
    form["_format"] = "application/fhir+xml"
    outcome(fhir("POST", "/Practitioner/_search", data=form), 406, "not-supported")


@pytest.mark.parametrize("count_only", ["_count=0", "_summary=count", "_summary=count&_count=3"])
@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/Practitioner", "active=true&_revinclude=PractitionerRole:practitioner"),
        ("/Practitioner", "name=m"),
        ("/PractitionerRole", "role=10&_include=PractitionerRole:practitioner"),
        ("/PractitionerRole", f"practitioner={FAUVEL}"),
    ],
)
def test_a_count_alone_is_the_total_without_entries(
    fhir, directory_server, path, query, count_only
):
    """``_summary=count``, and ``_count=0``, which R4 treats the same: a Bundle with the number
    of matches in ``total``, no entries — includes neither — and no ``next`` link
    (https://hl7.org/fhir/R4/search.html#count, #summary)."""
    counted = bundle(fhir("GET", path, f"{query}&{count_only}"))
    everything = bundle(fhir("GET", path, f"{query}&_total=accurate&_count=2"))
    assert counted["total"] == everything["total"] > 0
    assert "entry" not in counted
    links = _links(counted)
    assert set(links) == {"self"}
    assert ("_count=0" if "_count=0" in count_only else "_summary=count") in links["self"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    posted = bundle(fhir("POST", f"{path}/_search", data=f"{query}&{count_only}", headers=form))
    assert (posted["total"], "entry" in posted) == (counted["total"], False)


def test_a_summary_is_applied_and_said(fhir):
    """``_summary=true`` keeps the summary elements (docs/directory.md), and the links say so;
    the whole resources were answered, the parameter left out of ``self``."""
    body = bundle(fhir("GET", "/Practitioner", f"identifier={FAUVEL}&_summary=true"))
    assert _ids(body) == [FAUVEL] and "_summary=true" in _links(body)["self"]
    assert "qualification" not in body["entry"][0]["resource"]


@pytest.mark.parametrize(
    ("typed", "plain"),
    [
        (f"practitioner:Practitioner={FAUVEL}", f"practitioner={FAUVEL}"),
        (f"practitioner:Practitioner=Practitioner/{FAUVEL}", f"practitioner={FAUVEL}"),
        (
            f"practitioner:Practitioner.identifier=urn:oid:1.2.250.1.71.4.2.1|{FAUVEL}",
            f"practitioner.identifier={FAUVEL}",
        ),
        (
            "practitioner:Practitioner.identifier=http://rpps.fr|10000000001&role=10",
            f"practitioner={FAUVEL}&role=10",
        ),
    ],
)
def test_a_reference_may_name_its_type(fhir, typed, plain):
    """``practitioner:Practitioner`` is ``practitioner`` with the type it references named
    (https://hl7.org/fhir/R4/search.html#reference), also in a chain
    (``subject:Patient.name``, https://hl7.org/fhir/R4/search.html#chaining): fhirpy writes
    ``practitioner__Practitioner__identifier`` so."""
    answered = _ids(bundle(fhir("GET", "/PractitionerRole", typed)))
    assert answered == _ids(bundle(fhir("GET", "/PractitionerRole", plain)))
    assert answered and all(i.startswith(f"{FAUVEL}-") for i in answered)


@pytest.mark.parametrize(
    "query",
    [
        f"practitioner=Organization/{FAUVEL}",
        f"practitioner:Practitioner=Organization/{FAUVEL}",
        f"practitioner=Location/{FAUVEL},Organization/810000000002",
    ],
)
def test_a_reference_to_another_type_is_no_practitioner(fhir, query):
    """``practitioner`` takes ``<id>`` or ``Practitioner/<id>`` (docs/directory.md); a reference
    to another type (https://hl7.org/fhir/R4/search.html#reference: ``[type]/[id]``) is no
    role's practitioner, whatever its id: no match."""
    assert _ids(bundle(fhir("GET", "/PractitionerRole", query))) == []


@pytest.mark.parametrize(
    "query",
    [
        f"practitioner:Organization={FAUVEL}",
        f"practitioner:Organization.identifier={FAUVEL}",
        "practitioner:Practitioner.name=FAUVEL",
        "practitioner:missing=false&role=10",
    ],
)
def test_another_reference_modifier_is_refused(fhir, query):
    outcome(fhir("GET", "/PractitionerRole", query), 400, "not-supported")


@pytest.mark.parametrize(
    "query",
    [
        f"practitioner={FAUVEL}",
        f"practitioner={FAUVEL}&_include=PractitionerRole:practitioner",
        f"practitioner={FAUVEL},810000000012,810000000002",
        "role=10",
        "role=10&_total=accurate",
    ],
)
@pytest.mark.parametrize("count", [1, 2])
def test_a_role_page_holds_at_most_count_roles(fhir, directory_server, query, count):
    """ "Servers SHALL NOT return more resources than requested"
    (https://hl7.org/fhir/R4/search.html#count): a practitioner's roles continue on the next
    page, whose cursor is the last role shown; the pages together hold every role once."""
    search = f"{directory_server.base}/fhir/v1/PractitionerRole?"
    page = bundle(fhir("GET", "/PractitionerRole", f"{query}&_count={count}"))
    seen: list[str] = []
    while True:
        assert 0 < len(_ids(page)) <= count
        seen += _ids(page)
        following = _links(page).get("next")
        if following is None:
            break
        assert following.startswith(search)
        page = bundle(fhir("GET", "/PractitionerRole", following.removeprefix(search)))
    everything = bundle(fhir("GET", "/PractitionerRole", f"{query}&_count=500"))
    assert seen == _ids(everything)
    assert len(seen) > count
