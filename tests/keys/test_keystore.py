"""The signing key store (RFC 7515 JWS, RFC 7517 JWK, RFC 7518 JWA, RFC 7638 thumbprints).

Tokens are checked by verifiers that share no code with the store: ``cryptography`` on the
raw JWS segments, Authlib's ``JsonWebToken`` and joserfc given only the public JWK Set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import stat
import threading
import uuid
import warnings
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jws
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey

from santeid.keystore import KEYS_FILENAME
from santeid.keystore import CorruptKeyStore
from santeid.keystore import InvalidSignature
from santeid.keystore import KeysNotWritable
from santeid.keystore import KeyStore
from santeid.keystore import KeyStoreError
from santeid.keystore import MissingKeys
from santeid.keystore import NoSigningKey
from santeid.keystore import UnsupportedAlgorithm
from santeid.keystore import check_keys_for_startup
from santeid.keystore import ensure_dev_keys
from santeid.settings import ConfigurationError
from santeid.settings import Settings

ALGS = ["RS256", "ES256", "PS256"]
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
LIFETIME = 1800


class FakeClock:
    def __init__(self, now: float = 1_760_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


def make_store(keys_dir: Path, clock: FakeClock, **kwargs) -> KeyStore:
    kwargs.setdefault("reload_interval", 0)
    return KeyStore(keys_dir, retired_key_lifetime=LIFETIME, clock=clock, **kwargs)


@pytest.fixture
def store(keys_dir: Path, clock: FakeClock) -> KeyStore:
    return make_store(keys_dir, clock)


# -- independent verifiers ------------------------------------------------------------------
def b64d(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64int(segment: str) -> int:
    return int.from_bytes(b64d(segment), "big")


def verify_with_cryptography(token: str, jwk_set: dict) -> dict:
    """RFC 7515 §5.2 by hand: find the key by kid, check the signature over header.payload."""
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(b64d(header_b64))
    jwk = next(k for k in jwk_set["keys"] if k["kid"] == header["kid"])
    assert jwk["alg"] == header["alg"]
    signing_input = f"{header_b64}.{payload_b64}".encode()
    signature = b64d(signature_b64)
    if header["alg"] in ("RS256", "PS256"):
        public = rsa.RSAPublicNumbers(b64int(jwk["e"]), b64int(jwk["n"])).public_key()
        if header["alg"] == "RS256":  # RFC 7518 §3.3: RSASSA-PKCS1-v1_5
            pad: padding.AsymmetricPadding = padding.PKCS1v15()
        else:  # RFC 7518 §3.5: PSS, MGF1 with SHA-256, salt as long as the hash
            pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        public.verify(signature, signing_input, pad, hashes.SHA256())
    else:  # RFC 7518 §3.4: ES256 signature is R || S, 32 bytes each
        assert jwk["crv"] == "P-256" and len(signature) == 64
        numbers = ec.EllipticCurvePublicNumbers(b64int(jwk["x"]), b64int(jwk["y"]), ec.SECP256R1())
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        numbers.public_key().verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    return json.loads(b64d(payload_b64))


def verify_with_authlib(token: str, jwk_set: dict, alg: str) -> dict:
    with warnings.catch_warnings():
        # authlib.jose is deprecated in favour of joserfc but still what many clients use.
        # authlib.deprecate installs an "always" filter when imported: import it first so
        # the "ignore" below takes precedence.
        import authlib.deprecate  # noqa: F401

        warnings.simplefilter("ignore", DeprecationWarning)
        from authlib.jose import JsonWebKey
        from authlib.jose import JsonWebToken

        claims = JsonWebToken([alg]).decode(token, JsonWebKey.import_key_set(jwk_set))
    return dict(claims)


def verify_with_joserfc_public(token: str, jwk_set: dict, alg: str) -> dict:
    key_set = KeySet.import_key_set(json.loads(json.dumps(jwk_set)))
    return jwt.decode(token, key_set, algorithms=[alg]).claims


def rfc7638_thumbprint(jwk: dict) -> str:
    """RFC 7638 §3.2, written out: required members only, sorted, no whitespace, SHA-256."""
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in required}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_thumbprint_helper_matches_rfc7638_example() -> None:
    """RFC 7638 §3.1: the example RSA key's thumbprint (validates the helper used below)."""
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6t"
        "Soc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGj"
        "QR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFT"
        "WhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert rfc7638_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


