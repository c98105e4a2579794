"""What the ``santeid`` commands say when the machine, a service or the operator's input is at
fault: one line ``Error: …`` (exit status 1), or a usage error (exit status 2) for a bad
argument — never a traceback (docs/operations.md, "Command-line errors")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from click.testing import Result

from santeid.cli import main
from santeid.oidc.clients import InvalidClientMetadata
from santeid.oidc.clients import validate_metadata
from tests.support.redis_server import closed_port
from tests.support.servers import santeid_env

#: A byte that is not UTF-8, as Python receives it in ``sys.argv`` (PEP 383).
NOT_UTF8 = b"\xff".decode("utf-8", "surrogateescape")


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``santeid ARGS`` in this process, with its own folders and sandbox mode (``env``
    overrides, ``None`` unsets), in ``tmp_path``: a relative ``--out`` that a refusal failed to
    stop writes there, never into the checkout."""
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str, env: dict[str, str | None] | None = None, stdin: str | None = None):
        base: dict[str, str | None] = {
            "SANTEID_CONFIG": None,
            "SANTEID_DATA_DIR": str(tmp_path / "var"),
            "SANTEID_KEYS_DIR": str(tmp_path / "keys"),
            "SANTEID_SANDBOX": "true",
            "SANTEID_STORE_URL": None,
            "SANTEID_DATABASE_URL": None,
        }
        return CliRunner().invoke(main, list(args), env={**base, **(env or {})}, input=stdin)

    return invoke


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[-1], result.output


def assert_usage_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.output, result.exception)
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in last, result.output


# -- the machine and the services ----------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("clients", "list"),
        ("directory", "list"),
        ("events", "list"),
        ("ecps", "devices"),
        ("insi", "software", "list"),
        ("insi", "stats"),
        ("directory", "seed-demo"),
    ],
)
def test_a_data_directory_that_is_a_file(run, tmp_path, args) -> None:
    # Named as the setting: the bare "[Errno 17] File exists" of making it said nothing of why.
    data = tmp_path / "not-a-directory"
    data.write_text("")
    assert_one_line_error(
        run(*args, env={"SANTEID_DATA_DIR": str(data)}),
        f"data_dir {data} is a file, not a directory",
    )
    assert data.read_text() == ""


def test_a_database_that_cannot_be_opened_names_the_data_directory(run, tmp_path) -> None:
    data = tmp_path / "var"
    (data / "santeid.sqlite3").mkdir(parents=True)  # SQLite cannot open a directory
    assert_one_line_error(
        run("clients", "list"), "SQLite: unable to open database file", f"data_dir {data}"
    )


def test_clients_add_on_a_data_directory_that_is_a_file(run, tmp_path) -> None:
    data = tmp_path / "not-a-directory"
    data.write_text("")
    metadata = json.dumps(
        {
            "client_id": "rp",
            "client_secret": "a-client-secret-of-32-characters",
            "redirect_uris": ["https://rp.example/cb"],
        }
    )
    result = run("clients", "add", "-", env={"SANTEID_DATA_DIR": str(data)}, stdin=metadata)
    assert_one_line_error(result, f"data_dir {data} is a file, not a directory")


@pytest.mark.parametrize(
    "args", [("clients", "list"), ("events", "list"), ("events", "purge"), ("ecps", "devices")]
)
def test_postgresql_down(run, args) -> None:
    with closed_port() as port:
        url = f"postgresql://santeid:secret@127.0.0.1:{port}/santeid?connect_timeout=2"
        assert_one_line_error(run(*args, env={"SANTEID_DATABASE_URL": url}), "connect")


def test_redis_down(run) -> None:
    assert run("directory", "seed-demo").exit_code == 0
    assert run("keys", "generate", "--alg", "HS512").exit_code == 0
    with closed_port() as port:
        store = {"SANTEID_STORE_URL": f"redis://127.0.0.1:{port}/0"}
        assert_one_line_error(
            run("ecps", "activate", "810000000001", env=store), "redis unavailable"
        )
        assert_one_line_error(run("sessions", "logout", "some-sid", env=store), "redis unavailable")


