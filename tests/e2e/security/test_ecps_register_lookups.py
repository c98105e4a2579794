"""``POST /ecps/device/register`` against a real ``santeid serve``: without an activation code
that can still be redeemed, nobody makes the server resolve a webhook host of their choosing
(docs/security.md, "Outgoing requests"). Each lookup would hold a server thread as long as
the name takes to resolve.

The server's name resolution is observed (``tests.support.lookup_probe``): the test reads which
names the server looked up. ``slow.lookup-probe.test`` takes 60 s to answer, longer than the
clients below wait, so a lookup of it could not go unnoticed either."""

from __future__ import annotations

import json

import pytest
import requests
from joserfc.jwk import ECKey

from tests.support.lookup_probe import lookup_probe

pytestmark = [pytest.mark.server, pytest.mark.redis]

NATIONAL_ID = "810000000001"
PIN = "135790"


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server):
    from tests.support.attack_server import santeid_server

    home = tmp_path_factory.mktemp("register-lookups")
    settings, log = lookup_probe(home)
    with santeid_server(home, redis_server, db=9, settings=settings) as process:
        process.lookups = log
        yield process


def _register(server, code: str, webhook_url: str) -> requests.Response:
    key = ECKey.generate_key("P-256", private=True)
    body = {
        "activation_code": code,
        "public_jwk": key.as_dict(private=False),
        "pin": PIN,
        "webhook_url": webhook_url,
    }
    session = requests.Session()
    session.trust_env = False
    # Far less than the slow name takes: a lookup of it would fail the test here.
    return session.post(f"{server.base}/ecps/device/register", json=body, timeout=15)


def _activation_code(server) -> str:
    return json.loads(server.cli("ecps", "activate", NATIONAL_ID, "--json").stdout)["code"]


def test_a_wrong_activation_code_is_answered_without_resolving_the_webhook_host(server):
    for code in ("x" * 22, "not-a-code-at-all"):
        answer = _register(server, code, "https://slow.lookup-probe.test/hook")
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == "invalid_activation_code"
    assert server.lookups.read_text() == ""
    assert "Traceback" not in server.log.read_text()


def test_a_live_activation_code_lets_the_webhook_host_be_checked(server):
    """The probe works: with a code that can be redeemed, the host is resolved (to a private
    address, refused) and the code is not spent by the refusal."""
    code = _activation_code(server)
    answer = _register(server, code, "https://private.lookup-probe.test/hook")
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_webhook_url"
    assert server.lookups.read_text().split() == ["private.lookup-probe.test"]
    # Used once: a second try with a webhook is answered without a lookup.
    key = ECKey.generate_key("P-256", private=True)
    session = requests.Session()
    session.trust_env = False
    body = {"activation_code": code, "public_jwk": key.as_dict(private=False), "pin": PIN}
    assert session.post(f"{server.base}/ecps/device/register", json=body, timeout=15).ok
    again = _register(server, code, "https://slow.lookup-probe.test/hook")
    assert again.json()["code"] == "activation_code_used"
    assert server.lookups.read_text().split() == ["private.lookup-probe.test"]
