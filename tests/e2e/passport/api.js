// An API protected by Pro Santé Connect's access tokens, as its owner writes it in Express
// with the two usual validators of JWT access tokens, each configured as its README says for
// an OpenID provider:
//
// - express-oauth2-jwt-bearer (https://github.com/auth0/node-oauth2-jwt-bearer):
//   `auth({ issuerBaseURL, audience })` — discovery at the issuer's
//   `.well-known/openid-configuration`, the JWK Set it names, the algorithms of
//   `id_token_signing_alg_values_supported`. /bearer/readme is that configuration as it is;
//   PSC's access tokens carry no `aud`, so /bearer/psc turns the `aud` validator off
//   (`validators: { aud: false }`: the signature, `alg`, `iss`, `exp` still checked), and
//   /bearer/access adds `claimEquals('typ', 'Bearer')`, the claim by which Keycloak tells
//   an access token from an ID token (`typ: "ID"`). /bearer/wallet is /bearer/access with
//   PSC's wallet discovery URL as `issuerBaseURL`, which the library reads as the document's
//   own address (a URL with `/.well-known/` in its path).
// - passport-jwt with jwks-rsa (https://github.com/mikenicholson/passport-jwt,
//   https://github.com/auth0/node-jwks-rsa): `secretOrKeyProvider:
//   jwksRsa.passportJwtSecret({ jwksUri, cache, rateLimit, jwksRequestsPerMinute })`,
//   `issuer`, `algorithms: ['RS256']`, the token from the `Authorization` header; /jwt/psc is
//   that, and its verify function accepts an access token only (`typ: "Bearer"`).
//
// tests/e2e/test_node_resource_servers.py starts it and calls it with tokens of real logins.
//
// Environment: PORT, ISSUER, AUDIENCE (any name of the API: PSC's tokens carry none),
// JWKS_COOLDOWN_MS (express-oauth2-jwt-bearer's `cooldownDuration`: how long after a fetch of
// the JWK Set a token naming an unknown key is refused without fetching it again; the
// library's default, 30 s, when unset).
//
// Every route answers 200 {payload, header} with the token's claims and header, or the
// library's refusal as JSON {status, code, message} (passport-jwt's reason in `message`).

'use strict';

const express = require('express');
const { auth, claimEquals } = require('express-oauth2-jwt-bearer');
const passport = require('passport');
const { Strategy: JwtStrategy, ExtractJwt } = require('passport-jwt');
const jwksRsa = require('jwks-rsa');

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const issuer = env('ISSUER');
const bearer = {
  issuerBaseURL: issuer,
  audience: env('AUDIENCE'),
  ...(process.env.JWKS_COOLDOWN_MS ? { cooldownDuration: Number(process.env.JWKS_COOLDOWN_MS) } : {}),
};
const readme = auth(bearer);
const psc = auth({ ...bearer, validators: { aud: false } });
const wallet = auth({
  ...bearer,
  issuerBaseURL: `${issuer}/.well-known/wallet-openid-configuration`,
  validators: { aud: false },
});

passport.use(
  new JwtStrategy(
    {
      secretOrKeyProvider: jwksRsa.passportJwtSecret({
        jwksUri: `${issuer}/protocol/openid-connect/certs`,
        cache: true,
        rateLimit: true,
        jwksRequestsPerMinute: 5,
      }),
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      issuer,
      algorithms: ['RS256'],
    },
    (payload, done) =>
      payload.typ === 'Bearer'
        ? done(null, payload)
        : done(null, false, { message: `not an access token: typ ${payload.typ}` }),
  ),
);

const decodedHeader = (req) => {
  const token = ExtractJwt.fromAuthHeaderAsBearerToken()(req);
  return JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString());
};

const app = express();
app.use(passport.initialize());

const claims = (req, res) => res.json({ payload: req.auth.payload, header: req.auth.header });
app.get('/bearer/readme', readme, claims);
app.get('/bearer/psc', psc, claims);
app.get('/bearer/access', psc, claimEquals('typ', 'Bearer'), claims);
app.get('/bearer/wallet', wallet, claimEquals('typ', 'Bearer'), claims);

app.get('/jwt/psc', (req, res, next) =>
  passport.authenticate('jwt', { session: false }, (err, user, info) => {
    if (err) return next(err);
    if (!user) {
      const message = info instanceof Error ? info.message : info && info.message;
      return res.status(401).json({ status: 401, code: null, message: message || String(info) });
    }
    return res.json({ payload: user, header: decodedHeader(req) });
  })(req, res, next),
);

app.get('/health', (req, res) => res.json({ ok: true }));

// Express's error handler: what the library raised, as JSON (express-oauth2-jwt-bearer's
// errors carry their status, OAuth error code and WWW-Authenticate challenge).
// eslint-disable-next-line no-unused-vars
app.use((err, req, res, next) => {
  const status = err.status || 500;
  if (err.headers) res.set(err.headers);
  res.status(status).json({ status, code: err.code || null, message: err.message });
});

const server = app.listen(Number(env('PORT')), '127.0.0.1', () => {
  console.log(`listening on ${server.address().port}`);
});
