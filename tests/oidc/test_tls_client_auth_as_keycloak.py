"""``tls_client_auth`` as Keycloak's ``X509ClientAuthenticator`` answers it, case by case of
``MutualTLSClientTest`` (docs/reference/keycloak-behaviour.md, "Client authentication").

Where the client names itself: the form's ``client_id``, else the query string's, so a client
that puts it in the token endpoint's URL authenticates by its certificate all the same
(``testSuccessfulClientInvocationWithClientIdInQueryParams``).

How its registered subject DN is read (``new X500Principal(dn, CUSTOM_OIDS_REVERSED)``,
compared in RFC 2253 form with the certificate's subject): RFC 1779's spaces after the
separators, the keywords ``SERIALNUMBER``, ``BUSINESSCATEGORY`` and ``JURISDICTIONCOUNTRYNAME``,
and values given as ``#`` and their DER in hexadecimal
(``testClientInvocationWithOBBClient_*``)."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from santeid.pki import certificate_pem
from santeid.pki import issue_certificate
from santeid.pki import subject_name
from santeid.pki import write_pem
from tests.support.cps import igc_like_authorities
from tests.support.oidc_flow import register_client
from tests.support.servers import behind_proxy
from tests.support.servers import forwarded_certificate

TOKEN = "/auth/realms/esante-wallet/protocol/openid-connect/token"
SUBJECT = subject_name(common_name="logiciel-mtls", organization="Cabinet", country="FR")
OTHER = subject_name(common_name="autre-logiciel", organization="Cabinet", country="FR")
INVALID_CLIENT = {
    "error": "invalid_client",
    "error_description": "Invalid client or Invalid client credentials",
}
#: Keycloak's OBB test certificate's subject.
OBB_SUBJECT = x509.Name([
    x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
    x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "MA"),
    x509.NameAttribute(NameOID.LOCALITY_NAME, "Boston"),
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Red Hat"),
    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "My Org Unit"),
    x509.NameAttribute(NameOID.SERIAL_NUMBER, "2009"),
    x509.NameAttribute(NameOID.BUSINESS_CATEGORY, "Business Entity"),
    x509.NameAttribute(NameOID.JURISDICTION_COUNTRY_NAME, "BR"),
    x509.NameAttribute(NameOID.COMMON_NAME, "Foo"),
])  # fmt: skip
HEX = "1.3.6.1.4.1.311.60.2.1.3=#13024252,2.5.4.15=#130f427573696e65737320456e74697479"
TAIL = "OU=My Org Unit,O=Red Hat,L=Boston,ST=MA,C=US"
RESOLVED = (
    f"CN=Foo,JURISDICTIONCOUNTRYNAME=BR,BUSINESSCATEGORY=Business Entity,SERIALNUMBER=2009,{TAIL}"
)
UNRESOLVED = f"CN=Foo,{HEX},2.5.4.5=#130432303039,{TAIL}"
RFC1779 = ("CN=Foo, JURISDICTIONCOUNTRYNAME=BR, BUSINESSCATEGORY=Business Entity, "
           "SERIALNUMBER=2009, OU=My Org Unit, O=Red Hat, L=Boston, ST=MA, C=US")  # fmt: skip
#: The serial number 07237373000120, not the certificate's.
ANOTHER_SERIAL = f"CN=Foo,{HEX},2.5.4.5=#130e3037323337333733303030313230,{TAIL}"


@pytest.fixture
def issuing(tmp_path):
    root, issuing = igc_like_authorities(tmp_path / "igc")
    return issuing


@pytest.fixture
def settings(settings, tmp_path, issuing):
    bundle = tmp_path / "authorities.pem"
    write_pem(bundle, certificate_pem(issuing.certificate), mode=0o644)
    return behind_proxy(settings, tls_client_auth_ca_file=str(bundle))


@pytest.fixture
def registered(app):
    register_client(app, client_id="logiciel-mtls", client_secret=None,
                    grant_types=["client_credentials"], redirect_uris=[],
                    token_endpoint_auth_method="tls_client_auth",
                    tls_client_auth_subject_dn=SUBJECT.rfc4514_string())  # fmt: skip


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _thumbprint(certificate) -> str:
    digest = hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_a_client_id_in_the_query_authenticates_by_the_certificate(client, issuing, registered):
    certificate, _ = issue_certificate(issuing, subject=SUBJECT, key_type="ec-p256")
    answer = client.post(f"{TOKEN}?client_id=logiciel-mtls",
                         headers=forwarded_certificate(certificate),
                         data={"grant_type": "client_credentials"})  # fmt: skip
    assert answer.status_code == 200, answer.get_json()
    claims = _claims(answer.get_json()["access_token"])
    assert claims["azp"] == "logiciel-mtls"
    assert claims["cnf"] == {"x5t#S256": _thumbprint(certificate)}


@pytest.mark.parametrize("subject", [OTHER, None], ids=["another-subject", "no-certificate"])
def test_a_client_id_in_the_query_with_a_wrong_or_no_certificate_is_refused(
    client, issuing, registered, subject
):
    headers = {}
    if subject is not None:
        certificate, _ = issue_certificate(issuing, subject=subject, key_type="ec-p256")
        headers = forwarded_certificate(certificate)
    answer = client.post(f"{TOKEN}?client_id=logiciel-mtls", headers=headers,
                         data={"grant_type": "client_credentials"})  # fmt: skip
    assert (answer.status_code, answer.get_json()) == (401, INVALID_CLIENT)


def test_the_form_s_client_id_wins_over_the_query_s(client, issuing, registered):
    """Keycloak reads the form first: the query's ``client_id`` does not rescue a form that
    names a client the certificate does not authenticate."""
    certificate, _ = issue_certificate(issuing, subject=SUBJECT, key_type="ec-p256")
    answer = client.post(f"{TOKEN}?client_id=logiciel-mtls",
                         headers=forwarded_certificate(certificate),
                         data={"grant_type": "client_credentials",
                               "client_id": "inconnu"})  # fmt: skip
    assert (answer.status_code, answer.get_json()) == (401, INVALID_CLIENT)


def _token(app, client, issuing, registered_dn: str):
    register_client(app, client_id="obb", client_secret=None,
                    grant_types=["client_credentials"], redirect_uris=[],
                    token_endpoint_auth_method="tls_client_auth",
                    tls_client_auth_subject_dn=registered_dn)  # fmt: skip
    certificate, _ = issue_certificate(issuing, subject=OBB_SUBJECT, key_type="ec-p256")
    return client.post(TOKEN, headers=forwarded_certificate(certificate),
                       data={"grant_type": "client_credentials", "client_id": "obb"})  # fmt: skip


@pytest.mark.parametrize("registered_dn", [RESOLVED, UNRESOLVED, RFC1779],
                         ids=["rfc2553-resolved", "rfc2553-unresolved", "rfc1779"])  # fmt: skip
def test_the_subject_written_without_key_ops_it_authenticates(app, client, issuing,
                                                                registered_dn):  # fmt: skip
    answer = _token(app, client, issuing, registered_dn)
    assert answer.status_code == 200, answer.get_json()


def test_another_serial_number_does_not(app, client, issuing):
    answer = _token(app, client, issuing, ANOTHER_SERIAL)
    assert answer.status_code == 401
    assert answer.get_json()["error"] == "invalid_client"


def test_the_issuing_authority_s_dn_registered_authenticates_no_one(app, client, issuing):
    """``testFailedClientInvocationWithIssuerCertificateAndSubjectDN``: the client registered
    the DN of the authority that issued its certificate; only the client's own certificate is
    compared (the first of the chain), 401 ``invalid_client``."""
    authority_dn = issuing.certificate.subject.rfc4514_string()
    register_client(app, client_id="issuer-dn", client_secret=None,
                    grant_types=["client_credentials"], redirect_uris=[],
                    token_endpoint_auth_method="tls_client_auth",
                    tls_client_auth_subject_dn=authority_dn)  # fmt: skip
    certificate, _ = issue_certificate(issuing, subject=SUBJECT, key_type="ec-p256")
    form = {"grant_type": "client_credentials", "client_id": "issuer-dn"}
    answer = client.post(TOKEN, headers=forwarded_certificate(certificate), data=form)
    assert (answer.status_code, answer.get_json()) == (401, INVALID_CLIENT)
