"""A poll of a client whose tokens are bound to its certificate (RFC 8705 §3.4, Keycloak's
"OAuth 2.0 Mutual TLS Certificate Bound Access Tokens Enabled") that comes without one:
Keycloak's ``CibaGrantType`` removes the approved request (``removeDeviceByDeviceCode``)
before ``checkAndBindMtlsHoKToken`` refuses it, 400 ``invalid_request`` "Client
Certification missing for MTLS HoK Token Binding" — as the code grant spends its code —, so
the ``auth_req_id`` is gone: the next poll, certificate or not, is ``invalid_grant`` "Invalid
auth_req_id" (docs/reference/keycloak-behaviour.md, "Token endpoint"). A disabled
professional is refused first, nothing consumed, as Keycloak's ``createUserSession`` does
before the removal."""

from __future__ import annotations

import dataclasses

import pytest

from santeid.pki import issue_certificate
from santeid.pki import subject_name
from tests.support.ciba import SECRET
from tests.support.ciba import poll
from tests.support.ciba import register_ciba_client
from tests.support.ciba import start
from tests.support.cps import igc_like_authorities
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import decode
from tests.support.servers import behind_proxy
from tests.support.servers import forwarded_certificate

CERTIFICATE_MISSING = {
    "error": "invalid_request",
    "error_description": "Client Certification missing for MTLS HoK Token Binding",
}
INVALID_AUTH_REQ_ID = {"error": "invalid_grant", "error_description": "Invalid auth_req_id"}


@pytest.fixture
def settings(settings):
    return behind_proxy(settings)


@pytest.fixture
def meta(app):
    return register_ciba_client(app, tls_client_certificate_bound_access_tokens=True)


@pytest.fixture
def with_certificate(tmp_path) -> dict:
    _, issuing = igc_like_authorities(tmp_path / "igc")
    subject = subject_name(common_name="logiciel-ciba", organization="Cabinet", country="FR")
    certificate, _ = issue_certificate(issuing, subject=subject, key_type="ec-p256")
    return {**basic_auth("ciba-rp", SECRET), **forwarded_certificate(certificate)}


def test_a_poll_without_the_certificate_spends_the_auth_req_id(client, meta, auto_id,
                                                               with_certificate):  # fmt: skip
    auth_req_id = start(client, meta, auto_id)["auth_req_id"]
    refused = poll(client, meta, auth_req_id)
    assert (refused.status_code, refused.get_json()) == (400, CERTIFICATE_MISSING)
    again = poll(client, meta, auth_req_id, headers=with_certificate)
    assert (again.status_code, again.get_json()) == (400, INVALID_AUTH_REQ_ID)


def test_the_certificate_gets_bound_tokens(app, client, meta, auto_id, with_certificate):
    auth_req_id = start(client, meta, auto_id)["auth_req_id"]
    answer = poll(client, meta, auth_req_id, headers=with_certificate)
    assert answer.status_code == 200, answer.get_json()
    _, claims = decode(app, answer.get_json()["access_token"])
    assert "x5t#S256" in claims["cnf"]


def test_a_disabled_professional_is_refused_first_and_nothing_is_spent(
    app, client, meta, auto_id, with_certificate
):
    directory = app.extensions["santeid"].directory
    auth_req_id = start(client, meta, auto_id)["auth_req_id"]
    directory.upsert(dataclasses.replace(directory.get(auto_id), status="inactive"))
    refused = poll(client, meta, auth_req_id)
    assert refused.get_json() == {"error": "invalid_grant", "error_description": "User disabled"}
    directory.upsert(dataclasses.replace(directory.get(auto_id), status="active"))
    assert poll(client, meta, auth_req_id, headers=with_certificate).status_code == 200