# -- signing and verifying ------------------------------------------------------------------
@pytest.mark.parametrize("alg", ALGS)
def test_each_algorithm_signs_and_third_parties_verify(store: KeyStore, alg: str) -> None:
    """RFC 7518 §3.3–3.5: RS256, ES256, PS256 tokens verify with only the public JWK Set."""
    info = store.generate(alg)
    claims = {"sub": "f:uuid:899700218896", "given_name": "Élodie", "exp": 2_000_000_000}
    token = store.sign(claims, alg=alg)
    jwk_set = store.jwks()

    assert verify_with_cryptography(token, jwk_set) == claims
    assert verify_with_authlib(token, jwk_set, alg) == claims
    assert verify_with_joserfc_public(token, jwk_set, alg) == claims
    verified = store.verify(token)
    assert verified["claims"] == claims
    assert verified["header"] == {"alg": alg, "typ": "JWT", "kid": info.kid}


def test_header_is_alg_typ_kid_in_that_order(store: KeyStore) -> None:
    """PSC's observed header: ``{"alg":"RS256","typ":"JWT","kid":…}``
    (docs/reference/pro-sante-connect.md §3)."""
    info = store.generate("RS256")
    token = store.sign({"a": 1})
    raw_header = b64d(token.split(".")[0]).decode()
    assert raw_header == f'{{"alg":"RS256","typ":"JWT","kid":"{info.kid}"}}'


@pytest.mark.parametrize("alg", ["RS256", "HS512"])
@pytest.mark.parametrize("typ", ["JWT", "at+jwt"])
def test_signing_is_byte_identical_to_joserfc(store: KeyStore, alg: str, typ: str) -> None:
    """The store encodes the protected header once per key and signs the RFC 7515 §5.1
    signing input itself; for the deterministic algorithms (RSASSA-PKCS1-v1_5, HMAC) the
    token is byte for byte what joserfc's ``serialize_compact`` makes of the same header
    and payload, for every call (the cached header must not leak between keys or types)."""
    from santeid.keys.lifecycle import _REGISTRIES

    for _ in range(2):
        store.generate(alg)
        entry = store._signing_entry(alg)
        claims = {"sub": "f:uuid:899700218896", "given_name": "Élodie", "n": 1}
        token = store.sign(claims, alg=alg, typ=typ)
        payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
        header = {"alg": alg, "typ": typ, "kid": entry.kid}
        expected = jws.serialize_compact(header, payload, entry.key, registry=_REGISTRIES[alg])
        assert token == expected


def test_typ_and_extra_headers(store: KeyStore) -> None:
    store.generate("RS256")
    token = store.sign({"a": 1}, typ="at+jwt", extra_headers={"x-santeid": "1"})
    header = store.verify(token)["header"]
    assert list(header) == ["alg", "typ", "kid", "x-santeid"]
    assert header["typ"] == "at+jwt"
    with pytest.raises(ValueError, match="kid"):
        store.sign({"a": 1}, extra_headers={"kid": "forged"})
    # Larger than joserfc's default 512-byte header limit: our own tokens must still verify.
    big = store.sign({"a": 1}, extra_headers={"x-context": "x" * 600})
    assert store.verify(big)["header"]["x-context"] == "x" * 600


@pytest.mark.parametrize("alg", ALGS)
def test_kid_is_rfc7638_thumbprint(store: KeyStore, alg: str) -> None:
    """RFC 7638 §3: ``kid`` is the base64url SHA-256 thumbprint of the public key."""
    info = store.generate(alg)
    (jwk,) = store.jwks()["keys"]
    assert jwk["kid"] == info.kid == rfc7638_thumbprint(jwk)
    assert len(info.kid) == 43  # 32 bytes, base64url without padding


def test_jwks_publishes_public_members_only(store: KeyStore, clock: FakeClock) -> None:
    """RFC 7517 §5 / RFC 7518 §6.2.1, §6.3.1: never a private member in the JWK Set."""
    for alg in ALGS:
        store.generate(alg)
    store.rotate("RS256")  # a retired key is published too
    keys = store.jwks()["keys"]
    assert len(keys) == 4
    for jwk in keys:
        assert not PRIVATE_MEMBERS & jwk.keys(), jwk
        expected = {"RSA": {"n", "e"}, "EC": {"crv", "x", "y"}}[jwk["kty"]]
        certificate = {"x5c", "x5t", "x5t#S256"}  # the key's self-signed certificate
        assert set(jwk) == {"kty", "kid", "use", "alg"} | expected | certificate
        assert jwk["use"] == "sig"
    # and the store's file does hold private keys, so the filter is doing real work
    stored = json.loads((store.path / KEYS_FILENAME).read_text())
    assert all("d" in entry["jwk"] for entry in stored["keys"])


