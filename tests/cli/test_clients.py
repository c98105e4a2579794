"""``santeid clients list`` on a terminal: what is stored is shown, never obeyed — a control
character of a client registered before registration refused them (an escape sequence that
retitles the window, a bidirectional override) is printed escaped (docs/operations.md,
"Command-line errors")."""

from __future__ import annotations

import json

from click.testing import CliRunner

from santeid import db
from santeid.cli import main
from santeid.settings import Settings

STORED = "https://rp.example.org/cb\x1b]0;PWNED\x07\u202e"


def test_clients_list_prints_control_characters_escaped(tmp_path) -> None:
    env = {"SANTEID_CONFIG": None, "SANTEID_DATA_DIR": str(tmp_path / "var"),
           "SANTEID_KEYS_DIR": str(tmp_path / "keys"), "SANTEID_SANDBOX": "true",
           "SANTEID_STORE_URL": None, "SANTEID_DATABASE_URL": None}  # fmt: skip
    document = tmp_path / "rp.json"
    document.write_text(json.dumps({"client_id": "rp-old", "client_secret": "s" * 32,
                                    "redirect_uris": ["https://rp.example.org/cb"]}))  # fmt: skip
    assert CliRunner().invoke(main, ["clients", "add", str(document)], env=env).exit_code == 0
    # As a release that did not refuse such a URI left it in the database.
    settings = Settings(data_dir=str(tmp_path / "var"), sandbox=True)
    database = db.database_for(settings, db.CLIENTS)
    metadata = {"client_id": "rp-old", "redirect_uris": [STORED]}
    with database.connect() as conn, conn.transaction():
        conn.execute("UPDATE client SET metadata = ? WHERE client_id = ?",
                     (json.dumps(metadata), "rp-old"))  # fmt: skip

    listed = CliRunner().invoke(main, ["clients", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "\x1b" not in listed.output and "\x07" not in listed.output
    assert "\u202e" not in listed.output
    assert "https://rp.example.org/cb\\x1b]0;PWNED\\x07\\u202e" in listed.output
    as_json = CliRunner().invoke(main, ["clients", "list", "--json"], env=env)
    assert json.loads(as_json.output)[0]["redirect_uris"] == [STORED]  # JSON escapes them
    assert "\x1b" not in as_json.output


def test_a_client_secret_jwt_client_registered_by_the_cli_keeps_its_secret_unlisted(tmp_path):
    """``santeid clients add`` checks a ``client_secret_jwt`` document as every registration
    path does (``validate_metadata``): a secret required, the assertion algorithm one of HMAC;
    the secret kept for its assertions never shows in ``clients list`` (docs/security.md,
    "Client secrets")."""
    env = {"SANTEID_CONFIG": None, "SANTEID_DATA_DIR": str(tmp_path / "var"),
           "SANTEID_KEYS_DIR": str(tmp_path / "keys"), "SANTEID_SANDBOX": "true",
           "SANTEID_STORE_URL": None, "SANTEID_DATABASE_URL": None}  # fmt: skip
    secret = "the-hmac-secret-of-the-cli-service-0123456789"
    base = {"client_id": "rp-hmac", "redirect_uris": ["https://rp.example.org/cb"],
            "token_endpoint_auth_method": "client_secret_jwt"}  # fmt: skip
    refused = [
        base,
        {**base, "client_secret": secret, "token_endpoint_auth_signing_alg": "RS256"},
    ]
    for index, metadata in enumerate(refused):
        document = tmp_path / f"refused-{index}.json"
        document.write_text(json.dumps(metadata))
        result = CliRunner().invoke(main, ["clients", "add", str(document)], env=env)
        assert result.exit_code != 0, result.output
    document = tmp_path / "rp.json"
    document.write_text(json.dumps({**base, "client_secret": secret,
                                    "token_endpoint_auth_signing_alg": "HS256"}))  # fmt: skip
    added = CliRunner().invoke(main, ["clients", "add", str(document)], env=env)
    assert added.exit_code == 0, added.output
    for args in (["clients", "list"], ["clients", "list", "--json"]):
        listed = CliRunner().invoke(main, args, env=env)
        assert listed.exit_code == 0, listed.output
        assert "rp-hmac" in listed.output and secret not in listed.output


def test_a_jwks_uri_is_refused_whatever_the_client_authenticates_with(tmp_path):
    """santeid fetches no client keys: a ``jwks_uri`` is refused by ``santeid clients add``
    with the option named and what takes keys (``jwks`` inline, ``private_key_jwt``) — for a
    client that authenticates with its secret too, which was registered and its ``jwks_uri``
    never used (docs/endpoints.md, "Client metadata"). Nothing is registered."""
    env = {"SANTEID_CONFIG": None, "SANTEID_DATA_DIR": str(tmp_path / "var"),
           "SANTEID_KEYS_DIR": str(tmp_path / "keys"), "SANTEID_SANDBOX": "true",
           "SANTEID_STORE_URL": None, "SANTEID_DATABASE_URL": None}  # fmt: skip
    base = {"redirect_uris": ["https://rp.example.org/cb"],
            "jwks_uri": "https://rp.example.org/jwks.json"}  # fmt: skip
    for method in ("client_secret_basic", "client_secret_post", "client_secret_jwt"):
        document = tmp_path / f"{method}.json"
        document.write_text(json.dumps({**base, "client_id": f"rp-{method}",
                                        "token_endpoint_auth_method": method,
                                        "client_secret": "s" * 32}))  # fmt: skip
        result = CliRunner().invoke(main, ["clients", "add", str(document)], env=env)
        assert result.exit_code == 1, result.output
        assert "invalid_client_metadata: jwks_uri is not supported" in result.output
        assert "private_key_jwt" in result.output and "inline in jwks" in result.output
        assert f"a {method} client authenticates with its client_secret" in result.output
    listed = CliRunner().invoke(main, ["clients", "list"], env=env)
    assert listed.output.strip() == "no client registered"


def test_clients_list_prints_a_path_only_redirect_uri_as_registered(settings) -> None:
    """``santeid-account`` registers its page as a path, which each server resolves against its
    own issuer's origin, and the last started server's absolute URI: the listing prints the
    path marked as such, not resolved against the command's own issuer — here the default
    one, which is not the server's."""
    from santeid import create_app
    from santeid.oidc.clients import ACCOUNT_CLIENT_ID
    from santeid.storage import MemoryStore

    server_issuer = "https://sante.example.org/auth/realms/esante-wallet"
    create_app(settings.replace(issuer=server_issuer), store=MemoryStore())
    env = {"SANTEID_CONFIG": None, "SANTEID_ISSUER": None, "SANTEID_DATA_DIR": settings.data_dir,
           "SANTEID_KEYS_DIR": settings.keys_dir, "SANTEID_SANDBOX": "true",
           "SANTEID_STORE_URL": None, "SANTEID_DATABASE_URL": None}  # fmt: skip
    listed = CliRunner().invoke(main, ["clients", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    lines = [line.split("\t") for line in listed.output.splitlines()]
    account = next(fields for fields in lines if fields[0] == ACCOUNT_CLIENT_ID)
    assert account[2] == (
        "/ecps/devices (relative to the issuer's origin), https://sante.example.org/ecps/devices"
    )
    as_json = CliRunner().invoke(main, ["clients", "list", "--json"], env=env)
    registered = {c["client_id"]: c for c in json.loads(as_json.output)}
    assert registered[ACCOUNT_CLIENT_ID]["redirect_uris"] == [
        "/ecps/devices",
        "https://sante.example.org/ecps/devices",
    ]