def test_sessions_logout_without_the_hmac_secret(run) -> None:
    # Outside sandbox mode, which would make the secret.
    with closed_port() as port:
        store = {"SANTEID_STORE_URL": f"redis://127.0.0.1:{port}/0", "SANTEID_SANDBOX": None}
        assert run("keys", "generate", "--alg", "RS256").exit_code == 0
        assert_one_line_error(
            run("sessions", "logout", "some-sid", env=store), "no active HS512 secret"
        )


@pytest.mark.parametrize(
    "args",
    [("serve", "--port", "31518"), ("ecps", "activate", "810000000001"), ("clients", "list")],
)
def test_an_unknown_store_scheme_names_the_setting(run, args) -> None:
    result = run(*args, env={"SANTEID_STORE_URL": "foo://"})
    assert_one_line_error(result, "store_url has the unsupported scheme 'foo'")


MALFORMED_STORE_URLS = [
    (
        "redis://:pw-9f3@127.0.0.1:notaport/0",
        "store_url 'redis://:***@127.0.0.1:notaport/0' is not a valid URL: Port could not be"
        " cast to integer value as 'notaport'",
    ),
    (
        "redis://:pw-9f3@127.0.0.1:99999/0",
        "store_url 'redis://:***@127.0.0.1:99999/0' is not a valid URL: Port out of range",
    ),
    (
        "redis://:pw-9f3@[::1/0",
        "store_url 'redis://… (not a valid URL)' is not a valid URL: Invalid IPv6 URL",
    ),
    (
        "rediss://u:pw-9f3@127.0.0.1:1/zero",
        "store_url 'rediss://u:***@127.0.0.1:1/zero' is not a valid URL: the db (the URL's"
        " path) must be a number, got 'zero'",
    ),
    (
        "redis+sentinel://:pw-9f3@s1:26379,s2:99999/mymaster",
        "store_url 'redis+sentinel://:***@s1:26379,s2:99999/mymaster' is not a valid URL:"
        " Sentinel URL: bad port in 's2:99999'",
    ),
]


@pytest.mark.parametrize(("url", "message"), MALFORMED_STORE_URLS)
@pytest.mark.parametrize(
    "args",
    [
        ("serve", "--port", "31518"),
        ("serve", "--port", "31518", "--workers", "2"),
        ("sessions", "logout", "some-sid"),
        ("ecps", "activate", "810000000001"),
    ],
)
def test_a_malformed_store_url_names_the_setting_without_its_password(
    run, args, url, message
) -> None:
    """A store URL of a known scheme that cannot be parsed (a port that is no number or out
    of range, a broken IPv6 address, a db that is no number) is refused with the settings, as
    a malformed ``database_url`` is: one line naming the setting, the password masked."""
    result = run(*args, env={"SANTEID_STORE_URL": url})
    assert_one_line_error(result, message)
    assert "pw-9f3" not in result.output


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ("serve", "--port", "31518", "--workers", "2"),
            {"SANTEID_REQUEST_HEADER_TIMEOUT": "1e400", "SANTEID_STORE_URL": "redis://r/0"},
            "SANTEID_REQUEST_HEADER_TIMEOUT must be a finite number, got '1e400'",
        ),
        (
            ("keys", "list"),
            {"SANTEID_REFRESH_TOKEN_LIFETIME": "99999999999999999999"},
            "refresh_token_lifetime must be 3153600000 or less, got '99999999999999999999'",
        ),
        (("clients", "list"), {"SANTEID_SMTP_PORT": "99999"}, "smtp_port must be 65535 or less"),
        (("clients", "list"), {"SANTEID_FEDERATION_ID": "x"}, "federation_id must be a UUID"),
        (
            ("clients", "list"),
            {"SANTEID_TLS_CLIENT_CERT_HEADER": "SSL_CLIENT_CERT"},
            "tls_client_cert_header 'SSL_CLIENT_CERT' holds an underscore",
        ),
    ],
)
def test_an_absurd_setting_is_refused_before_any_work(run, args, env, message) -> None:
    """Refused when the settings load, naming the setting — not taken, then a traceback in
    the middle of the work (docs/configuration.md)."""
    assert run("keys", "generate").exit_code == 0
    assert_one_line_error(run(*args, env=env), message)


