"""The log scan of the test run (tests/support/log_scan.py) catches what it must, and only that."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import log_scan
from tests.support import nested_pytest
from tests.support.log_scan import LogScan

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


def test_any_nir_or_nia_whose_key_verifies_is_a_finding_with_or_without_spaces():
    """Not only the test identities' INS: any number of the NIR layout whose key verifies
    (docs/reference/insi-teleservice.md §11), as INSi clients write it, spaces or not."""
    for text in (
        "no match for 185077512345608",
        'matricule "1 85 07 75 123 456 08"',
        "INS=299059935012369.",
        "2 97 02 2A 020 778 78 unknown",
        "search 1810363220456 60",  # a published key that does not verify (HERMANN)
    ):
        scan = LogScan()
        scan.add_text("t", text)
        assert _found(scan) == ["a NIR or NIA"], text
    scan = LogScan()
    scan.add_text(
        "t",
        "key 185077512345609 is wrong; 3185077512345608 and 1850775123456089 are longer; "
        "0.185077512345608 is a number; a185077512345608 a word; 385077512345608 no sex; "
        "185137512345608 no month",
    )
    assert _found(scan) == []


def _insi_scan() -> LogScan:
    scan = LogScan()
    log_scan.harvest_insi_body(
        scan,
        "<s:Envelope><s:Body><r:RECSANSVITALE><r:NomNaissance>MARTINEZ</r:NomNaissance>"
        "<r:Prenom>JEAN PAUL</r:Prenom><r:Sexe>M</r:Sexe><r:DateNaissance>1961-04-12"
        "</r:DateNaissance></r:RECSANSVITALE></s:Body></s:Envelope>",
        "application/soap+xml",
        "a SOAP call",
    )
    log_scan.harvest_insi_body(
        scan,
        '{"ins": {"matricule": "1750223456789", "key": "35"}, "birthName": "LE GALL", '
        '"givenNames": ["ANNE", "SOLENN"], "birthDate": "1975-02-14"}',
        "application/json",
        "a REST answer",
    )
    log_scan.harvest_insi_body(
        scan,
        '{"resourceType": "Parameters", "parameter": [{"name": "family", "valueString": "DIOP"},'
        '{"name": "birthdate", "valueDate": "2003-09-30"}]}',
        "application/fhir+json",
        "a FHIR call",
    )
    log_scan.harvest_url(
        scan, "/insi/fhir/Patient?family=NGUYEN&given=THI&birthdate=eq1988-11-05", "a search"
    )
    log_scan.harvest_url(scan, "/token?family=NOTANINSICALL", "an OIDC call")
    # A fuzzer's "names" without a letter would match every timestamp's milliseconds.
    log_scan.harvest_url(scan, "/insi/fhir/Patient?family=2025&given=976", "a fuzzed search")
    return scan


def test_the_identities_of_insi_calls_on_every_channel_are_harvested():
    scan = _insi_scan()
    assert set(scan.secrets) == {
        "MARTINEZ", "JEAN", "PAUL", "1961-04-12",
        "1750223456789", "LE", "ANNE", "SOLENN", "1975-02-14",
        "DIOP", "2003-09-30", "NGUYEN", "THI", "1988-11-05",
    } - {"LE"}  # fmt: skip
    assert set(scan.odd_secrets) == {"JEAN PAUL", "LE GALL"}
    scan.add_text("t", '{"message": "no INSi answer for PAUL born 1961-04-12"}')
    scan.add_text("u", '{"message": "refused LE GALL"}')
    assert _found(scan) == [
        "a birth date of a SOAP call",
        "a birth name of a REST answer",
        "a given name of a SOAP call",
    ]


def test_the_core_calls_are_harvested_and_recent_dates_are_not():
    """A test's own call of INSi's core, with a person of the civil-status base: its traits and
    the identity answered; a birth date of the last two years would match the logs' own dates."""
    from datetime import date

    from santeid.insi.model import Identity
    from santeid.insi.model import SearchResult
    from santeid.insi.model import TraitsQuery

    scan = LogScan()
    query = TraitsQuery("BERNARD", ("CLAIRE",), "F", "1950-07-01")
    answer = Identity(
        "2500775123456", "11", "1.2.250.1.213.1.4.8", "BERNARD", ("CLAIRE", "LOUISE"), "F",
        "1950-07-01", "75112", (),
    )  # fmt: skip
    log_scan.harvest_insi_call(scan, query, SearchResult("00", answer))
    log_scan.harvest_insi_call(scan, TraitsQuery("NEWBORN", (), "F", str(date.today())), None)
    assert set(scan.secrets) == {
        "BERNARD", "CLAIRE", "LOUISE", "1950-07-01", "2500775123456", "250077512345611",
        "NEWBORN",
    }  # fmt: skip


