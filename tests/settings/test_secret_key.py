"""A configured ``secret_key`` anyone could know is refused outside sandbox mode: an example's
``change-me…`` placeholder (compose.yaml had one) or fewer than 32 bytes. It signs session
cookies: with the placeholder, a self-signed admin session cookie opened /admin/clients
(docs/security.md, "Browser"; docs/configuration.md, ``secret_key``)."""

from __future__ import annotations

import time

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from santeid.app import create_app
from santeid.security import check_secret_key
from santeid.security import load_secret_key
from santeid.settings import ConfigurationError
from santeid.settings import Settings
from tests.support.servers import refused_start

PLACEHOLDER_SECRET = "change-me-the-same-secret-on-every-instance"
SHORT_SECRET = "only-31-bytes-long-0123456789ab"
LONG_SECRET = "a-random-session-secret-of-48-bytes-0123456789ab"


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        (PLACEHOLDER_SECRET, "is the placeholder of an example configuration"),
        ("Change-Me" + "x" * 40, "is the placeholder of an example configuration"),
        (SHORT_SECRET, "is shorter than 32 bytes"),
    ],
)
def test_a_guessable_secret_key_is_refused_outside_sandbox_mode(secret, problem):
    assert len(SHORT_SECRET.encode()) == 31
    with pytest.raises(ConfigurationError) as refused:
        check_secret_key(Settings(secret_key=secret))
    message = str(refused.value)
    assert message.startswith(f"secret_key (SANTEID_SECRET_KEY) {problem}")
    assert secret not in message


@pytest.mark.parametrize("secret", ["", LONG_SECRET, "é" * 16])  # 16 characters, 32 bytes
def test_an_empty_or_long_enough_secret_key_is_accepted(secret):
    check_secret_key(Settings(secret_key=secret))


@pytest.mark.parametrize("secret", [PLACEHOLDER_SECRET, SHORT_SECRET])
def test_sandbox_mode_accepts_any_secret_key(secret):
    check_secret_key(Settings(secret_key=secret, sandbox=True))


@pytest.mark.parametrize(
    ("kept", "sandbox", "problem"),
    [("", False, "no"), ("\n", True, "no"), (SHORT_SECRET, False, "a too short")],
)
def test_a_kept_secret_key_file_empty_or_too_short_is_refused(tmp_path, kept, sandbox, problem):
    # A {data_dir}/secret_key restored empty or written by hand: an empty one signed every
    # cookie with the empty key, a short one escaped the rule of a configured secret.
    (tmp_path / "secret_key").write_text(kept)
    settings = Settings(data_dir=str(tmp_path), sandbox=sandbox)
    with pytest.raises(ConfigurationError) as refused:
        load_secret_key(settings)
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'secret_key'} holds {problem} session secret")
    assert kept.strip() == "" or kept not in message
    assert (tmp_path / "secret_key").read_text() == kept  # left for the operator


def test_a_kept_secret_key_file_is_used_and_a_missing_one_made(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "secret_key").write_text(LONG_SECRET + "\n")
    assert load_secret_key(Settings(data_dir=str(tmp_path / "a"))) == LONG_SECRET
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "secret_key").write_text(SHORT_SECRET)
    assert load_secret_key(Settings(data_dir=str(tmp_path / "b"), sandbox=True)) == SHORT_SECRET
    made = load_secret_key(Settings(data_dir=str(tmp_path / "c")))
    assert len(made.encode()) >= 32 and (tmp_path / "c" / "secret_key").read_text() == made


def test_the_application_is_not_built_with_the_placeholder(tmp_path, keys_dir):
    settings = Settings(
        secret_key=PLACEHOLDER_SECRET,
        data_dir=str(tmp_path / "var"),
        keys_dir=str(keys_dir),
        admin_password_hash="$argon2id$v=19$m=19456,t=2,p=1$niXk3TKzvedr8xD3elKUGQ"
        "$q/2ATd9Sr8R/7ddZAGKB6Eafws2nTVcSe+oTjYVnc3E",
    )
    with pytest.raises(ConfigurationError, match="secret_key"):
        create_app(settings)
    assert not (tmp_path / "var").exists()  # refused before anything was created
    # With a real secret, a cookie signed with the placeholder opens nothing.
    app = create_app(settings.replace(secret_key=LONG_SECRET))
    forger = Flask("forger")
    forger.secret_key = PLACEHOLDER_SECRET
    forged = SecureCookieSessionInterface().get_signing_serializer(forger)
    client = app.test_client()
    client.set_cookie(
        app.config["SESSION_COOKIE_NAME"],
        forged.dumps({"admin": {"seen": time.time(), "who": "admin", "method": "password"}}),
    )
    answer = client.get("/admin/clients")
    assert answer.status_code == 302 and "/admin/login" in answer.headers["Location"]


@pytest.mark.server
@pytest.mark.parametrize("workers", ["1", pytest.param("2", marks=pytest.mark.redis)])
def test_santeid_serve_refuses_the_placeholder_outside_sandbox_mode(tmp_path, workers, request):
    settings = {"SANTEID_SANDBOX": "false", "SANTEID_SECRET_KEY": PLACEHOLDER_SECRET}
    if workers == "2":
        redis_server = request.getfixturevalue("redis_server")
        settings["SANTEID_STORE_URL"] = redis_server.url.rsplit("/", 1)[0] + "/12"
    result = refused_start(tmp_path, "--workers", workers, **settings)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Error: secret_key (SANTEID_SECRET_KEY) is the placeholder" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert PLACEHOLDER_SECRET not in result.stdout + result.stderr


@pytest.mark.server
def test_santeid_serve_refuses_an_empty_kept_secret_key_file(tmp_path, keys_dir):
    # Started on it, the server signed every cookie with the empty key: anyone could write an
    # admin console session. The start stops instead, the file left as it was.
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secret_key").write_text("")
    result = refused_start(tmp_path, SANTEID_SANDBOX="false", SANTEID_SECRET_KEY=None)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"Error: {tmp_path / 'var' / 'secret_key'} holds no session secret" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert (tmp_path / "var" / "secret_key").read_text() == ""
