"""The log scan of the test run (tests/support/log_scan.py) catches what it must, and only that."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support import log_scan
from tests.support.log_scan import LogScan

TESTS_DIR = Path(log_scan.__file__).resolve().parent
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiI4MTAwMDAwMDAwMDQifQ.c2lnbmF0dXJl"


def _found(scan: LogScan) -> list[str]:
    return sorted(finding.what for finding in scan.findings())


def test_a_secret_is_found_as_a_word_inside_any_text():
    scan = LogScan()
    scan.add_secret("Zk3v9QpL0wXb", "the code")
    scan.add_text("t1", "redirect to https://rp.example.org/cb?code=Zk3v9QpL0wXb&state=s")
    scan.add_text("t2", '{"message": "issued token abc.Zk3v9QpL0wXb.def"}')  # a dotted part
    assert [f.origin for f in scan.findings()] == ["t1", "t2"]


def test_any_jwt_is_a_finding_even_one_nobody_registered():
    scan = LogScan()
    scan.add_text("t", f"Authorization: Bearer {JWT}")
    assert _found(scan) == ["a JWT"]


def test_values_with_spaces_are_searched_as_substrings():
    scan = LogScan()
    scan.add_secret("DE VINCI", "a birth name")
    scan.add_text("t", "search for DE VINCI LEONARDO")
    assert _found(scan) == ["a birth name"]


def test_short_values_and_lookalikes_are_not_findings():
    scan = LogScan()
    scan.add_secret("37", "a binding message")  # too short: would match any number
    scan.add_secret("135790", "a PIN")
    scan.add_text("t", "POST token 200 8.4 ms pid 1357901 port 37")
    assert _found(scan) == []


def test_credentials_are_harvested_from_what_the_suite_sends_and_receives():
    scan = LogScan()
    log_scan.harvest_json(
        scan,
        {"access_token": "at-0123456789", "error": "invalid_grant", "code": "invalid_request",
         "nested": [{"refresh_token": "rt-0123456789"}],
         "uri": "santeid-ecps://activate?server=http://x&code=ACT1VATION99"},
        "a response",
    )  # fmt: skip
    log_scan.harvest_authorization(scan, "Basic cnAtMTpzM2NyM3Qtb2YtdGhlLXJw", "a call")
    log_scan.harvest_authorization(scan, "Basic cnA6c2VjcmV0", "a call")  # rp:secret, a word
    log_scan.harvest_body(scan, "[" * 100_000 + "]" * 100_000, "application/json", "a body")
    log_scan.harvest_body(
        scan, "grant_type=password&pin=246810", "application/x-www-form-urlencoded", "a form"
    )
    assert set(scan.secrets) == {
        "at-0123456789",
        "rt-0123456789",
        "ACT1VATION99",
        "s3cr3t-of-the-rp",
        "246810",
    }


def test_pkce_verifiers_totp_seeds_and_activation_codes_are_harvested():
    """What a PKCE token request, an e-CPS device's registration answer and the activation
    page's two codes carry: secrets too, looked for in the logs."""
    scan = LogScan()
    log_scan.harvest_body(
        scan,
        "grant_type=authorization_code&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        "application/x-www-form-urlencoded",
        "a token request",
    )
    log_scan.harvest_json(
        scan,
        {"device_id": "3f0c-device", "totp_secret": "LBAEJ5PEU4FUILYZW5XXO6TIYJMOOJRG",
         "totp_uri": "otpauth://totp/santeid?secret=JBSWY3DPEHPK3PXPJBSWY3DP&issuer=santeid"},
        "a registration answer",
    )  # fmt: skip
    log_scan.harvest_body(
        scan, "flow=f&email_code=48213957&sms_code=60718243", "application/x-www-form-urlencoded",
        "the activation form",
    )  # fmt: skip
    assert set(scan.secrets) == {
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        "LBAEJ5PEU4FUILYZW5XXO6TIYJMOOJRG",
        "JBSWY3DPEHPK3PXPJBSWY3DP",
        "48213957",
        "60718243",
    }