def test_jwks_lists_the_default_signing_key_first(keys_dir: Path, clock: FakeClock) -> None:
    store = make_store(keys_dir, clock, default_alg="ES256")
    store.generate("RS256")
    store.generate("ES256")
    store.rotate("ES256")
    keys = store.jwks()["keys"]
    assert [k["alg"] for k in keys] == ["ES256", "RS256", "ES256"]
    assert keys[0]["kid"] == store.signing_key().kid


def test_verify_does_not_check_expiry(store: KeyStore) -> None:
    """Only the signature is the store's business; ``exp`` is checked by callers."""
    store.generate("RS256")
    token = store.sign({"exp": 1})
    assert store.verify(token)["claims"] == {"exp": 1}


def test_verify_rejects_bad_tokens(store: KeyStore) -> None:
    store.generate("RS256")
    token = store.sign({"sub": "a"})
    header_b64, payload_b64, signature_b64 = token.split(".")
    forged_payload = base64.urlsafe_b64encode(b'{"sub":"b"}').rstrip(b"=").decode()

    bad = {
        "tampered payload": f"{header_b64}.{forged_payload}.{signature_b64}",
        "truncated signature": f"{header_b64}.{payload_b64}.{signature_b64[:-8]}",
        "two segments": f"{header_b64}.{payload_b64}",
        "not base64": "###.###.###",
        "empty": "",
        "non-ascii": "é.é.é",
    }
    for name, value in bad.items():
        with pytest.raises(InvalidSignature):
            store.verify(value)
            pytest.fail(name)


def test_verify_rejects_unknown_kid_and_missing_kid(store: KeyStore, tmp_path: Path) -> None:
    store.generate("RS256")
    other = make_store(tmp_path / "other", FakeClock())
    other.generate("RS256")
    with pytest.raises(InvalidSignature, match="unknown"):
        store.verify(other.sign({"a": 1}))

    key, _kid = store.signing_key()
    no_kid = jws.serialize_compact({"alg": "RS256"}, b"{}", key)
    with pytest.raises(InvalidSignature, match="kid"):
        store.verify(no_kid)


def test_verify_rejects_algorithm_confusion(store: KeyStore) -> None:
    """RFC 7517 §4.4: a key generated for RS256 verifies nothing else — not PS256 made with
    the same RSA key, not ``none``, not HS256 keyed with the public key."""
    info = store.generate("RS256")
    key, kid = store.signing_key()
    pss_key = RSAKey.import_key(key.as_dict(private=True) | {"alg": "PS256"})
    pss = jws.serialize_compact({"alg": "PS256", "kid": kid}, b"{}", pss_key, algorithms=["PS256"])
    with pytest.raises(InvalidSignature, match="alg"):
        store.verify(pss)

    none = b64e(json.dumps({"alg": "none", "kid": kid}).encode())
    with pytest.raises(InvalidSignature):
        store.verify(f"{none}.e30.")

    # The classic attack, built by hand (joserfc itself refuses to make it).
    header = b64e(json.dumps({"alg": "HS256", "typ": "JWT", "kid": info.kid}).encode())
    signing_input = f"{header}.{b64e(b'{}')}"
    mac = hmac.new(key.as_pem(private=False), signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidSignature, match="alg"):
        store.verify(f"{signing_input}.{b64e(mac)}")


def test_verify_honours_algs(store: KeyStore) -> None:
    store.generate("ES256")
    token = store.sign({"a": 1}, alg="ES256")
    assert store.verify(token, algs=["ES256"])
    with pytest.raises(InvalidSignature, match="not allowed"):
        store.verify(token, algs=["RS256"])


def test_verify_rejects_non_object_payload(store: KeyStore) -> None:
    store.generate("RS256")
    key, kid = store.signing_key()
    token = jws.serialize_compact({"alg": "RS256", "kid": kid}, b"[1,2]", key)
    with pytest.raises(InvalidSignature, match="object"):
        store.verify(token)


# -- key management -------------------------------------------------------------------------
def test_generate_is_idempotent(store: KeyStore) -> None:
    first = store.generate("RS256")
    content = (store.path / KEYS_FILENAME).read_bytes()
    second = store.generate("RS256")
    assert second == first
    assert len(store.list()) == 1
    assert (store.path / KEYS_FILENAME).read_bytes() == content


