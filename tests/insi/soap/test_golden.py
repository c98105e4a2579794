"""santeid's bytes against the captured real responses, byte for byte
(docs/reference/insi-teleservice.md §8.2, §8.4, §8b).

The files under ``golden/`` are the captured texts of the real qualification service and of the
CNDA file clients compare live answers with (``golden/README.md``); none was written from
santeid's output. Each test sends the request that got the captured answer and compares the
whole body, and the HTTP status every captured fault came back with (500).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from santeid import create_app
from santeid.storage import MemoryStore
from tests.support import soap as support
from tests.support.soap import TRAITS
from tests.support.soap import VITALE
from tests.support.soap import WSA
from tests.support.soap import envelope
from tests.support.soap import post
from tests.support.soap import traits_body
from tests.support.soap import vitale_body

soap_home = support.soap_home
soap_settings = support.soap_settings
soap_app = support.soap_app
insi_ca = support.insi_ca
auto_cert = support.auto_cert

GOLDEN = Path(__file__).parent / "golden"
#: The request id of the captured unknown-software and service-unavailable faults.
CAPTURED_MESSAGE_ID = "uuid:b3549edd-4ae9-472a-b26f-fd2fb4ef397f"


def golden(name: str) -> bytes:
    return (GOLDEN / name).read_bytes()


@pytest.fixture
def client(soap_app):
    return soap_app.test_client()


def ask(client, certificate, *traits, **kwargs):
    return post(client, envelope(traits_body(*traits), **kwargs), certificate=certificate)


def addressed_headers() -> list[etree._Element]:
    """What zeep or WCF add when they address a message (``wsa:To``, ``wsa:ReplyTo``)."""
    to = etree.Element(f"{{{WSA}}}To")
    to.text = "https://localhost/insi/soap"
    reply_to = etree.Element(f"{{{WSA}}}ReplyTo")
    etree.SubElement(
        reply_to, f"{{{WSA}}}Address"
    ).text = "http://www.w3.org/2005/08/addressing/anonymous"
    return [to, reply_to]


def test_golden_files_are_the_captured_bytes():
    # The CNDA not-found file has a CRLF after the XML declaration; the others none at all.
    assert golden("cr01-not-found.xml").count(b"\r\n") == 1
    for name in ("cr00-ecetinsi.xml", "cr02-de-vinci.xml", "fault-desir_550.xml"):
        assert golden(name).count(b"\n") == 1 and b"\r" not in golden(name)


def test_found_with_history_is_the_live_ecetinsi_answer(client, auto_cert):
    response = ask(client, auto_cert, "ECETINSI", ["PIERRE-ALAIN"], "M", "2009-07-14")
    assert response.status_code == 200
    assert response.data == golden("cr00-ecetinsi.xml")


def test_several_found_is_the_captured_de_vinci_answer(client, auto_cert):
    response = ask(client, auto_cert, "DE VINCI", ["LEONARDO"], "M", "2014-02-01")
    assert response.status_code == 200
    assert response.data == golden("cr02-de-vinci.xml")


@pytest.mark.parametrize(
    ("body", "action"),
    [
        (lambda: traits_body("TCHITCHI", ["OLA"], "F", "1936-06-21"), TRAITS),
        (lambda: traits_body("HOUILLES", ["PIERRE PAUL JACQUES"], "M", "1993-01-27"), TRAITS),
        # Captured once as desir_1020; a name that exists nowhere answers 01.
        (lambda: traits_body("DE VINCI", ["DICAPRIO"], "M", "2014-02-01"), TRAITS),
        # The carte Vitale search's 01 is the same RESULTAT (docs/reference/insi-teleservice.md
        # §5): ADRTROIS's card has no beneficiary of rang 2.
        (lambda: vitale_body(("297022A020778", "78"), "ADRTROIS", "1997-02-26", 2), VITALE),
    ],
    ids=["tchitchi", "houilles", "de-vinci", "carte-vitale"],
)
def test_not_found_is_the_cnda_file_byte_for_byte(client, auto_cert, body, action):
    response = post(client, envelope(body(), action), action, certificate=auto_cert)
    assert response.status_code == 200
    assert response.data == golden("cr01-not-found.xml")


@pytest.mark.parametrize(
    ("traits", "name"),
    [
        (("TCHITCHI", ["OLA"], "F", "1936-06-21"), "cr01-not-found.xml"),
        (("ECETINSI", ["PIERRE-ALAIN"], "M", "2009-07-14"), "cr00-ecetinsi.xml"),
    ],
)
def test_addressed_requests_get_no_soap_header(client, auto_cert, traits, name):
    response = ask(client, auto_cert, *traits, extra_headers=addressed_headers())
    assert response.data == golden(name)


def test_unknown_software_is_the_captured_fault(client, auto_cert):
    response = ask(
        client, auto_cert, "ADRDEUX", ["LAURENT"], "M", "1981-01-01",
        idam="PDP17NF21DD0", message_id=CAPTURED_MESSAGE_ID,
    )  # fmt: skip
    assert response.status_code == 500
    assert response.mimetype == "application/soap+xml"
    assert response.data == golden("fault-desir_550.xml")


def test_technical_error_is_the_captured_fault_without_message_id(client, auto_cert):
    response = ask(
        client, auto_cert, "D'AEION", ["COEUR"], "M", "1987-01-25", message_id=CAPTURED_MESSAGE_ID
    )
    assert response.status_code == 500
    assert response.data == golden("fault-insi_102.xml")


@pytest.mark.parametrize(
    ("given", "name"),
    [("INDISPONIBLE", "fault-desir_1020.xml"), ("TECHNIQUE", "fault-insi_102.xml")],
)
def test_sandbox_scenarios_answer_the_captured_faults(client, auto_cert, given, name):
    response = ask(
        client, auto_cert, "SANTEID-FAUTE", [given], "M", "2014-02-01",
        message_id=CAPTURED_MESSAGE_ID,
    )  # fmt: skip
    assert response.status_code == 500
    assert response.data == golden(name)


def test_sandbox_scenario_of_insufficient_access(client, auto_cert):
    response = ask(client, auto_cert, "SANTEID-FAUTE", ["ACCES"], "F", "1990-01-01")
    assert response.status_code == 500
    parts = support.fault_parts(response.data)
    assert (parts["code"], parts["erreur_code"], parts["reason"], parts["text"]) == (
        "soap:Sender",
        "DESIR_560",
        "Niveau d'accès insuffisant",
        "Vous ne disposez pas des droits suffisants pour accéder à ce service",
    )


@pytest.fixture
def production_client(soap_settings, insi_ca, tmp_path):
    """The same base without sandbox mode, trusting the test INSi authority on purpose (outside
    sandbox mode only ``insi_ca_file`` is)."""
    settings = soap_settings.replace(
        sandbox=False, data_dir=str(tmp_path / "var"), insi_ca_file=str(insi_ca.cert_path)
    )
    app = create_app(settings, store=MemoryStore())
    app.extensions["santeid"].insi.software().add(support.IDAM, "tests", replace=True)
    return app.test_client()


def test_sandbox_scenarios_do_not_exist_outside_sandbox_mode(production_client, auto_cert):
    response = ask(
        production_client, auto_cert, "SANTEID-FAUTE", ["INDISPONIBLE"], "M", "2014-02-01"
    )
    assert response.status_code == 200
    assert response.data == golden("cr01-not-found.xml")


@pytest.fixture
def binding_client(soap_settings, tmp_path):
    """``insi_soap_sender_400``: the SOAP 1.2 HTTP binding's status for Sender faults."""
    settings = soap_settings.replace(insi_soap_sender_400=True, data_dir=str(tmp_path / "var"))
    app = create_app(settings, store=MemoryStore())
    app.extensions["santeid"].insi.software().add(support.IDAM, "tests", replace=True)
    return app.test_client()


def test_setting_keeps_soap_12_status_400_for_sender_faults_only(binding_client, auto_cert):
    sender = ask(
        binding_client, auto_cert, "ADRDEUX", ["LAURENT"], "M", "1981-01-01",
        idam="PDP17NF21DD0", message_id=CAPTURED_MESSAGE_ID,
    )  # fmt: skip
    assert sender.status_code == 400
    assert sender.data == golden("fault-desir_550.xml")
    receiver = ask(binding_client, auto_cert, "D'AEION", ["COEUR"], "M", "1987-01-25")
    assert receiver.status_code == 500
