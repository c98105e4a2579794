"""Every error of /insi/soap is a SOAP 1.2 fault carrying ``siram:Erreur``
(docs/reference/insi-teleservice.md §6), never an
HTML page or a bare 500: the teleservice's refusals with their real codes and texts, invalid
traits and schema violations naming the element, hostile or broken XML (XXE, billion laughs,
size, depth, syntax), the wrong SOAP version, unknown actions, and HTTP-level refusals."""

from __future__ import annotations

import logging
import time

import pytest
from lxml import etree

from santeid import create_app
from santeid.insi.soap import schemas
from santeid.insi.soap.envelope import MAX_DEPTH
from santeid.storage import MemoryStore
from tests.support import soap as support
from tests.support.soap import NS
from tests.support.soap import RECSANS
from tests.support.soap import SIRAM
from tests.support.soap import SOAP11
from tests.support.soap import SOAP12
from tests.support.soap import TRAITS
from tests.support.soap import VERIFY
from tests.support.soap import VITALE
from tests.support.soap import WSSE
from tests.support.soap import envelope
from tests.support.soap import fault_parts
from tests.support.soap import parse
from tests.support.soap import post
from tests.support.soap import shape
from tests.support.soap import traits_body
from tests.support.soap import verify_body

soap_home = support.soap_home
soap_settings = support.soap_settings
soap_app = support.soap_app
insi_ca = support.insi_ca
auto_cert = support.auto_cert

ADRTROIS = traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26")
INVALID_REASON = (
    "La requête transmise au service est invalide. Contactez l'éditeur du progiciel ou votre "
    "responsable informatique."
)
UNAVAILABLE_REASON = (
    "Le service est temporairement inaccessible. Veuillez renouveler votre demande "
    "ultérieurement. Si le problème persiste, contactez l'éditeur du progiciel ou votre "
    "responsable informatique."
)


@pytest.fixture
def client(soap_app):
    return soap_app.test_client()


def fault(response, status: int = 500) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/soap+xml"
    assert b"<html" not in response.data.lower()
    root = parse(response.data)
    assert root.tag == f"{{{SOAP12}}}Envelope"
    erreur = root.find(".//siram:Erreur", NS)
    assert erreur is not None
    # The detail is valid against santeid's own siram:Erreur schema.
    assert schemas.schema().validate(erreur), schemas.schema().error_log
    return fault_parts(response.data)


def copy(element):
    return etree.fromstring(etree.tostring(element))


# -- the teleservice's own refusals (docs/reference/insi-teleservice.md §6)
# ---------------------------------------------
def test_unknown_idam_is_siram_100_desir_550_in_the_real_shape(client, auto_cert):
    data = envelope(copy(ADRTROIS), idam="PDP17NF21DD0", message_id="uuid:fake-idam-1")
    response = post(client, data, certificate=auto_cert)
    parts = fault(response)
    assert parts == {
        "code": "soap:Sender",
        "subcode": "soap:siram_100",
        "reason": "L'accès par ce progiciel au service n'est pas autorisé. Contactez l'éditeur "
        "du progiciel ou votre responsable informatique.",
        "erreur_code": "desir_550",
        "severite": "erreur",
        "message_id": "uuid:fake-idam-1",
        "text": "Numéro d'autorisation du logiciel inconnu.",
    }
    # Element order, prefixes and declarations of the captured fault
    # (docs/reference/insi-teleservice.md §8.5).
    assert shape(parse(response.data)) == [
        ("soap:Envelope", {"soap": SOAP12}),
        ("env:Body", {"env": SOAP12}),
        ("soap:Fault", {}),
        ("soap:Code", {}),
        ("soap:Value", {}),
        ("soap:Subcode", {}),
        ("soap:Value", {}),
        ("soap:Reason", {}),
        ("soap:Text", {}),
        ("soap:Detail", {}),
        ("siram:Erreur", {"siram": SIRAM}),
    ]
    text = parse(response.data).find(".//soap:Text", NS)
    assert text.get("{http://www.w3.org/XML/1998/namespace}lang") == "fr"


