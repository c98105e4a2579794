"""``compose.yaml``: no Docker engine runs here, so its structure is checked instead — two santeid
instances sharing one PostgreSQL, one Redis and one keys volume, with health checks, restart
policies and persistent volumes (docs/deployment.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from santeid.settings import load_settings

COMPOSE = Path(__file__).resolve().parents[2] / "compose.yaml"
INSTANCES = ("santeid-a", "santeid-b")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _volumes(service: dict) -> dict[str, str]:
    return dict(v.split(":", 1) for v in service["volumes"])


def test_every_service_has_a_health_check_and_a_restart_policy(compose):
    services = compose["services"]
    # The default services; "sandbox" is the one-container sandbox of its own profile.
    default = {name for name, service in services.items() if "profiles" not in service}
    assert default == {*INSTANCES, "postgres", "redis"}
    assert services["sandbox"]["profiles"] == ["sandbox"]
    for name, service in services.items():
        assert service["restart"] in ("unless-stopped", "always"), name
        check = service["healthcheck"]
        assert check["test"][0] == "CMD" and check["interval"] and check["retries"] >= 3, name


def test_data_lives_in_named_volumes(compose):
    declared = set(compose["volumes"])
    assert _volumes(compose["services"]["postgres"]) == {
        "postgres-data": "/var/lib/postgresql/data"
    }
    assert _volumes(compose["services"]["redis"]) == {"redis-data": "/data"}
    for name in INSTANCES:
        for volume in _volumes(compose["services"][name]):
            assert volume in declared, (name, volume)


def test_the_two_instances_share_database_store_keys_and_issuer(compose):
    a, b = (compose["services"][name] for name in INSTANCES)
    assert a["environment"] == b["environment"]
    env = a["environment"]
    postgres = compose["services"]["postgres"]["environment"]
    assert env["SANTEID_DATABASE_URL"] == (
        f"postgresql://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{postgres['POSTGRES_DB']}"
    )
    assert env["SANTEID_STORE_URL"].startswith("redis://redis:6379/")
    keys_a, keys_b = _volumes(a), _volumes(b)
    assert keys_a["santeid-keys"] == keys_b["santeid-keys"] == env["SANTEID_KEYS_DIR"]
    # Each instance has its own data directory (directory and civil-status files).
    data = env["SANTEID_DATA_DIR"]
    assert [v for v, path in keys_a.items() if path == data] != [
        v for v, path in keys_b.items() if path == data
    ]
    assert a["ports"] != b["ports"]
    # The configuration is one santeid accepts.
    settings = load_settings({k: str(v) for k, v in env.items()})
    assert settings.database.url.startswith("postgresql://")


def test_instances_start_after_healthy_dependencies(compose):
    for name in INSTANCES:
        depends = compose["services"][name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
    # B waits for A, which creates the sandbox keys in the shared volume.
    assert compose["services"]["santeid-b"]["depends_on"]["santeid-a"] == {
        "condition": "service_healthy"
    }


def test_the_session_secret_is_the_operator_s(compose):
    """No session secret in the file (anyone could sign session cookies with it): Compose
    requires SANTEID_SECRET_KEY from the environment or a `.env` file, one value for both
    instances (their data volumes differ, so the secret santeid keeps there would differ)."""
    for name in INSTANCES:
        secret = compose["services"][name]["environment"]["SANTEID_SECRET_KEY"]
        assert secret.startswith("${SANTEID_SECRET_KEY:?") and secret.endswith("}"), secret
    assert "change-me" not in COMPOSE.read_text()
    root = COMPOSE.parent
    for ignored in (".gitignore", ".dockerignore"):
        assert "/.env" in (root / ignored).read_text().splitlines(), ignored
