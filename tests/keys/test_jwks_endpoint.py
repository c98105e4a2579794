"""The JWK Set endpoint of a real ``santeid serve`` while the keys directory it shares with other
hosts changes (docs/keys.md, "Several hosts: one shared keys directory"): this test process is
the other host, a :class:`KeyStore` on the same folder that rotates and signs at once."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from santeid.keystore import KEYS_FILENAME
from santeid.keystore import KeyStore
from tests.support.servers import REALM
from tests.support.servers import SANTEID
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


def _deliver(folder: Path, to: Path) -> None:
    """The keys file of ``folder`` swapped in atomically at ``to``, as the kubelet updates a
    Secret volume."""
    shutil.copy2(folder / KEYS_FILENAME, to / ".delivery.tmp")
    os.replace(to / ".delivery.tmp", to / KEYS_FILENAME)


def test_with_copied_key_folders_a_prepared_key_is_published_before_a_host_signs(server, tmp_path):
    """docs/keys.md, "Publishing the next key first": hosts that each receive a copy of the
    keys folder (a Kubernetes Secret reaching each node in its own time) cannot all switch at
    once; the host that gets the rotated file first signs with a key that the server here —
    still on the previous file — already publishes."""
    server_keys = Path(server.env["SANTEID_KEYS_DIR"])
    writable_copy = tmp_path / "keys"
    shutil.copytree(server_keys, writable_copy)
    operator = {**server.env, "SANTEID_KEYS_DIR": str(writable_copy)}

    prepared = subprocess.run(
        [SANTEID, "keys", "prepare"], env=operator, capture_output=True, text=True, check=True
    )
    next_kid = prepared.stdout.split(" key ", 1)[1].split()[0]
    _deliver(writable_copy, server_keys)  # every host gets the prepared file
    assert next_kid in {key["kid"] for key in _certs(server).json()["keys"]}

    subprocess.run([SANTEID, "keys", "rotate"], env=operator, capture_output=True, check=True)
    first_host = KeyStore(writable_copy, retired_key_lifetime=1800)  # got the rotated file
    token = first_host.sign({"iss": server.issuer, "sub": "someone"})
    decoded = jwt.decode(token, KeySet.import_key_set(_certs(server).json()))
    assert decoded.header["kid"] == next_kid and decoded.claims["sub"] == "someone"
