#!/usr/bin/env python3
"""Measure whole authorization-code logins: santeid against node-oidc-provider, same workload.

One login, on both sides, is six HTTP requests: four from the browser — authorization request
(``scope=openid scope_all``, ``acr_values=eidas1``, ``prompt=login``, state and nonce) → login
page → identifier posted → back to the provider, which redirects to the client's
``redirect_uri`` with a code — then two from the client's back end: token request
(client_secret_basic) and userinfo. Each load thread is one browser that keeps its cookies and
never logs out; ``prompt=login`` forces a whole login every time, so SSO never answers one.

* santeid: ``santeid serve --workers 2`` (Granian, 4 threads per worker, no access log; change
  with ``--serve-args``) on a private ``redis-server``, sandbox mode; each load thread logs in
  a sandbox professional of its own whose phone approves at once
  (``harness.bench_professionals``). ``GET …/auth`` → 302 to
  ``/login-actions/authenticate?tx=…``; ``GET`` it: the login page (a CSRF token); ``POST`` the
  national identifier: 303; ``GET /login-actions/complete?tx=…`` (where the waiting page goes
  once the phone has approved, which it has): 302 to the ``redirect_uri`` with the code. The
  token
  response holds an access token and an ID token, each an RS256 JWT (two RSA signatures), and
  a refresh token, an HS512 JWT; userinfo verifies the access token's signature and reads the
  professional from the directory.
* peer: node-oidc-provider (``bench/peer.py``) with one client registered alike
  (client_secret_basic, the same ``redirect_uri``, ``scope_all`` a scope whose claims userinfo
  releases, ``eidas1`` its acr value, refresh tokens always issued, as santeid does). Its
  interaction is completed by the script, at the HTTP level: ``GET /auth`` → 303 to
  ``/interaction/<uid>``; ``GET`` it: a small login page from a route of the Node script
  (``provider.interactionDetails``, which checks the interaction's cookie); ``POST`` the
  identifier to it: the route saves a consent grant for the requested scope and calls
  ``provider.interactionFinished`` with the login and the grant: 303 to the resume URL; ``GET
  /auth/<uid>``: 303 to the ``redirect_uri`` with the code. Its access and refresh tokens are
  opaque (its default) and the ID token is RS256: one RSA signature per login; userinfo looks
  the access token up in its memory.

    .venv/bin/python bench/oidc_login.py                     # 16 clients, 20 s each, both
    .venv/bin/python bench/oidc_login.py --only santeid --profile

Load and figures as ``bench/peer.py`` describes; the count per login printed is the HTTP
requests a login made (6 on both sides). Asserts nothing; traffic goes to 127.0.0.1 only and
stops by itself.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from harness import REALM
from harness import Browser
from harness import authorization_params
from harness import code_flow_tokens
from harness import redeem_code
from peer import arguments
from peer import run

SECRET = "bench-secret-" + secrets.token_hex(16)
REDIRECT_URI = "https://bench.example.org/cb"

#: After ``peer.NODE_PRELUDE``. The interaction route does what oidc-provider's example does
#: (https://github.com/panva/node-oidc-provider/blob/v8.8.1/example/routes/express.js).
NODE_SERVER = r"""
const provider = new Provider(issuer, {
  ...common,
  clients: [{
    ...client,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [process.env.REDIRECT_URI],
  }],
  // santeid's scope and acr value; scope_all's claims are released at userinfo.
  claims: {
    openid: ['sub'],
    scope_all: ['preferred_username', 'SubjectNameID', 'given_name', 'family_name'],
  },
  acrValues: ['eidas1'],
  // The request carries no PKCE, as santeid's (Keycloak's default: PKCE optional);
  // oidc-provider's default requires it of every client.
  pkce: { required: () => false },
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({
      sub: id, preferred_username: id, SubjectNameID: id, given_name: 'Alice',
      family_name: 'Bench',
    }),
  }),
  features: { devInteractions: { enabled: false } },
  interactions: { url: async (ctx, interaction) => `/interaction/${interaction.uid}` },
});

const PAGE = '<!doctype html><html lang="fr"><title>Connexion</title>'
  + '<form method="post"><label>Identifiant national <input name="national_id"></label>'
  + '<button>Se connecter</button></form></html>';

const formOf = (req) => new Promise((resolve, reject) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => resolve(new URLSearchParams(body)));
  req.on('error', reject);
});

// The login page (GET) and the identifier posted to it (POST): login and consent at once.
async function interaction(req, res) {
  try {
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(PAGE);
      return;
    }
    const accountId = (await formOf(req)).get('national_id');
    if (!accountId) {
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end('national_id missing');
      return;
    }
    const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, {
      login: { accountId, acr: 'eidas1', amr: ['sandbox'] },
      consent: { grantId },
    }, { mergeWithLastSubmission: false });
  } catch (err) {
    res.writeHead(400, { 'Content-Type': 'text/plain' });
    res.end(String(err));
  }
}

const handle = provider.callback();
http.createServer((req, res) => (
  req.url.startsWith('/interaction/') ? interaction(req, res) : handle(req, res)
)).listen(port, '127.0.0.1', () => console.log('ready'));
"""


def userinfo(browser: Browser, path: str, access_token: str) -> None:
    """The client's back end reads userinfo with the access token."""
    answer = browser.get(path, headers={"Authorization": "Bearer " + access_token}, cookies=False)
    if answer.status != 200 or "sub" not in answer.json():
        raise RuntimeError(f"userinfo {answer.status} {answer.body[:200]!r}")


def santeid_login(browser: Browser, target: dict, national_id: str) -> int:
    """A whole login; the number of HTTP requests it made."""
    before = browser.requests
    tokens = code_flow_tokens(
        browser,
        national_id,
        client_id="bench",
        secret=SECRET,
        redirect_uri=REDIRECT_URI,
        prompt="login",
    )
    userinfo(browser, target["userinfo"], tokens["access_token"])
    return browser.requests - before


def peer_login(browser: Browser, target: dict, account: str) -> int:
    """A whole login; the number of HTTP requests it made."""
    before = browser.requests
    params = authorization_params("bench", REDIRECT_URI, prompt="login")
    interaction = browser.get(f"/auth?{urlencode(params)}").location
    page = browser.get(interaction)
    if page.status != 200:
        raise RuntimeError(f"login page {page.status} {page.body[:200]!r}")
    posted = browser.post(interaction, {"national_id": account})
    if posted.status != 303:
        raise RuntimeError(f"identifier {posted.status} {posted.body[:200]!r}")
    callback = browser.get(posted.location).location
    tokens = redeem_code(
        browser, "/token", callback, client_id="bench", secret=SECRET, redirect_uri=REDIRECT_URI
    )
    userinfo(browser, "/me", tokens["access_token"])
    return browser.requests - before


def main() -> None:
    args = arguments(__doc__.splitlines()[0]).parse_args()
    run(
        args,
        secret=SECRET,
        client={
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
        },
        node_server=NODE_SERVER,
        node_env={"REDIRECT_URI": REDIRECT_URI},
        santeid={"login": santeid_login, "userinfo": f"{REALM}/protocol/openid-connect/userinfo"},
        peer={"login": peer_login},
        per_login="HTTP requests/login",
    )


if __name__ == "__main__":
    main()
