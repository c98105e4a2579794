"""Every OpenAPI document santeid publishes, driven by schemathesis against a real ``santeid
serve --sandbox`` (tests/support/openapi_contracts.py): a short, derandomized run per document
holds the contract; ``bench/openapi_contracts.py`` is the long one.

* INSi REST, ``/insi/openapi.json`` (docs/insi-rest.md), with a professional's access token;
* the e-CPS device protocol, ``/api-docs/ecps-device.json`` (docs/ecps-device-openapi.yaml),
  each request signed with a fresh device token of an enrolled phone;
* the sandbox control API, ``/sandbox/api/openapi.json`` (docs/sandbox.md), open in sandbox
  mode.
"""

from __future__ import annotations

import json

import pytest
import redis
from hypothesis import settings

from tests.support.ciba import CIBA_GRANT
from tests.support.ecps_phone import Phone
from tests.support.openapi_contracts import BASE_RUN
from tests.support.openapi_contracts import ciba_access_token
from tests.support.openapi_contracts import contract_failures
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

pytestmark = [
    pytest.mark.server,
    pytest.mark.redis,
    # A contract run sends hundreds of requests: ≈ 1 min for the largest on an idle machine.
    pytest.mark.timeout(300),
]

#: The same requests on every run (derandomize), per operation as many valid as invalid; an
#: event stream (held open 4 × ecps_long_poll s) once.
CONTRACT_RUN = settings(BASE_RUN, derandomize=True, max_examples=20)
STREAM_EXAMPLES = 1
CLIENT_ID, SECRET = "openapi-contracts", "openapi-contracts-secret-0123456789-abcdef"
#: A sandbox professional approved at once (docs/sandbox.md): the INSi caller.
APPROVED = "810000000030"
#: One the sandbox phone never answers for: the test's phones are its devices.
NEVER = "810000000034"


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server):
    """The sandbox server on a small civil-status base, its store in Redis so that the CLI's
    ``santeid ecps activate`` codes reach it; a long poll waits at most 1 s."""
    home = tmp_path_factory.mktemp("openapi-contracts")
    store_url = redis_server.url.rsplit("/", 1)[0] + "/8"
    with redis.Redis.from_url(store_url) as connection:
        connection.flushdb()
    client = {
        "client_id": CLIENT_ID,
        "client_name": CLIENT_ID,
        "client_secret": SECRET,
        "redirect_uris": ["http://127.0.0.1/callback"],
        "grant_types": [CIBA_GRANT],
        "backchannel_token_delivery_mode": "poll",
        "token_endpoint_auth_method": "client_secret_basic",
    }
    base = home / "civil-status.sqlite3"
    santeid_home(home).cli("civil", "generate", "--persons", "20", "--out", str(base))
    with santeid_process(
        home,
        clients=[client],
        SANTEID_STORE_URL=store_url,
        SANTEID_INSI_BASE=str(base),
        SANTEID_ECPS_LONG_POLL="1",
    ) as process:
        yield process
    assert "Traceback" not in process.log.read_text()


def enrolled_phone(server) -> Phone:
    """A phone enrolled for :data:`NEVER` with an operator's activation code."""
    activated = server.cli("ecps", "activate", NEVER, "--json").stdout
    return Phone.register_over_http(server.base, json.loads(activated)["code"])


def held(server, path: str, headers_of) -> list:
    return contract_failures(
        server.base + path, headers_of, run=CONTRACT_RUN, stream_examples=STREAM_EXAMPLES
    )


@pytest.mark.no_cover
def test_insi_rest_keeps_its_document(server):
    """An access token of a CIBA login of :data:`APPROVED` per operation."""

    def headers_of():
        token = ciba_access_token(server.issuer, (CLIENT_ID, SECRET), APPROVED)
        return lambda: {"Authorization": f"Bearer {token}"}

    assert held(server, "/insi/openapi.json", headers_of) == []


@pytest.mark.no_cover
def test_ecps_device_api_keeps_its_document(server):
    """A phone per operation (``POST /revoke`` revokes its own), a new device token per request
    (a token's ``jti`` is single use)."""

    def headers_of():
        return enrolled_phone(server).auth

    assert held(server, "/api-docs/ecps-device.json", headers_of) == []


@pytest.fixture(scope="module")
def control_server(tmp_path_factory):
    """A server of its own for the control API, whose requests change the sandbox's
    professionals (their scenarios, their status): the logins and enrolments of the other
    runs never depend on what it did, whatever order the tests run in."""
    with santeid_process(tmp_path_factory.mktemp("openapi-control")) as process:
        yield process
    assert "Traceback" not in process.log.read_text()


@pytest.mark.no_cover
def test_sandbox_control_api_keeps_its_document(control_server):
    """Open in sandbox mode: no credentials."""
    assert held(control_server, "/sandbox/api/openapi.json", lambda: dict) == []
