// A Pro Santé Connect service logging professionals in with two Passport strategies
// (https://www.passportjs.org/), each configured as its README documents it, with PSC's
// parameters:
//
// - passport-openidconnect (https://github.com/jaredhanson/passport-openidconnect): the
//   provider's endpoints written out (`issuer`, `authorizationURL` PSC's wallet URL,
//   `tokenURL`, `userInfoURL`), `scope: 'scope_all'` (the strategy puts `openid` first),
//   `acrValues: 'eidas1'`, `nonce: true`. Two instances: `openidconnect`, with the README's
//   verify(issuer, profile, cb), which builds the profile from the ID token alone, and
//   `openidconnect-userinfo`, whose nine-argument verify makes the strategy read userinfo too.
// - passport-keycloak-oauth2-oidc (https://github.com/louie007/passport-keycloak-oauth2-oidc):
//   `realm`, `authServerURL` (Keycloak's `/auth` base), `publicClient: 'false'`,
//   `clientSecret`, `sslRequired`; the scope given to `passport.authenticate` as its README
//   does, here PSC's; `acr_values` added by the strategy's `authorizationParams()`, the hook
//   passport-oauth2 documents for a provider's own parameters.
//
// tests/e2e/test_passport_strategies.py starts it and drives it in Chromium and over HTTP.
//
// Environment: PORT, BASE_URL (this service's origin), ORIGIN (santeid's origin), ISSUER,
// CLIENT_ID, CLIENT_SECRET, APP_SECRET (the session cookie's secret).
//
// Pages (JSON): /login, /userinfo-login and /keycloak/login start a login; their callbacks
// log the user in and send the browser to /me (whoever is logged in: what the strategy's
// verify function was given), or to /failed (the strategy's failure messages, which
// `failureMessage: true` keeps in the session). Every error a strategy raises is answered as
// JSON with its status: {status, name, code, message}.

'use strict';

const express = require('express');
const session = require('express-session');
const passport = require('passport');
const OpenIDConnectStrategy = require('passport-openidconnect');
const KeycloakStrategy = require('passport-keycloak-oauth2-oidc').Strategy;

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const base = env('BASE_URL');
const issuer = env('ISSUER');
const oidc = `${issuer}/protocol/openid-connect`;

const provider = {
  issuer,
  authorizationURL: `${env('ORIGIN')}/auth`,
  tokenURL: `${oidc}/token`,
  userInfoURL: `${oidc}/userinfo`,
  clientID: env('CLIENT_ID'),
  clientSecret: env('CLIENT_SECRET'),
  scope: 'scope_all',
  acrValues: 'eidas1',
  nonce: true,
};

// The README's verify: the profile the strategy builds from the ID token.
passport.use(
  'openidconnect',
  new OpenIDConnectStrategy(
    { ...provider, callbackURL: `${base}/callback` },
    (iss, profile, cb) => cb(null, { strategy: 'openidconnect', issuer: iss, profile }),
  ),
);

// Nine arguments: the strategy also reads userinfo and hands both profiles, the ID token and
// the tokens over.
passport.use(
  'openidconnect-userinfo',
  new OpenIDConnectStrategy(
    { ...provider, callbackURL: `${base}/userinfo-callback` },
    // eslint-disable-next-line max-params
    (iss, uiProfile, idProfile, context, idToken, accessToken, refreshToken, params, cb) =>
      cb(null, {
        strategy: 'openidconnect-userinfo',
        issuer: iss,
        uiProfile,
        idProfile,
        context,
        hasIdToken: Boolean(idToken),
        hasAccessToken: Boolean(accessToken),
        hasRefreshToken: Boolean(refreshToken),
        tokenResponse: Object.keys(params),
      }),
  ),
);

const keycloak = new KeycloakStrategy(
  {
    clientID: env('CLIENT_ID'),
    realm: issuer.split('/realms/')[1],
    publicClient: 'false',
    clientSecret: env('CLIENT_SECRET'),
    sslRequired: 'external',
    authServerURL: `${env('ORIGIN')}/auth`,
    callbackURL: `${base}/keycloak/callback`,
  },
  (accessToken, refreshToken, profile, done) =>
    done(null, {
      strategy: 'keycloak',
      profile,
      hasAccessToken: Boolean(accessToken),
      hasRefreshToken: Boolean(refreshToken),
    }),
);
keycloak.authorizationParams = () => ({ acr_values: 'eidas1' });
passport.use(keycloak);

passport.serializeUser((user, cb) => cb(null, user));
passport.deserializeUser((user, cb) => cb(null, user));

const app = express();
app.use(
  session({ secret: env('APP_SECRET'), resave: false, saveUninitialized: false }),
);
app.use(passport.session());

const failure = { failureRedirect: '/failed', failureMessage: true };
const toMe = (req, res) => res.redirect('/me');

app.get('/login', passport.authenticate('openidconnect'));
app.get('/callback', passport.authenticate('openidconnect', failure), toMe);
app.get('/userinfo-login', passport.authenticate('openidconnect-userinfo'));
app.get('/userinfo-callback', passport.authenticate('openidconnect-userinfo', failure), toMe);
app.get('/keycloak/login', passport.authenticate('keycloak', { scope: ['openid', 'scope_all'] }));
app.get('/keycloak/callback', passport.authenticate('keycloak', failure), toMe);

app.get('/me', (req, res) => res.json({ user: req.user || null }));
app.get('/failed', (req, res) => res.json({ failed: true, messages: req.session.messages || [] }));
app.get('/health', (req, res) => res.json({ ok: true }));

// Express's error handler: what the strategy raised, as JSON.
// eslint-disable-next-line no-unused-vars
app.use((err, req, res, next) => {
  const status = err.status || 500;
  res.status(status).json({
    status,
    name: err.name || null,
    code: err.code || null,
    message: err.message,
  });
});

const server = app.listen(Number(env('PORT')), '127.0.0.1', () => {
  console.log(`listening on ${server.address().port}`);
});
