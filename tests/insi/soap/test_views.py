"""The three operations over SOAP 1.2, from envelopes shaped like the real clients'
(docs/reference/insi-teleservice.md
§8.1), answered in the element order, prefixes and namespaces of the captured answers (§8.2–§8.4)
— compared by structure (:func:`shape`), not by whitespace."""

from __future__ import annotations

import sqlite3

import pytest
from lxml import etree

from santeid.insi.soap import schemas
from tests.support import soap as support
from tests.support.soap import NS
from tests.support.soap import RECSANS
from tests.support.soap import RECVIT
from tests.support.soap import REPUNIT
from tests.support.soap import RESULTAT
from tests.support.soap import SOAP12
from tests.support.soap import TRAITS
from tests.support.soap import VERIFY
from tests.support.soap import VITALE
from tests.support.soap import WSA
from tests.support.soap import cert_headers
from tests.support.soap import envelope
from tests.support.soap import parse
from tests.support.soap import post
from tests.support.soap import shape
from tests.support.soap import traits_body
from tests.support.soap import verify_body
from tests.support.soap import vitale_body

# Shared fixtures (tests/support/soap.py).
soap_home = support.soap_home
soap_settings = support.soap_settings
soap_app = support.soap_app
insi_ca = support.insi_ca
auto_cert = support.auto_cert

#: The envelope and RESULTAT of every real answer (docs/reference/insi-teleservice.md §5,
#: §8.2–§8.4): ``soap:Envelope``, no
#: Header, ``env:Body`` declaring ``S`` and ``env``, ``RESULTAT`` in the default namespace with
#: ``ns0`` (RecVit) and ``ns1`` (RecSans) declared, then ``CR``.
HEAD = [
    ("soap:Envelope", {"soap": SOAP12}),
    ("env:Body", {"S": SOAP12, "env": SOAP12}),
    ("RESULTAT", {None: RESULTAT, "ns0": RECVIT, "ns1": RECSANS}),
    ("CR", {}),
    ("CodeCR", {}),
    ("LibelleCR", {}),
]
#: The not-found answer, as the CNDA file REP_CR01.xml (docs/reference/insi-teleservice.md §8b):
#: ``S:Body`` declaring
#: ``S``, ``RESULTAT`` declaring ``ns3`` (RecVit) and ``ns2`` (RecSans).
NOT_FOUND = [
    ("soap:Envelope", {"soap": SOAP12}),
    ("S:Body", {"S": SOAP12}),
    ("RESULTAT", {None: RESULTAT, "ns3": RECVIT, "ns2": RECSANS}),
    ("CR", {}),
    ("CodeCR", {}),
    ("LibelleCR", {}),
]
INS_BLOCK = ["IdIndividu", "NumIdentifiant", "Cle", "OID"]
#: A 00 answer without history: INDIVIDU, INSACTIF, TIQ with ListePrenom only.
FOUND = HEAD + [
    (name, {})
    for name in [
        "INDIVIDU",
        "INSACTIF",
        *INS_BLOCK,
        "TIQ",
        "NomNaissance",
        "ListePrenom",
        "Sexe",
        "DateNaissance",
        "LieuNaissance",
    ]
]


@pytest.fixture
def client(soap_app):
    return soap_app.test_client()


def call(client, body, action=TRAITS, certificate=None, **kwargs):
    response = post(client, envelope(body, action, **kwargs), action, certificate=certificate)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/soap+xml"
    return parse(response.data)


def text(root, path: str) -> str | None:
    return root.findtext(path, namespaces=NS)


