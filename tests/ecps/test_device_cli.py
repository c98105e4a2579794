"""``santeid device …`` (the simulated phone) where things go wrong: a device file that cannot
be saved or is not one, answers that are not the device protocol's, an interrupted watch.
Each is one line of error and a non-zero exit status, never a traceback."""

from __future__ import annotations

import json

import pyotp
import pytest
from click.testing import CliRunner
from joserfc.jwk import ECKey

from santeid.cli import main
from santeid.ecps.simulator import DeviceFile
from santeid.ecps.simulator import DeviceSimulator
from tests.support.answering_server import FakeServer


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.close()


def _device(server: FakeServer) -> DeviceFile:
    return DeviceFile(
        server=server.origin,
        device_id="dev-1",
        national_id="810000000001",
        private_jwk=dict(ECKey.generate_key("P-256", private=True).as_dict(private=True)),
        totp_secret=pyotp.random_base32(),
    )


@pytest.fixture
def device_file(tmp_path, server):
    path = tmp_path / "device.json"
    _device(server).save(path)
    return path


def _run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result


def _one_line_error(result, *words: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for word in words:
        assert word in lines[0], result.output


REGISTERED = {
    "device_id": "dev-1",
    "national_id": "810000000001",
    "totp_secret": pyotp.random_base32(),
}


def test_enroll_checks_the_device_file_can_be_saved_before_registering(tmp_path, server):
    """Registering first would use the activation code up and leave the server an active
    device whose private key was never kept."""
    server.answers[("POST", "/ecps/device/register")] = (201, REGISTERED)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    link = f"{server.origin}/ecps/app/#activation=CODE"
    result = _run(
        "device", "enroll", "--activation-uri", link, "--pin", "1234",
        "--file", str(blocker / "device.json"),
    )  # fmt: skip
    _one_line_error(result, "cannot write the device file", f"{blocker} is not a directory")
    assert server.calls == []

    saved = tmp_path / "new" / "device.json"
    result = _run(
        "device", "enroll", "--activation-uri", link, "--pin", "1234", "--file", str(saved)
    )
    assert result.exit_code == 0, result.output
    assert server.calls == [("POST", "/ecps/device/register")]
    assert DeviceFile.load(saved).device_id == "dev-1"


def test_a_device_registered_but_not_saved_is_named(tmp_path, server, monkeypatch):
    """Should the file become unwritable between the check and the save, the message names
    the device to revoke."""
    server.answers[("POST", "/ecps/device/register")] = (201, REGISTERED)
    monkeypatch.setattr(DeviceFile, "check_writable", staticmethod(lambda *a, **k: None))
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    result = _run(
        "device", "enroll", "--activation-uri", f"{server.origin}/ecps/app/#activation=C",
        "--pin", "1234", "--file", str(blocker / "device.json"),
    )  # fmt: skip
    _one_line_error(result, "device dev-1 was registered but not saved", "santeid ecps revoke")


PUBLIC_ONLY = object()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"totp_secret": "not base32 !"}, "totp_secret is not a base32 TOTP secret"),
        ({"private_jwk": PUBLIC_ONLY}, "private_jwk is not a private P-256 key"),
        ({"private_jwk": {"kty": "EC"}}, "private_jwk is not a private P-256 key"),
        ({"private_jwk": "text"}, "private_jwk is not a private P-256 key"),
        ({"device_id": 7}, "device_id is not a string"),
        ({"server": "ftp://x"}, "server is not an http(s) origin"),
        ({"national_id": None}, "national_id is not a string"),
    ],
)
def test_a_damaged_device_file_is_refused_by_every_command(device_file, change, problem):
    data = json.loads(device_file.read_text())
    if change.get("private_jwk") is PUBLIC_ONLY:
        change = {"private_jwk": ECKey.import_key(data["private_jwk"]).as_dict(private=False)}
    data.update(change)
    device_file.write_text(json.dumps(data))
    for command in (["totp"], ["info"], ["pending"], ["approve", "--pin", "1234"]):
        result = _run("device", *command, "--file", str(device_file))
        _one_line_error(result, f"not a device file: {device_file}", problem)


@pytest.mark.parametrize(
    "content",
    ["[1]", '"text"', json.dumps({"server": "http://x"}), "", "{not json", "\udcff"],
)
def test_a_file_that_is_not_a_device_file(tmp_path, content):
    path = tmp_path / "device.json"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    _one_line_error(_run("device", "totp", "--file", str(path)), f"not a device file: {path}")


ONE_PENDING = {
    ("GET", "/ecps/device/requests"): (200, {"requests": [{"request_id": "req-1", "kind": "ciba"}]})
}


