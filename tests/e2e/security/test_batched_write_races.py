"""Writes sent together in one store round trip (docs/storage.md, ``batch()``: a pipeline, not
a transaction), raced against a real server: ``santeid serve --workers 2`` on a Redis of its
own, so that racing requests reach different processes and only the store orders them, and
``santeid serve`` alone on the embedded store.

* a logout racing the end of a login in the same browser: the code sent names a session that
  lasts, else it buys no tokens (Keycloak: ``invalid_grant`` "Code not valid",
  docs/reference/keycloak-behaviour.md, "Token endpoint");
* the same login ended twice at once: one code; one SSO session written by many requests at
  once (silent answers, a new login, a code exchange): all answered from it;
* a logout racing a code exchange or a refresh: what the exchange or the refresh gave is dead
  once the logout has answered;
* userinfo after a logout or a revocation: refused at once (RFC 7009 §2.2: an access token
  revoked is invalid from then on);
* an e-CPS request decided by several signed decisions of its phone at once (each a ``jti``
  of its own): one outcome, and the request out of its professional's pending index;
* a sandbox scenario changed through the control API while CIBA requests are made: each request
  follows one scenario, never a mix of two (docs/sandbox.md)."""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
import time
from collections import Counter
from http.cookies import SimpleCookie
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import redis as redis_client
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from santeid.ecps.simulator import DeviceSimulator
from santeid.ecps.simulator import make_decision
from santeid.oidc import keycloak_errors
from santeid.storage import keys
from tests.support.concurrency import RawAnswer
from tests.support.concurrency import RawRequest
from tests.support.concurrency import race_http
from tests.support.concurrency import race_requests
from tests.support.operations import CLIENT
from tests.support.operations import CLIENT_ID
from tests.support.operations import REDIRECT_URI
from tests.support.operations import SECRET
from tests.support.operations import browser_login
from tests.support.operations import submit_identifier
from tests.support.redis_server import RedisServer
from tests.support.security import browser
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis]

#: Approved at once by its sandbox phone (docs/sandbox.md): the logins of the session races.
AT_ONCE = "810000000030"
#: Given a phone of its own below: its requests wait for the test's decisions.
DECIDED = "810000000003"
#: Auto-approved (CIBA: tokens at once) unless its scenario says otherwise.
SCENARIO_SWITCHED = "810000000002"
PIN = "135790"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"
#: The operations tests' client, polling without an interval.
RP = {**CLIENT, "backchannel_polling_interval": 0}
#: Races per attack: the windows between a read and the batched write that follows it are a
#: few milliseconds wide; many races land on either side of them, some inside.
ROUNDS = 16
BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
FORM = "application/x-www-form-urlencoded"
#: The e-CPS requests of the decision races, all for one professional from one address.
UNTHROTTLED = {
    "SANTEID_ECPS_PUSH_LIMIT_PER_PROFESSIONAL": "1000",
    "SANTEID_ECPS_PUSH_LIMIT_PER_ADDRESS": "1000",
}


@pytest.fixture(scope="module", params=["redis", "memory"])
def server(request, tmp_path_factory):
    """``(server, redis)``: two workers on a Redis, or one process on the embedded store
    (``redis`` None)."""
    home = tmp_path_factory.mktemp(f"batched-{request.param}")
    if request.param == "memory":
        with santeid_process(home, clients=[RP], SANTEID_STORE_URL="memory://",
                             **UNTHROTTLED) as server:  # fmt: skip
            yield server, None
        return
    with (
        RedisServer() as redis,
        santeid_process(
            home, args=["--sandbox", "--workers", "2"], clients=[RP],
            SANTEID_STORE_URL=redis.url, **UNTHROTTLED,
        ) as server,
    ):  # fmt: skip
        yield server, redis


