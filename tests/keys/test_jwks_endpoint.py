"""The JWK Set endpoint of a real ``santeid serve`` while the keys directory it shares with other
hosts changes (docs/keys.md, "Several hosts: one shared keys directory"): this test process is
the other host, a :class:`KeyStore` on the same folder that rotates and signs at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from santeid.keystore import KeyStore
from tests.support.servers import REALM
from tests.support.servers import santeid_process

pytestmark = pytest.mark.server

CERTS = f"{REALM}/protocol/openid-connect/certs"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(tmp_path_factory.mktemp("jwks")) as process:
        yield process


@pytest.fixture
def other_host(server) -> KeyStore:
    """Another host's key store: the same keys directory, its own process state."""
    return KeyStore(Path(server.env["SANTEID_KEYS_DIR"]), retired_key_lifetime=1800)


def _certs(server) -> requests.Response:
    answer = requests.get(server.base + CERTS, timeout=10)
    assert answer.status_code == 200
    return answer


def test_a_key_another_host_signs_with_is_published_at_once(server, other_host):
    """A host signs with a new key as soon as it has read the file; a relying party that meets
    the unknown ``kid`` fetches the JWK Set through the load balancer, maybe from a host that
    read the file a moment before the rotation: that host must publish the key already, or the
    relying party refuses the token (and most libraries wait before fetching again)."""
    before = {key["kid"] for key in _certs(server).json()["keys"]}  # the server reads the file
    new = other_host.rotate()
    assert new.kid not in before
    token = other_host.sign({"iss": server.issuer, "sub": "someone"})

    published = KeySet.import_key_set(_certs(server).json())
    assert jwt.decode(token, published).claims["sub"] == "someone"


def test_no_cache_may_answer_with_the_key_set_of_before_a_rotation(server):
    """A new key signs as soon as it exists (docs/keys.md, "Rotation"), so a relying party that
    meets its ``kid`` must get the current set: a copy its HTTP cache (or a shared one, a CDN in
    front of santeid) kept would still lack the key. Keycloak's certs endpoint is ``@NoCache``:
    any cache must ask again (RFC 9111 §5.2.2.4) before answering with what it stored."""
    answer = _certs(server)
    assert answer.headers["Cache-Control"] == "no-cache"
    assert answer.headers["Content-Type"] == "application/json"
