"""Registering a client's secret (docs/endpoints.md, "Client metadata")."""

from __future__ import annotations

import pytest

from santeid.oidc.clients import InvalidClientMetadata
from santeid.oidc.clients import validate_metadata

META = {"client_id": "mon-service-psc", "redirect_uris": ["https://rp.example/cb"]}


@pytest.mark.parametrize("secret", ["<a long random secret>", " <your client secret here> "])
def test_a_placeholder_secret_is_refused_outside_sandbox_mode(secret):
    with pytest.raises(InvalidClientMetadata) as refused:
        validate_metadata({**META, "client_secret": secret}, sandbox=False)
    assert refused.value.error == "invalid_client_metadata"
    assert "placeholder" in refused.value.description


def test_a_placeholder_secret_is_left_to_the_sandbox():
    validate_metadata({**META, "client_secret": "<a long random secret>"}, sandbox=True)


@pytest.mark.parametrize("secret", ["a-secret-of-at-least-16-characters", "x<y and y>z always!"])
def test_secrets_with_angle_brackets_inside_are_accepted(secret):
    validate_metadata({**META, "client_secret": secret}, sandbox=False)