def test_traits_search_finds_adrtrois_in_the_shape_of_the_real_answers(client, auto_cert):
    root = call(
        client, traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26"), certificate=auto_cert
    )
    assert shape(root) == FOUND
    assert text(root, ".//res:CR/res:CodeCR") == "00"
    assert text(root, ".//res:CR/res:LibelleCR") == "OK"
    active = root.find(".//res:INSACTIF", NS)
    assert text(active, "res:IdIndividu/res:NumIdentifiant") == "297022A020778"
    assert text(active, "res:IdIndividu/res:Cle") == "78"
    assert text(active, "res:OID") == "1.2.250.1.213.1.4.8"
    tiq = root.find(".//res:TIQ", NS)
    assert [etree.QName(e).localname for e in tiq] == [
        "NomNaissance", "ListePrenom", "Sexe", "DateNaissance", "LieuNaissance",
    ]  # fmt: skip
    assert tiq.find("res:Prenom", NS) is None  # ListePrenom only, as the real service
    assert [e.text for e in tiq] == ["ADRTROIS", "DOMINIQUE", "F", "1997-02-26", "2A020"]


def test_answer_with_history_lists_inshisto_between_insactif_and_tiq(client, auto_cert):
    root = call(
        client, traits_body("ECETINSI", ["PIERRE-ALAIN"], "M", "2009-07-14"), certificate=auto_cert
    )
    individu = root.find(".//res:INDIVIDU", NS)
    names = [etree.QName(e).localname for e in individu]
    assert names[0] == "INSACTIF" and names[-1] == "TIQ"
    assert set(names[1:-1]) == {"INSHISTO"}
    first = individu.find("res:INSHISTO", NS)
    # The real answer's first history entry: its own OID, DateDeb after DateFin kept as is.
    assert [etree.QName(e).localname for e in first] == ["IdIndividu", "OID", "DateDeb", "DateFin"]
    assert text(first, "res:IdIndividu/res:NumIdentifiant") == "2090763220834"
    assert text(first, "res:IdIndividu/res:Cle") == "39"
    assert (text(first, "res:DateDeb"), text(first, "res:DateFin")) == ("2019-03-01", "2019-02-28")
    assert text(root, ".//res:TIQ/res:ListePrenom") == "PIERRE-ALAIN MURIEL FLORIANT"
    assert text(root, ".//res:INSACTIF/res:IdIndividu/res:NumIdentifiant") == "1090763220834"


@pytest.mark.parametrize(
    ("traits", "code", "label"),
    [
        (("HOUILLES", ["PIERRE"], "M", "1993-01-27"), "01", "Aucune identite trouvee"),
        (("HOUILLES", ["PIERRE PAUL JACQUES"], "M", "1993-01-27"), "01", "Aucune identite trouvee"),
        (("DE VINCI", ["LEONARDO"], "M", "2014-02-01"), "02", "Plusieurs identites trouvees"),
        (("TCHITCHI", ["OLA"], "F", "1936-06-21"), "01", "Aucune identite trouvee"),
    ],
)
def test_not_found_and_several_have_cr_only(client, auto_cert, traits, code, label):
    root = call(client, traits_body(*traits), certificate=auto_cert)
    assert shape(root) == (NOT_FOUND if code == "01" else HEAD)
    assert (text(root, ".//res:CodeCR"), text(root, ".//res:LibelleCR")) == (code, label)


def test_retry_with_another_given_name_finds_tchitchi(client, auto_cert):
    root = call(
        client, traits_body("TCHITCHI", ["CATARINA"], "F", "1936-06-21"), certificate=auto_cert
    )
    assert text(root, ".//res:CodeCR") == "00"
    assert text(root, ".//res:TIQ/res:ListePrenom") == "CATARINA BELLA"


def test_birthplace_narrows_the_search(client, auto_cert):
    found = call(
        client, traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26", "2A020"),
        certificate=auto_cert,
    )  # fmt: skip
    assert text(found, ".//res:CodeCR") == "00"
    other = call(
        client, traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26", "75056"),
        certificate=auto_cert,
    )  # fmt: skip
    assert text(other, ".//res:CodeCR") == "01"


def test_nia_answers_its_own_oid(client, auto_cert):
    root = call(
        client, traits_body("PROVISOIRE", ["MATRICULE"], "M", "2009-07-01"), certificate=auto_cert
    )
    assert text(root, ".//res:INSACTIF/res:OID") == "1.2.250.1.213.1.4.9"
    assert text(root, ".//res:INSACTIF/res:IdIndividu/res:NumIdentifiant") == "1090763220888"


