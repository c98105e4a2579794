"""A ``tls_client_auth`` refusal is ``401 invalid_client`` whatever the cause (RFC 6749 §5.2),
but the log says which cause when it can be told: the file holds no authority of the
certificate's issuer (an intermediate authority missing beside its root), or the authority it
holds is expired (docs/endpoints.md, "mTLS")."""

from __future__ import annotations

import datetime
import logging

import pytest

from santeid.pki import TestAuthority
from santeid.pki import certificate_pem
from santeid.pki import generate_private_key
from santeid.pki import issue_certificate
from santeid.pki import subject_name
from santeid.pki import write_pem
from tests.support.cps import igc_like_authorities
from tests.support.cps import signed_certificate
from tests.support.oidc_flow import register_client
from tests.support.servers import behind_proxy
from tests.support.servers import forwarded_certificate

TOKEN = "/auth/realms/esante-wallet/protocol/openid-connect/token"
SUBJECT = subject_name(common_name="logiciel-mtls", organization="Cabinet", country="FR")


def _expired_authority(folder) -> TestAuthority:
    key = generate_private_key("ec-p256")
    name = subject_name(common_name="TEST AC MACHINES EXPIREE", country="FR")
    now = datetime.datetime.now(datetime.UTC)
    expired = (now - datetime.timedelta(days=30), now - datetime.timedelta(days=1))
    certificate = signed_certificate(name, key, name, key, valid=expired)
    return TestAuthority(name="expired", directory=folder, certificate=certificate, private_key=key)


@pytest.fixture
def pki(tmp_path):
    root, issuing = igc_like_authorities(tmp_path / "igc")
    expired = _expired_authority(tmp_path)
    bundle = tmp_path / "authorities.pem"
    # The root alone (not the issuing authority under it), and an expired authority.
    write_pem(bundle, certificate_pem(root.certificate) + certificate_pem(expired.certificate),
              mode=0o644)  # fmt: skip
    return bundle, {"intermediate": issuing, "expired": expired}


@pytest.fixture
def settings(settings, pki):
    return behind_proxy(settings, tls_client_auth_ca_file=str(pki[0]))


@pytest.mark.parametrize(
    ("issuer", "reason"),
    [
        ("intermediate", "its issuer CN=TEST AC IGC-SANTE FORT PERSONNES,C=FR is not in the file"),
        ("expired", "the authority CN=TEST AC MACHINES EXPIREE,C=FR of the file is outside its "
                    "validity period"),
    ],
)  # fmt: skip
def test_the_log_names_why_the_issuer_vouches_for_nothing(app, client, pki, caplog, issuer, reason):
    certificate, _ = issue_certificate(pki[1][issuer], subject=SUBJECT, key_type="ec-p256")
    register_client(app, client_id="logiciel-mtls", client_secret=None,
                    grant_types=["client_credentials"], redirect_uris=[],
                    token_endpoint_auth_method="tls_client_auth",
                    tls_client_auth_subject_dn=SUBJECT.rfc4514_string())  # fmt: skip
    header = forwarded_certificate(certificate)
    form = {"grant_type": "client_credentials", "client_id": "logiciel-mtls"}
    with caplog.at_level(logging.INFO, logger="santeid.oidc.tls_client_auth"):
        answer = client.post(TOKEN, headers=header, data=form)
    assert answer.status_code == 401, answer.get_json()
    assert answer.get_json()["error"] == "invalid_client"
    lines = [r.getMessage() for r in caplog.records if "tls_client_auth refused" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "not issued by an authority of tls_client_auth_ca_file" in lines[0]
    assert reason in lines[0], lines[0]
