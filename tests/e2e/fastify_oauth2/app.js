// A Pro Santé Connect service on Fastify logging professionals in with @fastify/oauth2
// (https://github.com/fastify/fastify-oauth2, on simple-oauth2), configured as its README's
// "Use automated discovery endpoint" section configures it: `discovery: { issuer }` (the
// realm's URL; the plugin reads the authorization, token and revocation endpoints, and
// userinfo's, from its openid-configuration and chooses PKCE S256 itself), the client's id
// and secret, PSC's `scope` and `acr_values` (through `callbackUriParams`, the plugin's
// "query parameters for the callback OAUTH flow"). tests/e2e/test_fastify_oauth2.py starts
// it and drives it over HTTP.
//
// Environment: PORT, BASE_URL (this service's origin), ISSUER (santeid's realm URL),
// CLIENT_ID, CLIENT_SECRET; NODE_EXTRA_CA_CERTS, the authority of santeid's certificate.
//
// Routes (JSON):
//   /login      the plugin's startRedirectPath: the state (and the PKCE verifier) in cookies,
//               the browser sent to the authorization endpoint;
//   /callback   the README's callback: getAccessTokenFromAuthorizationCodeFlow(request,
//               reply), which checks the state against its cookie and exchanges the code
//               (Basic, the verifier): the token set, its ID and access tokens' claims;
//   POST /refresh     {token, params}: getNewAccessTokenUsingRefreshToken(token, params or {});
//   POST /revoke      {token, type}: revokeToken(token, type, undefined);
//   POST /revoke-all  {token}: revokeAllToken(token, undefined);
//   POST /userinfo    {token, method, via}: userinfo(token, {method, via}), userinfo(token) without
//               a method.
// A call the library fails is answered 502 with what it raised: {message, status, payload}
// (simple-oauth2's errors carry the server's status and body).

'use strict';

const fastify = require('fastify')({ logger: true });
const oauthPlugin = require('@fastify/oauth2');

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

fastify.register(oauthPlugin, {
  name: 'psc',
  scope: ['openid', 'scope_all'],
  credentials: {
    client: { id: env('CLIENT_ID'), secret: env('CLIENT_SECRET') },
  },
  startRedirectPath: '/login',
  callbackUri: `${env('BASE_URL')}/callback`,
  callbackUriParams: { acr_values: 'eidas1' },
  discovery: { issuer: env('ISSUER') },
});

// The claims of a JWT, as the service reads them (the plugin hands the tokens over as
// strings and verifies none of them).
const claims = (jwt) =>
  jwt ? JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8')) : null;

const tokenSet = (accessToken) => ({
  token: accessToken.token,
  id: claims(accessToken.token.id_token),
  access: claims(accessToken.token.access_token),
});

// The server's answer as simple-oauth2 read it: its JSON, else its text.
const payloadOf = (payload) =>
  Buffer.isBuffer(payload) ? payload.toString('utf8') : payload === undefined ? null : payload;

const failure = (reply, err) =>
  reply.code(502).send({
    message: err.message,
    status: err.output ? err.output.statusCode : null,
    payload: err.data ? payloadOf(err.data.payload) : null,
  });

fastify.get('/callback', async function (request, reply) {
  try {
    return tokenSet(await this.psc.getAccessTokenFromAuthorizationCodeFlow(request, reply));
  } catch (err) {
    return failure(reply, err);
  }
});

fastify.post('/refresh', async function (request, reply) {
  try {
    const { token, params } = request.body;
    return tokenSet(await this.psc.getNewAccessTokenUsingRefreshToken(token, params || {}));
  } catch (err) {
    return failure(reply, err);
  }
});

fastify.post('/revoke', async function (request, reply) {
  try {
    await this.psc.revokeToken(request.body.token, request.body.type, undefined);
    return { revoked: true };
  } catch (err) {
    return failure(reply, err);
  }
});

fastify.post('/revoke-all', async function (request, reply) {
  try {
    await this.psc.revokeAllToken(request.body.token, undefined);
    return { revoked: true };
  } catch (err) {
    return failure(reply, err);
  }
});

fastify.post('/userinfo', async function (request, reply) {
  try {
    const { token, method, via } = request.body;
    return await this.psc.userinfo(token, method ? { method, via } : {});
  } catch (err) {
    return failure(reply, err);
  }
});

fastify.get('/health', async () => ({ ok: true }));

fastify.listen({ port: Number(env('PORT')), host: '127.0.0.1' }, (err) => {
  if (err) {
    fastify.log.error(err);
    process.exit(1);
  }
});
