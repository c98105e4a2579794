"""INSi SOAP against a real server: a certificate whose vendor's software numbers are
configured (``insi_idam_by_certificate``) cannot claim another software's IDAM — the call is
refused with ``DESIR_560`` — so every call is attributed to a software the certificate
proves; a certificate not listed keeps working as before."""

from __future__ import annotations

import json

import pytest

from santeid.pki import load_certificates
from tests.support.insi_server import STRUCTURE
from tests.support.insi_server import envelope
from tests.support.insi_server import insi_server
from tests.support.insi_server import post
from tests.support.insi_server import refused
from tests.support.servers import santeid_home

pytestmark = [pytest.mark.server, pytest.mark.redis]

VENDOR_IDAM = "VENDORA00001"
OTHER_IDAM = "VENDORB00002"


@pytest.fixture(scope="module")
def setup(tmp_path_factory, redis_server):
    prepared = santeid_home(tmp_path_factory.mktemp("insi-idam"))
    home = prepared.home
    for cn, folder in (("INSI-AUTO", "vendor-a"), ("INSI-MANU", "unlisted")):
        prepared.cli("insi", "issue-cert", "--structure", STRUCTURE, "--cn", cn,
                     "--organization", folder.upper(), "--out", str(home / folder))  # fmt: skip
    for idam in (VENDOR_IDAM, OTHER_IDAM):
        prepared.cli("insi", "software", "add", idam, "--name", f"software {idam}")
    vendor = load_certificates(home / "vendor-a" / "cert.pem")[0]
    unlisted = load_certificates(home / "unlisted" / "cert.pem")[0]
    # Written in the certificate's order with lower-case types, as an operator may copy it:
    # the same subject (compared exactly, such a binding never applied, and the vendor's
    # certificate could claim any software number).
    written = ",".join(
        f"{attribute.rfc4514_string().split('=', 1)[0].lower()}={attribute.value}"
        for attribute in vendor.subject
    )
    assert written != vendor.subject.rfc4514_string()
    bindings = {written: [VENDOR_IDAM]}
    settings = {"SANTEID_INSI_IDAM_BY_CERTIFICATE": json.dumps(bindings)}
    with insi_server(home, redis_server, db=14, settings=settings) as server:
        yield server, vendor, unlisted


def test_a_certificate_cannot_claim_another_vendors_software(setup):
    server, vendor, _ = setup
    assert post(server, envelope(idam=VENDOR_IDAM), certificate=vendor).status_code == 200
    reason = refused(post(server, envelope(idam=OTHER_IDAM), certificate=vendor))
    assert "non autorisé pour ce certificat" in reason
    assert "Traceback" not in server.log.read_text()


def test_a_listed_certificate_must_claim_a_software(setup):
    server, vendor, _ = setup
    refused(post(server, envelope(idam=None), certificate=vendor))


def test_an_unlisted_certificate_is_not_bound(setup):
    server, _, unlisted = setup
    assert post(server, envelope(idam=OTHER_IDAM), certificate=unlisted).status_code == 200