def test_generate_one_active_key_per_algorithm(store: KeyStore) -> None:
    rs = store.generate("RS256")
    es = store.generate("ES256")
    assert rs.kid != es.kid
    assert {(k.alg, k.status) for k in store.list()} == {("RS256", "active"), ("ES256", "active")}
    assert store.signing_key("ES256").kid == es.kid
    assert store.signing_key().kid == rs.kid  # default_alg RS256


def test_generate_defaults(store: KeyStore) -> None:
    info = store.generate()
    assert (info.alg, info.status, info.key_size, info.published) == ("RS256", "active", 2048, True)
    assert info.retired_at is None and info.published_until is None
    assert info.created_at.tzinfo is not None


def test_unsupported_algorithms_and_sizes(store: KeyStore) -> None:
    for alg in ("HS256", "none", "RS512", "EdDSA"):
        with pytest.raises(UnsupportedAlgorithm, match="RS256, ES256, PS256"):
            store.generate(alg)
    with pytest.raises(UnsupportedAlgorithm, match="P-256"):
        store.generate("ES256", key_size=3072)
    with pytest.raises(UnsupportedAlgorithm, match="2048"):
        store.generate("RS256", key_size=1024)
    assert store.is_empty()


def test_rotate_new_key_signs_old_key_still_verifies(store: KeyStore, clock: FakeClock) -> None:
    """OIDC Core §10.1.1: the old key stays published while tokens it signed are valid."""
    old = store.generate("RS256")
    old_token = store.sign({"n": 1})
    clock.advance(100)

    new = store.rotate()
    assert new.kid != old.kid and new.alg == "RS256" and new.status == "active"
    new_token = store.sign({"n": 2})
    assert json.loads(b64d(new_token.split(".")[0]))["kid"] == new.kid
    assert store.verify(old_token)["claims"] == {"n": 1}
    assert store.verify(new_token)["claims"] == {"n": 2}
    assert [k["kid"] for k in store.jwks()["keys"]] == [new.kid, old.kid]
    assert verify_with_cryptography(old_token, store.jwks()) == {"n": 1}

    retired = next(k for k in store.list() if k.kid == old.kid)
    assert retired.status == "retired" and retired.published
    assert retired.retired_at is not None
    assert retired.retired_at.timestamp() == clock.now
    assert retired.published_until is not None
    assert retired.published_until.timestamp() == clock.now + LIFETIME + store.publication_margin


def test_retired_key_unpublished_after_its_tokens_expire(store: KeyStore, clock: FakeClock) -> None:
    old = store.generate("RS256")
    old_token = store.sign({"n": 1})
    store.rotate()
    window = LIFETIME + store.publication_margin

    clock.advance(window - 1)
    assert old.kid in {k["kid"] for k in store.jwks()["keys"]}
    assert store.verify(old_token)

    clock.advance(1)
    assert old.kid not in {k["kid"] for k in store.jwks()["keys"]}
    with pytest.raises(InvalidSignature, match="unpublished"):
        store.verify(old_token)
    # Still listed (until the next write), flagged as no longer published.
    listed = {k.kid: k for k in store.list()}
    assert listed[old.kid].published is False

    store.generate("ES256")  # any write prunes it from disk
    on_disk = json.loads((store.path / KEYS_FILENAME).read_text())
    assert old.kid not in {entry["kid"] for entry in on_disk["keys"]}
    assert old.kid not in {k.kid for k in store.list()}


def test_rotate_without_active_key_creates_one(store: KeyStore) -> None:
    info = store.rotate("PS256")
    assert (info.alg, info.status) == ("PS256", "active")
    assert len(store.list()) == 1


def test_rotate_defaults_to_the_current_signing_algorithm(keys_dir: Path, clock: FakeClock):
    store = make_store(keys_dir, clock, default_alg="PS256")
    store.generate("ES256")  # PS256 has no key: ES256 is the signing key
    assert store.rotate().alg == "ES256"
    assert [k.status for k in store.list()] == ["active", "retired"]


def test_rotate_keeps_the_rsa_key_size(store: KeyStore) -> None:
    store.generate("RS256", key_size=3072)
    assert store.rotate().key_size == 3072
    assert store.rotate(key_size=2048).key_size == 2048


def test_rotate_twice_keeps_both_retired_keys_published(store: KeyStore, clock: FakeClock):
    a = store.generate()
    clock.advance(10)
    b = store.rotate()
    clock.advance(10)
    c = store.rotate()
    assert [k["kid"] for k in store.jwks()["keys"]] == [c.kid, b.kid, a.kid]


