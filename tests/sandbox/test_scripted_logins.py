"""Scripted logins (``POST /sandbox/api/logins``), in-process: the login page's rules and the
authorization endpoint's answers come through unchanged, the caller's cookies are neither read
nor written, and the operations do not exist outside sandbox mode. The whole flow over HTTP
against a served sandbox: ``tests/e2e/test_sandbox_control_api.py``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from openapi_schema_validator import OAS31Validator

from santeid import create_app
from santeid.login import views
from santeid.sandbox import logins
from santeid.storage import MemoryStore
from santeid.storage import StoreUnavailable
from santeid.storage import keys
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import decode
from tests.support.oidc_flow import register_client

API = "/sandbox/api"
AT_ONCE, NEVER, WRONG_CODE, INACTIVE, CARD_ONLY = (
    "810000000030",
    "810000000034",
    "810000000035",
    "810000000024",
    "810000000005",
)


def url(flow, **params) -> str:
    query = {
        "response_type": "code",
        "client_id": flow.client["client_id"],
        "redirect_uri": flow.client["redirect_uris"][0],
        "scope": "openid scope_all",
        "state": "st",
        "nonce": "nn",
        **params,
    }
    return f"http://localhost{OIDC}/auth?" + urlencode(query)


def scripted(client, authorization_url: str, national_id: str, **body):
    answer = client.post(
        f"{API}/logins",
        json={"authorization_url": authorization_url, "national_id": national_id, **body},
    )
    if answer.status_code == 200:
        matches_the_contract(client, answer.get_json())
    return answer


def matches_the_contract(client, login: dict) -> None:
    """The answer is what the control API's OpenAPI document declares."""
    document = client.get(f"{API}/openapi.json").get_json()
    schema = {"$ref": "#/components/schemas/ScriptedLogin", "components": document["components"]}
    OAS31Validator(schema).validate(login)


def test_the_code_is_the_browser_paths_code(app, flow, client):
    answer = scripted(client, url(flow), AT_ONCE)
    login = answer.get_json()
    assert answer.status_code == 200 and login["state"] == "done"
    assert login["callback_method"] == "GET"
    assert login["callback_params"]["state"] == "st"
    tokens = flow.token(login["callback_params"]["code"]).get_json()
    _, claims = decode(app, tokens["id_token"])
    assert claims["SubjectNameID"] == AT_ONCE and claims["nonce"] == "nn"
    assert claims["amr"] == ["sandbox"]


def test_form_post_and_fragment_callbacks(flow, client):
    posted = scripted(client, url(flow, response_mode="form_post"), AT_ONCE).get_json()
    assert posted["callback_method"] == "POST"
    assert posted["callback_url"] == flow.client["redirect_uris"][0]
    assert {"code", "state", "iss", "session_state"} <= set(posted["callback_params"])
    fragment = scripted(client, url(flow, response_mode="fragment"), AT_ONCE).get_json()
    assert fragment["callback_url"].startswith(flow.client["redirect_uris"][0] + "#")
    assert "code" in fragment["callback_params"]


def test_errors_the_client_gets_come_back_as_its_callback(flow, client):
    login = scripted(client, url(flow, prompt="none"), AT_ONCE).get_json()
    assert login["state"] == "done"
    assert login["callback_params"]["error"] == "login_required"
    scope = scripted(client, url(flow, scope="openid unknown_scope"), AT_ONCE).get_json()
    assert scope["callback_params"]["error"] == "invalid_scope"


@pytest.mark.parametrize(
    ("national_id", "status", "code"),
    [
        ("81000000003", 400, "invalid_national_id"),
        ("810000000098", 404, "unknown_professional"),
        (INACTIVE, 403, "professional_inactive"),
        (CARD_ONLY, 409, "no_authenticator"),
    ],
)
def test_the_login_pages_refusals_are_problems(flow, client, national_id, status, code):
    answer = scripted(client, url(flow), national_id)
    assert (answer.status_code, answer.mimetype) == (status, "application/problem+json")
    assert answer.get_json()["code"] == code


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"authorization_url": "x", "national_id": AT_ONCE},
        {"authorization_url": "http://localhost/elsewhere?client_id=a", "national_id": AT_ONCE},
        {"authorization_url": f"http://localhost{OIDC}/auth", "national_id": 810000000030},
        {"authorization_url": f"http://localhost{OIDC}/auth", "national_id": AT_ONCE, "wait": -1},
        {"authorization_url": f"http://localhost{OIDC}/auth", "national_id": AT_ONCE, "wait": "1"},
    ],
)
def test_a_bad_body_is_invalid_request(client, body):
    answer = client.post(f"{API}/logins", json=body)
    assert answer.status_code == 400 and answer.get_json()["code"] == "invalid_request"