def test_a_request_line_with_its_query_is_a_finding():
    """What an access log writes (``santeid serve --access-log``): the credentials of the query
    the suite sent are looked for in it (tests/e2e/security/test_access_log_secrets.py runs
    every layout with it on, under this scan)."""
    scan = LogScan()
    log_scan.harvest_url(
        scan, "http://127.0.0.1:5000/logout?id_token_hint=opaque-hint-0123456789&state=st", "a call"
    )
    log_scan.harvest_url(scan, "http://127.0.0.1:5000/ecps/devices?code=Qw3rTy7Uio", "a call")
    scan.add_text("server.log", '"GET /logout?id_token_hint=opaque-hint-0123456789 HTTP/1.1" 400')
    scan.add_text("server.log", '"GET /ecps/devices?code=Qw3rTy7Uio HTTP/1.1" 400')
    assert _found(scan) == ["the code of a call", "the id_token_hint of a call"]
    clean = LogScan()
    clean.secrets = dict(scan.secrets)
    clean.add_text("server.log", '"GET /logout HTTP/1.1" 400\n"GET /ecps/devices HTTP/1.1" 400')
    assert _found(clean) == []


def test_santeid_serve_commands_are_recognised():
    assert log_scan.is_santeid_serve(["/venv/bin/santeid", "serve", "--port", "1"])
    assert log_scan.is_santeid_serve([sys.executable, "-m", "santeid", "serve"])
    assert not log_scan.is_santeid_serve(["/venv/bin/santeid", "clients", "add", "x.json"])
    assert not log_scan.is_santeid_serve(["redis-server", "--port", "1"])


PLANTED = """
import logging
import subprocess
import sys
from pathlib import Path

import requests

PLANTED_SECRET = "planted-client-secret-0123456789"


def test_logs_a_test_constant():
    logging.getLogger("santeid.oidc").info("client authenticated with %s", PLANTED_SECRET)


def test_a_server_process_logs_a_jwt(tmp_path):
    fake = tmp_path / "santeid"
    fake.write_text("#!/bin/sh\\necho 'token issued: {jwt}'\\n")
    fake.chmod(0o755)
    with (tmp_path / "server.log").open("wb") as log:
        subprocess.Popen([str(fake), "serve"], stdout=log, stderr=subprocess.STDOUT).wait()


def test_logs_an_ins_of_the_insi_test_identities():
    logging.getLogger("santeid.insi").warning("no match for 297022A020778")


def test_logs_nothing_secret():
    logging.getLogger("santeid.access").info("POST token 200 8.4 ms")
"""


def _run_pytest(tmp_path: Path, tests: str) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["log_scan"]\n')
    (tmp_path / "test_planted.py").write_text(textwrap.dedent(tests))
    env = dict(os.environ, PYTHONPATH=str(TESTS_DIR))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "--rootdir", str(tmp_path), str(tmp_path)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_run_whose_logs_hold_planted_secrets_fails_and_says_where(tmp_path):
    result = _run_pytest(tmp_path, PLANTED.format(jwt=JWT))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "3 secret(s) found in the logs of this test run" in result.stdout
    assert "test_planted.PLANTED_SECRET in test_planted.py::test_logs_a_test_constant" in (
        result.stdout
    )
    assert "a JWT in santeid serve started by test_planted.py::test_a_server_process" in (
        result.stdout
    )
    assert "the INS of the INSi test identity ADRTROIS in test_planted.py::test_logs_an_ins" in (
        result.stdout
    )
    assert "4 passed, 1 error" in result.stdout


def test_a_run_whose_logs_hold_no_secret_passes(tmp_path):
    result = _run_pytest(
        tmp_path, PLANTED.split("def test_logs_a_test_constant")[0] + "def test_clean():\n"
        "    logging.getLogger('santeid').info('login completed for client rp-1')\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
