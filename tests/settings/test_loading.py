"""Loading the settings (docs/configuration.md): defaults < TOML file (flat keys or section
tables) < ``SANTEID_*`` variables < overrides; every value converted by its declared type and
checked against its declared constraints, every refusal a ConfigurationError naming the
setting."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

import pytest

from santeid.settings import PATH_SETTINGS
from santeid.settings import SETTINGS
from santeid.settings import ConfigurationError
from santeid.settings import Settings
from santeid.settings import load_settings
from santeid.settings.base import MAX_COUNT
from santeid.settings.sandbox import SandboxSettings


def _read(loaded: Settings, flat: str) -> object:
    section, field = SETTINGS[flat]
    return getattr(getattr(loaded, section) if section else loaded, field)


def _config(tmp_path, text: str) -> dict[str, str]:
    path = tmp_path / "santeid.toml"
    path.write_text(text, encoding="utf-8")
    return {"SANTEID_CONFIG": str(path)}


# Valid values other than the default, for the settings whose text is checked.
_SAMPLES = {
    "issuer": "https://idp.example.org/auth/realms/esante-wallet",
    "authorization_endpoint": "https://wallet.example.org/auth",
    "mtls_base_url": "https://idp.example.org:5443",
    "ecps_app_url": "https://192.168.1.20:5443/ecps/app/",
    "database_url": "sqlite:///var/all.sqlite3",
    "metrics_allowed_addresses": "10.0.0.0/8",
    "insi_idam_by_certificate": '{"CN=INSI-AUTO,C=FR": ["IDAM1"]}',
    "admin_professionals": "810000000001, 810000000030",
    "admin_password_hash": "$argon2id$v=19$m=19456,t=2,p=1$niXk3TKzvedr8xD3elKUGQ"
    "$q/2ATd9Sr8R/7ddZAGKB6Eafws2nTVcSe+oTjYVnc3E",
    "log_level": "DEBUG",
    "store_url": "redis://other.example:6379/0",
    "federation_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "tls_client_cert_header": "X-Client-Certificate",
    "sms_hook_url": "https://sms.example.org/send",
    "smtp_from": "e-cps@example.org",
    "default_acr": "eidas2",
    "ecps_acr": "eidas2",
    "card_acr": "eidas2",
}


# Valid values other than the default that the settings hold converted: (written, held).
_CONVERTED = {"cookie_secure": ("off", False)}


def _other_value(flat: str) -> tuple[str, object]:
    """A valid value of ``flat`` other than its default: as an operator writes it in a
    variable, and as the settings hold it."""
    if flat in _SAMPLES:
        return _SAMPLES[flat], _SAMPLES[flat]
    if flat in _CONVERTED:
        return _CONVERTED[flat]
    section, field = SETTINGS[flat]
    model = Settings.sections()[section] if section else Settings
    annotation = model.model_fields[field].annotation
    default = _read(Settings(), flat)
    if typing.get_origin(annotation) is typing.Literal:
        other = next(choice for choice in typing.get_args(annotation) if choice != default)
        return other, other
    if annotation is bool:
        return ("no" if default else "yes"), not default
    if annotation is int:
        return str(default + 1), default + 1
    if annotation is float:
        return str(default + 0.5), default + 0.5
    return "something else", "something else"


@pytest.mark.parametrize("flat", sorted(SETTINGS))
def test_every_flat_name_is_a_variable_and_a_toml_key_that_reaches_its_section(tmp_path, flat):
    written, held = _other_value(flat)
    # A shared store, so that two workers are a valid value too.
    store = {} if flat == "store_url" else {"SANTEID_STORE_URL": "redis://127.0.0.1:6379/0"}
    reference = load_settings(store)
    from_variable = load_settings(store | {f"SANTEID_{flat.upper()}": written})
    assert _read(from_variable, flat) == held
    # Nothing else moved.
    moved = {name for name in SETTINGS if _read(from_variable, name) != _read(reference, name)}
    assert moved == {flat}
    # A JSON string is a TOML basic string; TOML numbers and booleans are written as JSON's.
    from_file = load_settings(store | _config(tmp_path, f"{flat} = {json.dumps(held)}\n"))
    if flat in PATH_SETTINGS:
        # A relative path in the file means one beside it (resolve_path).
        held = str(tmp_path / held)
    assert _read(from_file, flat) == held


def test_sections_as_tables_and_under_the_santeid_table(tmp_path):
    flat = load_settings(
        _config(tmp_path, "ecps_request_lifetime = 45\nsandbox = true\nstore_url = 'redis://r'\n")
    )
    tables = load_settings(
        _config(
            tmp_path,
            "[ecps]\nrequest_lifetime = 45\n[sandbox]\nenabled = true\n[store]\nurl = 'redis://r'\n",
        )
    )
    nested = load_settings(
        _config(
            tmp_path,
            "[santeid]\nworkers = 2\n[santeid.ecps]\nrequest_lifetime = 45\n"
            "[santeid.sandbox]\nenabled = true\n[santeid.store]\nurl = 'redis://r'\n",
        )
    )
    for settings in (flat, tables, nested):
        assert settings.ecps.request_lifetime == 45
        assert settings.sandbox.enabled is True
        assert settings.store.url == "redis://r"
        assert settings.config_file.endswith("santeid.toml")
    assert nested.workers == 2


def test_layers_override_in_order(tmp_path):
    environ = _config(tmp_path, "[ecps]\nlong_poll = 10\npin_attempts = 4\ntotp_lock = 60\n")
    environ |= {"SANTEID_ECPS_PIN_ATTEMPTS": "5", "SANTEID_ECPS_TOTP_LOCK": "70"}
    settings = load_settings(environ, ecps_totp_lock=80, ecps_long_poll=None)
    assert settings.ecps.long_poll == 10  # file (a None override is no override)
    assert settings.ecps.pin_attempts == 5  # variable over file
    assert settings.ecps.totp_lock == 80  # override over variable
    assert settings.ecps.request_lifetime == 120  # default


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ecps_request_lifetim = 4\n", "santeid.toml: unknown setting 'ecps_request_lifetim'"),
        ("[ecps]\nrequest_lifetim = 4\n", "unknown setting 'request_lifetim' in the [ecps] table"),
        ("[oauth]\nx = 1\n", "unknown setting 'oauth'"),
        ("ecps_long_poll = 5\n[ecps]\nlong_poll = 6\n", "ecps_long_poll is set twice"),
        ("[santeid]\nworkers = 1\n[ecps]\nlong_poll = 6\n", "write it [santeid.ecps]"),
        # Under [santeid], the tables are named as the file writes them.
        (
            "[santeid]\necps_long_poll = 5\n[santeid.ecps]\nlong_poll = 6\n",
            "ecps_long_poll is set twice (ecps_long_poll and [santeid.ecps] long_poll)",
        ),
        (
            "[santeid.ecps]\nrequest_lifetim = 4\n",
            "unknown setting 'request_lifetim' in the [santeid.ecps] table",
        ),
        (
            "[santeid.ecps]\nlong_poll = 2.5\n",
            "[santeid.ecps] long_poll (ecps_long_poll): expected a whole number",
        ),
        ("ecps_long_poll = 'soon'\n", "ecps_long_poll: expected a whole number, got 'soon'"),
        ("[ecps]\nlong_poll = 2.5\n", "[ecps] long_poll (ecps_long_poll): expected a whole number"),
        ("issuer = true\n", "issuer: expected a string, got True"),
        ("issuer = 'x\n", "santeid.toml"),
    ],
)
def test_file_errors_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigurationError) as refused:
        load_settings(_config(tmp_path, text))
    assert message in str(refused.value)


def test_a_missing_file_is_named():
    with pytest.raises(ConfigurationError, match="SANTEID_CONFIG: no such file"):
        load_settings({"SANTEID_CONFIG": "/nonexistent/santeid.toml"})


def test_a_file_that_cannot_be_read_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="SANTEID_CONFIG: cannot read .*Is a directory"):
        load_settings({"SANTEID_CONFIG": str(tmp_path)})
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes('issuer = "https://idp.example.org/é"\n'.encode("latin-1"))
    with pytest.raises(ConfigurationError, match="latin1.toml: not UTF-8 text"):
        load_settings({"SANTEID_CONFIG": str(latin1)})


def test_every_path_setting_is_resolved_against_the_configuration_file(tmp_path, monkeypatch):
    """docs/configuration.md, Paths: relative to the file's directory, defaults included,
    wherever the program runs; without a file, relative to the working directory."""
    home, elsewhere = tmp_path / "deploy", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = _config(home, 'insi_base = "civil.sqlite3"\n')
    config["SANTEID_CPS_CA_FILE"] = "ca/cps.pem"
    loaded = load_settings(config)
    assert loaded.data_path == home / "var"
    assert loaded.keys_path == home / "keys"
    assert loaded.keys_dir == str(home / "keys")
    assert loaded.insi.base == str(home / "civil.sqlite3")
    assert loaded.cps.ca_file == str(home / "ca" / "cps.pem")
    assert loaded.insi.ca_file == loaded.sandbox.professionals == ""
    without = load_settings({"SANTEID_KEYS_DIR": "k", "SANTEID_INSI_CA_FILE": "~/ca.pem"})
    assert without.keys_dir == "k"
    assert without.keys_path == elsewhere / "k"
    assert without.insi.ca_file == str(Path("~/ca.pem").expanduser())


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SANTEID_WORKERS", "two", "SANTEID_WORKERS: expected a whole number, got 'two'"),
        ("SANTEID_ECPS_LONG_POLL", "2.5", "SANTEID_ECPS_LONG_POLL: expected a whole number"),
        ("SANTEID_HEALTH_CHECK_TIMEOUT", "soon", "SANTEID_HEALTH_CHECK_TIMEOUT: expected a number"),
        ("SANTEID_SANDBOX", "t", "SANTEID_SANDBOX: expected a boolean (true/false), got 't'"),
        ("SANTEID_INSI_FAST_PATH", "maybe", "SANTEID_INSI_FAST_PATH: expected a boolean"),
    ],
)
def test_variables_of_the_wrong_type_are_named(variable, value, message):
    with pytest.raises(ConfigurationError) as refused:
        load_settings({variable: value})
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("written", "held"),
    [("true", True), ("On", True), (" YES ", True), ("1", True)]
    + [("false", False), ("off", False), ("No", False), ("0", False), ("", False)],
)
def test_booleans_as_documented(written, held):
    assert load_settings({"SANTEID_SANDBOX": written}).sandbox.enabled is held


@pytest.mark.parametrize(
    ("written", "held", "secure"),
    [("auto", "auto", False), ("AUTO", "auto", False), ("", "auto", False)]
    + [("on", True, True), ("Yes", True, True), ("1", True, True), ("true", True, True)]
    + [("off", False, False), ("no", False, False), ("0", False, False), ("FALSE", False, False)],
)
def test_cookie_secure_is_auto_or_a_boolean(written, held, secure):
    """As docs/configuration.md says; the default issuer is plain-HTTP localhost, where
    ``auto`` leaves the flag off."""
    loaded = load_settings({"SANTEID_COOKIE_SECURE": written})
    assert loaded.cookie_secure == held
    assert loaded.secure_cookies is secure


@pytest.mark.parametrize("written", ["maybe", "ture", "2", "secure"])
def test_cookie_secure_refuses_anything_else(written):
    with pytest.raises(ConfigurationError) as refused:
        load_settings({"SANTEID_COOKIE_SECURE": written})
    assert str(refused.value) == (
        "cookie_secure must be auto or a boolean (true/false, 1/0, yes/no, on/off), "
        f"got {written!r}"
    )


@pytest.mark.parametrize(
    ("flat", "table", "entries", "held"),
    [
        ("trusted_proxies", "http", '["10.0.0.1", "192.168.0.0/16"]', "10.0.0.1, 192.168.0.0/16"),
        (
            "metrics_allowed_addresses",
            "observability",
            '["127.0.0.1/32", "::1/128"]',
            "127.0.0.1/32, ::1/128",
        ),
        ("admin_professionals", "admin", '["810000000001"]', "810000000001"),
    ],
)
def test_a_list_setting_takes_a_toml_array_of_strings(tmp_path, flat, table, entries, held):
    # Comma-separated in one text, as in the environment; a TOML file writes a list as an array.
    assert _read(load_settings(_config(tmp_path, f"{flat} = {entries}\n")), flat) == held
    section, field = SETTINGS[flat]
    written = f"[{table}]\n{field} = {entries}\n"
    assert _read(load_settings(_config(tmp_path, written)), flat) == held


def test_a_list_setting_refuses_an_array_of_anything_but_strings(tmp_path):
    with pytest.raises(ConfigurationError) as refused:
        load_settings(_config(tmp_path, '[http]\ntrusted_proxies = ["10.0.0.1", 3]\n'))
    assert str(refused.value).endswith(
        "santeid.toml: [http] trusted_proxies must be a string or an array of strings"
    )


def test_other_settings_take_no_array(tmp_path):
    with pytest.raises(ConfigurationError, match="issuer"):
        load_settings(_config(tmp_path, 'issuer = ["https://a.example", "https://b.example"]\n'))


def test_cookie_secure_from_a_toml_boolean(tmp_path):
    assert load_settings(_config(tmp_path, "cookie_secure = true\n")).secure_cookies is True


@pytest.mark.parametrize(("written", "held"), [("debug", "DEBUG"), (" Warning ", "WARNING")])
def test_log_levels_in_any_case(written, held):
    assert load_settings({"SANTEID_LOG_LEVEL": written}).observability.log_level == held


def test_unknown_override_and_unknown_constructor_name_are_refused():
    with pytest.raises(ConfigurationError, match="unknown setting 'ecps_pin_attempt'"):
        load_settings({}, ecps_pin_attempt=3)
    with pytest.raises(ConfigurationError, match="unknown setting 'ecps_pin_attempt'"):
        Settings(ecps_pin_attempt=3)
    # Variables are looked up by name: an unknown SANTEID_* variable is someone else's.
    assert load_settings({"SANTEID_SERVE_THREADS": "4"}) == Settings()


# Those that were positive before the sections declared it on the field.
POSITIVE = [
    "access_token_lifetime", "refresh_token_lifetime",
    "authorization_code_lifetime", "login_transaction_lifetime", "sso_max_lifetime",
    "sso_idle_timeout", "max_parameter_length", "ecps_request_lifetime",
    "ecps_activation_code_lifetime", "ecps_pin_attempts", "ecps_totp_failures", "ecps_totp_lock",
    "ecps_long_poll", "database_pool_size", "ecps_max_pending_requests",
    "ecps_push_limit_per_professional", "ecps_push_limit_per_address", "ecps_push_window",
    "ecps_totp_failures_per_professional", "ecps_activation_sends_per_professional",
    "ecps_activation_sends_per_address", "ecps_activation_window",
    "client_assertion_max_lifetime", "signed_request_max_lifetime", "insi_assertion_max_age",
    "backchannel_logout_timeout", "par_lifetime", "proxy_hops", "request_header_timeout",
    "request_body_timeout", "ecps_waits_per_device", "health_check_timeout",
    "events_retention_days",
]  # fmt: skip


@pytest.mark.parametrize("flat", POSITIVE)
def test_positive_settings_refuse_zero(flat):
    with pytest.raises(ConfigurationError, match=f"^{flat} must be positive, got '0'$"):
        load_settings({f"SANTEID_{flat.upper()}": "0"})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"workers": 0}, "workers must be 1 or more"),
        # `serve --workers` stops at 64; the setting let 100000 through (a process each).
        ({"workers": 65, "store_url": "redis://r:6379/0"}, "workers must be 64 or less"),
        ({"workers": 64, "store_url": "redis://r:6379/0"}, None),
        ({"refresh_token_max_reuse": -1}, "refresh_token_max_reuse must be 0 or more"),
        ({"max_connections_per_address": -1}, "max_connections_per_address must be 0 or more"),
        ({"hsts_max_age": -1}, "hsts_max_age must be 0 or more"),
        ({"sandbox_insi_delay": 121}, "sandbox_insi_delay must be 120 or less"),
        ({"sandbox_insi_delay": -1}, "sandbox_insi_delay must be 0 or more"),
        ({"signing_alg": "HS256"}, "signing_alg must be RS256, ES256 or PS256, got 'HS256'"),
        ({"log_format": "xml"}, "log_format must be text or json"),
        (
            {"log_level": "verbose"},
            "log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL (any case), got 'verbose'",
        ),
        ({"userinfo_layout": "2024"}, "userinfo_layout must be classic or late-2023"),
        ({"userinfo_errors": "strict"}, "userinfo_errors must be keycloak or rfc6750"),
        ({"post_logout_redirect_policy": "any"}, "post_logout_redirect_policy must be keycloak"),
        ({"issuer": "https://idp.example.org/realm/"}, None),
        (
            {"issuer": "https://idp.example.org/r?x=1"},
            "issuer must be an absolute http(s) URL with a host, without",
        ),
        ({"issuer": "http://:5000/realm"}, "issuer must be an absolute http(s) URL with a host"),
        ({"issuer": "http://[::1/realm"}, "issuer must be an absolute http(s) URL with a host"),
        (
            {"store_url": "foo://h"},
            "store_url has the unsupported scheme 'foo'; accepted: memory://",
        ),
        ({"store_url": "localhost:6379"}, "store_url has no scheme"),
        ({"store_url": "memory://x"}, "store_url memory:// takes no options"),
        (
            {"store_url": "redis://:pw@r:99999/0"},
            "store_url 'redis://:***@r:99999/0' is not a valid URL: Port out of range",
        ),
        ({"store_url": "redis+sentinel://s1:26379,s2/mymaster/0"}, None),
        ({"events_retention_days": 36_501}, "events_retention_days must be 36500 or less"),
        ({"issuer": ""}, "issuer must be set"),
        (
            {"authorization_endpoint": "https://w/auth#x"},
            "authorization_endpoint must be an absolute",
        ),
        ({"mtls_base_url": "http://idp:5443"}, "mtls_base_url must be an https origin"),
        # An origin is scheme, host and port: the aliases append the issuer's path to it, so a
        # query, fragment or user information published /auth/realms/… inside them.
        ({"mtls_base_url": "https://idp:5443?x"}, "mtls_base_url must be an https origin"),
        ({"mtls_base_url": "https://idp:5443#x"}, "mtls_base_url must be an https origin"),
        ({"mtls_base_url": "https://me:pw@idp:5443"}, "mtls_base_url must be an https origin"),
        ({"mtls_base_url": "https://idp:99999"}, "mtls_base_url must be an https origin"),
        ({"mtls_base_url": "https://[::1]:5443/"}, None),
        # A bare "?" or "#" is an empty query or fragment, still one; a port no connection
        # goes to makes a URL that leads nowhere.
        ({"issuer": "https://idp.example.org/realm?"}, "issuer must be an absolute http(s) URL"),
        ({"issuer": "https://idp.example.org/realm#"}, "issuer must be an absolute http(s) URL"),
        ({"issuer": "https://idp:99999/realm"}, "issuer must be an absolute http(s) URL"),
        ({"issuer": "https://idp:0/realm"}, "issuer must be an absolute http(s) URL"),
        ({"issuer": "https://idp:port/realm"}, "issuer must be an absolute http(s) URL"),
        ({"ecps_app_url": "https://h/ecps/app/?"}, "ecps_app_url must be an absolute http(s) URL"),
        ({"ecps_app_url": "/ecps/app/"}, "ecps_app_url must be an absolute http(s) URL"),
        ({"database_url": "mysql://db"}, "database_url must be empty"),
        ({"insi_idam_by_certificate": "[]"}, "insi_idam_by_certificate must be"),
        # OpenSSL's default print of a subject, with spaces, is no RFC 4514 string: read as
        # written, the binding would match no certificate, which then claims any IDAM.
        (
            {"insi_idam_by_certificate": '{"C = FR, CN = INSI-AUTO": ["IDAM1"]}'},
            "insi_idam_by_certificate: 'C = FR, CN = INSI-AUTO' is no certificate subject as "
            "RFC 4514 writes it",
        ),
        ({"insi_idam_by_certificate": '{"": ["IDAM1"]}'}, "'' is no certificate subject"),
        (
            {
                "insi_idam_by_certificate": (
                    '{"CN=INSI-AUTO,C=FR": ["A"], "c=FR,cn=INSI-AUTO": ["B"]}'
                )
            },
            "the subject 'c=FR,cn=INSI-AUTO' is listed twice",
        ),
        ({"metrics_allowed_addresses": "10.0.0.0/8, nowhere"}, "'nowhere' is not an IP address"),
        ({"workers": 2}, "the memory:// store lives inside one process"),
        ({"workers": 2, "store_url": "redis://r:6379/0"}, None),
        # Every server layout drops a header whose name holds an underscore: never heard.
        (
            {"tls_client_cert_header": "SSL_CLIENT_CERT"},
            "tls_client_cert_header 'SSL_CLIENT_CERT' holds an underscore, and santeid never "
            "reads a header whose name does: name it 'SSL-CLIENT-CERT'",
        ),
        (
            {"tls_client_cert_header": "X-SSL-Client-Cert:"},
            "tls_client_cert_header 'X-SSL-Client-Cert:' is not a header name",
        ),
        ({"tls_client_cert_header": "X-SSL-Client-Cert"}, None),
        # Empty, the data or the keys went to the working directory of each command.
        (
            {"data_dir": ""},
            "data_dir must name a directory ('.' for the working directory), got ''",
        ),
        (
            {"keys_dir": " "},
            "keys_dir must name a directory ('.' for the working directory), got ' '",
        ),
        ({"data_dir": ".", "keys_dir": "."}, None),
        # An issuer is scheme, host, port and path (OpenID Connect Core 1.0 §2): no
        # user:password@, which the message masks.
        (
            {"issuer": "https://me:pw@idp.example.org/realm"},
            "issuer must not hold user information (user:password@ before the host), "
            "got 'https://***@idp.example.org/realm'",
        ),
        ({"issuer": "https://@idp.example.org/realm"}, "issuer must not hold user information"),
        (
            {"authorization_endpoint": "https://me@wallet.example.org/auth"},
            "authorization_endpoint must not hold user information",
        ),
        ({"ecps_app_url": "https://me:pw@h/ecps/app/"}, "ecps_app_url must not hold user info"),
        ({"issuer": "https://idp.example.org/realm/a@b"}, None),  # an @ in the path is no user
        # The SMS hook is called with urllib: an http(s) URL it can reach, checked at the start
        # (it was only outside sandbox mode, as the senders were built).
        (
            {"sms_hook_url": "ftp://sms.example.org/"},
            "sms_hook_url must be an absolute http(s) URL with a host, without fragment, "
            "got 'ftp://sms.example.org/'",
        ),
        ({"sms_hook_url": "/sms"}, "sms_hook_url must be an absolute http(s) URL"),
        ({"sms_hook_url": "https://sms.example.org/send#x"}, "sms_hook_url must be an absolute"),
        ({"sms_hook_url": "https://me:pw@sms.example.org/"}, "sms_hook_url must not hold user"),
        ({"sms_hook_url": "https://sms.example.org/send?key=k1"}, None),  # a gateway's key
        # The sender of the activation e-mails and the Web Push contact (mailto:).
        (
            {"smtp_from": "santeid"},
            "smtp_from must be an e-mail address alone, local@domain (RFC 5322 §3.4.1), "
            "got 'santeid'",
        ),
        ({"smtp_from": ""}, "smtp_from must be an e-mail address alone"),
        ({"smtp_from": "@example.org"}, "smtp_from must be an e-mail address alone"),
        ({"smtp_from": "santeid@"}, "smtp_from must be an e-mail address alone"),
        ({"smtp_from": "e cps@example.org"}, "smtp_from must be an e-mail address alone"),
        ({"smtp_from": "santeid <e-cps@example.org>"}, "smtp_from must be an e-mail address"),
        ({"smtp_from": "e-cps@example.org"}, None),
        # An acr a client asks for in acr_values, a list separated by spaces.
        ({"default_acr": ""}, "default_acr must be one acr value, not empty and without spaces"),
        ({"ecps_acr": " "}, "ecps_acr must be one acr value, not empty and without spaces"),
        ({"card_acr": "eidas3 eidas2"}, "card_acr must be one acr value, not empty and without"),
        ({"default_acr": "eidas2", "ecps_acr": "eidas2", "card_acr": "eidas2"}, None),
    ],
)
def test_declared_constraints(changes, message):
    if message is None:
        settings = load_settings({}, **changes)
        assert not settings.issuer.endswith("/")
        return
    with pytest.raises(ConfigurationError, match=re.escape(message)) as refused:
        load_settings({}, **changes)
    assert ":pw@" not in str(refused.value)  # a password is never shown


def test_flat_construction_and_replace_keep_tests_readable():
    settings = Settings(default_acr="eidas2", sandbox=True, ecps_long_poll="7")
    assert (settings.login.default_acr, settings.sandbox.enabled) == ("eidas2", True)
    assert settings.ecps.long_poll == 7
    changed = settings.replace(sandbox=False, ecps={"pin_attempts": 9}, ecps_totp_lock=61)
    assert changed.sandbox.enabled is False
    assert (changed.ecps.pin_attempts, changed.ecps.totp_lock) == (9, 61)
    assert changed.ecps.long_poll == 7  # a section given as a mapping changes only its keys
    # The original is untouched: replace copies the sections too.
    assert settings.sandbox.enabled is True and settings.ecps.pin_attempts == 3
    with pytest.raises(ConfigurationError, match="ecps_pin_attempts must be positive"):
        settings.replace(ecps_pin_attempts=0)


def test_assignments_are_converted_and_checked():
    settings = Settings()
    settings.ecps.pin_attempts = "4"
    assert settings.ecps.pin_attempts == 4
    with pytest.raises(ConfigurationError, match="ecps_pin_attempts must be positive"):
        settings.ecps.pin_attempts = 0
    with pytest.raises(ConfigurationError, match="unknown setting 'ecps_pin_attempt'"):
        settings.ecps.pin_attempt = 4


def test_a_section_is_never_read_as_a_flag():
    # ``sandbox`` was a boolean before it was a section: code reading it the old way fails
    # loudly instead of always being true.
    with pytest.raises(TypeError, match="section of the settings"):
        bool(SandboxSettings())


def test_secrets_stay_out_of_repr():
    settings = Settings(
        secret_key="s3cret-key",
        database_url="postgresql://u:pw-123@db/santeid",
        admin_password_hash="$argon2id$v=19$m=19456,t=2,p=1$niXk3TKzvedr8xD3elKUGQ"
        "$q/2ATd9Sr8R/7ddZAGKB6Eafws2nTVcSe+oTjYVnc3E",
        smtp_password="smtp-pw",
        sms_hook_token="hook-token",
    )
    shown = repr(settings)
    for secret in ("s3cret-key", "pw-123", "c2FsdHNhbHQ$aGFzaGhhc2g", "smtp-pw", "hook-token"):
        assert secret not in shown


# -- numbers a setting cannot hold: one rule per kind of setting --------------------------------
def _annotation(flat: str) -> object:
    section, field = SETTINGS[flat]
    model = Settings.sections()[section] if section else Settings
    return model.model_fields[field].annotation


#: Every setting that is a number with a fraction.
FLOATS = sorted(flat for flat in SETTINGS if _annotation(flat) is float)
#: Every setting that is a duration: in seconds, except events_retention_days (days).
DURATIONS = sorted(
    flat
    for flat in SETTINGS
    if flat.endswith(("_lifetime", "_timeout", "_delay", "_window", "_lock", "_age", "_long_poll"))
    or flat == "events_retention_days"
)
#: 100 years, the longest duration a setting may hold.
CENTURY_SECONDS = 100 * 365 * 86_400
#: Every whole number of another kind than a duration, a port or ``workers`` (1 to 64): a count.
COUNTS = sorted(
    flat
    for flat in SETTINGS
    if _annotation(flat) is int and flat not in DURATIONS and flat not in ("smtp_port", "workers")
)


def test_the_lists_of_kinds_are_not_empty():
    assert len(FLOATS) >= 7 and len(DURATIONS) >= 25, (FLOATS, DURATIONS)
    assert len(COUNTS) >= 16, COUNTS


def _upper_bound(flat: str) -> float | None:
    section, field = SETTINGS[flat]
    model = Settings.sections()[section] if section else Settings
    bounds = [m.le for m in model.model_fields[field].metadata if hasattr(m, "le")]
    return min(bounds) if bounds else None


def test_every_number_has_an_upper_bound():
    """A number without one was taken at any size, then failed where it was used."""
    numbers = [flat for flat in SETTINGS if _annotation(flat) in (int, float)]
    assert [flat for flat in numbers if _upper_bound(flat) is None] == []


@pytest.mark.parametrize("flat", COUNTS)
def test_every_count_is_at_most_a_million(flat):
    """``ecps_pin_attempts`` = 99999999999999999999 was taken, then every wrong PIN answered
    500 (SQLite holds no such integer). Every count holds at most a million."""
    assert _upper_bound(flat) == MAX_COUNT == 1_000_000
    variable = f"SANTEID_{flat.upper()}"
    for written in (str(MAX_COUNT + 1), "99999999999999999999"):
        with pytest.raises(ConfigurationError) as refused:
            load_settings({variable: written})
        assert str(refused.value) == f"{flat} must be 1000000 or less, got {written!r}"
    assert _read(load_settings({variable: str(MAX_COUNT)}), flat) == MAX_COUNT


@pytest.mark.parametrize("written", ["inf", "-inf", "nan", "1e400", "-1e400"])
@pytest.mark.parametrize("flat", FLOATS)
def test_no_setting_takes_a_number_that_is_not_finite(flat, written):
    """1e400 reads as infinity: a server started with it failed later (an OverflowError
    turning the header deadline into milliseconds for Granian)."""
    variable = f"SANTEID_{flat.upper()}"
    with pytest.raises(ConfigurationError) as refused:
        load_settings({variable: written})
    assert str(refused.value) == f"{variable} must be a finite number, got {written!r}"


@pytest.mark.parametrize("flat", DURATIONS)
def test_every_duration_is_at_most_a_hundred_years(flat):
    """A lifetime of 99999999999999999999 s was taken, then ``santeid keys list`` failed
    turning it into a date (OverflowError). Every duration holds at most 100 years
    (``events_retention_days``: 36500 days), a bound some tighten."""
    longest = 36_500 if flat == "events_retention_days" else CENTURY_SECONDS
    for written in (str(longest + 1), "99999999999999999999"):
        with pytest.raises(ConfigurationError) as refused:
            load_settings({f"SANTEID_{flat.upper()}": written})
        assert re.fullmatch(rf"{flat} must be \d+ or less, got {written!r}", str(refused.value))
    if flat != "sandbox_insi_delay":  # at most 120 s
        assert _read(load_settings({f"SANTEID_{flat.upper()}": str(longest)}), flat) == longest


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("0", "smtp_port must be 1 or more, got '0'"),
        ("-1", "smtp_port must be 1 or more, got '-1'"),
        ("65536", "smtp_port must be 65535 or less, got '65536'"),
        ("99999", "smtp_port must be 65535 or less, got '99999'"),
    ],
)
def test_a_port_is_between_1_and_65535(written, message):
    with pytest.raises(ConfigurationError) as refused:
        load_settings({"SANTEID_SMTP_PORT": written})
    assert str(refused.value) == message
    assert load_settings({"SANTEID_SMTP_PORT": "65535"}).messaging.smtp_port == 65535


@pytest.mark.parametrize(
    "written",
    [
        "not-a-uuid",
        "",
        "7a0d1f9e3c554f0e9d7b2b5e1c8a4f10",  # uuid.UUID takes it; the sub would not be a UUID
        "{7a0d1f9e-3c55-4f0e-9d7b-2b5e1c8a4f10}",
        "urn:uuid:7a0d1f9e-3c55-4f0e-9d7b-2b5e1c8a4f10",
        "7a0d1f9e-3c55-4f0e-9d7b-2b5e1c8a4f1g",
    ],
)
def test_the_federation_id_is_a_uuid(written):
    """It is the UUID in every ``sub`` (docs/configuration.md)."""
    with pytest.raises(ConfigurationError) as refused:
        load_settings({"SANTEID_FEDERATION_ID": written})
    assert str(refused.value).startswith("federation_id must be a UUID"), refused.value
    uuid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert load_settings({"SANTEID_FEDERATION_ID": uuid}).oidc.federation_id == uuid


def test_an_idam_binding_matches_its_certificate_however_its_subject_is_written():
    """``insi_idam_by_certificate`` names a subject by its attributes: in RFC 4514's order or
    the certificate's, with ``CN`` or ``cn`` or its OID, it is the same certificate's."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from santeid.settings.insi import certificate_subject_key

    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CLINIQUE"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "10B0152872"),
            x509.NameAttribute(NameOID.COMMON_NAME, "INSI-AUTO"),
        ]
    )
    for written in (
        "CN=INSI-AUTO,OU=10B0152872,O=CLINIQUE,C=FR",  # RFC 4514 (openssl -nameopt RFC2253)
        "C=FR,O=CLINIQUE,OU=10B0152872,CN=INSI-AUTO",  # the certificate's order
        "c=FR,o=CLINIQUE,ou=10B0152872,2.5.4.3=INSI-AUTO",
    ):
        settings = load_settings({}, insi_idam_by_certificate=json.dumps({written: ["IDAM1"]}))
        bindings = settings.insi.idam_bindings
        assert bindings.get(certificate_subject_key(subject)) == {"IDAM1"}, written
    # Values are compared exactly: another structure's certificate is not this one's.
    other = x509.Name(
        [
            *list(subject)[:2],
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "10B0000000"),
            x509.NameAttribute(NameOID.COMMON_NAME, "INSI-AUTO"),
        ]
    )
    assert bindings.get(certificate_subject_key(other)) is None