def test_a_prepared_key_is_published_first_and_signs_from_the_next_rotation(
    store: KeyStore, clock: FakeClock
) -> None:
    """docs/keys.md, "Publishing the next key first": a relying party (or a host) that has the
    JWK Set of after ``prepare`` verifies every token signed after the rotation."""
    active = store.generate()
    clock.advance(10)
    prepared = store.prepare()
    assert store.prepare() == prepared  # idempotent
    assert prepared.status == "next" and prepared.published and prepared.retired_at is None
    assert store.signing_key().kid == active.kid
    jwks_before_rotation = store.jwks()
    assert [k["kid"] for k in jwks_before_rotation["keys"]] == [active.kid, prepared.kid]

    clock.advance(10)
    rotated = store.rotate()
    assert rotated.kid == prepared.kid and rotated.status == "active"
    assert store.signing_key().kid == prepared.kid
    token = store.sign({"sub": "after the rotation"})
    assert verify_with_cryptography(token, jwks_before_rotation) == {"sub": "after the rotation"}
    statuses = {k.kid: (k.status, k.retired_at) for k in store.list()}
    assert statuses[active.kid] == ("retired", datetime.fromtimestamp(clock.now, UTC))
    # The next rotation makes a new key again.
    assert store.rotate().kid not in {active.kid, prepared.kid}


def test_a_prepared_hmac_secret_verifies_before_it_signs(store: KeyStore) -> None:
    """Refresh tokens signed by a host that rotated the secret are accepted by a host that has
    only the prepared file; the secret is never published."""
    store.generate("HS512")
    prepared = store.prepare("HS512")
    other_host = KeyStore(store.path, retired_key_lifetime=LIFETIME, reload_interval=0)
    snapshot = (store.path / KEYS_FILENAME).read_bytes()
    store.rotate("HS512")
    token = store.sign({"typ": "Refresh"}, alg="HS512")
    (store.path / KEYS_FILENAME).write_bytes(snapshot)  # the other host's copy: prepared only
    other_host.reload()
    assert other_host.verify(token, algs=["HS512"])["header"]["kid"] == prepared.kid
    assert all(key["kty"] != "oct" for key in other_host.jwks()["keys"])


def test_a_prepared_key_keeps_its_size(store: KeyStore) -> None:
    store.generate("PS256", key_size=3072)
    assert store.prepare("PS256").key_size == 3072
    with pytest.raises(UnsupportedAlgorithm, match="prepared PS256 key .* has 3072 bits"):
        store.rotate("PS256", key_size=2048)
    assert store.signing_key("PS256").key.raw_value.key_size == 3072
    assert store.rotate("PS256").key_size == 3072


def test_two_next_keys_for_one_alg_is_an_error(keys_dir: Path, clock: FakeClock) -> None:
    store = make_store(keys_dir, clock)
    store.generate()
    store.rotate()
    store.prepare()
    document = json.loads((keys_dir / KEYS_FILENAME).read_text())
    for entry in document["keys"]:
        entry["status"], entry["retired_at"] = "next", None
    (keys_dir / KEYS_FILENAME).write_text(json.dumps(document))
    with pytest.raises(CorruptKeyStore, match="more than one next RS256"):
        make_store(keys_dir, clock)


def test_signing_key_missing_says_how_to_fix(store: KeyStore) -> None:
    with pytest.raises(NoSigningKey, match="santeid keys generate"):
        store.signing_key()
    with pytest.raises(NoSigningKey, match="santeid keys generate"):
        store.sign({"a": 1})
    store.generate("RS256")
    with pytest.raises(NoSigningKey, match="--alg ES256"):
        store.sign({"a": 1}, alg="ES256")


def test_signing_key_falls_back_to_any_active_key(keys_dir: Path, clock: FakeClock) -> None:
    store = make_store(keys_dir, clock, default_alg="RS256")
    es = store.generate("ES256")
    assert store.signing_key() == (store.signing_key("ES256").key, es.kid)
    assert store.verify(store.sign({"a": 1}))["header"]["alg"] == "ES256"


def test_is_empty(store: KeyStore) -> None:
    assert store.is_empty()
    assert store.jwks() == {"keys": []}
    assert store.list() == []
    store.generate()
    assert not store.is_empty()


def test_reading_a_missing_directory_creates_nothing(keys_dir: Path, clock: FakeClock) -> None:
    make_store(keys_dir, clock).jwks()
    assert not keys_dir.exists()


# -- files ----------------------------------------------------------------------------------
def test_files_are_private(store: KeyStore) -> None:
    store.generate()
    file = store.path / KEYS_FILENAME
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o700
    # atomic write: no temporary file left behind
    assert sorted(p.name for p in store.path.iterdir()) == [".signing-keys.lock", KEYS_FILENAME]