def _claims(jwt: str) -> dict:
    """The payload of a JWT the server signed (its signature is not the point here)."""
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _ready_to_complete(server, session: requests.Session) -> tuple[str, str]:
    """A new login of :data:`AT_ONCE` in ``session`` (``prompt=login``: through the login
    page even with an SSO session), approved and not yet ended: ``(code_verifier, URL that
    ends it)``."""
    rp = OAuth2Session(CLIENT_ID, SECRET, scope="openid scope_all", redirect_uri=REDIRECT_URI,
                       code_challenge_method="S256")  # fmt: skip
    verifier = generate_token(48)
    url, _ = rp.create_authorization_url(f"{server.oidc}/auth", nonce=generate_token(20),
                                         code_verifier=verifier, prompt="login")  # fmt: skip
    started = session.get(url, allow_redirects=False, timeout=10)
    assert started.status_code == 302, started.text
    login_url = urljoin(url, started.headers["Location"])
    assert submit_identifier(session, login_url, AT_ONCE).status_code == 303
    tx = parse_qs(urlsplit(login_url).query)["tx"][0]
    for _ in range(100):
        state = session.get(urljoin(login_url, "status"), params={"tx": tx}, timeout=10)
        if state.json()["state"] == "approved":
            return verifier, urljoin(login_url, "complete") + "?" + urlencode({"tx": tx})
        time.sleep(0.05)
    raise AssertionError(f"login not approved: {state.json()}")


def _staggered(round_: int, one: RawRequest, other: RawRequest) -> list[RawRequest]:
    """``one`` and ``other`` released together, one of them held back, in turn, 0.5 ms longer
    every other round (0 to 3.5 ms over :data:`ROUNDS`): each race lands elsewhere across the
    other's work."""
    held = (round_ // 2) * 0.0005
    if round_ % 2:
        return [dataclasses.replace(one, after=held), other]
    return [one, dataclasses.replace(other, after=held)]


def _completion(session: requests.Session, url: str) -> RawRequest:
    cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in session.cookies)
    return RawRequest("GET", url, {"Cookie": cookies})


def _cookies_after(session: requests.Session, answer: RawAnswer | None = None) -> str:
    """The ``Cookie`` header of ``session``'s browser, once it has taken ``answer``'s cookies
    if any (a cookie expired by the answer is gone)."""
    jar = {cookie.name: cookie.value for cookie in session.cookies}
    taken = [] if answer is None else answer.headers.get_all("Set-Cookie") or []
    for header in taken:
        for name, morsel in SimpleCookie(header).items():
            if morsel["max-age"] == "0" or not morsel.value:
                jar.pop(name, None)
            else:
                jar[name] = morsel.value
    return "; ".join(f"{name}={value}" for name, value in jar.items())


def _silent_answer(server, cookies: str) -> dict[str, str]:
    """What the browser with ``cookies`` gets from a ``prompt=none`` authorization request:
    the parameters sent to the client."""
    params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
              "scope": "openid scope_all", "prompt": "none"}  # fmt: skip
    answer = requests.get(f"{server.oidc}/auth", params=params, headers={"Cookie": cookies},
                          allow_redirects=False, timeout=10)  # fmt: skip
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT_URI), location
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def _logout(server, refresh_token: str) -> RawRequest:
    """Keycloak's refresh-token logout: the token's SSO session ends."""
    body = urlencode({"refresh_token": refresh_token}).encode()
    return RawRequest("POST", f"{server.oidc}/logout",
                      {"Authorization": BASIC, "Content-Type": FORM}, body)  # fmt: skip


def _token_request(server, data: dict) -> RawRequest:
    body = urlencode(data).encode()
    return RawRequest("POST", f"{server.oidc}/token",
                      {"Authorization": BASIC, "Content-Type": FORM}, body)  # fmt: skip


def _token(server, data: dict) -> requests.Response:
    return requests.post(f"{server.oidc}/token", data=data, auth=(CLIENT_ID, SECRET), timeout=30)


def _exchange(server, code: str, verifier: str) -> requests.Response:
    return _token(server, {"grant_type": "authorization_code", "code": code,
                           "redirect_uri": REDIRECT_URI, "code_verifier": verifier})  # fmt: skip


def _userinfo(server, access_token: str) -> int:
    bearer = {"Authorization": "Bearer " + access_token}
    return requests.get(f"{server.oidc}/userinfo", headers=bearer, timeout=10).status_code


