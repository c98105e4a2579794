"""Each signing key's self-signed certificate, published in the JWK Set as Keycloak does
(``x5c``, ``x5t``, ``x5t#S256``, RFC 7517 §4.7–§4.9), stable across processes and restarts."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import KeySet

from santeid.keystore import KEYS_FILENAME
from santeid.keystore import CorruptKeyStore
from santeid.keystore import KeyStore

SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _store(path: Path) -> KeyStore:
    return KeyStore(path, retired_key_lifetime=1800, reload_interval=0)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256"])
def test_x5c_certifies_the_published_key(tmp_path, alg):
    store = _store(tmp_path)
    store.generate(alg)
    (jwk,) = store.jwks()["keys"]
    der = base64.b64decode(jwk["x5c"][0])
    cert = x509.load_der_x509_certificate(der)
    published = KeySet.import_key_set({"keys": [jwk]}).keys[0]
    assert cert.public_key().public_bytes(*SPKI) == published.public_key.public_bytes(*SPKI)
    # Self-signed: its own key verifies it.
    cert.verify_directly_issued_by(cert)
    assert jwk["x5t#S256"] == _b64url(hashlib.sha256(der).digest())
    assert jwk["x5t"] == _b64url(hashlib.sha1(der, usedforsecurity=False).digest())


def test_certificate_is_stored_with_the_key_and_stable_across_restarts(tmp_path):
    _store(tmp_path).generate("RS256")
    stored = json.loads((tmp_path / KEYS_FILENAME).read_text())["keys"][0]["certificate"]
    first = _store(tmp_path).jwks()["keys"][0]["x5c"][0]
    assert first == stored == _store(tmp_path).jwks()["keys"][0]["x5c"][0]


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_a_key_file_without_certificates_gets_the_same_one_in_every_process(tmp_path, alg):
    _store(tmp_path).generate(alg)
    path = tmp_path / KEYS_FILENAME
    document = json.loads(path.read_text())
    del document["keys"][0]["certificate"]  # a file written before certificates existed
    path.write_text(json.dumps(document))
    one, two = _store(tmp_path), _store(tmp_path)
    assert one.jwks()["keys"][0]["x5c"] == two.jwks()["keys"][0]["x5c"]


def test_a_certificate_for_another_key_is_refused(tmp_path):
    _store(tmp_path).generate("RS256")
    other = tmp_path / "other"
    _store(other).generate("RS256")
    path = tmp_path / KEYS_FILENAME
    document = json.loads(path.read_text())
    foreign = json.loads((other / KEYS_FILENAME).read_text())["keys"][0]["certificate"]
    document["keys"][0]["certificate"] = foreign
    path.write_text(json.dumps(document))
    with pytest.raises(CorruptKeyStore, match="another key"):
        _store(tmp_path)
