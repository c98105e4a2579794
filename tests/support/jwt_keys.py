"""Signing keys as the tests of resource servers meet them: the key of a running ``santeid
serve`` changed with its CLI (docs/keys.md), a rotation they must follow, and tokens re-signed
by a key of the test's own, which they must refuse."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from functools import cache

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from santeid.pki import generate_private_key
from santeid.pki import subject_name
from tests.support.browser import wait_for
from tests.support.cps import signed_certificate


def rotated(server, command: str = "rotate") -> str:
    """``santeid keys <command> --alg RS256`` on the server's keys folder: the key it made
    active (``rotate``) or published as the next one (``prepare``)."""
    output = server.cli("keys", command, "--alg", "RS256").stdout
    return re.search(r"(?:new active key|RS256 key) (\S+)", output).group(1)


def unverified_claims(token: str) -> dict:
    """A JWT's claims, its signature not checked: what a test reads of a token it was given."""
    return jwt.decode(token, options={"verify_signature": False})


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def signed_with(kid: str, new_token: Callable[[], str]) -> str:
    """A token of ``new_token`` signed with ``kid``, once the server signs with it (every
    process reads the rotated key file within a few seconds, docs/keys.md "Reload")."""

    def token_of_the_key() -> str:
        token = new_token()
        return token if kid_of(token) == kid else ""

    return wait_for(token_of_the_key, what=f"a token signed with {kid}")


def forged(token: str, kid: str, **changes: str) -> str:
    """The token's claims, with ``changes`` (another ``iss``…), signed again by a key of the
    test's own under ``kid``."""
    claims = jwt.decode(token, options={"verify_signature": False}) | changes
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def certificate_chain() -> list[str]:
    """An ``x5c`` value (RFC 7515 §4.1.6) as a client may put in the header of a JWT it signs:
    three RSA 3072 certificates — its own, an issuing authority's, a root's —, base64 DER,
    the client's first. About 5.5 KB once in a JWS header: more than 4096 bytes."""
    return list(_chain())


@cache
def _chain() -> tuple[str, ...]:
    keys = [generate_private_key("rsa-3072") for _ in range(3)]
    names = [subject_name(common_name=name, country="FR") for name in ("CLIENT", "AC", "RACINE")]
    chain = []
    for at in range(3):
        issuer = min(at + 1, 2)
        certificate = signed_certificate(
            names[at], keys[at], names[issuer], keys[issuer], ca=at > 0
        )
        der = certificate.public_bytes(serialization.Encoding.DER)
        chain.append(base64.b64encode(der).decode())
    return tuple(chain)