def test_a_configuration_file_that_cannot_be_read(run, tmp_path) -> None:
    assert_one_line_error(
        run("clients", "list", env={"SANTEID_CONFIG": str(tmp_path)}), "SANTEID_CONFIG"
    )
    latin1 = tmp_path / "santeid.toml"
    latin1.write_bytes(b'data_dir = "caf\xe9"\n')
    assert_one_line_error(
        run("clients", "list", env={"SANTEID_CONFIG": str(latin1)}), "not UTF-8 text"
    )


def test_a_bug_keeps_its_traceback(run, monkeypatch) -> None:
    """Only what the machine, a service or the operator causes becomes one line: anything
    else is a bug to report, with its traceback."""
    from santeid.oidc.clients import ClientRegistry

    def broken(self):
        raise KeyError("a bug")

    monkeypatch.setattr(ClientRegistry, "list", broken)
    result = run("clients", "list")
    assert isinstance(result.exception, KeyError)


def test_the_one_line_is_printed_without_traceback_by_the_installed_command(tmp_path) -> None:
    data = tmp_path / "not-a-directory"
    data.write_text("")
    result = subprocess.run(
        [str(Path(sys.executable).with_name("santeid")), "clients", "list"],
        env=santeid_env(tmp_path, SANTEID_DATA_DIR=str(data)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


# -- arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("clients", "remove", NOT_UTF8), "argument 3"),
        (("events", "list", "--professional", NOT_UTF8), "--professional"),
        (("events", "list", f"--professional={NOT_UTF8}"), "--professional"),
        (("ecps", "revoke", NOT_UTF8), "argument 3"),
        (("ecps", "devices", "--national-id", NOT_UTF8), "--national-id"),
        (("ecps", "activate", NOT_UTF8), "argument 3"),
        (("sessions", "logout", NOT_UTF8), "argument 3"),
        (("insi", "software", "remove", NOT_UTF8), "argument 4"),
        (("insi", "stats", "--software", NOT_UTF8), "--software"),
        (("admin", "set-password", "--password", NOT_UTF8 * 12), "--password"),
        (("cps", "revoke-card", "card1", "--reason", NOT_UTF8), "--reason"),
    ],
)
def test_arguments_that_are_not_utf8_are_usage_errors(run, args, named) -> None:
    assert_usage_error(run(*args), f"{named}: b'\\xff", "is not UTF-8 text")


def test_clients_add_of_a_file_that_is_not_utf8(run, tmp_path) -> None:
    metadata = tmp_path / "client.json"
    metadata.write_bytes(b"\xff\xfe{}")
    assert_one_line_error(run("clients", "add", str(metadata)), "not UTF-8 text")


def test_clients_add_of_json_nested_beyond_reason(run, tmp_path) -> None:
    metadata = tmp_path / "deep.json"
    metadata.write_text("[" * 4000)
    assert_one_line_error(run("clients", "add", str(metadata)), "not valid JSON", "too deeply")


def test_clients_add_of_json_with_a_member_twice(run, tmp_path) -> None:
    metadata = tmp_path / "twice.json"
    metadata.write_text('{"client_id": "a", "client_id": "b", "redirect_uris": []}')
    assert_one_line_error(
        run("clients", "add", str(metadata)), "not valid JSON", "'client_id' appears more than once"
    )


