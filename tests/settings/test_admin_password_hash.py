"""``admin_password_hash`` is an Argon2 hash or nothing: a value a shell or Compose mangled
(``"$argon2id$v=19$m=…"`` in double quotes becomes ``=19,t=2,p=1``) stops the start with a
message naming the setting, instead of a console where every password is wrong
(docs/configuration.md, ``admin_password_hash``)."""

from __future__ import annotations

import pytest

from santeid.ecps.pin import PinHasher
from santeid.settings import ConfigurationError
from santeid.settings import load_settings
from tests.support.servers import refused_start

#: What bash leaves of ``"$argon2id$v=19$m=19456,t=2,p=1$salt$hash"`` in double quotes.
EXPANDED = "=19,t=2,p=1"


@pytest.mark.parametrize(
    "value",
    [
        EXPANDED,
        "$argon2id$v=19$m=19456,t=2,p=1",  # salt and hash cut off
        "argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        "correct horse battery staple",  # the password itself
        "$2b$12$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIgeh2Hq",  # bcrypt
        "$argon2id$v=19$m=19456,t=2,p=1$$",  # salt and hash emptied
        # a copy cut short where its base64 no longer decodes (a fixed hash: the suite's
        # workers must collect the same tests)
        "$argon2id$v=19$m=19456,t=2,p=1$niXk3TKzvedr8xD3elKUGQ$q/2ATd9Sr8R/7ddZAGKB6Eafws2nT",
    ],
)
def test_a_value_that_is_not_an_argon2_hash_stops_the_start(value):
    with pytest.raises(ConfigurationError) as refused:
        load_settings({"SANTEID_CONFIG": "", "SANTEID_ADMIN_PASSWORD_HASH": value})
    message = str(refused.value)
    assert message.startswith("admin_password_hash is not an Argon2 hash")
    assert "single quotes" in message and "$$" in message
    assert value not in message  # kept out of logs, as out of the settings' repr


def test_the_hash_set_password_prints_is_accepted():
    digest = PinHasher().hash("correct horse battery staple")
    settings = load_settings({"SANTEID_CONFIG": "", "SANTEID_ADMIN_PASSWORD_HASH": digest})
    assert settings.admin.password_hash == digest
    assert load_settings({"SANTEID_CONFIG": ""}).admin.password_hash == ""


@pytest.mark.server
def test_santeid_serve_refuses_a_mangled_hash(tmp_path):
    result = refused_start(tmp_path, SANTEID_ADMIN_PASSWORD_HASH=EXPANDED)
    assert result.returncode != 0
    assert "admin_password_hash is not an Argon2 hash" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("lengths", [{"salt_len": 8}, {"hash_len": 64}, {"salt_len": 32}])
def test_an_argon2_hash_of_another_tool_is_accepted(lengths):
    """Salt and hash lengths are the tool's choice (the PHC format fixes none): any hash a
    password verifies against is a valid setting."""
    from argon2 import PasswordHasher

    digest = PasswordHasher(**lengths).hash("correct horse battery staple")
    settings = load_settings({"SANTEID_CONFIG": "", "SANTEID_ADMIN_PASSWORD_HASH": digest})
    assert settings.admin.password_hash == digest
