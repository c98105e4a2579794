"""``tls_client_auth`` checks the certificate's validity period itself: in sandbox mode the
TLS handshake no longer does (so that expired test cards get their explanation page)."""

from __future__ import annotations

import datetime

import pytest

from santeid.pki import issue_certificate
from santeid.pki import subject_name
from tests.support.ciba import backchannel
from tests.support.ciba import register_ciba_client
from tests.support.cps import machine_authority
from tests.support.servers import behind_proxy
from tests.support.servers import forwarded_certificate


@pytest.fixture
def settings(settings, tmp_path):
    # Trusting the authority of the client's certificate (tls_client_auth_ca_file).
    return behind_proxy(
        settings, tls_client_auth_ca_file=str(machine_authority(tmp_path).cert_path)
    )


def _certificate(tmp_path, **validity):
    authority = machine_authority(tmp_path)
    certificate, _ = issue_certificate(
        authority,
        subject=subject_name(common_name="logiciel", organization="Cabinet", country="FR"),
        key_type="ec-p256",
        **validity,
    )
    return certificate


@pytest.mark.parametrize("when", ["valid", "expired", "not_yet_valid"])
def test_tls_client_auth_refuses_a_certificate_outside_its_validity(app, client, tmp_path, when):
    now = datetime.datetime.now(datetime.UTC)
    day = datetime.timedelta(days=1)
    validity = {
        "valid": {},
        "expired": {"not_before": now - 10 * day, "not_after": now - day},
        "not_yet_valid": {"not_before": now + day, "not_after": now + 10 * day},
    }[when]
    certificate = _certificate(tmp_path, **validity)
    meta = register_ciba_client(
        app,
        "mtls-client",
        client_secret=None,
        token_endpoint_auth_method="tls_client_auth",
        tls_client_auth_subject_dn=certificate.subject.rfc4514_string(),
    )
    header = forwarded_certificate(certificate)
    response = backchannel(
        client, meta, headers=header, login_hint="810000000030", client_id="mtls-client"
    )
    assert response.status_code == (200 if when == "valid" else 401), response.get_json()