def test_an_unknown_client_is_refused_as_its_error_page(client):
    answer = scripted(
        client, f"http://localhost{OIDC}/auth?client_id=nobody&redirect_uri=x", AT_ONCE
    )
    assert answer.status_code == 400
    assert answer.get_json()["code"] == "authorization_refused"
    assert answer.get_json()["error"] == "invalid_client"


def test_the_callers_cookies_are_neither_read_nor_written(flow, client):
    """A caller (this test client) with an SSO session of its own: the scripted login of
    another professional still logs that one in, and the caller's session is untouched."""
    flow.obtain_code(AT_ONCE)
    names = ("santeid_session", "santeid_identity", "santeid_auth_session")
    cookies = {name: client.get_cookie(name).value for name in names}
    answer = scripted(client, url(flow), WRONG_CODE)
    assert answer.get_json()["state"] == "failed"  # not the SSO session's professional
    assert answer.get_json()["national_id"] == WRONG_CODE
    assert "Set-Cookie" not in answer.headers
    again = scripted(client, url(flow), AT_ONCE)
    assert again.get_json()["state"] == "done"
    assert "Set-Cookie" not in again.headers
    assert {name: client.get_cookie(name).value for name in names} == cookies
    again = again.get_json()
    assert (
        flow.code_from(flow.authorize())["session_state"]
        != again["callback_params"]["session_state"]
    )


def test_a_browsers_login_is_not_a_scripted_one(flow, client):
    login_url = flow.authorize().headers["Location"]
    txid = login_url.split("tx=")[1]
    answer = client.get(f"{API}/logins/{txid}")
    assert answer.status_code == 404 and answer.get_json()["code"] == "unknown_login"
    assert client.post(f"{API}/logins/{txid}/complete", json={}).status_code == 404


def test_waiting_then_the_control_api_answers(flow, client):
    login = scripted(client, url(flow), NEVER, wait=0).get_json()
    assert login["state"] == "waiting" and login["request"]["kind"] == "browser"
    read = client.get(f"{API}/logins/{login['login_id']}").get_json()
    assert read["state"] == "waiting"
    matches_the_contract(client, read)
    client.post(f"{API}/requests/{login['request']['request_id']}/deny")
    failed = client.post(f"{API}/logins/{login['login_id']}/complete", json={"wait": 0})
    assert failed.get_json()["state"] == "failed"
    assert failed.get_json()["reason"] == "denied"
    matches_the_contract(client, failed.get_json())


def test_scripted_logins_do_not_exist_outside_sandbox_mode(settings, app):
    production = create_app(settings.replace(sandbox=False), store=MemoryStore())
    http = production.test_client()
    body = {"authorization_url": f"http://localhost{OIDC}/auth", "national_id": AT_ONCE}
    assert http.post(f"{API}/logins", json=body).status_code == 404
    assert http.get(f"{API}/logins/abc").status_code == 404
    assert http.post(f"{API}/logins/abc/complete", json={}).status_code == 404


def test_an_oversized_parameter_is_refused_as_the_browser_refuses_it(flow, client):
    """``max_parameter_length`` (4 096 bytes by default): a browser's GET of this URL is
    answered 400 before the authorization endpoint runs; a scripted login of it is refused
    the same way, with no code issued (docs/sandbox.md: the same rules as a browser)."""
    oversized = url(flow, state="s" * 5000)
    browser = client.get(oversized.removeprefix("http://localhost"))
    assert browser.status_code == 400
    answer = scripted(client, oversized, AT_ONCE)
    assert (answer.status_code, answer.mimetype) == (400, "application/problem+json")
    assert answer.get_json()["code"] == "authorization_refused"
    assert answer.get_json()["error"] == "invalid_request"
    assert "'state'" in answer.get_json()["detail"]
    # At the limit, both go on.
    at_limit = url(flow, state="s" * 4096)
    assert client.get(at_limit.removeprefix("http://localhost")).status_code == 302
    assert scripted(client, at_limit, AT_ONCE).get_json()["state"] == "done"


