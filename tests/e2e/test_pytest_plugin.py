"""The pytest plugin as a service's test suite uses it: a test module in a fresh directory,
run by pytest in a subprocess, that only names the ``santeid_server`` fixture (the plugin
comes from the installed package's ``pytest11`` entry point)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.server

SERVICE_TESTS = """
import pytest
from santeid.testing import LoginFailed

TRAITS = {"birthName": "ADRTROIS", "givenNames": ["DOMINIQUE"], "sex": "F",
          "birthDate": "1997-02-26"}


def test_login_then_userinfo(santeid_server):
    tokens = santeid_server.login("810000000030")
    info = santeid_server.userinfo(tokens["access_token"])
    assert info["SubjectNameID"] == "810000000030"
    assert info["SubjectRefPro"]["exercices"][0]["codeProfession"] == "10"


def test_denied_login_fails(santeid_server):
    with pytest.raises(LoginFailed):
        santeid_server.login("810000000032")


def test_approve_the_next_request_with_the_right_code(santeid_server):
    pending = santeid_server.begin_login("810000000034")  # never answers by itself
    assert pending.status() == "waiting"
    santeid_server.approve_next("810000000034")
    assert "access_token" in pending.finish()


def test_deny_the_next_request(santeid_server):
    pending = santeid_server.begin_login("810000000034")
    santeid_server.deny_next("810000000034")
    with pytest.raises(LoginFailed):
        pending.finish()


def test_scenario_set_for_one_test(santeid_server):
    santeid_server.set_scenario("810000000030", "wrong_code")
    try:
        with pytest.raises(LoginFailed):
            santeid_server.login("810000000030")
    finally:
        santeid_server.reset_scenario("810000000030")


def test_a_failed_login_says_why(santeid_server):
    with pytest.raises(LoginFailed) as failed:
        santeid_server.login("810000000035")  # the wrong code is picked
    assert failed.value.reason == "wrong_code"
    assert "wrong_code" in str(failed.value)


def test_insi_with_a_test_certificate(santeid_server):
    response = santeid_server.insi_search_by_traits(TRAITS)
    assert response.status_code == 200, response.text
    assert "297022A020778" in response.text
"""


FAILING_TEST = """
def test_denied(santeid_server):
    santeid_server.login("810000000032")
"""


def test_a_service_test_suite_uses_the_fixture_and_sees_a_failing_login_explained(pytester):
    """One pytest run of a service's suite (the session's one server for all its tests): the
    fixture's helpers work, and a failing login is reported with its state."""
    pytester.makepyfile(test_service=SERVICE_TESTS, test_failing=FAILING_TEST)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(["*LoginFailed: the login of 810000000032 ended failed (denied)*"])