@pytest.mark.parametrize(
    "kwargs", [{"idam": None}, {"lps": False}], ids=["no IDAM", "no ContexteLPS"]
)
def test_missing_software_authorisation_is_siram_100(client, auto_cert, kwargs):
    parts = fault(post(client, envelope(copy(ADRTROIS), **kwargs), certificate=auto_cert))
    assert (parts["subcode"], parts["erreur_code"]) == ("soap:siram_100", "desir_550")


def test_idam_of_another_kind_is_not_an_authorisation_number(client, auto_cert):
    data = envelope(copy(ADRTROIS)).replace(b'R="4"', b'R="1"')
    parts = fault(post(client, data, certificate=auto_cert))
    assert parts["erreur_code"] == "desir_550"


def test_d_aeion_answers_the_captured_technical_error(client, auto_cert):
    body = traits_body("D'AEION", ["COEUR"], "M", "1987-01-25")
    response = post(client, envelope(body, message_id="uuid:aeion"), certificate=auto_cert)
    parts = fault(response, 500)
    # The captured shape (docs/reference/insi-teleservice.md §8b): S: prefixes, no messageID
    # although the request had one.
    assert parts["code"] == "S:Receiver"
    assert parts["subcode"] == "S:siram_40"
    assert parts["erreur_code"] == "insi_102"
    assert parts["severite"] == "fatal"  # sic, as captured
    assert parts["reason"] == UNAVAILABLE_REASON
    assert parts["text"] == (
        "L'appel au service de recherche avec les traits d'identité renvoie une erreur technique."
    )
    assert parts["message_id"] is None
    text = parse(response.data).find(".//soap:Text", NS)
    assert text.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"  # sic