# -- every answer has a login_id, readable back --------------------------------------------
def read_back(client, login: dict) -> dict:
    """``GET`` and ``…/complete`` of ``login``: both answer what the start answered."""
    assert login["login_id"], login
    read = client.get(f"{API}/logins/{login['login_id']}")
    assert read.status_code == 200, read.get_json()
    matches_the_contract(client, read.get_json())
    completed = client.post(f"{API}/logins/{login['login_id']}/complete", json={"wait": 0})
    assert completed.status_code == 200, completed.get_json()
    assert completed.get_json() == read.get_json()
    return read.get_json()


@pytest.mark.parametrize(
    ("params", "error"),
    [({"prompt": "none"}, "login_required"), ({"scope": "openid unknown_scope"}, "invalid_scope")],
)
def test_an_answer_at_once_has_a_login_id_read_back(flow, client, params, error):
    """The authorization endpoint answers the client at once (an error redirect): the answer
    is ``done`` with the error in ``callback_params``, under a ``login_id`` like any other."""
    login = scripted(client, url(flow, **params), AT_ONCE).get_json()
    assert login["state"] == "done" and login["callback_params"]["error"] == error
    assert read_back(client, login) == login


def test_a_done_login_is_read_back_with_its_callback(flow, client):
    login = scripted(client, url(flow), AT_ONCE).get_json()
    assert login["state"] == "done" and login["national_id"] == AT_ONCE
    assert read_back(client, login) == login
    # The code read back is the one issued, once: the token endpoint takes it.
    assert "access_token" in flow.token(login["callback_params"]["code"]).get_json()


def test_a_failed_login_is_read_back_with_its_reason(flow, client):
    login = scripted(client, url(flow), WRONG_CODE).get_json()
    assert login["state"] == "failed" and login["reason"] == "wrong_code"
    read = read_back(client, login)
    assert (read["state"], read["reason"]) == ("failed", "wrong_code")


def test_a_login_completed_by_hand_is_read_back(flow, client):
    login = scripted(client, url(flow), NEVER, wait=0).get_json()
    request_ = login["request"]
    client.post(f"{API}/requests/{request_['request_id']}/approve", json={"code": request_["code"]})
    assert client.get(f"{API}/logins/{login['login_id']}").get_json()["state"] == "approved"
    done = client.post(f"{API}/logins/{login['login_id']}/complete", json={"wait": 0})
    assert done.get_json()["state"] == "done"
    assert (
        read_back(client, done.get_json())["callback_params"]
        == (done.get_json()["callback_params"])
    )


def test_a_login_id_lives_as_long_as_a_login_transaction(clocked_app, clock):
    """Readable ``login_transaction_lifetime`` (600 s by default) after the start, then
    ``unknown_login`` as any other identifier."""
    client = clocked_app.test_client()
    flow = Flow(clocked_app, client, register_client(clocked_app))
    lifetime = clocked_app.extensions["santeid"].settings.login.transaction_lifetime
    at_once = scripted(client, url(flow, prompt="none"), AT_ONCE).get_json()
    done = scripted(client, url(flow), AT_ONCE).get_json()
    clock.advance(lifetime - 1)
    for login in (at_once, done):
        assert client.get(f"{API}/logins/{login['login_id']}").status_code == 200
    clock.advance(2)
    for login in (at_once, done):
        gone = client.get(f"{API}/logins/{login['login_id']}")
        assert gone.status_code == 404 and gone.get_json()["code"] == "unknown_login"


# -- a login being ended is read as it stands, never as unknown ------------------------------
def approved_login(client, flow) -> str:
    """A scripted login the phone has approved, not ended yet: its ``login_id``."""
    login = scripted(client, url(flow), NEVER, wait=0).get_json()
    request_ = login["request"]
    client.post(f"{API}/requests/{request_['request_id']}/approve", json={"code": request_["code"]})
    assert client.get(f"{API}/logins/{login['login_id']}").get_json()["state"] == "approved"
    return login["login_id"]