@pytest.mark.parametrize(
    ("member", "named"),
    [
        ({"client_id": "rp\ud800x"}, "client_id"),
        ({"client_name": "\ud800"}, "client_name"),
        ({"contacts": ["ops@rp.example", "\udfff"]}, "contacts"),
        ({"\ud800": "x"}, "'\\ud800'"),
    ],
)
def test_client_metadata_with_a_lone_surrogate_is_refused(run, tmp_path, member, named) -> None:
    metadata = {"client_id": "rp", "redirect_uris": ["https://rp.example/cb"], **member}
    with pytest.raises(InvalidClientMetadata, match="lone UTF-16 surrogate"):
        validate_metadata(metadata)
    path = tmp_path / "client.json"
    path.write_text(json.dumps(metadata), encoding="utf-8")  # "\ud800" escaped, as JSON may
    result = run("clients", "add", str(path))
    assert_one_line_error(result, f"invalid_client_metadata: {named} holds a lone UTF-16")
    assert "no client registered" in run("clients", "list").output


def test_adding_a_registered_client_again_names_replace(run, tmp_path) -> None:
    """The README's registration block run twice: the refusal says how to replace the
    client, and --replace does it (the new secret is then the one that works)."""
    path = tmp_path / "client.json"
    metadata = {"client_id": "mon-service", "client_secret": "a" * 32,
                "redirect_uris": ["https://rp.example/cb"]}  # fmt: skip
    path.write_text(json.dumps(metadata))
    assert run("clients", "add", str(path)).exit_code == 0
    path.write_text(json.dumps({**metadata, "client_secret": "b" * 32}))
    assert_one_line_error(
        run("clients", "add", str(path)),
        "client 'mon-service' already exists",
        f"santeid clients add --replace {path}",
    )
    replaced = run("clients", "add", "--replace", str(path))
    assert replaced.exit_code == 0, replaced.output


@pytest.mark.parametrize(
    "host",
    ["", "[]", "[127.0.0.1]", "[::1", "::1]", "[localhost]", "a b", "::zz", "-a.example",
     "0x7f.1", "127.1", "a.0x10"],
)  # fmt: skip
def test_a_host_that_is_no_address_is_refused_as_the_host(run, host) -> None:
    """A usage error naming ``--host``, before the issuer the address would make (it said
    "issuer must be an absolute http(s) URL", about a setting nobody gave)."""
    result = run("serve", "--sandbox", "--host", host, "--port", "31517")
    assert_usage_error(result, "--host")
    assert "issuer" not in result.output


@pytest.mark.parametrize(
    "host", ["", "a b", "-a.example", "a..example", "é.example", "0x7f.1", "127.1", "a.0x10"]
)
def test_tls_dev_cert_refuses_what_is_not_a_host(run, tmp_path, host) -> None:
    result = run("tls", "dev-cert", "--out", str(tmp_path / "tls"), "--host", host)
    assert_usage_error(result, "--host", "neither an IP address nor a host name")
    assert not (tmp_path / "tls").exists()


def test_a_name_ending_in_a_number_is_no_host_name_to_serve_or_certify(run, tmp_path) -> None:
    """A name whose last label is a number (``0x7f.1``, ``127.1``) is what a browser reads as
    an IPv4 address (the WHATWG URL host parser's "ends in a number": ``http://0x7f.1/`` is
    ``http://127.0.0.1/``), never a host name (RFC 1123 §2.1: the highest-level label is
    alphabetic): an issuer ``http://0x7f.1:…`` matches no URL a browser goes to, a certificate
    for the dNSName ``0x7f.1`` no connection it makes. ``serve --host`` and ``tls dev-cert
    --host`` refuse it alike, saying why."""
    for args in (["serve", "--sandbox", "--port", "31517"],
                 ["tls", "dev-cert", "--out", str(tmp_path / "tls")]):  # fmt: skip
        assert_usage_error(run(*args, "--host", "0x7f.1"), "--host", "the last not a number")