# -- invalid content, naming the element -----------------------------------------------------
@pytest.mark.parametrize(
    ("body", "element", "code"),
    [
        (traits_body("Adrtrois", ["DOMINIQUE"], "F", "1997-02-26"), "NomNaissance", "trait"),
        (traits_body("ADRTRÖIS", ["DOMINIQUE"], "F", "1997-02-26"), "NomNaissance", "trait"),
        (traits_body("ADRTROIS", ["DOMINIQUE-"], "F", "1997-02-26"), "Prenom", "trait"),
        (traits_body("ADRTROIS", ["DOMINIQUE"], "X", "1997-02-26"), "Sexe", "trait"),
        (traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-30"), "DateNaissance", "trait"),
        (traits_body(None, ["DOMINIQUE"], "F", "1997-02-26"), "NomNaissance", "trait"),
        (traits_body("ADRTROIS", [], "F", "1997-02-26"), "Prenom", "trait"),
        # Sexe and LieuNaissance are plain strings in the schema: the trait rules refuse them.
        (traits_body("ADRTROIS", ["DOMINIQUE"], "FF", "1997-02-26"), "Sexe", "trait"),
        (traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26", "2A0"), "LieuNaissance",
         "trait"),
    ],
)  # fmt: skip
def test_invalid_traits_are_refused_naming_the_element(client, auto_cert, body, element, code):
    parts = fault(post(client, envelope(body), certificate=auto_cert))
    assert parts["code"] == "soap:Sender"
    assert parts["subcode"] == "soap:santeid_invalid_input"
    assert parts["erreur_code"] == f"santeid_invalid_{code}"
    assert parts["reason"] == INVALID_REASON
    assert parts["text"].startswith(f"{element} : "), parts["text"]


def test_unexpected_element_is_named(client, auto_cert):
    body = copy(ADRTROIS)
    etree.SubElement(body, "{http://www.cnamts.fr/INSiRecSans}Surnom").text = "DODO"
    parts = fault(post(client, envelope(body), certificate=auto_cert))
    assert parts["erreur_code"] == "santeid_invalid_request"
    assert parts["text"].startswith("Surnom : ")


def test_invalid_context_header_is_named(client, auto_cert):
    data = envelope(copy(ADRTROIS)).replace(b' Version="01_00"', b"")
    parts = fault(post(client, data, certificate=auto_cert))
    assert parts["text"].startswith("ContexteLPS : ")


def test_verification_prenom_must_be_coherent_with_the_list(client, auto_cert):
    body = verify_body(
        "297022A020778", "78", NomNaissance="ADRTROIS", Prenom="MARIE", ListePrenom="DOMINIQUE",
        Sexe="F", DateNaissance="1997-02-26", LieuNaissance="2A020",
    )  # fmt: skip
    parts = fault(post(client, envelope(body, VERIFY), VERIFY, certificate=auto_cert))
    assert parts["text"].startswith("Prenom : ")


def test_verification_with_a_wrong_key_names_cle(client, auto_cert):
    body = verify_body(
        "297022A020778", "77", NomNaissance="ADRTROIS", ListePrenom="DOMINIQUE", Sexe="F",
        DateNaissance="1997-02-26", LieuNaissance="2A020",
    )  # fmt: skip
    parts = fault(post(client, envelope(body, VERIFY), VERIFY, certificate=auto_cert))
    assert parts["text"].startswith("Cle : ")


def test_body_of_another_operation_is_refused(client, auto_cert):
    parts = fault(post(client, envelope(copy(ADRTROIS), VITALE), VITALE, certificate=auto_cert))
    assert parts["erreur_code"] == "santeid_invalid_request"
    assert "RECVITALE" in parts["text"]


WRONG_NAMESPACE = "http://www.cnamts.fr/INSiRecSans/v2"


def _in_wrong_namespace(action: str | None) -> bytes:
    return envelope(copy(ADRTROIS), action).replace(RECSANS.encode(), WRONG_NAMESPACE.encode())


def test_body_in_another_namespace_says_which_namespaces(client, auto_cert):
    # Same local name, other namespace: the fault must tell the two apart, not say
    # "RECSANSVITALE : the body of … is RECSANSVITALE".
    parts = fault(post(client, _in_wrong_namespace(TRAITS), TRAITS, certificate=auto_cert))
    assert parts["erreur_code"] == "santeid_invalid_request"
    assert parts["text"] == (
        f"RECSANSVITALE : the body of rechercherInsAvecTraitsIdentite is RECSANSVITALE in "
        f"{RECSANS}, not in {WRONG_NAMESPACE}"
    )


def test_body_no_operation_has_without_an_action_is_named(client, auto_cert):
    # No action at all (neither the media type's nor wsa:Action): the body element decides, and
    # one no operation has is named, not reported as an empty action.
    response = post(client, _in_wrong_namespace(None), None, certificate=auto_cert)
    parts = fault(response)
    assert parts["erreur_code"] == "santeid_invalid_request"
    assert parts["text"] == (
        f"RECSANSVITALE : no action given, and {{{WRONG_NAMESPACE}}}RECSANSVITALE is the body "
        "of no operation"
    )
    assert b"ProblemAction" not in response.data


# -- hostile or broken XML -------------------------------------------------------------------
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>
<r:RECSANSVITALE xmlns:r="http://www.cnamts.fr/INSiRecSans"><r:NomNaissance>&xxe;</r:NomNaissance>
</r:RECSANSVITALE></soap:Body></soap:Envelope>"""

LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']>\n<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>'
    b"<x>&lol9;</x></soap:Body></soap:Envelope>"
)


@pytest.mark.parametrize(
    "data",
    [XXE, LAUGHS, XXE.decode().replace('"1.0"?', '"1.0" encoding="UTF-16"?').encode("utf-16")],
    ids=["xxe", "billion-laughs", "utf16-doctype"],
)
def test_dtds_are_refused_before_any_expansion(client, auto_cert, data):
    started = time.monotonic()
    parts = fault(post(client, data, certificate=auto_cert))
    assert time.monotonic() - started < 2
    assert parts["erreur_code"] == "santeid_xml_forbidden"
    assert "root:" not in (parts["text"] or "")


def test_oversized_request_is_413_fault(client, auto_cert):
    body = copy(ADRTROIS)
    etree.SubElement(body, "{http://www.cnamts.fr/INSiRecSans}Prenom").text = "A" * (300 * 1024)
    parts = fault(post(client, envelope(body), certificate=auto_cert), 413)
    assert parts["erreur_code"] == "santeid_xml_too_large"


def test_too_deep_request_is_refused(client, auto_cert):
    body = copy(ADRTROIS)
    node = body.find("{http://www.cnamts.fr/INSiRecSans}NomNaissance")
    node.text = None
    for _ in range(MAX_DEPTH):
        node = etree.SubElement(node, "x")
    parts = fault(post(client, envelope(body), certificate=auto_cert))
    assert parts["erreur_code"] == "santeid_xml_too_deep"


def test_far_too_deep_request_is_refused_by_the_parser_limits(client, auto_cert):
    data = envelope(copy(ADRTROIS)).replace(
        b"<soap:Body>", b"<soap:Body>" + b"<a>" * 5000 + b"</a>" * 5000
    )
    parts = fault(post(client, data, certificate=auto_cert))
    assert parts["erreur_code"] in ("santeid_xml_malformed", "santeid_xml_too_deep")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"<soap:Envelope xmlns:soap='http://www.w3.org/2003/05/soap-envelope'><soap:Body>",
         "santeid_xml_malformed"),
        (b"", "santeid_xml_malformed"),
        (b"not xml at all", "santeid_xml_malformed"),
        (b"<RECSANSVITALE/>", "santeid_invalid_envelope"),
        (b"<e:Envelope xmlns:e='http://www.w3.org/2003/05/soap-envelope'/>",
         "santeid_invalid_envelope"),
        (b"<e:Envelope xmlns:e='http://www.w3.org/2003/05/soap-envelope'><e:Body><a/><b/></e:Body>"
         b"</e:Envelope>", "santeid_invalid_envelope"),
    ],
)  # fmt: skip
def test_malformed_requests_are_faults(client, auto_cert, data, code):
    parts = fault(post(client, data, certificate=auto_cert))
    assert parts["erreur_code"] == code


# -- SOAP and WS-Addressing faults -----------------------------------------------------------
def test_soap_11_envelope_gets_a_soap_11_version_mismatch_with_upgrade(client, auto_cert):
    data = envelope(copy(ADRTROIS)).replace(SOAP12.encode(), SOAP11.encode())
    response = post(client, data, certificate=auto_cert, **{"Content-Type": "text/xml"})
    assert response.status_code == 500
    assert response.mimetype == "text/xml"
    root = parse(response.data)
    assert root.tag == f"{{{SOAP11}}}Envelope"
    assert root.findtext(f".//{{{SOAP11}}}Fault/faultcode") == "soapenv:VersionMismatch"
    supported = root.find(f".//{{{SOAP12}}}Upgrade/{{{SOAP12}}}SupportedEnvelope")
    assert supported.get("qname") == "ns1:Envelope"


def test_unknown_envelope_version_is_version_mismatch(client, auto_cert):
    data = envelope(copy(ADRTROIS)).replace(SOAP12.encode(), b"urn:soap:99")
    response = post(client, data, certificate=auto_cert)
    assert response.status_code == 500
    root = parse(response.data)
    assert root.findtext(".//soap:Fault/soap:Code/soap:Value", namespaces=NS) == (
        "soap:VersionMismatch"
    )
    assert root.find("soap:Header/soap:Upgrade", NS) is not None


def test_unknown_action_is_action_not_supported(client, auto_cert):
    action = "urn:ServiceIdentiteCertifiee:1.0.0:supprimerIns"
    response = post(client, envelope(copy(ADRTROIS), action), action, certificate=auto_cert)
    parts = fault(response)
    assert parts["subcode"] == "wsa:ActionNotSupported"
    assert parts["erreur_code"] == "santeid_action"
    problem = parse(response.data).find(".//{http://www.w3.org/2005/08/addressing}ProblemAction")
    assert problem.findtext("{http://www.w3.org/2005/08/addressing}Action") == action


def test_action_parameter_and_wsa_action_must_agree(client, auto_cert):
    response = post(client, envelope(copy(ADRTROIS), TRAITS), VITALE, certificate=auto_cert)
    assert fault(response)["subcode"] == "wsa:ActionMismatch"


def test_unknown_must_understand_header_is_a_must_understand_fault(client, auto_cert):
    block = etree.Element("{urn:example:x}Transaction", nsmap={"x": "urn:example:x"})
    block.set(f"{{{SOAP12}}}mustUnderstand", "true")
    data = envelope(copy(ADRTROIS), extra_headers=[block])
    response = post(client, data, certificate=auto_cert)
    assert response.status_code == 500
    root = parse(response.data)
    assert root.findtext(".//soap:Code/soap:Value", namespaces=NS) == "soap:MustUnderstand"
    not_understood = root.find("soap:Header/soap:NotUnderstood", NS)
    assert not_understood.get("qname").endswith(":Transaction")
    # The same block without mustUnderstand is simply ignored.
    block.attrib.clear()
    response = post(client, envelope(copy(ADRTROIS), extra_headers=[block]), certificate=auto_cert)
    assert response.status_code == 200


def _marked(value: str, *, blocks: tuple[str, ...] | None = None) -> bytes:
    """The recorded client shape (docs/reference/insi-teleservice.md §8.1) plus an empty
    ``wsse:Security`` (mTLS mode), each header block — or those named — marked
    ``env:mustUnderstand="value"``."""
    security = etree.Element(f"{{{WSSE}}}Security", nsmap={"wsse": WSSE})
    root = etree.fromstring(envelope(copy(ADRTROIS), security=security))
    for block in root.find("soap:Header", NS):
        if blocks is None or etree.QName(block).localname in blocks:
            block.set(f"{{{SOAP12}}}mustUnderstand", value)
    return etree.tostring(root)


@pytest.mark.parametrize("value", ["true", "1", " true ", "0", "false", " 0 "])
def test_every_header_block_real_clients_send_is_understood(client, auto_cert, value):
    # ContexteBAM, ContexteLPS, wsa:Action, wsa:MessageID, wsse:Security: processed by santeid,
    # so marked mustUnderstand (any lexical form of xs:boolean) they are answered as usual.
    response = post(client, _marked(value), certificate=auto_cert)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert parse(response.data).find(".//{*}RESULTAT") is not None


@pytest.mark.parametrize("value", ["true", "1", " true ", "\t1 "])
def test_must_understand_is_read_as_an_xs_boolean(client, auto_cert, value):
    # SOAP 1.2 Part 1 §5.2.3: a receiver accepts any valid lexical form of xs:boolean, blanks
    # around it included (whiteSpace collapse).
    block = etree.Element("{urn:example:x}Transaction", nsmap={"x": "urn:example:x"})
    block.set(f"{{{SOAP12}}}mustUnderstand", value)
    response = post(client, envelope(copy(ADRTROIS), extra_headers=[block]), certificate=auto_cert)
    root = parse(response.data)
    assert root.findtext(".//soap:Code/soap:Value", namespaces=NS) == "soap:MustUnderstand"


@pytest.mark.parametrize("value", ["false", "0", " false "])
def test_an_unknown_block_not_marked_must_understand_is_ignored(client, auto_cert, value):
    block = etree.Element("{urn:example:x}Transaction", nsmap={"x": "urn:example:x"})
    block.set(f"{{{SOAP12}}}mustUnderstand", value)
    response = post(client, envelope(copy(ADRTROIS), extra_headers=[block]), certificate=auto_cert)
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.parametrize("value", ["yes", "TRUE", "True", "", "2", "t rue"])
@pytest.mark.parametrize("blocks", [("Transaction",), ("ContexteLPS",)])
def test_a_must_understand_that_is_no_xs_boolean_is_a_sender_fault(
    client, auto_cert, value, blocks
):
    # Not a SOAP 1.2 envelope (the attribute is an xs:boolean): a malformed message, the Sender's
    # mistake (§5.4.6; W3C SOAP 1.2 test collection, T14), on an unknown block as on one santeid
    # processes — never read as false, which would skip a block its sender wants understood.
    extra = etree.Element("{urn:example:x}Transaction", nsmap={"x": "urn:example:x"})
    root = etree.fromstring(envelope(copy(ADRTROIS), extra_headers=[extra], message_id="uuid:mu"))
    for block in root.find("soap:Header", NS):
        if etree.QName(block).localname in blocks:
            block.set(f"{{{SOAP12}}}mustUnderstand", value)
    parts = fault(post(client, etree.tostring(root), certificate=auto_cert))
    assert parts["code"] == "soap:Sender"
    assert parts["erreur_code"] == "santeid_invalid_envelope"
    assert f"mustUnderstand {value!r}" in parts["text"]
    assert blocks[0] in parts["text"]
    assert parts["message_id"] == "uuid:mu"


# -- HTTP-level refusals, told as faults -----------------------------------------------------
def test_wrong_media_type_is_415_fault(client, auto_cert):
    response = post(
        client, envelope(copy(ADRTROIS)), certificate=auto_cert, **{"Content-Type": "text/plain"}
    )
    assert fault(response, 415)["erreur_code"] == "santeid_media_type"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_405_faults(client, method):
    response = client.open("/insi/soap", method=method)
    assert fault(response, 405)["erreur_code"] == "santeid_http_method"
    assert response.headers["Allow"] == "GET, HEAD, POST"


def test_head_answers_the_wsdls_headers(client):
    response = client.head("/insi/soap?wsdl")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    assert response.data == b""


def test_get_without_wsdl_is_405_fault(client):
    assert fault(client.get("/insi/soap"), 405)["erreur_code"] == "santeid_http_method"


@pytest.mark.parametrize("path", ["/insi/soap/", "/insi/soap/lps", "/insi/soap?xsd=nope.xsd"])
def test_unknown_paths_are_404_faults(client, path):
    method = client.post if path.endswith("lps") else client.get
    assert fault(method(path), 404)["erreur_code"] == "santeid_not_found"


def test_huge_query_parameter_is_a_fault(client):
    response = client.get("/insi/soap", query_string={"wsdl": "x" * 10000})
    assert fault(response, 400)["erreur_code"] == "santeid_invalid_request"


def test_a_bug_is_the_service_unavailable_fault_not_a_page(
    soap_app, client, auto_cert, monkeypatch
):
    def boom(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(soap_app.extensions["santeid"].insi, "search_by_traits", boom)
    parts = fault(post(client, envelope(copy(ADRTROIS)), certificate=auto_cert), 500)
    # desir_1020 in its captured shape (docs/reference/insi-teleservice.md §8b): soap:Sender /
    # soap:siram_40, fatale.
    assert (parts["code"], parts["subcode"], parts["erreur_code"], parts["severite"]) == (
        "soap:Sender", "soap:siram_40", "desir_1020", "fatale",
    )  # fmt: skip
    assert "bug" not in parts["text"]


def test_a_missing_base_is_desir_1020_and_its_cause_is_logged(
    soap_settings, auto_cert, tmp_path, caplog
):
    """The fault names no cause (docs/insi-soap.md, "Faults"); the operator reads it in the
    log, where REST and FHIR callers read it in the answer."""
    absent = tmp_path / "absent.sqlite3"
    broken = create_app(soap_settings.replace(insi_base=str(absent)), store=MemoryStore())
    broken.extensions["santeid"].insi.software().add(support.IDAM, "tests", replace=True)
    with caplog.at_level(logging.WARNING, logger="santeid.insi.soap"):
        response = post(broken.test_client(), envelope(copy(ADRTROIS)), certificate=auto_cert)
    parts = fault(response, 500)
    assert (parts["subcode"], parts["erreur_code"]) == ("soap:siram_40", "desir_1020")
    assert str(absent) not in response.get_data(as_text=True)
    assert f"no civil-status base at {absent}" in caplog.text
    assert "santeid civil generate" in caplog.text


def test_message_id_is_echoed_in_every_fault_after_the_envelope_is_read(client, auto_cert):
    body = traits_body("adrtrois", ["DOMINIQUE"], "F", "1997-02-26")
    data = envelope(body, message_id="uuid:echo-me")
    assert fault(post(client, data, certificate=auto_cert))["message_id"] == "uuid:echo-me"
