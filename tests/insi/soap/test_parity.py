"""SOAP gives the same answers as the core, REST and FHIR for the same few hundred queries
(the parity harness of ``parity.py``). Queries in civil-status spelling (``insi_form`` False)
are left out: SOAP refuses them, as the teleservice does (docs/reference/insi-teleservice.md
§12)."""

from __future__ import annotations

from collections import Counter

from tests.support import soap as support
from tests.support.insi import SOAP_CTX
from tests.support.insi_parity import Adapter
from tests.support.insi_parity import Outcome
from tests.support.insi_parity import Query
from tests.support.insi_parity import core_adapter
from tests.support.insi_parity import fhir_adapter
from tests.support.insi_parity import generate_queries
from tests.support.insi_parity import mismatches
from tests.support.insi_parity import rest_adapter
from tests.support.insi_parity import signature
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import register_client
from tests.support.soap import NS
from tests.support.soap import envelope
from tests.support.soap import fault_parts
from tests.support.soap import parse
from tests.support.soap import post
from tests.support.soap import traits_body

soap_home = support.soap_home
soap_settings = support.soap_settings
soap_app = support.soap_app
insi_ca = support.insi_ca
auto_cert = support.auto_cert


def soap_adapter(client, certificate) -> Adapter:
    """A query as a ``RECSANSVITALE`` envelope; the ``RESULTAT`` (or the fault) as an outcome."""

    def call(query: Query) -> Outcome:
        body = traits_body(
            query.birth_name, query.given_names, query.sex, query.birth_date, query.birthplace
        )
        response = post(client, envelope(body), certificate=certificate)
        if response.status_code != 200:
            return Outcome(f"error:{fault_parts(response.data)['erreur_code']}")
        root = parse(response.data)
        code = root.findtext(".//res:CodeCR", namespaces=NS)
        individu = root.find(".//res:INDIVIDU", NS)
        if individu is None:
            return Outcome(code)

        def ins(element) -> tuple[str, str]:
            number = element.findtext("res:IdIndividu/res:NumIdentifiant", namespaces=NS)
            key = element.findtext("res:IdIndividu/res:Cle", namespaces=NS)
            return number + key, element.findtext("res:OID", namespaces=NS)

        value, oid = ins(individu.find("res:INSACTIF", NS))
        tiq = individu.find("res:TIQ", NS)
        return Outcome(
            code,
            signature(
                value,
                oid,
                tiq.findtext("res:NomNaissance", namespaces=NS),
                tiq.findtext("res:ListePrenom", namespaces=NS).split(" "),
                tiq.findtext("res:Sexe", namespaces=NS),
                tiq.findtext("res:DateNaissance", namespaces=NS),
                tiq.findtext("res:LieuNaissance", namespaces=NS),
                [ins(h) for h in individu.findall("res:INSHISTO", NS)],
            ),
        )

    return call


def test_soap_agrees_with_core_rest_and_fhir(soap_app, auto_cert, insi_base):
    client = soap_app.test_client()
    token = Flow(soap_app, client, register_client(soap_app)).full_login()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    queries = [q for q in generate_queries(insi_base, count=300) if q.insi_form]
    assert len(queries) >= 200
    adapters = {
        "core": core_adapter(soap_app.extensions["santeid"].insi, SOAP_CTX),
        "soap": soap_adapter(client, auto_cert),
        "rest": rest_adapter(client, bearer),
        "fhir": fhir_adapter(client, bearer),
    }
    assert mismatches(adapters, queries) == []

    results = Counter(adapters["soap"](q).result for q in queries)
    assert results["00"] >= 50
    assert results["01"] >= 20
    assert results["02"] >= 5
    assert results["error:santeid_invalid_trait"] >= 3
    assert results["error:insi_102"] == 1


def test_a_blank_birthplace_is_not_given_on_every_channel(soap_app, auto_cert):
    # SOAP reads <LieuNaissance> </LieuNaissance> as not given; REST's and FHIR's blank
    # birthplace was refused instead ("'' is not a 5-character COG code", a value nobody sent).
    client = soap_app.test_client()
    token = Flow(soap_app, client, register_client(soap_app)).full_login()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    adapters = {
        "core": core_adapter(soap_app.extensions["santeid"].insi, SOAP_CTX),
        "soap": soap_adapter(client, auto_cert),
        "rest": rest_adapter(client, bearer),
        "fhir": fhir_adapter(client, bearer),
    }
    blank = Query("blank birthplace", "ADRTROIS", ("DOMINIQUE",), "F", "1997-02-26", " ")
    assert mismatches(adapters, [blank]) == []
    assert adapters["rest"](blank).result == "00"