def test_a_name_that_is_a_word_of_santeids_own_log_messages_is_not_a_finding():
    """A generated request's "given name" can be any upper-case word, ``CPS`` among them, which
    santeid writes in a fixed message ("no test CPS authority created yet") of every sandbox
    server, and ``JWT`` in a refusal's logged reason ("the request object is not a JWT"): such
    words are santeid's vocabulary, not a patient's name leaked."""
    assert {"CPS", "SANDBOX", "CRITICAL", "POST", "JWT"} <= log_scan.santeid_log_words()
    assert "MARTINEZ" not in log_scan.santeid_log_words()
    scan = LogScan()
    log_scan.harvest_url(scan, "/insi/fhir/Patient?family=MARTINEZ&given=CPS SANDBOX", "a search")
    scan.add_text("t", '{"message": "no test CPS authority created yet: MARTINEZ"}')
    scan.add_text("u", '{"level": "WARNING", "message": "SANDBOX MODE: sandbox authenticator on"}')
    assert [(f.what, f.origin) for f in scan.findings()] == [("a birth name of a search", "t")]


def test_a_short_pin_is_a_finding_in_a_pin_context_only():
    scan = LogScan()
    log_scan.harvest_body(scan, "pin=1234", "application/x-www-form-urlencoded", "a form")
    log_scan.harvest_json(scan, {"new_pin": "0000"}, "a body")
    log_scan.harvest_args(scan, ["santeid", "device", "approve", "--pin", "5678"], "a command")
    assert scan.short_pins == {
        "1234": "the pin of a form",
        "0000": "the new_pin of a body",
        "5678": "the --pin of a command",
    }
    scan.add_text("port", "listening on 127.0.0.1:1234, 0000 errors, 5678 ms")
    assert _found(scan) == []
    for text in ('{"pin": "1234"}', "PIN 0000 refused", "approve --pin 5678", "current_pin=1234"):
        scan.texts.clear()
        scan.add_text("t", text)
        assert len(scan.findings()) == 1, text


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
PLANTED_PIN = "4321"


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


def test_logs_any_nir_at_debug():
    logging.getLogger("authlib").debug("subject 1 85 07 75 123 456 08")


def test_logs_a_short_pin_and_a_patients_traits():
    from santeid.insi.model import TraitsQuery
    from santeid.insi.service import InsiService

    query = TraitsQuery("MARTINEZ", ("ZOE",), "F", "1961-04-12")
    try:
        InsiService.search_by_traits(None, query, None)  # harvested, then fails: no service
    except AttributeError:
        pass
    logging.getLogger("santeid.insi").info("no match for ZOE born 1961-04-12")
    logging.getLogger("santeid.ecps").info("PIN 4321 refused")


def test_a_client_logs_what_it_sends_at_debug():
    logging.getLogger("urllib3.connectionpool").debug("GET /cb?code=1 85 07 75 123 456 08")
    logging.getLogger("selenium.webdriver.remote").debug("Remote response: 185077512345608")


def test_logs_nothing_secret():
    logging.getLogger("santeid.access").info("POST token 200 8.4 ms")
"""


def _run_pytest(tmp_path: Path, tests: str) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["log_scan"]\n')
    (tmp_path / "test_planted.py").write_text(textwrap.dedent(tests))
    return nested_pytest.run_pytest(tmp_path, ())


@pytest.mark.timeout(300)
def test_a_run_whose_logs_hold_planted_secrets_fails_and_says_where(tmp_path):
    result = _run_pytest(tmp_path, PLANTED.format(jwt=JWT))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "7 secret(s) found in the logs of this test run" in result.stdout
    assert "test_planted.PLANTED_SECRET in test_planted.py::test_logs_a_test_constant" in (
        result.stdout
    )
    assert "a JWT in santeid serve started by test_planted.py::test_a_server_process" in (
        result.stdout
    )
    assert "the INS of the INSi test identity ADRTROIS in test_planted.py::test_logs_an_ins" in (
        result.stdout
    )
    assert "a NIR or NIA in test_planted.py::test_logs_any_nir_at_debug" in result.stdout
    for what in ("a given name of an INSi call", "a birth date of an INSi call",
                 "test_planted.PLANTED_PIN"):  # fmt: skip
        assert f"{what} in test_planted.py::test_logs_a_short_pin_and" in result.stdout
    assert "test_a_client_logs" not in result.stdout
    assert "7 passed, 1 error" in result.stdout


def test_a_run_whose_logs_hold_no_secret_passes(tmp_path):
    result = _run_pytest(
        tmp_path, PLANTED.split("def test_logs_a_test_constant")[0] + "def test_clean():\n"
        "    logging.getLogger('santeid').info('login completed for client rp-1')\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