def _dead(server, tokens: dict) -> None:
    """``tokens`` no longer work: access token 401 at userinfo, refresh token
    ``invalid_grant``."""
    assert _userinfo(server, tokens["access_token"]) == 401
    refreshed = _token(server, {"grant_type": "refresh_token",
                                "refresh_token": tokens["refresh_token"]})  # fmt: skip
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def _sent_to_client(answer: RawAnswer) -> dict[str, str] | None:
    """The parameters of a redirect to the client (its code, its session), or None."""
    location = answer.headers.get("Location") or ""
    if answer.status != 302 or not location.startswith(REDIRECT_URI):
        return None
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def test_a_logout_racing_the_end_of_a_login_leaves_no_code_of_a_dead_session(server):
    server, _ = server
    paths = Counter()
    for round_ in range(ROUNDS):
        first, session = browser_login(server.issuer, AT_ONCE)
        ended_sid = _claims(first["id_token"])["sid"]
        verifier, url = _ready_to_complete(server, session)

        completed, logged_out = race_requests(
            _staggered(round_, _completion(session, url), _logout(server, first["refresh_token"]))
        )

        assert logged_out.status == 204, logged_out.body
        sent = _sent_to_client(completed)
        assert sent is not None, (completed.status, completed.headers, completed.body)
        exchanged = _exchange(server, sent["code"], verifier)
        if sent["session_state"] == ended_sid:
            # The login renewed the session the logout then ended: its code is worthless.
            paths["renewed, then logged out"] += 1
            assert exchanged.status_code == 400, exchanged.text
            refusal = {
                "error": "invalid_grant",
                "error_description": keycloak_errors.CODE_NOT_VALID,
            }
            assert exchanged.json() == refusal
            # And the browser holds no session any more.
            later = _silent_answer(server, _cookies_after(session, completed))
            assert later.get("error") == "login_required", later
            continue
        # The logout came first: the login opened a session of its own, which lasts.
        paths["new session"] += 1
        assert exchanged.status_code == 200, exchanged.text
        tokens = exchanged.json()
        assert _claims(tokens["id_token"])["sid"] == sent["session_state"]
        assert _userinfo(server, tokens["access_token"]) == 200
        # The browser holds that session, whole: a service logs in silently from it.
        later = _silent_answer(server, _cookies_after(session, completed))
        assert later.get("session_state") == sent["session_state"], later
        again = race_requests([_logout(server, tokens["refresh_token"])])[0]
        assert again.status == 204
        _dead(server, tokens)
    print(dict(paths))


def test_a_logout_racing_an_answer_from_the_sso_session_leaves_no_usable_code(server):
    server, _ = server
    answers = Counter()
    for round_ in range(ROUNDS):
        first, session = browser_login(server.issuer, AT_ONCE)
        rp = OAuth2Session(CLIENT_ID, SECRET, scope="openid scope_all", redirect_uri=REDIRECT_URI,
                           code_challenge_method="S256")  # fmt: skip
        verifier = generate_token(48)
        url, _ = rp.create_authorization_url(f"{server.oidc}/auth", nonce=generate_token(20),
                                             code_verifier=verifier, prompt="none")  # fmt: skip

        answered, logged_out = race_requests(
            _staggered(round_, _completion(session, url), _logout(server, first["refresh_token"]))
        )

        assert logged_out.status == 204, logged_out.body
        sent = _sent_to_client(answered)
        assert sent is not None, (answered.status, answered.headers, answered.body)
        if "error" in sent:
            # The logout came first: no session to answer from.
            assert sent["error"] == "login_required", sent
            answers["login_required"] += 1
            continue
        # Answered from the session the logout then ended: the code buys nothing.
        answers["code"] += 1
        assert sent["session_state"] == _claims(first["id_token"])["sid"]
        exchanged = _exchange(server, sent["code"], verifier)
        assert exchanged.status_code == 400, exchanged.text
        assert exchanged.json()["error"] == "invalid_grant"
    print(dict(answers))