def test_tls_dev_cert_takes_names_wildcards_and_addresses(run, tmp_path) -> None:
    hosts = ("*.dev.example", "idp-1.dev.example", "10.dev.example", "::1", "192.168.1.20")
    args = [arg for host in hosts for arg in ("--host", host)]
    result = run("tls", "dev-cert", "--out", str(tmp_path / "tls"), *args)
    assert result.exit_code == 0, result.output


def test_admin_password_of_spaces_only(run) -> None:
    result = run("admin", "set-password", "--password", " " * 12)
    assert_usage_error(result, "--password", "other characters than spaces")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("events", "list", "--since", ""), "--since"),
        (("events", "list", "--since", "99999999999999999999d"), "at most 36500d ago"),
        (("events", "purge", "--older-than", "1000000000000000"), "--older-than"),
    ],
)
def test_events_refuse_empty_and_huge_periods(run, args, fragment) -> None:
    assert_usage_error(run(*args), fragment)


def test_events_take_the_longest_period(run) -> None:
    assert run("events", "list", "--since", "36500d").exit_code == 0
    assert run("events", "purge", "--older-than", "36500").exit_code == 0


@pytest.mark.parametrize(
    "args",
    [
        ("events", "purge", "--older-than", "\u0663"),  # ARABIC-INDIC DIGIT THREE
        ("events", "list", "--limit", "\uff13"),  # FULLWIDTH DIGIT THREE
        ("serve", "--port", "\u0665\u0660\u0660\u0660"),
        ("serve", "--workers", "1_0"),
        ("tls", "dev-cert", "--out", "tls", "--days", "\u0663"),
        ("civil", "generate", "--persons", "\u0967\u0966", "--out", "base.sqlite3"),
        ("directory", "generate", "--professionals", "\u0663", "--out", "x"),
        ("device", "watch", "--pin", "135790", "--timeout", "\u0661.\u0665"),
    ],
)
def test_a_number_is_written_in_ascii_digits(run, args) -> None:
    """Python's int() reads the digits of every script and underscores: a number option takes
    ASCII digits only, whatever the command, as ``events list --since`` does."""
    assert_usage_error(run(*args), "ASCII digits")


@pytest.mark.parametrize(
    "args",
    [
        ("directory", "show", "12345"),
        ("directory", "show", ""),
        ("cps", "issue-card", "12345", "--out", "cards"),
        ("events", "list", "--professional", "12345"),
        ("ecps", "activate", "12345"),
        ("ecps", "activate", ""),
        ("ecps", "devices", "--national-id", "12345"),
    ],
)
def test_a_malformed_national_id_is_a_usage_error(run, args) -> None:
    assert_usage_error(run(*args), "Unrecognised identifier" if "12345" in args else "")


def test_a_national_id_is_normalised_as_the_login_page_does(run) -> None:
    assert run("directory", "seed-demo").exit_code == 0
    shown = run("directory", "show", " 8 10000000001 ")
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("810000000001 (RPPS)")


def test_tls_dev_cert_hint_follows_the_mode(run, tmp_path) -> None:
    """Outside sandbox mode the test CPS and INSi authorities are not trusted
    (``santeid.pki.trust_anchor_file``): the hint names the three files and promises no test
    authority; in sandbox mode it says they stand in for empty files."""
    production = run("tls", "dev-cert", "--out", str(tmp_path / "prod"),
                     env={"SANTEID_SANDBOX": "false"})  # fmt: skip
    assert production.exit_code == 0, production.output
    hint = " ".join(production.output.split("serve with:")[1].split())
    for setting in ("cps_ca_file", "insi_ca_file", "tls_client_auth_ca_file"):
        assert setting in hint, hint
    assert "else of the test ones" not in hint
    assert "test authorities are not trusted outside sandbox mode" in hint
    sandbox = run("tls", "dev-cert", "--out", str(tmp_path / "sandbox"))
    assert sandbox.exit_code == 0, sandbox.output
    hint = " ".join(sandbox.output.split("serve with:")[1].split())
    assert "tls_client_auth_ca_file" in hint
    assert "sandbox mode: the test CPS and INSi authorities" in hint
