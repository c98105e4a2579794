"""INSi SOAP CPx assertions against a real server: a signed card assertion authenticates
once — a replay, from the same client or another, is refused with ``DESIR_560`` — and an
assertion older than ``insi_assertion_max_age`` is refused."""

from __future__ import annotations

import datetime

import pytest

from santeid.insi.soap import saml
from santeid.pki import load_certificates
from santeid.pki import load_private_key
from santeid.pki import name_text
from tests.support.insi_server import envelope
from tests.support.insi_server import insi_server
from tests.support.insi_server import post
from tests.support.insi_server import refused

pytestmark = [pytest.mark.server, pytest.mark.redis]

CARD_HOLDER = "810000000004"
IDAM = "TESTSANTEID1"


@pytest.fixture(scope="module")
def setup(tmp_path_factory, redis_server):
    home = tmp_path_factory.mktemp("insi-saml")
    with insi_server(home, redis_server, db=13) as server:
        server.cli("insi", "software", "add", IDAM, "--name", "santeid security tests")
        server.cli("cps", "issue-card", CARD_HOLDER, "--out", str(home / "card"))
        certificate = load_certificates(home / "card" / "cert.pem")[0]
        key = load_private_key(home / "card" / "key.pem")
        yield server, certificate, key


def _signed(certificate, key, *, issued: datetime.datetime | None = None):
    return saml.sign_assertion(
        saml.build_assertion(
            name_id=CARD_HOLDER,
            issuer=name_text(certificate.subject),
            attributes={"identifiantFacturation": "10B0152872"},
            issue_instant=issued,
        ),
        certificate,
        key,
    )


def test_a_signed_assertion_is_accepted_once(setup):
    server, certificate, key = setup
    security = saml.security_header(_signed(certificate, key))
    first = post(server, envelope(idam=IDAM, security=security))
    assert first.status_code == 200, first.text
    # The same assertion in a new envelope (another message id, another client): refused.
    reason = refused(post(server, envelope(idam=IDAM, security=security)))
    assert "déjà utilisée" in reason
    # A fresh assertion from the same card still works.
    fresh = saml.security_header(_signed(certificate, key))
    assert post(server, envelope(idam=IDAM, security=fresh)).status_code == 200


def test_replays_racing_each_other_pass_once(setup):
    from concurrent.futures import ThreadPoolExecutor

    server, certificate, key = setup
    data = envelope(idam=IDAM, security=saml.security_header(_signed(certificate, key)))
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: post(server, data).status_code, range(8)))
    assert statuses.count(200) == 1 and statuses.count(500) == 7


def test_an_assertion_older_than_the_accepted_age_is_refused(setup):
    server, certificate, key = setup
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=10)
    security = saml.security_header(_signed(certificate, key, issued=old))
    assert "too old" in refused(post(server, envelope(idam=IDAM, security=security)))
