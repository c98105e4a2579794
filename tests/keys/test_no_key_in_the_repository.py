"""The repository holds no key and no data made by running santeid: keys are generated where
santeid runs (``santeid keys generate``, ``santeid tls dev-cert``, the suite's temporary
folders; docs/keys.md), and a file a test or a development run leaves in the checkout is
taken along by the next ``git add -A``."""

from __future__ import annotations

import re
import subprocess

from tests.support.paths import ROOT

#: A PEM private key block with its base64 body (a docstring that names the armour line
#: alone, as santeid.pki's does, is no key).
PEM_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=]{16,}")
#: The first bytes of every SQLite database file (https://www.sqlite.org/fileformat.html, §1.3).
SQLITE_HEADER = b"SQLite format 3\x00"


def tracked_files() -> list[str]:
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [name.decode() for name in listing.split(b"\0") if name]


def test_no_tracked_file_holds_a_private_key_or_a_database():
    found = []
    for name in tracked_files():
        path = ROOT / name
        if not path.is_file():
            continue  # deleted in the working tree, not yet committed
        content = path.read_bytes()
        if PEM_PRIVATE_KEY.search(content) or content.startswith(SQLITE_HEADER):
            found.append(name)
    assert found == []


def test_the_check_finds_a_pem_key_and_a_database():
    key = b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n"
    assert PEM_PRIVATE_KEY.search(key)
    assert not PEM_PRIVATE_KEY.search(b'"""PEM (``-----BEGIN PRIVATE KEY-----``): test keys"""')
    assert (b"SQLite format 3\x00" + bytes(84)).startswith(SQLITE_HEADER)