def test_one_session_used_by_many_requests_at_once_answers_them_all(server):
    """Silent answers, a new login of the same professional and a code exchange, all writing
    the one SSO session at once: each compare-and-set from a copy another made stale is
    finished after its batch, none is lost, every code buys tokens of that session."""
    server, _ = server
    for _ in range(ROUNDS // 4):
        first, session = browser_login(server.issuer, AT_ONCE)
        sid = _claims(first["id_token"])["sid"]
        verifier, url = _ready_to_complete(server, session)
        rp = OAuth2Session(CLIENT_ID, SECRET, scope="openid scope_all", redirect_uri=REDIRECT_URI,
                           code_challenge_method="S256")  # fmt: skip
        silent_verifier = generate_token(48)
        silent, _ = rp.create_authorization_url(
            f"{server.oidc}/auth", nonce=generate_token(20), code_verifier=silent_verifier,
            prompt="none",
        )  # fmt: skip
        kept = _silent_answer(server, _cookies_after(session))
        exchange = {"grant_type": "authorization_code", "code": kept["code"],
                    "redirect_uri": REDIRECT_URI}  # fmt: skip

        answers = race_requests(
            [_completion(session, url), _token_request(server, exchange)]
            + [_completion(session, silent)] * 6
        )

        assert answers[1].status == 200, answers[1].body
        sent = [_sent_to_client(answer) for answer in (answers[0], *answers[2:])]
        assert [params and params.get("session_state") for params in sent] == [sid] * 7, sent
        verifiers = [verifier] + [silent_verifier] * 6
        for params, code_verifier in zip(sent, verifiers, strict=True):
            exchanged = _exchange(server, params["code"], code_verifier)
            assert exchanged.status_code == 200, exchanged.text
        assert _silent_answer(server, _cookies_after(session, answers[0]))["session_state"] == sid


def test_a_login_ended_twice_at_once_sends_one_code(server):
    server, _ = server
    for round_ in range(ROUNDS):
        if round_ % 2:
            # Ended with an SSO session in the browser (renewed), or without (opened).
            _, session = browser_login(server.issuer, AT_ONCE)
        else:
            session = browser()
        verifier, url = _ready_to_complete(server, session)

        answers = race_requests([_completion(session, url)] * 6)

        assert all(answer.status < 500 for answer in answers), answers
        sent = [params for params in map(_sent_to_client, answers) if params is not None]
        assert len(sent) == 1, answers
        exchanged = _exchange(server, sent[0]["code"], verifier)
        assert exchanged.status_code == 200, exchanged.text
        assert _userinfo(server, exchanged.json()["access_token"]) == 200


def _raced_with_logout(server, round_: int, first: dict, data: dict) -> None:
    """A token request of ``data`` and the logout of ``first``'s session arriving together
    (:func:`_staggered`): whatever the request gave is dead once both have answered, as
    ``first`` is; a refusal is ``invalid_grant``."""
    answered, logged_out = race_requests(
        _staggered(round_, _token_request(server, data), _logout(server, first["refresh_token"]))
    )
    assert logged_out.status == 204, logged_out.body
    assert answered.status in (200, 400), answered.body
    if answered.status == 200:
        _dead(server, json.loads(answered.body))
    else:
        assert json.loads(answered.body)["error"] == "invalid_grant"
    _dead(server, first)


def test_a_logout_racing_a_code_exchange_leaves_no_live_tokens(server):
    server, _ = server
    for round_ in range(ROUNDS):
        first, session = browser_login(server.issuer, AT_ONCE)
        verifier, url = _ready_to_complete(server, session)
        sent = _sent_to_client(race_requests([_completion(session, url)])[0])
        exchange = {"grant_type": "authorization_code", "code": sent["code"],
                    "redirect_uri": REDIRECT_URI, "code_verifier": verifier}  # fmt: skip
        _raced_with_logout(server, round_, first, exchange)


def test_a_logout_racing_a_refresh_leaves_no_live_tokens(server):
    server, _ = server
    for round_ in range(ROUNDS):
        first, _ = browser_login(server.issuer, AT_ONCE)
        refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        _raced_with_logout(server, round_, first, refresh)


def test_userinfo_refuses_at_once_after_a_logout_or_a_revocation(server):
    server, _ = server
    for _ in range(ROUNDS):
        tokens, _ = browser_login(server.issuer, AT_ONCE)
        bearer = RawRequest("GET", f"{server.oidc}/userinfo",
                            {"Authorization": "Bearer " + tokens["access_token"]})  # fmt: skip

        answers = race_requests([_logout(server, tokens["refresh_token"])] + [bearer] * 4)

        assert answers[0].status == 204
        assert {answer.status for answer in answers[1:]} <= {200, 401}, answers
        # Once the logout has answered, every worker refuses the token.
        assert {race_requests([bearer] * 4)[i].status for i in range(4)} == {401}

    for revoked in ("access_token", "refresh_token"):
        tokens, _ = browser_login(server.issuer, AT_ONCE)
        assert _userinfo(server, tokens["access_token"]) == 200
        revocation = requests.post(f"{server.oidc}/revoke", auth=(CLIENT_ID, SECRET),
                                   data={"token": tokens[revoked]}, timeout=10)  # fmt: skip
        assert revocation.status_code == 200, revocation.text
        assert _userinfo(server, tokens["access_token"]) == 401


def _activation(server, national_id: str) -> str:
    """An activation code of ``national_id``'s new phone, through the sandbox control API (as
    docs/sandbox.md's recipe: in the server's own process, whatever its store)."""
    api = f"{server.base}/sandbox/api"
    started = requests.post(f"{api}/activations", json={"national_id": national_id}, timeout=10)
    assert started.status_code == 201, started.text
    activation_id = started.json()["activation_id"]
    sent = requests.get(f"{api}/outbox", params={"activation_id": activation_id}, timeout=10)
    codes = {f"{m['channel']}_code": m["code"] for m in sent.json()["messages"]}
    verified = requests.post(f"{api}/activations/{activation_id}/verify", json=codes, timeout=10)
    assert verified.status_code == 200, verified.text
    return verified.json()["app_link"]


def test_decisions_racing_on_one_request_decide_it_once_and_leave_the_index(server):
    server, redis = server
    phone = DeviceSimulator.enroll(_activation(server, DECIDED), PIN, session=browser())
    store = None if redis is None else redis_client.Redis.from_url(redis.url, decode_responses=True)
    outcomes = Counter()
    for round_ in range(ROUNDS):
        session = browser()
        rp = OAuth2Session(CLIENT_ID, SECRET, scope="openid scope_all", redirect_uri=REDIRECT_URI)
        url, _ = rp.create_authorization_url(f"{server.oidc}/auth", nonce=generate_token(20))
        started = session.get(url, allow_redirects=False, timeout=10)
        login_url = urljoin(url, started.headers["Location"])
        assert submit_identifier(session, login_url, DECIDED).status_code == 303
        (item,) = phone.pending(wait=5)
        request_id = item["request_id"]
        code = item["sandbox_expected_code"]
        # Each decision signed on its own (a jti of its own): none is a replay of another.
        decisions = [make_decision(phone.device, request_id, "approve", PIN, code)
                     for _ in range(4)] + [make_decision(phone.device, request_id, "deny", PIN)
                                           for _ in range(4)]  # fmt: skip
        if round_ % 2:
            decisions.reverse()

        answers = race_http(
            f"{server.base}/ecps/device/requests/{request_id}/decision",
            [each.encode() for each in decisions],
            headers={"Content-Type": "application/jwt"},
        )

        read = [(status, json.loads(body)) for status, body in answers]
        decided = [body["status"] for status, body in read if status == 200]
        refused = Counter((status, body.get("code")) for status, body in read if status != 200)
        assert len(decided) == 1, answers
        assert refused == {(409, "request_not_pending"): len(decisions) - 1}, answers
        outcomes[decided[0]] += 1
        if store is not None:
            # Out of the index at once, before any reading of it could drop it.
            members = store.smembers("santeid:" + keys.ECPS_PENDING.key(DECIDED))
            assert not [m for m in members if m.endswith(":" + request_id)], members
        assert phone.pending() == []
    print(dict(outcomes))


def test_a_scenario_changed_while_ciba_requests_are_made_is_followed_whole(server):
    server, _ = server
    api = f"{server.base}/sandbox/api/professionals/{SCENARIO_SWITCHED}/scenario"
    stop = threading.Event()

    def switch() -> None:
        scenarios = ({"outcome": "card_only"}, {"outcome": "approve"})
        with requests.Session() as control:
            while not stop.is_set():
                for scenario in scenarios:
                    control.put(api, json=scenario, timeout=10).raise_for_status()

    switcher = threading.Thread(target=switch, daemon=True)
    switcher.start()
    seen = Counter()
    try:
        for _ in range(ROUNDS * 4):
            started = requests.post(f"{server.oidc}/ext/ciba/auth", auth=(CLIENT_ID, SECRET),
                                    data={"scope": "openid scope_all",
                                          "login_hint": SCENARIO_SWITCHED,
                                          "binding_message": "42"}, timeout=10)  # fmt: skip
            if started.status_code != 200:
                # Card only when the request came: no phone to ask, as Keycloak's 503.
                assert started.status_code == 503, started.text
                seen["card only"] += 1
                continue
            # Approve, without a delay, when it came: tokens at the first poll.
            polled = _token(server, {"grant_type": CIBA_GRANT,
                                     "auth_req_id": started.json()["auth_req_id"]})  # fmt: skip
            assert polled.status_code == 200, polled.text
            seen["approved at once"] += 1
    finally:
        stop.set()
        switcher.join()
        requests.delete(api, timeout=10).raise_for_status()
    print(dict(seen))
