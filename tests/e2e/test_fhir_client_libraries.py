"""santeid's two FHIR R4 APIs — the professionals directory (``/fhir/v1``, docs/directory.md) and
INSi over FHIR (``/insi/fhir``, docs/insi-fhir.md) — driven by real FHIR client libraries
against a real ``santeid serve``, exactly as their documentation tells an integrator: fhirpy's
sync and async clients (``resources(...).search(...)``, chained searches, includes, paging
through the Bundle's ``next`` links with ``fetch_all``/``limit``, ``count``, ``first``,
``get``) and SMART on FHIR's ``fhirclient``, whose R4 models refuse any element R4 does not
define (``FHIRValidationError``). What each library sends as ``Accept`` is what it always
sends: fhirpy and fhirclient ask for ``application/fhir+json``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC
from datetime import date
from datetime import datetime

import pytest
import requests
from fhirclient import client as smart_client
from fhirclient.models.bundle import Bundle
from fhirclient.models.operationoutcome import OperationOutcome as SmartOutcome
from fhirclient.models.patient import Patient
from fhirclient.models.practitioner import Practitioner
from fhirclient.models.practitionerrole import PractitionerRole
from fhirclient.server import FHIRNotFoundException
from fhirclient.server import FHIRUnauthorizedException
from fhirpy import AsyncFHIRClient
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import AuthorizationError
from fhirpy.base.exceptions import MultipleResourcesFound
from fhirpy.base.exceptions import OperationOutcome
from fhirpy.base.exceptions import ResourceNotFound

from santeid.testing import REDIRECT_URI
from santeid.testing import SandboxServer
from tests.directory.conftest import DIRECTORY_READER
from tests.support import http_login
from tests.support.servers import SanteidProcess
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

pytestmark = pytest.mark.server

#: The service whose professional logs in and searches INSi with the access token it gets.
LOGIN_CLIENT = {
    "client_id": "insi-consumer",
    "client_secret": "insi-consumer-secret-0123456789abcdef",
    "redirect_uris": [REDIRECT_URI],
    "grant_types": ["authorization_code"],
    "token_endpoint_auth_method": "client_secret_basic",
}
#: One of INSi's published test identities, in every generated civil-status base.
ZOE = {"family": "ADRUN", "given": "ZOE", "gender": "female", "birthdate": "1975-12-31"}
#: Two persons of the demo directory: one with two exercices (two roles), one structure staff
#: member whose resource id writes the ``/`` of the national id as ``-``.
TWO_EXERCICES = "810000000012"
STAFF = "30B6900011-ADM0107"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[SanteidProcess]:
    """``santeid serve --sandbox``: the demo directory, a civil-status base, the directory
    reader (``client_credentials``), a service its professionals log in to, and an HTTPS port
    that asks for client certificates (INSi establishment certificates)."""
    home = tmp_path_factory.mktemp("fhir-clients")
    prepared = santeid_home(home)
    prepared.cli("civil", "generate", "--persons", "200", "--seed", "1")
    tls, ca = prepared.dev_tls()
    with santeid_process(
        home,
        args=["--sandbox", *tls],
        tls_port=True,
        ca=ca,
        clients=[DIRECTORY_READER, LOGIN_CLIENT],
    ) as running:
        yield running


@pytest.fixture(scope="module")
def service_token(server: SanteidProcess) -> str:
    """A ``client_credentials`` token of the directory reader (docs/directory.md, Access)."""
    reader = DIRECTORY_READER
    return http_login.service_token(server.oidc, reader["client_id"], reader["client_secret"])


@pytest.fixture(scope="module")
def professional_token(server: SanteidProcess) -> str:
    """The access token of a professional logged in through the login pages (sandbox)."""
    sandbox = SandboxServer(
        base_url=server.base,
        https_url="",
        data_dir=server.home / "var",
        env=server.env,
        client=LOGIN_CLIENT,
    )
    return sandbox.login("810000000030")["access_token"]


@pytest.fixture(scope="module")
def directory(server: SanteidProcess, service_token: str) -> SyncFHIRClient:
    return SyncFHIRClient(f"{server.base}/fhir/v1", authorization=f"Bearer {service_token}")


@pytest.fixture(scope="module")
def insi(server: SanteidProcess, professional_token: str) -> SyncFHIRClient:
    return SyncFHIRClient(f"{server.base}/insi/fhir", authorization=f"Bearer {professional_token}")


def smart(base: str, token: str) -> smart_client.FHIRClient:
    """SMART on FHIR's client on ``base``, its session sending the Bearer token."""
    fhir = smart_client.FHIRClient(settings={"app_id": "santeid-tests", "api_base": base})
    fhir.server.session.headers["Authorization"] = f"Bearer {token}"
    return fhir


