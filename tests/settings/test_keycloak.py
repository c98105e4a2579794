"""The Keycloak-behaviour settings: Keycloak's reading by default, the strict one on demand,
and a clear error for anything else."""

from __future__ import annotations

import pytest

from santeid.settings import ConfigurationError
from santeid.settings import load_settings


def test_defaults_are_keycloaks():
    settings = load_settings({})
    assert settings.keycloak.client_authentication == "keycloak"
    assert settings.keycloak.scope_policy == "keycloak"
    assert settings.keycloak.error_style == "keycloak"
    assert settings.keycloak.pkce_plain_for_all_clients is True
    assert settings.advertised_authorization_endpoint == "http://127.0.0.1:5000/auth"


def test_strict_readings_from_the_environment():
    settings = load_settings(
        {
            "SANTEID_CLIENT_AUTHENTICATION": "strict",
            "SANTEID_SCOPE_POLICY": "strict",
            "SANTEID_ERROR_STYLE": "strict",
            "SANTEID_PKCE_PLAIN_FOR_ALL_CLIENTS": "false",
            "SANTEID_AUTHORIZATION_ENDPOINT": "https://wallet.example.org/auth",
        }
    )
    assert (
        settings.keycloak.client_authentication,
        settings.keycloak.scope_policy,
        settings.keycloak.error_style,
    ) == (
        "strict",
        "strict",
        "strict",
    )
    assert settings.keycloak.pkce_plain_for_all_clients is False
    assert settings.advertised_authorization_endpoint == "https://wallet.example.org/auth"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SANTEID_SCOPE_POLICY", "lenient", "scope_policy must be keycloak or strict"),
        ("SANTEID_ERROR_STYLE", "", "error_style must be keycloak or strict"),
        ("SANTEID_CLIENT_AUTHENTICATION", "basic", "client_authentication must be"),
        ("SANTEID_AUTHORIZATION_ENDPOINT", "/auth", "authorization_endpoint must be"),
        ("SANTEID_AUTHORIZATION_ENDPOINT", "https://w.example/auth?x=1", "without query"),
    ],
)
def test_anything_else_is_refused_with_the_reason(variable, value, message):
    with pytest.raises(ConfigurationError, match=message):
        load_settings({variable: value})
