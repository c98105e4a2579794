#!/usr/bin/env python3
"""Measure whole CIBA poll-mode logins: santeid against node-oidc-provider, same workload.

One login = back-channel authentication request (client_secret_basic, ``scope=openid``,
``login_hint``, ``binding_message``) → approval at once (santeid: a sandbox auto-approving
professional; node-oidc-provider: ``provider.backchannelResult`` inside
``triggerAuthenticationDevice``) → token-endpoint polls with no wait (the santeid client is
registered with ``backchannel_polling_interval`` 0; oidc-provider has no interval) until the
tokens arrive. Both answer the first poll with access, refresh and ID tokens.

    .venv/bin/python bench/ciba.py                     # 16 clients, 20 s each, both servers
    .venv/bin/python bench/ciba.py --only santeid --profile

* santeid: ``santeid serve --workers 2`` (Granian, 4 threads per worker, no access log; change
  with ``--serve-args``) on a private ``redis-server``.
* peer, load and figures: as ``bench/peer.py`` describes (CIBA poll mode,
  ``provider.backchannelResult`` inside ``triggerAuthenticationDevice``).

Prints logins/s, p50 and p99 of a whole login for each, and the ratio santeid/peer. Asserts
nothing; traffic goes to 127.0.0.1 only and stops by itself.
"""

from __future__ import annotations

import secrets

from harness import REALM
from harness import Browser
from harness import basic_auth
from peer import arguments
from peer import run

SECRET = "bench-secret-" + secrets.token_hex(16)
CIBA = "urn:openid:params:grant-type:ciba"

#: After ``peer.NODE_PRELUDE``.
NODE_SERVER = r"""
const provider = new Provider(issuer, {
  ...common,
  clients: [{
    ...client,
    grant_types: ['urn:openid:params:grant-type:ciba', 'refresh_token'],
    response_types: [],
    redirect_uris: [],
    backchannel_token_delivery_mode: 'poll',
  }],
  features: {
    devInteractions: { enabled: false },
    ciba: {
      enabled: true,
      deliveryModes: ['poll'],
      processLoginHint: async (ctx, loginHint) => loginHint,
      processLoginHintToken: async () => undefined,
      validateBindingMessage: async () => {},
      validateRequestContext: async () => {},
      verifyUserCode: async () => {},
      // Approve at once, as santeid's sandbox auto-approval does.
      triggerAuthenticationDevice: async (ctx, request, account, client) => {
        const grant = new provider.Grant({
          clientId: client.clientId, accountId: account.accountId,
        });
        grant.addOIDCScope('openid');
        await grant.save();
        await provider.backchannelResult(request, grant, {
          acr: 'eidas1', amr: ['sandbox'], authTime: Math.floor(Date.now() / 1000),
        });
      },
    },
  },
});
http.createServer(provider.callback()).listen(port, '127.0.0.1', () => console.log('ready'));
"""


def one_login(browser: Browser, target: dict, login_hint: str) -> int:
    """A whole login; the number of polls it took."""
    auth = {"Authorization": target["auth"]}
    started = browser.post(
        target["backchannel"],
        {"scope": "openid", "login_hint": login_hint, "binding_message": "42"},
        headers=auth,
    )
    ack = started.json()
    if started.status != 200:
        raise RuntimeError(f"backchannel {started.status} {ack}")
    polls = 0
    while True:
        polls += 1
        answer = browser.post(
            target["token"], {"grant_type": CIBA, "auth_req_id": ack["auth_req_id"]}, headers=auth
        )
        token = answer.json()
        if answer.status == 200 and "id_token" in token and "access_token" in token:
            return polls
        if token.get("error") not in ("authorization_pending", "slow_down"):
            raise RuntimeError(f"token {answer.status} {token}")
        if polls > 1000:
            raise RuntimeError("never approved")


def main() -> None:
    args = arguments(__doc__.splitlines()[0]).parse_args()
    oidc = f"{REALM}/protocol/openid-connect"
    auth = basic_auth("bench", SECRET)
    run(
        args,
        secret=SECRET,
        client={
            "grant_types": [CIBA, "refresh_token"],
            "backchannel_token_delivery_mode": "poll",
            "backchannel_polling_interval": 0,
        },
        node_server=NODE_SERVER,
        santeid={
            "login": one_login,
            "backchannel": f"{oidc}/ext/ciba/auth",
            "token": f"{oidc}/token",
            "auth": auth,
        },
        peer={"login": one_login, "backchannel": "/backchannel", "token": "/token", "auth": auth},
        per_login="polls/login",
        p99_target=100,  # p99 ≤ 100 ms at 16 clients (docs/performance.md, "CIBA poll-mode logins")
    )


if __name__ == "__main__":
    main()