def accurate_total(client: SyncFHIRClient, resource_type: str, **params) -> int:
    return client.resources(resource_type).search(_total="accurate", **params).fetch_raw().total


# -- the directory, fhirpy --------------------------------------------------------------------
def test_read_by_id(directory: SyncFHIRClient) -> None:
    practitioner = directory.get("Practitioner", TWO_EXERCICES)
    assert practitioner["resourceType"] == "Practitioner"
    assert practitioner["id"] == TWO_EXERCICES
    assert directory.reference("Practitioner", STAFF).to_resource()["id"] == STAFF
    role = directory.reference("PractitionerRole", f"{TWO_EXERCICES}-1-1").to_resource()
    assert role["practitioner"].to_resource()["id"] == TWO_EXERCICES
    with pytest.raises(ResourceNotFound):
        directory.get("Practitioner", "810000009999")


def test_paging_through_next_links_finds_every_match_once(directory: SyncFHIRClient) -> None:
    everyone = directory.resources("Practitioner").search(active=True).limit(500).fetch()
    total = accurate_total(directory, "Practitioner", active=True)
    assert len(everyone) == total > 10
    paged = directory.resources("Practitioner").search(active=True).limit(3).fetch_all()
    assert [p.id for p in paged] == [p.id for p in everyone]
    roles = directory.resources("PractitionerRole").search(role="10").limit(2).fetch_all()
    assert (
        len({r.id for r in roles})
        == len(roles)
        == accurate_total(directory, "PractitionerRole", role="10")
    )
    # No page holds more than asked, a practitioner's roles included (three here).
    of_one = directory.resources("PractitionerRole").search(practitioner="810000000001")
    assert len(of_one.limit(2).fetch()) == 2
    assert len(of_one.limit(1).fetch_all()) == 3


def test_async_client_pages_the_same(server: SanteidProcess, service_token: str) -> None:
    async def walk() -> tuple[list[str], list[str]]:
        client = AsyncFHIRClient(f"{server.base}/fhir/v1", authorization=f"Bearer {service_token}")
        searchset = client.resources("Practitioner").search(name="m")
        paged = [p.id async for p in searchset.limit(4)]
        whole = [p.id for p in await searchset.limit(500).fetch()]
        return paged, whole

    paged, whole = asyncio.run(walk())
    assert paged == whole
    assert STAFF in paged


def test_chained_search_and_includes(directory: SyncFHIRClient) -> None:
    roles = directory.resources("PractitionerRole")
    chained = roles.search(practitioner__identifier=f"urn:oid:1.2.250.1.71.4.2.1|{TWO_EXERCICES}")
    assert sorted(r.id for r in chained.fetch_all()) == [
        f"{TWO_EXERCICES}-1-1",
        f"{TWO_EXERCICES}-2-1",
    ]
    typed = roles.search(
        practitioner__Practitioner__identifier=f"http://rpps.fr|1{TWO_EXERCICES[2:]}"
    )
    assert sorted(r.id for r in typed.fetch_all()) == [
        f"{TWO_EXERCICES}-1-1",
        f"{TWO_EXERCICES}-2-1",
    ]
    by_reference = roles.search(practitioner=directory.reference("Practitioner", TWO_EXERCICES))
    assert len(by_reference.fetch()) == 2

    bundle = (
        roles.search(practitioner=TWO_EXERCICES)
        .include("PractitionerRole", "practitioner")
        .fetch_raw()
    )
    modes = [(e.resource.resourceType, e.search.mode) for e in bundle.entry]
    assert modes == [
        ("PractitionerRole", "match"),
        ("PractitionerRole", "match"),
        ("Practitioner", "include"),
    ]
    assert bundle.total == 2
    bundle = (
        directory.resources("Practitioner")
        .search(identifier=TWO_EXERCICES)
        .revinclude("PractitionerRole", "practitioner", "Practitioner")
        .fetch_raw()
    )
    assert [e.search.mode for e in bundle.entry] == ["match", "include", "include"]
    # fetch() keeps the resources of the type searched: the matches.
    assert [p.id for p in directory.resources("Practitioner").search(identifier=TWO_EXERCICES)
            .revinclude("PractitionerRole", "practitioner").fetch()] == [TWO_EXERCICES]  # fmt: skip