def test_existing_directory_is_tightened(keys_dir: Path, clock: FakeClock) -> None:
    keys_dir.mkdir(mode=0o755)
    keys_dir.chmod(0o755)
    (keys_dir / "README.md").write_text("readme")
    make_store(keys_dir, clock).generate()
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    assert (keys_dir / "README.md").read_text() == "readme"


def test_file_format(store: KeyStore, clock: FakeClock) -> None:
    """docs/keys.md: the documented layout of signing-keys.json."""
    first = store.generate()
    clock.advance(60)
    store.rotate()
    document = json.loads((store.path / KEYS_FILENAME).read_text())
    assert document["format"] == "santeid-signing-keys" and document["version"] == 1
    entry = next(e for e in document["keys"] if e["kid"] == first.kid)
    assert set(entry) == {"kid", "alg", "status", "created_at", "retired_at", "jwk", "certificate"}
    assert entry["status"] == "retired"
    assert entry["created_at"].endswith("Z") and entry["retired_at"].endswith("Z")
    assert entry["jwk"]["kid"] == first.kid
    assert (entry["jwk"]["alg"], entry["jwk"]["use"]) == ("RS256", "sig")


def test_failed_write_changes_nothing(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that fails (full disk, read-only volume) leaves file and memory as they were."""
    info = store.generate()
    content = (store.path / KEYS_FILENAME).read_bytes()

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("santeid.keys.storage.os.replace", fail)
    with pytest.raises(KeysNotWritable, match="No space left on device"):
        store.rotate()
    assert store.signing_key().kid == info.kid
    assert [k.kid for k in store.list()] == [info.kid]
    assert (store.path / KEYS_FILENAME).read_bytes() == content
    assert sorted(p.name for p in store.path.iterdir()) == [".signing-keys.lock", KEYS_FILENAME]


def test_world_readable_file_is_reported(
    store: KeyStore, keys_dir: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    store.generate()
    (keys_dir / KEYS_FILENAME).chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="santeid.keystore"):
        make_store(keys_dir, clock)
    assert "chmod 600" in caplog.text


def test_second_instance_sees_a_rotation(keys_dir: Path, clock: FakeClock) -> None:
    """A ``santeid keys rotate`` run next to serving workers is picked up without restart."""
    server = make_store(keys_dir, clock)
    cli = make_store(keys_dir, clock)
    old = cli.generate()
    assert server.signing_key().kid == old.kid
    new = cli.rotate()
    assert server.signing_key().kid == new.kid
    assert [k["kid"] for k in server.jwks()["keys"]] == [new.kid, old.kid]
    assert server.verify(cli.sign({"a": 1}))


def test_reload_is_throttled(keys_dir: Path, clock: FakeClock) -> None:
    server = make_store(keys_dir, clock, reload_interval=3600)
    cli = make_store(keys_dir, clock)
    assert server.is_empty()
    info = cli.generate()
    assert server.is_empty()  # checked less than reload_interval ago
    server.reload()
    assert server.signing_key().kid == info.kid


def test_a_token_signed_by_another_process_just_after_a_rotation_verifies(
    keys_dir: Path, clock: FakeClock, monkeypatch
) -> None:
    """Each worker polls the file on its own timer: a token whose kid it does not know yet
    makes it look at the file again (at most every RECHECK_INTERVAL) before refusing."""
    from santeid.keys import storage

    # Recheck interval long enough that key generation on a loaded machine cannot outlast it.
    monkeypatch.setattr(storage, "RECHECK_INTERVAL", 3600)
    worker_a = make_store(keys_dir, clock, reload_interval=3600)
    worker_b = make_store(keys_dir, clock, reload_interval=3600)
    worker_a.generate()
    worker_b.reload()
    new = worker_a.rotate()
    token = worker_a.sign({"a": 1})
    assert worker_a.signing_key().kid == new.kid
    # Just checked (its reload above): an unknown kid waits for the next recheck.
    with pytest.raises(InvalidSignature, match="unknown or unpublished kid"):
        worker_b.verify(token)
    monkeypatch.setattr(storage, "RECHECK_INTERVAL", 0)
    assert worker_b.verify(token)["claims"] == {"a": 1}
    assert worker_b.signing_key().kid == new.kid


def test_concurrent_generate_keeps_one_key(keys_dir: Path, clock: FakeClock) -> None:
    """Sandbox workers starting together all call generate(): the file lock serialises them."""
    stores = [make_store(keys_dir, clock) for _ in range(6)]
    results: list[str] = []
    errors: list[BaseException] = []

    def work(s: KeyStore) -> None:
        try:
            results.append(s.generate("ES256").kid)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1
    assert len(make_store(keys_dir, clock).list()) == 1


def _valid_document(keys_dir: Path, clock: FakeClock) -> dict:
    make_store(keys_dir, clock).generate("RS256")
    return json.loads((keys_dir / KEYS_FILENAME).read_text())


def _corruptions(document: dict) -> dict[str, tuple[str, str]]:
    entry = document["keys"][0]
    public_jwk = {k: v for k, v in entry["jwk"].items() if k not in PRIVATE_MEMBERS}
    return {
        "not json": ("{", "not valid JSON"),
        "not ours": (json.dumps({"keys": []}), "not a santeid key file"),
        "future version": (json.dumps({**document, "version": 2}), "version 2"),
        "bad alg": (json.dumps({**document, "keys": [{**entry, "alg": "HS256"}]}), "HS256"),
        "bad status": (json.dumps({**document, "keys": [{**entry, "status": "x"}]}), "status"),
        "bad kid": (json.dumps({**document, "keys": [{**entry, "kid": "abc"}]}), "thumbprint"),
        "no private key": (
            json.dumps({**document, "keys": [{**entry, "jwk": public_jwk}]}),
            "no private part",
        ),
        "twice": (json.dumps({**document, "keys": [entry, entry]}), "twice"),
        "bad time": (json.dumps({**document, "keys": [{**entry, "created_at": "x"}]}), "ISO"),
    }


def test_corrupted_file_gives_a_clear_error(keys_dir: Path, clock: FakeClock) -> None:
    document = _valid_document(keys_dir, clock)
    for name, (content, message) in _corruptions(document).items():
        (keys_dir / KEYS_FILENAME).write_text(content)
        with pytest.raises(CorruptKeyStore, match=message) as raised:
            make_store(keys_dir, clock)
        assert str(keys_dir / KEYS_FILENAME) in str(raised.value), name
        assert isinstance(raised.value, ConfigurationError)


def test_unreadable_location_gives_a_clear_error(tmp_path: Path, clock: FakeClock) -> None:
    not_a_dir = tmp_path / "keys"
    not_a_dir.write_text("")
    with pytest.raises(KeyStoreError, match=f"cannot read {not_a_dir}"):
        make_store(not_a_dir, clock)


def test_two_active_keys_for_one_alg_is_an_error(keys_dir: Path, clock: FakeClock) -> None:
    store = make_store(keys_dir, clock)
    store.generate()
    store.rotate()
    document = json.loads((keys_dir / KEYS_FILENAME).read_text())
    for entry in document["keys"]:
        entry["status"], entry["retired_at"] = "active", None
    (keys_dir / KEYS_FILENAME).write_text(json.dumps(document))
    with pytest.raises(CorruptKeyStore, match="more than one active RS256"):
        make_store(keys_dir, clock)


def test_running_store_survives_a_corrupted_file(
    store: KeyStore, keys_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Serving goes on with the last good keys; writes refuse to overwrite the broken file."""
    info = store.generate()
    (keys_dir / KEYS_FILENAME).write_text("garbage")
    with caplog.at_level(logging.ERROR, logger="santeid.keystore"):
        assert store.signing_key().kid == info.kid
    assert "not valid JSON" in caplog.text
    with pytest.raises(CorruptKeyStore):
        store.rotate()
    assert (keys_dir / KEYS_FILENAME).read_text() == "garbage"


# -- application helpers --------------------------------------------------------------------
def test_check_keys_for_startup(tmp_path: Path) -> None:
    settings = Settings(keys_dir=str(tmp_path / "keys"))
    with pytest.raises(
        MissingKeys, match="no active RS256 signing key.*`santeid keys generate`"
    ) as raised:
        check_keys_for_startup(settings)
    assert isinstance(raised.value, ConfigurationError)

    ensure_dev_keys(settings)
    store = check_keys_for_startup(settings)
    assert store.signing_key().kid

    with pytest.raises(MissingKeys, match="ES256"):
        check_keys_for_startup(settings.replace(signing_alg="ES256"))


def test_ensure_dev_keys_is_idempotent(tmp_path: Path) -> None:
    settings = Settings(keys_dir=str(tmp_path / "keys"), sandbox=True)
    first = ensure_dev_keys(settings)
    assert first.alg == "RS256"
    assert ensure_dev_keys(settings) == first
    assert os.listdir(tmp_path / "keys")


def test_ensure_dev_keys_on_existing_keys_imports_the_rsa_key_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every sandbox start after the first (and every app of the tests) finds its keys: one
    reading of the file, as importing an RSA key validates it, which costs more CPU than
    generating one; no lock file taken for keys that exist."""
    settings = Settings(keys_dir=str(tmp_path / "keys"), sandbox=True)
    first = ensure_dev_keys(settings)
    (tmp_path / "keys" / ".signing-keys.lock").unlink()
    imports: list[object] = []
    original = rsa.RSAPrivateNumbers.private_key

    def counted(numbers: rsa.RSAPrivateNumbers, *args, **kwargs):
        imports.append(numbers)
        return original(numbers, *args, **kwargs)

    monkeypatch.setattr(rsa.RSAPrivateNumbers, "private_key", counted)
    store = KeyStore.from_settings(settings)
    assert ensure_dev_keys(settings, store) == first
    assert len(imports) == 1
    assert not (tmp_path / "keys" / ".signing-keys.lock").exists()
    assert store.signing_key().kid == first.kid


def test_store_from_settings_uses_longest_token_lifetime(tmp_path: Path) -> None:
    settings = Settings(keys_dir=str(tmp_path / "keys"), refresh_token_lifetime=3600)
    store = KeyStore.from_settings(settings)
    assert store.retired_key_lifetime == 3600
    assert store.default_alg == settings.oidc.signing_alg


# -- the refresh-token HMAC secret (HS512) --------------------------------------------------
def test_hmac_secret_signs_refresh_tokens_and_is_never_published(
    store: KeyStore, keys_dir: Path, clock: FakeClock
) -> None:
    store.generate("RS256")
    info = store.generate("HS512")
    assert (info.alg, info.key_size) == ("HS512", 512)
    token = store.sign({"typ": "Refresh"}, alg="HS512")
    header = json.loads(b64d(token.split(".")[0]))
    # Keycloak's refresh-token header: HS512, typ JWT, the secret's (random, UUID) kid.
    assert header == {"alg": "HS512", "typ": "JWT", "kid": info.kid}
    assert str(uuid.UUID(info.kid)) == info.kid
    assert store.verify(token, algs=["HS512"])["claims"] == {"typ": "Refresh"}
    # Not accepted where an asymmetric signature is expected (access/ID tokens, hints).
    with pytest.raises(InvalidSignature, match="not allowed"):
        store.verify(token)
    published = store.jwks()["keys"]
    assert [k["alg"] for k in published] == ["RS256"]
    assert all("k" not in k for k in published)
    # Another process (worker, host) reading the same file verifies it: the secret is shared.
    assert make_store(keys_dir, clock).verify(token, algs=["HS512"])["header"]["kid"] == info.kid


def test_hmac_secret_rotation_keeps_the_old_one_verifying(store: KeyStore, clock: FakeClock):
    old = store.generate("HS512")
    token = store.sign({"n": 1}, alg="HS512")
    new = store.rotate("HS512")
    assert new.kid != old.kid and store.signing_key("HS512").kid == new.kid
    assert store.verify(token, algs=["HS512"])["claims"] == {"n": 1}
    clock.advance(LIFETIME + KeyStore.PUBLICATION_MARGIN + 1)
    with pytest.raises(InvalidSignature, match="unpublished"):
        store.verify(token, algs=["HS512"])


def test_hmac_secret_refuses_a_key_size_and_a_short_secret(store: KeyStore, keys_dir: Path):
    with pytest.raises(UnsupportedAlgorithm):
        store.generate("HS512", key_size=2048)
    store.generate("HS512")
    document = json.loads((keys_dir / KEYS_FILENAME).read_text())
    document["keys"][0]["jwk"]["k"] = b64e(os.urandom(32))  # HS256-sized
    (keys_dir / KEYS_FILENAME).write_text(json.dumps(document))
    with pytest.raises(CorruptKeyStore, match="at least 512 bits"):
        KeyStore(keys_dir, retired_key_lifetime=LIFETIME)


def test_startup_needs_the_hmac_secret(tmp_path: Path) -> None:
    settings = Settings(keys_dir=str(tmp_path / "keys"))
    KeyStore.from_settings(settings).generate("RS256")
    with pytest.raises(MissingKeys, match="no active HS512 secret.*`santeid keys generate`"):
        check_keys_for_startup(settings)
    KeyStore.from_settings(settings).generate("HS512")
    assert check_keys_for_startup(settings).signing_key("HS512").kid
