// A Pro Santé Connect service on Express logging professionals in with grant
// (https://github.com/simov/grant), the OAuth proxy middleware, with its `keycloak` provider:
// the provider's URLs are `https://[subdomain]/protocol/openid-connect/{auth,token,userinfo}`
// (grant's config/oauth.json and config/profile.json), so `subdomain` is the realm's URL
// without its scheme (`<host>/auth/realms/esante-wallet`), as grant's README has a Mastodon
// server's host put there. The rest is the README's "Configuration: Basics", "OpenID
// Connect", "PKCE" and "Callback: Response" sections: `origin`, `transport: 'session'`,
// `state`, the client's `key` and `secret`, PSC's `scope`, `custom_params: {acr_values}`,
// `nonce`, `pkce`, and `response: ['tokens', 'jwt', 'profile']` (the ID token decoded, its
// `aud` and `nonce` checked, and userinfo fetched with the access token).
// tests/e2e/test_grant.py starts it and drives it over HTTP.
//
// Environment: PORT, BASE_URL (this service's origin), REALM_HOST (the realm's URL without
// `https://`), CLIENT_ID, CLIENT_SECRET, SESSION_SECRET, PRIVATE_JWK and ACCESS_URL (optional:
// the client's private key as a JWK, the token endpoint written out); NODE_EXTRA_CA_CERTS, the
// authority of santeid's certificate.
//
// Routes: /connect/keycloak starts a login (grant's), /connect/keycloak/callback is its
// redirect URI (grant's), which sends the browser to /done: what grant left in the session
// (req.session.grant.response: the tokens, the decoded ID token and the profile, or the
// error), as JSON.

'use strict';

const express = require('express');
const session = require('express-session');
const grant = require('grant').express();

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

// PRIVATE_JWK, when set: the client authenticates with private_key_jwt (grant's
// `token_endpoint_auth_method` and `private_key`, a JWK), not with its secret. ACCESS_URL: the
// provider's `access_url` written out, which grant takes as the assertion's `aud` (it puts the
// `subdomain` into the request's URL only).
const keyAuthentication = process.env.PRIVATE_JWK
  ? { token_endpoint_auth_method: 'private_key_jwt', private_key: JSON.parse(process.env.PRIVATE_JWK) }
  : {};
if (process.env.ACCESS_URL) keyAuthentication.access_url = process.env.ACCESS_URL;

const app = express();
app.use(session({ secret: env('SESSION_SECRET'), resave: false, saveUninitialized: true }));
app.use(
  grant({
    defaults: { origin: env('BASE_URL'), transport: 'session', state: true },
    keycloak: {
      key: env('CLIENT_ID'),
      secret: env('CLIENT_SECRET'),
      subdomain: env('REALM_HOST'),
      scope: ['openid', 'scope_all'],
      custom_params: { acr_values: 'eidas1' },
      nonce: true,
      pkce: true,
      response: ['tokens', 'jwt', 'profile'],
      callback: '/done',
      ...keyAuthentication,
    },
  }),
);

app.get('/done', (req, res) => res.json(req.session.grant ? req.session.grant.response : null));
app.get('/health', (req, res) => res.json({ ok: true }));

const server = app.listen(Number(env('PORT')), '127.0.0.1', () => {
  console.log(`listening on ${server.address().port}`);
});