@pytest.fixture
def beneficiary(insi_base):
    """A child on a parent's carte Vitale, straight from the base."""
    conn = sqlite3.connect(f"{insi_base.as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT od.matricule, printf('%02d', od.cle), b.matricule, printf('%02d', b.cle), "
            "b.birth_name, b.birth_date, b.rang FROM persons b JOIN persons od ON b.od_id = od.id "
            "WHERE b.od_id != b.id ORDER BY b.id LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    return row


def test_carte_vitale_search_finds_the_beneficiary(client, auto_cert, beneficiary):
    od, od_key, matricule, key, birth_name, birth_date, rank = beneficiary
    root = call(
        client, vitale_body((od, od_key), birth_name, birth_date, rank), VITALE,
        certificate=auto_cert,
    )  # fmt: skip
    assert shape(root)[:6] == HEAD
    assert text(root, ".//res:CodeCR") == "00"
    assert text(root, ".//res:INSACTIF/res:IdIndividu/res:NumIdentifiant") == matricule
    assert text(root, ".//res:INSACTIF/res:IdIndividu/res:Cle") == key
    # With the beneficiary's own matricule as the card carries it.
    root = call(
        client,
        vitale_body((od, od_key), birth_name, birth_date, rank, individual=(matricule, key)),
        VITALE,
        certificate=auto_cert,
    )
    assert text(root, ".//res:CodeCR") == "00"
    wrong = call(
        client, vitale_body((od, od_key), birth_name + "X", birth_date, rank), VITALE,
        certificate=auto_cert,
    )  # fmt: skip
    assert text(wrong, ".//res:CodeCR") == "01"


ADRTROIS = {
    "NomNaissance": "ADRTROIS",
    "ListePrenom": "DOMINIQUE",
    "Sexe": "F",
    "DateNaissance": "1997-02-26",
    "LieuNaissance": "2A020",
}


def test_verification_conform(client, auto_cert):
    body = verify_body("297022A020778", "78", **ADRTROIS)
    root = call(client, body, VERIFY, certificate=auto_cert)
    assert shape(root)[:3] == [
        ("soap:Envelope", {"soap": SOAP12}),
        ("env:Body", {"S": SOAP12, "env": SOAP12}),
        ("ReponseUnitaire", {None: REPUNIT}),
    ]
    assert text(root, ".//rep:CR/rep:CodeCR") == "00"
    assert text(root, ".//rep:IndividuVerifie/rep:Conforme") == "true"
    assert root.findall(".//rep:ElementNonConforme", NS) == []
    assert text(root, ".//rep:INSACTIF/rep:IdIndividu/rep:NumIdentifiant") == "297022A020778"
    assert text(root, ".//rep:INSFourni/rep:IdIndividu/rep:Cle") == "78"


def test_verification_names_the_traits_that_differ(client, auto_cert):
    traits = {**ADRTROIS, "NomNaissance": "ADRDEUX", "LieuNaissance": "2B020"}
    root = call(client, verify_body("297022A020778", "78", **traits), VERIFY, certificate=auto_cert)
    assert text(root, ".//rep:Conforme") == "false"
    assert [e.text for e in root.findall(".//rep:ElementNonConforme", NS)] == [
        "NomNaissance",
        "LieuNaissance",
    ]
    assert root.find(".//rep:INSACTIF", NS) is None  # no identity given away


def test_verification_of_an_unknown_ins(client, auto_cert):
    # A valid key for a matricule no one holds.
    number = "1990199999999"
    key = f"{97 - int(number) % 97:02d}"
    body = verify_body(number, key, **ADRTROIS)
    body.find(".//{*}INSFourni/{*}OID").text = "1.2.250.1.213.1.4.9"
    root = call(client, body, VERIFY, certificate=auto_cert)
    assert text(root, ".//rep:Conforme") == "false"
    assert [e.text for e in root.findall(".//rep:ElementNonConforme", NS)] == ["INSFourni"]
    assert text(root, ".//rep:INSFourni/rep:OID") == "1.2.250.1.213.1.4.9"  # echoed
    assert root.find(".//rep:INSACTIF", NS) is None


def test_verification_of_an_earlier_matricule_gives_the_active_one(client, auto_cert):
    traits = {
        "NomNaissance": "ECETINSI",
        "ListePrenom": "PIERRE-ALAIN MURIEL FLORIANT",
        "Prenom": "PIERRE-ALAIN",
        "Sexe": "M",
        "DateNaissance": "2009-07-14",
        "LieuNaissance": "63220",
    }
    root = call(client, verify_body("2090763220834", "39", **traits), VERIFY, certificate=auto_cert)
    assert text(root, ".//rep:Conforme") == "false"
    assert [e.text for e in root.findall(".//rep:ElementNonConforme", NS)] == ["INSFourni"]
    assert text(root, ".//rep:INSACTIF/rep:IdIndividu/rep:NumIdentifiant") == "1090763220834"


HERMANN = {
    "NomNaissance": "HERMANN",
    "ListePrenom": "GATIEN",
    "Sexe": "M",
    "DateNaissance": "1981-03-24",
    "LieuNaissance": "63220",
}


def test_hermann_ins_is_accepted_back_with_the_keys_santeid_answers(client, auto_cert):
    """HERMANN / GATIEN's published keys do not verify (docs/reference/insi-teleservice.md §9):
    the INS santeid answers is the one its verification and carte Vitale search accept."""
    searched = traits_body("HERMANN", ["GATIEN"], "M", "1981-03-24")
    root = call(client, searched, certificate=auto_cert)
    ins = [
        (text(e, "res:IdIndividu/res:NumIdentifiant"), text(e, "res:IdIndividu/res:Cle"))
        for e in root.iterfind(".//res:INDIVIDU/*[res:IdIndividu]", NS)
    ]
    assert ins == [("1810363220456", "60"), ("1810363220456", "60"), ("2810363220456", "10")]
    verified = call(client, verify_body(*ins[0], **HERMANN), VERIFY, certificate=auto_cert)
    assert text(verified, ".//rep:Conforme") == "true"
    earlier = call(client, verify_body(*ins[2], **HERMANN), VERIFY, certificate=auto_cert)
    assert [e.text for e in earlier.findall(".//rep:ElementNonConforme", NS)] == ["INSFourni"]
    card = call(
        client, vitale_body(ins[0], "HERMANN", "1981-03-24", individual=ins[2]), VITALE,
        certificate=auto_cert,
    )  # fmt: skip
    assert text(card, ".//res:INSACTIF/res:IdIndividu/res:Cle") == "60"
    computed = post(
        client, envelope(verify_body("1810363220456", "76", **HERMANN), VERIFY), VERIFY,
        certificate=auto_cert,
    )  # fmt: skip
    assert computed.status_code == 500
    assert "key 76" in computed.get_data(as_text=True)


@pytest.mark.parametrize(
    "build",
    [
        lambda: traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26"),
        lambda: traits_body("DE VINCI", ["LEONARDO"], "M", "2014-02-01"),
        lambda: verify_body("297022A020778", "78", **ADRTROIS),
    ],
)
def test_answers_are_valid_against_santeid_schemas(client, auto_cert, build):
    body = build()
    action = VERIFY if body.tag.endswith("RequeteUnitaire") else TRAITS
    root = call(client, body, action, certificate=auto_cert)
    payload = root.find("soap:Body", NS)[0]
    assert schemas.schema().validate(payload), schemas.schema().error_log


def test_action_from_wsa_action_alone_or_media_type_alone_or_body(client, auto_cert):
    body = traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26")
    # wsa:Action only (Padoa posts application/soap+xml;charset=utf-8 without action).
    response = post(client, envelope(body), None, certificate=auto_cert)
    assert response.status_code == 200
    # action parameter only.
    response = post(client, envelope(body, None), TRAITS, certificate=auto_cert)
    assert response.status_code == 200
    # neither: the body element says which operation.
    response = post(client, envelope(body, None), None, certificate=auto_cert)
    assert response.status_code == 200


@pytest.mark.parametrize("with_wsa_action", [True, False])
@pytest.mark.parametrize(
    "parameters",
    [
        f"charset=utf-8; action={TRAITS}",  # unquoted, as public SOAP 1.2 client code sends it
        f"action={TRAITS};charset=utf-8",
        f"charset=utf-8;ACTION = {TRAITS} ",
        f'charset=utf-8; action="{TRAITS}"',
    ],
)
def test_the_action_parameter_is_read_quoted_or_not(client, auto_cert, parameters, with_wsa_action):
    """RFC 3902 §6: the ``action`` parameter is a URI; a client that does not quote it (its
    ``:`` being a tspecial) is read up to the next ``;``, not cut at the first ``:``."""
    body = traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26")
    data = envelope(body, TRAITS if with_wsa_action else None)
    headers = {"Content-Type": f"application/soap+xml; {parameters}", **cert_headers(auto_cert)}
    response = client.post(
        "/insi/soap", data=data, headers=headers, environ_base={"REMOTE_ADDR": support.PROXY}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert text(parse(response.data), ".//res:CodeCR") == "00"


def test_an_unquoted_action_of_another_operation_is_still_a_mismatch(client, auto_cert):
    data = envelope(traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26"), TRAITS)
    headers = {"Content-Type": f"application/soap+xml; action={VITALE}", **cert_headers(auto_cert)}
    response = client.post(
        "/insi/soap", data=data, headers=headers, environ_base={"REMOTE_ADDR": support.PROXY}
    )
    assert response.status_code == 500
    assert support.fault_parts(response.data)["erreur_code"] == "santeid_action_mismatch"
    assert VITALE in support.fault_parts(response.data)["text"]


def test_headers_in_the_wsdl_order_are_accepted(client, auto_cert):
    data = envelope(traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26"))
    root = parse(data)
    header = root.find("soap:Header", NS)
    blocks = list(header)
    header[:] = [blocks[-1], blocks[1], blocks[0], blocks[2]]  # MessageID, LPS, BAM, Action
    response = post(client, etree.tostring(root), TRAITS, certificate=auto_cert)
    assert response.status_code == 200
    assert text(parse(response.data), ".//res:CodeCR") == "00"


def test_ws_addressing_clients_get_no_header_either(client, auto_cert):
    """A client that sends wsa:To (zeep, WCF, JAX-WS with addressing) gets the real service's
    header-less answer all the same (docs/reference/insi-teleservice.md §5)."""
    to = etree.Element(f"{{{WSA}}}To")
    to.text = "https://localhost/insi/soap"
    data = envelope(
        traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26"),
        message_id="uuid:1234",
        extra_headers=[to],
    )
    root = parse(post(client, data, TRAITS, certificate=auto_cert).data)
    assert root.find("soap:Header", NS) is None
    assert shape(root) == FOUND
    assert text(root, ".//res:CodeCR") == "00"


def test_every_call_is_audited_with_the_idam(soap_app, client, auto_cert):
    call(client, traits_body("ADRUN", ["ZOE"], "F", "1975-12-31"), certificate=auto_cert)
    row = soap_app.extensions["santeid"].insi.audit.rows(limit=1)[0]
    assert row["software_id"] == "TESTSANTEID1"
    assert row["channel"] == "soap"
    assert row["auth_method"] == "certificate"
    assert row["structure_id"] == "10B0152872"
    assert row["result"] == "00"


@pytest.mark.parametrize("idam", [None, "INCONNU0001"])
def test_a_call_refused_for_its_idam_is_recorded_with_the_idam_sent(
    soap_app, client, auto_cert, idam
):
    """Not under the certificate's structure, where it would count among the REST and FHIR
    calls made with that certificate (``GET /insi/v1/stats``)."""
    audit = soap_app.extensions["santeid"].insi.audit

    def certificate_stats() -> dict:
        response = client.get(
            "/insi/v1/stats",
            headers=cert_headers(auto_cert),
            environ_base={"REMOTE_ADDR": support.PROXY},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    before = certificate_stats()
    assert before["softwareId"] == support.STRUCTURE
    body = traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26")
    response = post(client, envelope(body, idam=idam), certificate=auto_cert)
    assert support.fault_parts(response.data)["erreur_code"] == "desir_550"
    row = audit.rows(limit=1)[0]
    assert (row["software_id"], row["structure_id"], row["result"]) == (
        idam or "", support.STRUCTURE, "desir_550",
    )  # fmt: skip
    assert certificate_stats() == before


def _rank_x(beneficiary):
    od, od_key, _, _, birth_name, birth_date, _ = beneficiary
    body = vitale_body((od, od_key), birth_name, birth_date, rank=None)
    etree.SubElement(body, f"{{{RECVIT}}}RangNaissance").text = "X"
    return body, VITALE, "RangNaissance"


def _prenom_not_first_of_the_list(_):
    traits = {**ADRTROIS, "Prenom": "PIERRE"}
    return verify_body("297022A020778", "78", **traits), VERIFY, "Prenom"


@pytest.mark.parametrize("refused", [_rank_x, _prenom_not_first_of_the_list])
def test_a_body_refused_after_authentication_is_audited(
    soap_app, client, auto_cert, beneficiary, refused
):
    """The adapter's own refusals of a body (a rank that is no number, a Prenom that does not
    start ListePrenom) are audited as the core's are: one row, the error code, the IDAM."""
    audit = soap_app.extensions["santeid"].insi.audit
    latest = audit.rows(limit=1)
    before = latest[0]["id"] if latest else 0
    body, action, element = refused(beneficiary)
    response = post(client, envelope(body, action), action, certificate=auto_cert)
    assert response.status_code == 500
    parts = support.fault_parts(response.data)
    assert parts["erreur_code"] == "santeid_invalid_trait"
    assert parts["text"].startswith(f"{element} : ")
    rows = [row for row in audit.rows(limit=10) if row["id"] > before]
    assert [(r["result"], r["software_id"], r["channel"], r["operation"]) for r in rows] == [
        ("santeid_invalid_trait", "TESTSANTEID1", "soap", action.rsplit(":", 1)[1])
    ]


#: The shape node-soap gives real clients' requests (docs/reference/insi-teleservice.md §8.1): every
#: namespace declared on
#: the envelope, ContexteBAM first with an empty COUVERTURE, wsa:Action and wsa:MessageID each
#: declaring both the wsa prefix and the default namespace, the body element declaring its
#: prefix and the default namespace, apostrophes written as &apos;.
NODE_SOAP_REQUEST = "".join(
    [
        '<?xml version="1.0" encoding="utf-8"?>\n',
        '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" ',
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"  ',
        'xmlns:tns="http://www.cnamts.fr/webservice" ',
        'xmlns:insi="http://www.cnamts.fr/ServiceIdentiteCertifiee/v1" ',
        'xmlns:insi_recsans_ins="http://www.cnamts.fr/INSiRecSans" ',
        'xmlns:insi_recvit_ins="http://www.cnamts.fr/INSiRecVit" ',
        'xmlns:insi_resultat_ins="http://www.cnamts.fr/INSiResultat" ',
        'xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/'
        'oasis-200401-wss-wssecurity-secext-1.0.xsd" ',
        'xmlns:ctxbam="urn:siram:bam:ctxbam" xmlns:ctxlps="urn:siram:lps:ctxlps" ',
        'xmlns:siram="urn:siram">',
        '<soap:Header><ctxbam:ContexteBAM Version="01_02"><ctxbam:Id>b1</ctxbam:Id>',
        "<ctxbam:Temps>2026-02-02T10:00:00.000Z</ctxbam:Temps>",
        "<ctxbam:Emetteur>10B0152872</ctxbam:Emetteur>",
        "<ctxbam:COUVERTURE></ctxbam:COUVERTURE></ctxbam:ContexteBAM> ",
        '<ctxlps:ContexteLPS Nature="CTXLPS" Version="01_00"><ctxlps:Id>l1</ctxlps:Id>',
        "<ctxlps:Temps>2026-02-02T10:00:00.000Z</ctxlps:Temps>",
        "<ctxlps:Emetteur>10B0152872</ctxlps:Emetteur>",
        '<ctxlps:LPS><ctxlps:IDAM R="4">TESTSANTEID1</ctxlps:IDAM>',
        "<ctxlps:Version>2026</ctxlps:Version><ctxlps:Instance>i1</ctxlps:Instance>",
        "<ctxlps:Nom>urn:lps:node-client:2026</ctxlps:Nom></ctxlps:LPS></ctxlps:ContexteLPS> ",
        '<wsa:Action xmlns:wsa="http://www.w3.org/2005/08/addressing" ',
        'xmlns="http://www.w3.org/2005/08/addressing">{action}</wsa:Action> ',
        '<wsa:MessageID xmlns:wsa="http://www.w3.org/2005/08/addressing" ',
        'xmlns="http://www.w3.org/2005/08/addressing">uuid:0d6f1c2e-node</wsa:MessageID>',
        "</soap:Header><soap:Body>",
        "<insi_recsans_ins:RECSANSVITALE ",
        'xmlns:insi_recsans_ins="http://www.cnamts.fr/INSiRecSans" ',
        'xmlns="http://www.cnamts.fr/INSiRecSans">',
        "<insi_recsans_ins:NomNaissance>{name}</insi_recsans_ins:NomNaissance>",
        "<insi_recsans_ins:Prenom>{given}</insi_recsans_ins:Prenom>",
        "<insi_recsans_ins:Sexe>{sex}</insi_recsans_ins:Sexe>",
        "<insi_recsans_ins:DateNaissance>{day}</insi_recsans_ins:DateNaissance>",
        "</insi_recsans_ins:RECSANSVITALE></soap:Body></soap:Envelope>",
    ]
)


def node_soap(name: str, given: str, sex: str, day: str) -> bytes:
    return NODE_SOAP_REQUEST.format(
        action=TRAITS, name=name, given=given, sex=sex, day=day
    ).encode()


def test_node_soap_shaped_request_gets_the_real_answer_shape(client, auto_cert):
    # Padoa posts "application/soap+xml;charset=utf-8", the action only in wsa:Action.
    response = client.post(
        "/insi/soap",
        data=node_soap("TCHITCHI", "CATARINA", "F", "1936-06-21"),
        headers={"Content-Type": "application/soap+xml;charset=utf-8", **cert_headers(auto_cert)},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    root = parse(response.data)
    assert shape(root) == FOUND
    assert text(root, ".//res:INSACTIF/res:IdIndividu/res:NumIdentifiant") == "2360663220836"
    assert text(root, ".//res:INSACTIF/res:IdIndividu/res:Cle") == "56"


def test_node_soap_shaped_d_aeion_request_gets_the_captured_fault(client, auto_cert):
    """The real answer to this request was the insi_102 fault (docs/reference/insi-teleservice.md
    §8.1, §6)."""
    response = post(
        client, node_soap("D&apos;AEION", "COEUR", "M", "1987-01-25"), TRAITS,
        certificate=auto_cert,
    )  # fmt: skip
    assert response.status_code == 500
    root = parse(response.data)
    assert text(root, ".//soap:Fault/soap:Code/soap:Subcode/soap:Value") == "S:siram_40"
    erreur = root.find(".//siram:Erreur", NS)
    # As captured: no messageID on this fault, although the request has one.
    assert (erreur.get("code"), erreur.get("messageID")) == ("insi_102", None)