SUBSETTED = ("http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "SUBSETTED")


def _tags(resource) -> list[tuple[str, str]]:
    return [(t["system"], t["code"]) for t in resource.get("meta", {}).get("tag", [])]


def test_elements_keep_pages_small(directory: SyncFHIRClient) -> None:
    """fhirpy's ``elements()`` (``_elements``, with the ``id`` and ``resourceType`` it adds):
    the elements asked, ``id``, ``meta`` tagged SUBSETTED; the roles a ``_revinclude`` adds
    stay whole (https://hl7.org/fhir/R4/search.html#elements); paging keeps asking it."""
    search = directory.resources("Practitioner").search(identifier=TWO_EXERCICES)
    (practitioner,) = search.elements("identifier").fetch()
    assert set(practitioner) == {"resourceType", "id", "meta", "identifier"}
    assert _tags(practitioner) == [SUBSETTED]
    bundle = search.elements("identifier").revinclude("PractitionerRole", "practitioner")
    roles = [e.resource for e in bundle.fetch_raw().entry if e.search.mode == "include"]
    assert len(roles) == 2 and all("code" in r and "meta" not in r for r in roles)
    pages = directory.resources("Practitioner").search(active=True).elements("active").limit(5)
    every = pages.fetch_all()
    assert len(every) == accurate_total(directory, "Practitioner", active=True) > 5
    assert all(set(p) == {"resourceType", "id", "meta", "active"} for p in every)


def test_count_is_the_number_of_matches(server: SanteidProcess, directory: SyncFHIRClient) -> None:
    """fhirpy's ``count()`` asks ``_count=0``, which R4 treats as ``_summary=count``: the
    total alone (https://hl7.org/fhir/R4/search.html#count)."""
    practitioners = directory.resources("Practitioner").search(active=True)
    assert practitioners.count() == accurate_total(directory, "Practitioner", active=True) > 10
    roles = directory.resources("PractitionerRole").search(role="10")
    assert roles.count() == accurate_total(directory, "PractitionerRole", role="10") > 2
    assert directory.resources("Practitioner").search(family="NOBODYCALLEDTHIS").count() == 0

    async def count() -> int:
        client = AsyncFHIRClient(f"{server.base}/fhir/v1", authorization=directory.authorization)
        return await client.resources("Practitioner").search(name="m").count()

    assert asyncio.run(count()) == accurate_total(directory, "Practitioner", name="m")


def test_first_and_get(directory: SyncFHIRClient) -> None:
    practitioners = directory.resources("Practitioner")
    assert practitioners.search(identifier="http://rpps.fr|10000000012").get().id == TWO_EXERCICES
    assert practitioners.search(family="ARNAUD").first().id == "810000000030"
    assert practitioners.search(family="NOBODYCALLEDTHIS").first() is None
    with pytest.raises(MultipleResourcesFound):
        practitioners.search(active=True).get()
    with pytest.raises(ResourceNotFound):
        practitioners.search(family="NOBODYCALLEDTHIS").get()


def test_refusals_reach_the_library_as_operation_outcomes(
    server: SanteidProcess, directory: SyncFHIRClient
) -> None:
    with pytest.raises(AuthorizationError):
        SyncFHIRClient(f"{server.base}/fhir/v1").resources("Practitioner").fetch()
    with pytest.raises(OperationOutcome) as refused:
        directory.resources("Practitioner").search(family__exact="ARNAUD").fetch()
    assert refused.value.resource["issue"][0]["code"] == "not-supported"


# -- the directory, SMART on FHIR's client ----------------------------------------------------
def test_fhirclient_models_read_every_answer(server: SanteidProcess, service_token: str) -> None:
    fhir = smart(f"{server.base}/fhir/v1", service_token)
    fhir.server.get_capability()
    assert fhir.server.capabilityStatement.fhirVersion == "4.0.1"
    assert Practitioner.read(STAFF, fhir.server).id == STAFF
    assert PractitionerRole.read(f"{TWO_EXERCICES}-2-1", fhir.server).practitioner.reference == (
        f"Practitioner/{TWO_EXERCICES}"
    )
    with pytest.raises(FHIRNotFoundException):
        Practitioner.read("810000009999", fhir.server)
    search = PractitionerRole.where(struct={"practitioner": TWO_EXERCICES}).include("practitioner")
    found = [r.relativePath() for r in search.perform_resources_iter(fhir.server)]
    assert found == [
        f"PractitionerRole/{TWO_EXERCICES}-1-1",
        f"PractitionerRole/{TWO_EXERCICES}-2-1",
        f"Practitioner/{TWO_EXERCICES}",
    ]
    pages = list(
        Practitioner.where(struct={"active": "true", "_count": "5"}).perform_iter(fhir.server)
    )
    assert all(isinstance(page, Bundle) for page in pages)
    assert len(pages) > 2
    assert sum(len(page.entry or []) for page in pages) == sum(
        1 for _ in Practitioner.where(struct={"active": "true"}).perform_resources_iter(fhir.server)
    )


# -- INSi over FHIR ---------------------------------------------------------------------------
def test_insi_search_by_traits(insi: SyncFHIRClient) -> None:
    patients = insi.resources("Patient").search(**ZOE)
    patient = patients.get()
    assert patient["name"][0]["family"] == "ADRUN"
    assert patient["identifier"][0]["system"] == "urn:oid:1.2.250.1.213.1.4.8"
    assert [p["birthDate"] for p in patients.fetch_all()] == ["1975-12-31"]
    assert patients.first()["gender"] == "female"
    nobody = insi.resources("Patient").search(**{**ZOE, "family": "ADRUNN"})
    assert nobody.fetch() == []
    assert nobody.fetch_raw().total == 0


def test_insi_elements(insi: SyncFHIRClient) -> None:
    patient = insi.resources("Patient").search(**ZOE).elements("name", "birthDate").get()
    assert set(patient) == {"resourceType", "meta", "name", "birthDate"}
    assert patient["birthDate"] == "1975-12-31" and SUBSETTED in _tags(patient)


def test_insi_count(insi: SyncFHIRClient) -> None:
    assert insi.resources("Patient").search(**ZOE).count() == 1
    assert insi.resources("Patient").search(**{**ZOE, "family": "ADRUNN"}).count() == 0


def test_insi_with_an_establishment_certificate(server: SanteidProcess) -> None:
    """INSi FHIR's other authentication (docs/insi-fhir.md, as REST): a test establishment
    certificate, which fhirpy presents through ``requests_config``."""
    folder = server.home / "insi-certificate"
    server.cli("insi", "issue-cert", "--structure", "10B0152872", "--cn", "INSI-AUTO",
               "--out", str(folder))  # fmt: skip
    assert server.https and server.ca
    certified = SyncFHIRClient(
        f"{server.https}/insi/fhir",
        requests_config={
            "cert": (str(folder / "cert.pem"), str(folder / "key.pem")),
            "verify": server.ca,
        },
    )
    patients = certified.resources("Patient").search(**ZOE)
    assert patients.get()["birthDate"] == "1975-12-31"
    assert patients.count() == 1
    anonymous = SyncFHIRClient(f"{server.https}/insi/fhir", requests_config={"verify": server.ca})
    with pytest.raises(AuthorizationError):
        anonymous.resources("Patient").search(**ZOE).fetch()


def test_insi_refusal_is_an_operation_outcome(insi: SyncFHIRClient) -> None:
    with pytest.raises(OperationOutcome) as refused:
        insi.resources("Patient").search(**{**ZOE, "gender": "F"}).fetch()
    assert refused.value.resource["issue"][0]["code"] == "invalid"


def test_insi_with_fhirclient_models(server: SanteidProcess, professional_token: str) -> None:
    fhir = smart(f"{server.base}/insi/fhir", professional_token)
    fhir.server.get_capability()
    found = list(Patient.where(struct=ZOE).perform_resources_iter(fhir.server))
    assert [p.birthDate.isostring for p in found] == ["1975-12-31"]


#: INSi's published homonyms (docs/insi-overview.md): CR 02, told apart by the birthplace.
DE_VINCI = {"family": "DE VINCI", "given": "LEONARDO", "gender": "male", "birthdate": "2014-02-01"}
ZOE_BUT_FAMILY = {name: value for name, value in ZOE.items() if name != "family"}
#: A published identity with three given names (PIERRE-ALAIN MURIEL FLORIANT).
ECETINSI = {"family": "ECETINSI", "gender": "male", "birthdate": "2009-07-14"}


def _self_link(bundle) -> str:
    (link,) = bundle.link
    assert link.relation == "self"
    return link.url


def test_insi_search_shapes_fhirpy_sends(insi: SyncFHIRClient) -> None:
    """What fhirpy's ``search()`` makes of Python values (its README's search examples): a
    ``date`` is written ``YYYY-MM-DD``, ``birthdate__eq`` is the prefix ``eq``,
    ``family__exact`` the modifier ``:exact``, a list repeats the parameter (AND, as
    chaining ``search()`` does), and the token of ``gender`` may name its system. Each is a
    search R4 defines (https://hl7.org/fhir/R4/search.html), answered as such; the ``self``
    link says which parameters were applied: ``_sort``, which fhirpy's ``sort()`` adds, is
    not (INSi answers one patient at most)."""
    patients = insi.resources("Patient")
    shapes = [
        patients.search(**{**ZOE, "birthdate": date(1975, 12, 31)}),
        patients.search(family="ADRUN", given="ZOE", gender="female", birthdate__eq="1975-12-31"),
        patients.search(family__exact="ADRUN", **ZOE_BUT_FAMILY),
        patients.search(**{**ZOE, "gender": "http://hl7.org/fhir/administrative-gender|female"}),
        patients.search(family="Adrun", given="Zoé", gender="female", birthdate="1975-12-31"),
    ]
    assert [[p["birthDate"] for p in shape.fetch()] for shape in shapes] == [["1975-12-31"]] * 5
    sorted_search = patients.search(**ZOE).sort("family").fetch_raw()
    assert _self_link(sorted_search).endswith(
        "?family=ADRUN&given=ZOE&gender=female&birthdate=1975-12-31"
    )
    assert sorted_search.total == 1

    three_names = patients.search(**ECETINSI, given=["MURIEL", "PIERRE-ALAIN"])
    assert three_names.get()["name"][0]["given"] == ["PIERRE-ALAIN"]
    assert "given=MURIEL&given=PIERRE-ALAIN" in _self_link(three_names.fetch_raw())
    assert three_names.search(given="FLORIANT").count() == 1
    assert three_names.search(given="OLA").count() == 0  # every given name must be the person's


def test_insi_paging_first_get_and_count(insi: SyncFHIRClient) -> None:
    """fhirpy's ``fetch_all()`` and iteration follow the Bundle's ``next`` link: INSi answers
    one patient at most, so there is none, whatever ``_count`` (``limit``) asks; ``first()``
    sends ``_count=1``, ``get()`` ``_count=2``, ``count()`` ``_count=0`` — the total alone
    (https://hl7.org/fhir/R4/search.html#count), with no Patient."""
    zoe = insi.resources("Patient").search(**ZOE)
    (whole,) = zoe.fetch()
    for page_size in (1, 2, 50):
        assert zoe.limit(page_size).fetch_all() == [whole]
        bundle = zoe.limit(page_size).fetch_raw()
        assert [link.relation for link in bundle.link] == ["self"]
    assert list(zoe) == [whole]
    assert zoe.first() == whole == zoe.get()
    assert zoe.count() == 1
    counted = zoe.limit(0).fetch_raw()
    assert (counted.total, counted.get("entry")) == (1, None)
    assert zoe.limit(0).fetch_all() == []


def test_insi_several_matches_reach_fhirpy_as_an_outcome_entry(insi: SyncFHIRClient) -> None:
    """A CR 02 (several persons, no identity given: docs/insi-fhir.md) is an empty searchset
    whose one entry is an ``OperationOutcome`` with ``search.mode = outcome``. fhirpy keeps
    the resources of the type searched: ``fetch()`` is empty, ``first()`` ``None``, ``get()``
    raises ``ResourceNotFound`` and ``count()`` is 0, as for nobody; only ``fetch_raw()``
    shows the outcome, ``multiple-matches``. The birthplace tells the homonyms apart."""
    homonyms = insi.resources("Patient").search(**DE_VINCI)
    assert homonyms.fetch() == []
    assert homonyms.first() is None
    with pytest.raises(ResourceNotFound):
        homonyms.get()
    assert homonyms.count() == 0
    bundle = homonyms.fetch_raw()
    (entry,) = bundle.entry
    assert (bundle.total, entry.search.mode) == (0, "outcome")
    issue = entry.resource["issue"][0]
    assert (issue["severity"], issue["code"]) == ("information", "multiple-matches")
    assert issue["details"]["coding"][0]["code"] == "02"
    nobody = insi.resources("Patient").search(**{**DE_VINCI, "family": "DE VINCIS"}).fetch_raw()
    assert (nobody.total, nobody.get("entry")) == (0, None)
    one = homonyms.search(birthplace="13201").get()
    assert one["identifier"][0]["value"] == "114021320141764"


def test_insi_answers_only_the_search_interaction(insi: SyncFHIRClient) -> None:
    """INSi FHIR serves the ``search-type`` interaction of Patient and ``metadata`` (its
    CapabilityStatement says so): no read, no operation (INSi's search by traits is this
    search, not ``$match``), no other type. fhirpy's ``get()`` by id, ``execute()`` of an
    operation and another type's search get a 404 ``OperationOutcome``: ``ResourceNotFound``,
    whose text is the outcome."""
    attempts = [
        lambda: insi.get("Patient", "275126322074974"),
        lambda: insi.resources("Patient").execute("$match", data={"resourceType": "Parameters"}),
        lambda: insi.execute("Patient/$ihe-pix", method="get", params={"sourceIdentifier": "x"}),
        lambda: insi.resources("Practitioner").search(family="ADRUN").fetch(),
    ]
    for attempt in attempts:
        with pytest.raises(ResourceNotFound) as refused:
            attempt()
        outcome = json.loads(str(refused.value))
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "not-supported"
    capabilities = insi.execute("metadata", method="get")
    (patient,) = capabilities["rest"][0]["resource"]
    assert [i["code"] for i in patient["interaction"]] == ["search-type"]
    assert capabilities["rest"][0].get("operation") is None


def test_insi_refusals_and_outages_are_operation_outcomes(
    server: SanteidProcess, insi: SyncFHIRClient
) -> None:
    """A refused search is fhirpy's ``OperationOutcome`` exception carrying the resource
    (``invalid``: a modifier, OR-ed values, a date range or an instant where INSi searches a
    day); INSi's technical error (the published D'AEION / COEUR query) is a 503 ``transient``
    outcome; a token santeid refuses is ``AuthorizationError`` with a ``login`` outcome."""
    patients = insi.resources("Patient")
    refusals = [
        patients.search(family__contains="ADRUN", **ZOE_BUT_FAMILY),
        patients.search(**{**ZOE, "given": "ZOE,ZOÉ"}),
        patients.search(family="ADRUN", given="ZOE", gender="female", birthdate__ge="1975-12-31"),
        # fhirpy writes a datetime as an instant (1975-12-31T00:00:00Z): INSi searches a day.
        patients.search(**{**ZOE, "birthdate": datetime(1975, 12, 31, tzinfo=UTC)}),
    ]
    for refused_search in refusals:
        with pytest.raises(OperationOutcome) as refused:
            refused_search.fetch()
        assert refused.value.resource["issue"][0]["code"] == "invalid"
    with pytest.raises(OperationOutcome) as outage:
        patients.search(
            family="D'AEION", given="COEUR", gender="male", birthdate="1987-01-25"
        ).get()
    issue = outage.value.resource["issue"][0]
    assert (issue["severity"], issue["code"]) == ("fatal", "transient")
    assert issue["details"]["coding"][0]["code"] == "insi_102"
    stranger = SyncFHIRClient(f"{server.base}/insi/fhir", authorization="Bearer not-a-token")
    with pytest.raises(AuthorizationError) as unauthenticated:
        stranger.resources("Patient").search(**ZOE).fetch()
    assert json.loads(str(unauthenticated.value))["issue"][0]["code"] == "login"


def test_insi_with_strict_handling_and_fhirpys_own_parameters(
    server: SanteidProcess, insi: SyncFHIRClient
) -> None:
    """With ``Prefer: handling=strict`` (fhirpy's ``extra_headers``) an unknown parameter is
    refused (https://hl7.org/fhir/R4/search.html#errors): fhirpy's ``count()`` adds Aidbox's
    ``_totalMethod``, which R4 does not define, so it is refused there — ``_count=0`` or
    ``_summary=count`` count under either handling. ``elements(exclude=True)`` writes
    Aidbox's ``_elements=-name``, not an R4 element name: the Patient keeps ``meta`` alone
    (an unknown element adds nothing, as on HAPI FHIR; docs/directory.md)."""
    strict = SyncFHIRClient(
        f"{server.base}/insi/fhir",
        authorization=insi.authorization,
        extra_headers={"Prefer": "handling=strict"},
    )
    zoe = strict.resources("Patient").search(**ZOE)
    assert zoe.first()["birthDate"] == "1975-12-31"
    assert zoe.get()["birthDate"] == "1975-12-31"
    with pytest.raises(OperationOutcome) as refused:
        zoe.count()
    assert (
        refused.value.resource["issue"][0]["details"]["text"] == "unknown parameter '_totalMethod'"
    )
    assert zoe.limit(0).fetch_raw().total == 1
    assert zoe.search(_summary="count").fetch_raw().total == 1
    with pytest.raises(OperationOutcome):
        zoe.search(_sort="family").fetch()

    (excluded,) = insi.resources("Patient").search(**ZOE).elements("name", exclude=True).fetch()
    assert set(excluded) == {"resourceType", "meta"} and SUBSETTED in _tags(excluded)


def test_insi_async_client(server: SanteidProcess, insi: SyncFHIRClient) -> None:
    """fhirpy's ``AsyncFHIRClient`` (aiohttp) sends the same searches: the same answers."""

    async def search() -> dict:
        client = AsyncFHIRClient(f"{server.base}/insi/fhir", authorization=insi.authorization)
        patients = client.resources("Patient")
        zoe = patients.search(**ZOE)
        homonyms = await patients.search(**DE_VINCI).fetch_raw()
        try:
            await patients.search(**{**ZOE, "gender": "F"}).fetch()
        except OperationOutcome as refused:
            refusal = refused.resource["issue"][0]["code"]
        return {
            "get": (await zoe.get())["birthDate"],
            "paged": [p["birthDate"] async for p in zoe.limit(1)],
            "count": await zoe.count(),
            "first": (await zoe.first())["gender"],
            "homonyms": (homonyms.total, homonyms.entry[0].search.mode),
            "refusal": refusal,
        }

    assert asyncio.run(search()) == {
        "get": "1975-12-31",
        "paged": ["1975-12-31"],
        "count": 1,
        "first": "female",
        "homonyms": (0, "outcome"),
        "refusal": "invalid",
    }


def test_insi_fhirclient_prepares_on_the_capability_statement(
    server: SanteidProcess, professional_token: str
) -> None:
    """fhirclient's start-up (its README): ``ready`` is false until ``prepare()`` has read
    ``metadata`` with its strict R4 models; the statement declares no SMART ``oauth-uris``
    (PSC is not a SMART authorization server), so fhirclient sees an open server, ready at
    once, and the service sends PSC's access token itself on ``server.session``. A token the
    server refuses is ``FHIRUnauthorizedException`` on the search, not on ``metadata``."""
    fhir = smart(f"{server.base}/insi/fhir", professional_token)
    assert fhir.ready is False
    assert fhir.prepare() is True and fhir.ready is True
    assert fhir.authorize_url is None
    statement = fhir.server.capabilityStatement
    assert (statement.fhirVersion, statement.kind) == ("4.0.1", "instance")
    (rest,) = statement.rest
    assert [c.code for s in rest.security.service for c in s.coding] == ["OAuth"]
    (patient,) = rest.resource
    assert patient.type == "Patient"
    assert [i.code for i in patient.interaction] == ["search-type"]
    assert [p.name for p in patient.searchParam] == [
        "family", "given", "gender", "birthdate", "birthplace",
    ]  # fmt: skip
    stale = smart(f"{server.base}/insi/fhir", "not-a-token")
    assert stale.prepare() is True
    with pytest.raises(FHIRUnauthorizedException) as refused:
        list(Patient.where(struct=ZOE).perform_resources_iter(stale.server))
    assert SmartOutcome(refused.value.response.json()).issue[0].code == "login"


def test_insi_fhirclient_search_shapes(server: SanteidProcess, professional_token: str) -> None:
    """fhirclient's ``where(struct=…)`` query language on INSi: ``$and`` repeats ``given``,
    ``$exact`` is ``:exact``, a space is written ``+``; ``perform_resources`` (deprecated
    since 4.3 for ``perform_resources_iter``) still answers. A CR 02's outcome entry is
    yielded as a resource with the patients: the service checks its type. Every answer is
    read by fhirclient's R4 models, which refuse any element R4 lacks."""
    fhir = smart(f"{server.base}/insi/fhir", professional_token)
    with pytest.deprecated_call():
        (found,) = Patient.where(struct=ZOE).perform_resources(fhir.server)
    assert found.identifier[0].value == "275126322074974"
    assert found.name[0].family == "ADRUN"
    both = {**ECETINSI, "given": {"$and": ["MURIEL", "FLORIANT"]}, "family": {"$exact": "ECETINSI"}}
    (patient,) = Patient.where(struct=both).perform_resources_iter(fhir.server)
    assert [(i.use, i.value) for i in patient.identifier] == [
        ("official", "109076322083489"),
        ("old", "209076322083439"),
    ]
    (outcome,) = Patient.where(struct=DE_VINCI).perform_resources_iter(fhir.server)
    assert isinstance(outcome, SmartOutcome)
    assert outcome.issue[0].code == "multiple-matches"
    (counted,) = Patient.where(struct={**ZOE, "_summary": "count"}).perform_iter(fhir.server)
    assert (counted.total, counted.entry) == (1, None)
    (subsetted,) = Patient.where(struct={**ZOE, "_elements": "birthDate"}).perform_resources_iter(
        fhir.server
    )
    assert (subsetted.birthDate.isostring, subsetted.name) == ("1975-12-31", None)
    with pytest.raises(FHIRNotFoundException):
        Patient.read("275126322074974", fhir.server)


@pytest.mark.parametrize(
    ("struct", "sent"),
    [
        ({"given": {"$or": ["ZOE", "ZOÉ"]}}, "given=ZOE,ZO%C3%89"),
        ({"birthdate": {"$gte": "1975-12-31"}}, "birthdate=%3E=1975-12-31"),
    ],
)
def test_insi_fhirclient_refusals_are_outcomes_its_models_read(
    server: SanteidProcess, professional_token: str, struct: dict, sent: str
) -> None:
    """``$or`` (a comma: OR, which INSi's every-given-name rule has no use for) and
    ``$gte`` — which fhirclient writes with DSTU1's ``>=``, not R4's ``ge`` prefix — are
    refused with a 400 ``OperationOutcome``; fhirclient raises requests' ``HTTPError`` and
    its ``OperationOutcome`` model reads the body."""
    fhir = smart(f"{server.base}/insi/fhir", professional_token)
    with pytest.raises(requests.HTTPError) as refused:
        list(Patient.where(struct={**ZOE, **struct}).perform_resources_iter(fhir.server))
    response = refused.value.response
    assert response.status_code == 400
    assert sent in response.url
    assert SmartOutcome(response.json()).issue[0].code == "invalid"


# -- the directory, plain HTTP ----------------------------------------------------------------
@pytest.mark.parametrize("resource", ["Practitioner/899999999999", "PractitionerRole/nobody-1-1"])
def test_a_read_with_a_wrong_summary_is_a_400_whatever_the_id(
    server: SanteidProcess, service_token: str, resource: str
) -> None:
    """The request is checked before the resource is looked up (HAPI FHIR binds a read's
    parameters before calling its provider): an unknown id with ``_summary=bad`` is the 400 of
    the parameter, as a known one is — it was a 404, which told a client its request was fine."""
    response = requests.get(
        f"{server.base}/fhir/v1/{resource}",
        params={"_summary": "bad"},
        headers={"Authorization": f"Bearer {service_token}"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["code"] == "invalid"


@pytest.mark.parametrize(
    ("host", "reference"),
    [
        ("localhost", f"http://localhost:80/fhir/v1/Practitioner/{TWO_EXERCICES}"),
        ("localhost:80", f"http://localhost/fhir/v1/Practitioner/{TWO_EXERCICES}"),
        ("localhost", f"http://LocalHost:80/fhir/v1/Practitioner/{TWO_EXERCICES}"),
    ],
)
def test_a_reference_naming_this_server_with_its_default_port_or_without_matches(
    server: SanteidProcess, service_token: str, host: str, reference: str
) -> None:
    """``practitioner=<url>`` names this server whether the URL writes the scheme's default
    port or leaves it out (RFC 3986 §6.2.3: the same URL), as the server is reached (Host)."""
    response = requests.get(
        f"{server.base}/fhir/v1/PractitionerRole",
        params={"practitioner": reference},
        headers={"Authorization": f"Bearer {service_token}", "Host": host},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["entry"], response.text
    other = reference.replace(":80/", ":8080/") if ":80/" in reference else None
    if other is not None:  # another port is another server
        response = requests.get(
            f"{server.base}/fhir/v1/PractitionerRole",
            params={"practitioner": other},
            headers={"Authorization": f"Bearer {service_token}", "Host": host},
            timeout=30,
        )
        assert "entry" not in response.json(), response.text
