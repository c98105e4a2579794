// An Express service protected by keycloak-connect, Keycloak's Node.js adapter
// (https://github.com/keycloak/keycloak-nodejs-connect), configured as its README and
// Keycloak's "Securing Applications" guide configure it for a Keycloak server: the adapter
// configuration (keycloak.json's keys) with the server's base URL, the realm, the client id and
// its secret; express-session's memory store for the grants; keycloak.middleware() with its
// /logout route. tests/e2e/test_keycloak_connect.py starts it and drives it in Chromium.
//
// Environment: PORT, AUTH_SERVER_URL (the server's base URL, "…/auth"), REALM, CLIENT_ID,
// CLIENT_SECRET, SESSION_SECRET.
//
// Pages (JSON):
//   /protected  keycloak.protect(): the grant's tokens (req.kauth.grant) and their claims;
//   /userinfo   keycloak.protect(), then keycloak.grantManager.userInfo(access token);
//   /validate   keycloak.protect(), then keycloak.grantManager.validateAccessToken(access
//               token): the adapter's introspection call;
//   /maybe      keycloak.checkSso(): prompt=none once, then whoever the session holds;
//   /           whoever the session holds (the adapter's logout sends the browser back here);
//   /role       keycloak.protect('realm:offline_access'): a role guard (the access token's
//               realm_access);
//   /enforced   keycloak.protect(), then keycloak.enforcer('records:read'): Keycloak's
//               authorization services (the UMA grant at the token endpoint);
//   /service-account  keycloak.grantManager.obtainFromClientCredentials(): the client's own
//               grant, validated as every grant;
//   /api/me     a bearer-only adapter of the same client (bearer-only: true): keycloak.protect()
//               on an Authorization: Bearer token, 403 "Access denied" when the adapter refuses
//               it; the access token's claims when it accepts it;
//   /pinned/me  the same with the realm's public key in the configuration (realm-public-key,
//               REALM_PUBLIC_KEY: the realm document's public_key), as older keycloak.json
//               exports have it: no certs read.

'use strict';

const express = require('express');
const session = require('express-session');
const Keycloak = require('keycloak-connect');

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

// keycloak.json, as Keycloak's admin console exports it for a confidential client ("Action",
// "Download adapter config", "Keycloak OIDC JSON").
const adapterConfig = (extra) => ({
  realm: env('REALM'),
  'auth-server-url': env('AUTH_SERVER_URL'),
  'ssl-required': 'external',
  resource: env('CLIENT_ID'),
  credentials: { secret: env('CLIENT_SECRET') },
  'confidential-port': 0,
  ...extra,
});

const store = new session.MemoryStore();
const keycloak = new Keycloak({ store, scope: 'scope_all' }, adapterConfig({}));
const api = new Keycloak({}, adapterConfig({ 'bearer-only': true }));
const pinned = new Keycloak(
  {},
  adapterConfig({ 'bearer-only': true, 'realm-public-key': env('REALM_PUBLIC_KEY') }),
);

const claims = (token) => (token ? token.content : null);
const tokens = (grant) => ({
  access_token: grant.access_token.token,
  id_token: grant.id_token ? grant.id_token.token : null,
  refresh_token: grant.refresh_token ? grant.refresh_token.token : null,
  access: claims(grant.access_token),
  id: claims(grant.id_token),
  refresh: claims(grant.refresh_token),
});

const app = express();

// The APIs first: their own adapters read the Authorization header, with no session.
const bearerOnly = (adapter) => {
  const routes = express.Router();
  routes.use(adapter.middleware());
  routes.get('/me', adapter.protect(), (req, res) => res.json(claims(req.kauth.grant.access_token)));
  return routes;
};
app.use('/api', bearerOnly(api));
app.use('/pinned', bearerOnly(pinned));

app.use(
  session({ secret: env('SESSION_SECRET'), resave: false, saveUninitialized: true, store }),
);
app.use(keycloak.middleware({ logout: '/logout' }));

const who = (req) => ({
  loggedIn: Boolean(req.kauth.grant),
  tokens: req.kauth.grant ? tokens(req.kauth.grant) : null,
});

app.get('/', (req, res) => res.json(who(req)));

app.get('/protected', keycloak.protect(), (req, res) => res.json(tokens(req.kauth.grant)));

app.get('/maybe', keycloak.checkSso(), (req, res) => res.json(who(req)));

app.get('/role', keycloak.protect('realm:offline_access'), (req, res) => res.json({ role: true }));

app.get('/enforced', keycloak.protect(), keycloak.enforcer('records:read'), (req, res) =>
  res.json({ enforced: true }),
);

app.get('/service-account', async (req, res, next) => {
  try {
    res.json(tokens(await keycloak.grantManager.obtainFromClientCredentials()));
  } catch (err) {
    next(err);
  }
});

app.get('/userinfo', keycloak.protect(), async (req, res, next) => {
  try {
    res.json(await keycloak.grantManager.userInfo(req.kauth.grant.access_token));
  } catch (err) {
    next(err);
  }
});

app.get('/validate', keycloak.protect(), async (req, res, next) => {
  try {
    const valid = await keycloak.grantManager.validateAccessToken(req.kauth.grant.access_token);
    res.json({ valid: valid !== false });
  } catch (err) {
    next(err);
  }
});

// Express's error handler: what the adapter rejected with, as JSON.
// eslint-disable-next-line no-unused-vars
app.use((err, req, res, next) => {
  res.status(500).json({ error: err.message || String(err) });
});

const server = app.listen(Number(env('PORT')), '127.0.0.1', () => {
  console.log(`listening on ${server.address().port}`);
});
