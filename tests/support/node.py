"""Node.js for the tests that drive real JavaScript clients (keycloak-js, openid-client, the
INSi SOAP example): where ``node`` and ``npm`` are, and the mark that skips such a test
without them."""

from __future__ import annotations

import shutil

import pytest

NODE = shutil.which("node")
NPM = shutil.which("npm")

#: Skips a test (or module, in ``pytestmark``) on a machine without ``node`` and ``npm``.
needs_node_and_npm = pytest.mark.skipif(
    NODE is None or NPM is None,
    reason="node and npm are not installed (Debian: apt-get install nodejs npm; .ci/run "
    "installs them)",
)
