// A Pro Santé Connect service on hapi logging professionals in with @hapi/bell
// (https://github.com/hapijs/bell), hapi's third-party login plugin. bell has no Keycloak
// provider, so this is the custom OAuth2 provider of its API reference
// (https://hapi.dev/module/bell/api/, "provider": `protocol: 'oauth2'`, `auth`, `token`,
// `scope`, `pkce`, `profile`), its endpoints Keycloak's under the realm's URL, and the
// strategy's options: `password` (the state cookie's), `clientId`, `clientSecret`,
// `isSecure: false` (this service is plain HTTP), `providerParams: {acr_values}` (PSC's
// level) and, on the route, the README's `auth: {strategy, mode: 'try'}` so that a failed
// login reaches the handler. tests/e2e/test_hapi_bell.py starts it and drives it over HTTP.
//
// Environment: PORT, BASE_URL (this service's origin), REALM (santeid's realm URL),
// CLIENT_ID, CLIENT_SECRET, COOKIE_PASSWORD; NODE_EXTRA_CA_CERTS, the authority of santeid's
// certificate.
//
// Routes (JSON): /login starts a login and is bell's redirect URI (bell answers both on the
// route it protects): request.auth.credentials (the token, refresh token, lifetime and the
// profile below) and artifacts (the token endpoint's answer), or the error bell gave
// ({message, data}).

'use strict';

const Hapi = require('@hapi/hapi');
const Bell = require('@hapi/bell');

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const realm = env('REALM');

// The claims of a JWT, as the service reads them: bell hands the token endpoint's answer to
// the profile function and verifies no token.
const claims = (jwt) =>
  jwt ? JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8')) : null;

const psc = {
  name: 'psc',
  protocol: 'oauth2',
  auth: `${realm}/protocol/openid-connect/auth`,
  token: `${realm}/protocol/openid-connect/token`,
  scope: ['openid', 'scope_all'],
  pkce: 'S256',
  // bell's profile function: (credentials, params, get) with params the token answer and
  // get() a GET with the access token as Bearer. PSC's professional: userinfo's claims and
  // the ID token's.
  profile: async function (credentials, params, get) {
    const userinfo = await get(`${realm}/protocol/openid-connect/userinfo`);
    const idToken = claims(params.id_token);
    const exercice = (userinfo.SubjectRefPro?.exercices ?? [])[0] ?? {};
    credentials.profile = {
      id: userinfo.sub,
      nationalId: userinfo.SubjectNameID,
      lastName: exercice.nomDexercice,
      firstName: exercice.prenomDexercice,
      acr: idToken.acr,
      sid: idToken.sid,
      idToken,
      raw: userinfo,
    };
  },
};

// What bell's error carries: Boom's message and its data. A token endpoint's 4xx reaches bell
// as @hapi/wreck's own error ("Response Error: 400 Bad Request"), whose data holds the answer:
// the server's body, as JSON when it is.
const failure = (error) => {
  let data = error.data ?? null;
  if (data instanceof Error && data.data && data.data.payload !== undefined) {
    data = data.data.payload;
  }
  if (Buffer.isBuffer(data)) {
    data = data.toString('utf8');
    try {
      data = JSON.parse(data);
    } catch {
      // not JSON: kept as text
    }
  } else if (data instanceof Error) {
    data = data.message;
  }
  return { message: error.message, data };
};

const start = async () => {
  const server = Hapi.server({ port: Number(env('PORT')), host: '127.0.0.1' });
  await server.register(Bell);
  server.auth.strategy('psc', 'bell', {
    provider: psc,
    password: env('COOKIE_PASSWORD'),
    clientId: env('CLIENT_ID'),
    clientSecret: env('CLIENT_SECRET'),
    isSecure: false,
    location: env('BASE_URL'),
    providerParams: { acr_values: 'eidas1' },
  });
  server.route({
    method: 'GET',
    path: '/login',
    options: {
      auth: { strategy: 'psc', mode: 'try' },
      handler: (request, h) => {
        if (!request.auth.isAuthenticated) {
          return h.response({ error: failure(request.auth.error) }).code(401);
        }
        return { credentials: request.auth.credentials, artifacts: request.auth.artifacts };
      },
    },
  });
  server.route({ method: 'GET', path: '/health', handler: () => ({ ok: true }) });
  await server.start();
  console.log(`listening on ${server.info.uri}`);
};

start().catch((err) => {
  console.error(err);
  process.exit(1);
});
