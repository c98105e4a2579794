"""Fixtures of the national-scale directory tests: small synthetic sets and extract files; a
running ``santeid serve`` with its demo directory for the FHIR API, and a service's token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from santeid.directory import Directory
from santeid.directory import synthetic
from tests.support.servers import SanteidProcess
from tests.support.servers import santeid_process

#: The service that reads the FHIR directory API of :func:`directory_server`
#: (``client_credentials``, RFC 6749 §4.4).
DIRECTORY_READER = {
    "client_id": "directory-reader",
    "client_secret": "directory-reader-secret-0123456789",
    "redirect_uris": [],
    "grant_types": ["client_credentials"],
}


@pytest.fixture(scope="session")
def synthetic_people():
    """300 synthetic professionals (seed 11), as values; built once per session."""
    return tuple(synthetic.professionals(300, 11))


@pytest.fixture
def store(tmp_path):
    directory = Directory(tmp_path / "directory.sqlite3")
    yield directory
    directory.close()


@pytest.fixture(scope="module")
def directory_server(tmp_path_factory) -> Iterator[SanteidProcess]:
    """A ``santeid serve`` of the test module, its demo directory seeded, the reader registered."""
    home = tmp_path_factory.mktemp("fhir-directory")
    with santeid_process(home, clients=[DIRECTORY_READER]) as running:
        yield running


@pytest.fixture(scope="module")
def directory_token(directory_server) -> str:
    """An access token of :data:`DIRECTORY_READER` from :func:`directory_server`."""
    return requests.post(
        f"{directory_server.oidc}/token",
        data={"grant_type": "client_credentials"},
        auth=(DIRECTORY_READER["client_id"], DIRECTORY_READER["client_secret"]),
        timeout=30,
    ).json()["access_token"]
