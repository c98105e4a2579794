// A Pro Santé Connect service written with express-openid-connect
// (https://github.com/auth0/express-openid-connect), configured as its README documents it for
// any OpenID provider, here with PSC's parameters: the issuer, a client secret, the code flow
// with PKCE, PSC's scopes and acr_values, the provider's logout (idpLogout) and back-channel
// logout. tests/e2e/test_express_openid_connect.py starts it and drives it in Chromium.
//
// Environment: PORT, BASE_URL (this service's origin), ISSUER_BASE_URL, CLIENT_ID,
// CLIENT_SECRET, APP_SECRET (the session cookie's encryption secret).
//
// Pages (JSON): /me (login required: req.oidc.user and the ID token's claims), /userinfo
// (req.oidc.fetchUserInfo()), /refresh (req.oidc.accessToken.refresh()), /maybe (the
// attemptSilentLogin middleware: prompt=none once, then whoever is there), /logged-out. Every
// error the library raises is answered as JSON with its status: {status, error,
// error_description, message}.

'use strict';

const express = require('express');
const { auth, requiresAuth, attemptSilentLogin } = require('express-openid-connect');

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

// The back-channel logout store: the library's onLogoutToken hook writes
// "<issuer>|<sid>" and "<issuer>|<sub>", its isLoggedOut hook reads them on each request (the
// API of express-session's stores: get, set, destroy with a callback).
class MemoryStore {
  constructor() {
    this.entries = new Map();
  }
  get(id, callback) {
    callback(null, this.entries.get(id));
  }
  set(id, value, callback) {
    this.entries.set(id, value);
    callback(null);
  }
  destroy(id, callback) {
    this.entries.delete(id);
    callback(null);
  }
}
const logouts = new MemoryStore();

const app = express();
app.use(
  auth({
    issuerBaseURL: env('ISSUER_BASE_URL'),
    baseURL: env('BASE_URL'),
    clientID: env('CLIENT_ID'),
    clientSecret: env('CLIENT_SECRET'),
    clientAuthMethod: 'client_secret_basic',
    secret: env('APP_SECRET'),
    authRequired: false,
    idpLogout: true,
    authorizationParams: {
      response_type: 'code',
      scope: 'openid scope_all',
      acr_values: 'eidas1',
    },
    routes: { postLogoutRedirect: '/logged-out' },
    backchannelLogout: { store: logouts },
  }),
);

const who = (req) =>
  req.oidc.isAuthenticated()
    ? { user: req.oidc.user, claims: req.oidc.idTokenClaims }
    : { user: null };

app.get('/me', requiresAuth(), (req, res) => res.json(who(req)));

app.get('/userinfo', requiresAuth(), async (req, res, next) => {
  try {
    res.json(await req.oidc.fetchUserInfo());
  } catch (err) {
    next(err);
  }
});

app.get('/refresh', requiresAuth(), async (req, res, next) => {
  try {
    const before = req.oidc.accessToken.access_token;
    const after = await req.oidc.accessToken.refresh();
    res.json({
      before,
      after: after.access_token,
      expires_in: after.expires_in,
      claims: req.oidc.idTokenClaims,
    });
  } catch (err) {
    next(err);
  }
});

app.get('/maybe', attemptSilentLogin(), (req, res) => res.json(who(req)));

app.get('/logged-out', (req, res) => res.json({ loggedOut: true, ...who(req) }));

app.get('/logouts', (req, res) => res.json([...logouts.entries.keys()]));

// Express's error handler: what the library raised, as JSON.
// eslint-disable-next-line no-unused-vars
app.use((err, req, res, next) => {
  const status = err.status || 500;
  res.status(status).json({
    status,
    error: err.error || null,
    error_description: err.error_description || null,
    message: err.message,
  });
});

const server = app.listen(Number(env('PORT')), '127.0.0.1', () => {
  console.log(`listening on ${server.address().port}`);
});