def slow_code_issuance(
    monkeypatch, seconds: float = 0, while_issuing: Callable[[], object] | None = None
) -> None:
    """The authorization side takes ``seconds`` to issue the code, once the login
    transaction is used up (``santeid.login.views.finish``) — or, given ``while_issuing``,
    the time that call takes."""
    side = views.authorization

    class Slow:
        def complete(self, request_, authentication, answerable):
            if while_issuing is None:
                time.sleep(seconds)
            else:
                while_issuing()
            return side().complete(request_, authentication, answerable)

        def still_answerable(self, request_):
            return side().still_answerable(request_)

    monkeypatch.setattr(views, "authorization", Slow)


def test_a_login_being_ended_is_never_unknown(app, flow, client, monkeypatch):
    """Reads and other completions made while ``/complete`` ends the login (the code's
    issuance, after the login is used up, held here) wait for its answer and give it, or
    ``approved``: never ``unknown_login``."""
    login_id = approved_login(client, flow)
    issuing, released = threading.Event(), threading.Event()

    def hold_issuance() -> None:
        issuing.set()
        released.wait(30)

    slow_code_issuance(monkeypatch, while_issuing=hold_issuance)

    def in_thread(call) -> tuple[threading.Thread, list]:
        answers: list = []
        thread = threading.Thread(target=lambda: answers.append(call()))
        thread.start()
        return thread, answers

    def read():
        return app.test_client().get(f"{API}/logins/{login_id}")

    def complete():
        return app.test_client().post(f"{API}/logins/{login_id}/complete", json={"wait": 0})

    ending, ended = in_thread(complete)
    meanwhile = []
    try:
        assert issuing.wait(30), "the completion never reached the code's issuance"
        meanwhile = [in_thread(call) for call in (read, complete, read, complete)]
        time.sleep(0.1)  # they are made while the login is being ended (ENDING_WAIT is 5 s)
    finally:
        released.set()
        ending.join()
        for thread, _ in meanwhile:
            thread.join()
    done = ended[0]
    assert done.status_code == 200 and done.get_json()["state"] == "done"
    assert len(meanwhile) == 4
    for _, (answer,) in meanwhile:
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json() == done.get_json() or answer.get_json()["state"] == "approved"


def test_a_login_ended_by_another_call_meanwhile_is_never_read_as_waiting(
    app, flow, client, monkeypatch
):
    """A completion that read the login still ``waiting`` just before another call approved
    and ended it answers the ``done`` answer — not the ``waiting`` it had read."""
    login = scripted(client, url(flow), NEVER, wait=0).get_json()
    login_id, phone_request = login["login_id"], login["request"]
    read, other, ended = logins._transaction, app.test_client(), []

    def read_then_ended_by_another_call(txid):
        tx = read(txid)
        if not ended:
            ended.append(tx["state"])
            other.post(
                f"{API}/requests/{phone_request['request_id']}/approve",
                json={"code": phone_request["code"]},
            )
            ended.append(other.post(f"{API}/logins/{login_id}/complete", json={"wait": 0}))
        return tx

    monkeypatch.setattr(logins, "_transaction", read_then_ended_by_another_call)
    racing = client.post(f"{API}/logins/{login_id}/complete", json={"wait": 0})
    seen, done = ended
    assert seen == "waiting" and done.get_json()["state"] == "done"
    assert racing.status_code == 200 and racing.get_json() == done.get_json()


def failing_code_issuance(monkeypatch) -> None:
    """The store fails once the login transaction is used up, as the code is issued."""

    class Failing:
        def complete(self, request_, authentication, answerable):
            raise StoreUnavailable("store down")

        def still_answerable(self, request_):
            return True

    monkeypatch.setattr(views, "authorization", Failing)


def test_a_login_whose_end_failed_midway_is_unknown_at_once(flow, client, monkeypatch):
    """The transaction used up and no code issued (a store outage): the call answers 503, and
    the login is then unknown — not left marked as being ended, which a read would wait on."""
    login_id = approved_login(client, flow)
    failing_code_issuance(monkeypatch)
    failed = client.post(f"{API}/logins/{login_id}/complete", json={"wait": 0})
    assert failed.status_code == 503 and failed.get_json()["code"] == "temporarily_unavailable"
    started = time.monotonic()
    gone = client.get(f"{API}/logins/{login_id}")
    assert gone.status_code == 404 and gone.get_json()["code"] == "unknown_login"
    assert time.monotonic() - started < 1


