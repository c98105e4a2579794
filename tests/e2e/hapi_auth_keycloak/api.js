// A Pro Santé Connect API on hapi protected by hapi-auth-keycloak 5
// (https://github.com/felixheck/hapi-auth-keycloak), the `keycloak-jwt` authentication scheme
// for a Keycloak realm, registered as its README's "Usage" registers it: the plugin, then one
// strategy per validation mode of its "Plugin + Strategy Options" table, each with
// `realmUrl` (santeid's realm URL), `clientId`, a unique `name` and `userInfo` (claims copied
// into request.auth.credentials besides `scope` and `sub`):
//   key         `publicKey`: offline, the realm's public key (the realm URL's `public_key`,
//               which Keycloak's "Keys" tab also shows) — given as a Buffer: the plugin's
//               schema takes a PEM string only as `-----BEGIN RSA PUBLIC KEY-----` (PKCS#1),
//               not the `-----BEGIN PUBLIC KEY-----` (SPKI) that key is;
//   jwks        neither key nor secret: the signature checked with the realm's JWK Set
//               (`{realmUrl}/protocol/openid-connect/certs`, by the token's `kid`);
//   introspect  `secret`: every token sent to the realm's introspection endpoint.
// tests/e2e/test_hapi_auth_keycloak.py starts it and drives it over HTTP.
//
// Environment: PORT, REALM (santeid's realm URL), CLIENT_ID and CLIENT_SECRET (the API's
// client at the realm, for introspection), REALM_PUBLIC_KEY (the realm URL's `public_key`).
//
// Routes (JSON): /key, /jwks and /introspect answer request.auth.credentials of their
// strategy; /key/scope_all requires the scope `clientscope:scope_all` and /key/realm-role
// the realm role `realm:offline_access` (hapi's route `auth.access.scope`, the README's
// "Route Configuration & Scope"); /options-refused: what the plugin's schema said of the
// realm's public key as an SPKI PEM string. A refusal is hapi's 401 (or 403 for a missing
// scope), whose WWW-Authenticate header names the strategy and the plugin's reason.

'use strict';

const Hapi = require('@hapi/hapi');
const authKeycloak = require('hapi-auth-keycloak');

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const realmUrl = env('REALM');
const clientId = env('CLIENT_ID');
const spki = `-----BEGIN PUBLIC KEY-----\n${env('REALM_PUBLIC_KEY')}\n-----END PUBLIC KEY-----\n`;
// The claims of PSC's access token the API reads (no `aud`, no `realm_access` among them).
const userInfo = ['typ', 'azp', 'iss', 'preferred_username', 'acr', 'sid'];

const start = async () => {
  const server = Hapi.server({ port: Number(env('PORT')), host: '127.0.0.1' });
  await server.register({ plugin: authKeycloak });
  const common = { realmUrl, clientId, userInfo };
  server.auth.strategy('key', 'keycloak-jwt', { ...common, name: 'key', publicKey: Buffer.from(spki) });
  server.auth.strategy('jwks', 'keycloak-jwt', { ...common, name: 'jwks' });
  server.auth.strategy('introspect', 'keycloak-jwt', {
    ...common,
    name: 'introspect',
    secret: env('CLIENT_SECRET'),
  });

  let refused = null;
  try {
    server.auth.strategy('spki-string', 'keycloak-jwt', { ...common, name: 'spki', publicKey: spki });
  } catch (err) {
    refused = err.message;
  }

  const credentials = (request) => request.auth.credentials;
  for (const strategy of ['key', 'jwks', 'introspect']) {
    server.route({
      method: 'GET',
      path: `/${strategy}`,
      options: { auth: { strategies: [strategy] }, handler: credentials },
    });
  }
  server.route({
    method: 'GET',
    path: '/key/scope_all',
    options: {
      auth: { strategies: ['key'], access: { scope: ['clientscope:scope_all'] } },
      handler: credentials,
    },
  });
  server.route({
    method: 'GET',
    path: '/key/realm-role',
    options: {
      auth: { strategies: ['key'], access: { scope: ['realm:offline_access'] } },
      handler: credentials,
    },
  });
  server.route({ method: 'GET', path: '/options-refused', handler: () => ({ refused }) });
  server.route({ method: 'GET', path: '/health', handler: () => ({ ok: true }) });
  await server.start();
  console.log(`listening on ${server.info.uri}`);
};

start().catch((err) => {
  console.error(err);
  process.exit(1);
});