@pytest.mark.parametrize(
    ("command", "answers"),
    [
        (["info"], {("GET", "/ecps/device/me"): (200, [1])}),
        (["info"], {("GET", "/ecps/device/me"): (200, b"<html>")}),
        (["pending"], {("GET", "/ecps/device/requests"): (200, {})}),
        (["pending"], {("GET", "/ecps/device/requests"): (200, {"requests": [1]})}),
        (["pending"], {("GET", "/ecps/device/requests"): (200, {"requests": [{"id": "x"}]})}),
        (
            ["approve", "--pin", "1234"],
            {("GET", "/ecps/device/requests"): (200, {"requests": [{"request_id": 5}]})},
        ),
        (
            ["approve", "--pin", "1234", "--code", "12"],
            {
                ("GET", "/ecps/device/requests"): (
                    200,
                    {"requests": [{"request_id": "r", "candidates": 12}]},
                )
            },
        ),
        (
            ["approve", "req-1", "--pin", "1234"],
            {
                **ONE_PENDING,
                ("POST", "/ecps/device/requests/req-1/decision"): (200, {"status": "approved"}),
            },
        ),
        (
            ["deny", "req-1", "--pin", "1234"],
            {**ONE_PENDING, ("POST", "/ecps/device/requests/req-1/decision"): (200, [1])},
        ),
        (
            ["watch", "--pin", "1234", "--once", "--timeout", "5"],
            {("GET", "/ecps/device/requests"): (200, {"requests": "none"})},
        ),
    ],
)
def test_answers_that_are_not_the_protocol_s_are_one_line(device_file, server, command, answers):
    server.answers.update(answers)
    result = _run("device", *command, "--file", str(device_file))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "Error: unexpected answer from http://127.0.0.1:" in result.output, result.output


def test_enroll_refuses_a_registration_answer_without_the_device(tmp_path, server):
    server.answers[("POST", "/ecps/device/register")] = (201, {"device_id": "dev-1"})
    result = _run(
        "device", "enroll", "--activation-uri", f"{server.origin}/ecps/app/#activation=C",
        "--pin", "1234", "--file", str(tmp_path / "device.json"),
    )  # fmt: skip
    _one_line_error(result, "unexpected answer from", "national_id is not a string")
    assert not (tmp_path / "device.json").exists()


def test_an_interrupted_watch_is_not_a_success(device_file, monkeypatch):
    """docs/ecps-simulator.md: exit status 0 = approved; Ctrl-C approved nothing."""

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(DeviceSimulator, "watch", interrupted)
    result = _run(
        "device", "watch", "--pin", "1234", "--once", "--timeout", "30", "--file", str(device_file)
    )
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output


def test_a_watch_once_that_decides_nothing_fails(device_file, server):
    server.answers[("GET", "/ecps/device/requests")] = (200, {"requests": []})
    result = _run(
        "device", "watch", "--pin", "1234", "--once", "--timeout", "0.5",
        "--file", str(device_file),
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "0 request(s) decided" in result.output


@pytest.mark.parametrize(
    ("binding", "said"), [("42", "binding message '42'"), (None, "no binding message")]
)
def test_a_ciba_request_is_described_with_its_binding_message_or_none(
    device_file, server, binding, said
):
    """A CIBA request sent without ``binding_message`` (protocol §3: it may be null) says so in
    words, not as Python's ``None``."""
    item = {"request_id": "req-1", "kind": "ciba", "client_name": "Logiciel de cabinet",
            "expires_at": 4102444800, "binding_message": binding}  # fmt: skip
    server.answers[("GET", "/ecps/device/requests")] = (200, {"requests": [item]})
    result = _run("device", "pending", "--file", str(device_file))
    assert result.exit_code == 0, result.output
    assert f"from 'Logiciel de cabinet': {said};" in result.output
    assert "None" not in result.output


@pytest.mark.parametrize("command", [["approve", "req-1"], ["deny", "req-1"]])
def test_a_wrong_pin_says_the_attempts_left_once(device_file, server, command):
    # The server's detail (santeid.ecps.decisions) says them; approve repeated them after it.
    server.answers.update(ONE_PENDING)
    server.answers[("POST", "/ecps/device/requests/req-1/decision")] = (
        403,
        {
            "code": "wrong_pin",
            "detail": "wrong PIN; 2 attempt(s) left before the device locks",
            "remaining_attempts": 2,
        },
    )
    result = _run("device", *command, "--pin", "0000", "--file", str(device_file))
    _one_line_error(result, "403 wrong_pin: wrong PIN; 2 attempt(s) left before the device locks")
    assert result.output.count("attempt(s) left") == 1, result.output