def test_a_mark_left_by_an_outage_expires(clocked_app, clock, monkeypatch):
    """The store failing for the removal of the mark too: reads wait for the answer, then
    answer 503 (retry) until the mark expires, then ``unknown_login``."""
    client = clocked_app.test_client()
    flow = Flow(clocked_app, client, register_client(clocked_app))
    login_id = approved_login(client, flow)
    failing_code_issuance(monkeypatch)
    store = clocked_app.extensions["santeid"].store

    def down(*keys):
        raise StoreUnavailable("store down")

    monkeypatch.setattr(store, "delete", down)
    assert client.post(f"{API}/logins/{login_id}/complete", json={}).status_code == 503
    monkeypatch.undo()
    monkeypatch.setattr(logins, "ENDING_WAIT", 0.3)
    started = time.monotonic()
    waiting = client.get(f"{API}/logins/{login_id}")
    assert time.monotonic() - started >= 0.3
    assert waiting.status_code == 503 and waiting.get_json()["code"] == "temporarily_unavailable"
    clock.advance(keys.SANDBOX_LOGIN_ENDING_LIFETIME)
    gone = client.get(f"{API}/logins/{login_id}")
    assert gone.status_code == 404 and gone.get_json()["code"] == "unknown_login"


# -- a service removed while its scripted login is under way ---------------------------------
# The login pages' rule (``santeid.login.views.load_transaction``, docs/reference/
# keycloak-behaviour.md "Login pages"): nothing is sent to a client removed, or to a
# ``redirect_uri`` it no longer registers, while the login was under way.


def _no_code_issued(monkeypatch) -> list:
    """The authorization side's completions, recorded instead of issuing a code."""
    from santeid.oidc import login_outcome

    completed: list = []
    monkeypatch.setattr(
        login_outcome.OidcAuthorizationSide, "complete", lambda *args: completed.append(args)
    )
    return completed


@pytest.mark.parametrize("change", ["client removed", "redirect_uri no longer registered"])
def test_a_login_whose_service_is_gone_ends_without_a_code(app, flow, client, monkeypatch, change):
    """Approved on the phone, then the service removed (or its ``redirect_uri``): completing
    the login answers ``client_gone`` (409), no code is issued, and the login is used up —
    read again, it is ``unknown_login`` as a browser's would be lost."""
    completed = _no_code_issued(monkeypatch)
    login_id = approved_login(client, flow)
    svc = app.extensions["santeid"]
    if change == "client removed":
        svc.clients.remove(flow.client["client_id"])
    else:
        register_client(app, redirect_uris=["https://service.example.org/elsewhere"])
    answer = client.post(f"{API}/logins/{login_id}/complete", json={"wait": 0})
    assert (answer.status_code, answer.mimetype) == (409, "application/problem+json")
    assert answer.get_json()["code"] == "client_gone"
    assert "callback_url" not in answer.get_json()
    assert completed == []
    assert svc.transactions.get(login_id) is None
    again = client.post(f"{API}/logins/{login_id}/complete", json={"wait": 0})
    assert again.status_code == 404 and again.get_json()["code"] == "unknown_login"


def test_reading_a_login_whose_service_is_gone_ends_it(app, flow, client, monkeypatch):
    """A read ends it too, as any page of the browser's login does: the phone's request is
    withdrawn, so that an approval later ends nothing, and the event says why."""
    from santeid.observability.events import LOGIN_ERROR

    completed = _no_code_issued(monkeypatch)
    login = scripted(client, url(flow), NEVER, wait=0).get_json()
    svc = app.extensions["santeid"]
    svc.clients.remove(flow.client["client_id"])
    read = client.get(f"{API}/logins/{login['login_id']}")
    assert read.status_code == 409 and read.get_json()["code"] == "client_gone"
    assert svc.transactions.get(login["login_id"]) is None
    request_ = client.get(f"{API}/requests/{login['request']['request_id']}").get_json()
    assert request_["status"] != "pending"
    assert completed == []
    (recorded,) = svc.events.list(types=(LOGIN_ERROR,))
    assert (recorded.client_id, recorded.reason) == ("service-test", "client_not_found")
