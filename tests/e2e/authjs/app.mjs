// A Pro Santé Connect service written with Auth.js (https://authjs.dev, @auth/express on
// @auth/core) and its built-in Keycloak provider
// (https://authjs.dev/getting-started/providers/keycloak), configured as those pages document
// it, with PSC's parameters: the realm as `issuer`, a client secret, PSC's scopes and
// acr_values, the checks PKCE, state and nonce, a `profile()` mapping PSC's claims, the JWT
// session strategy, the tokens kept in the JWT and refreshed in the `jwt` callback as the
// refresh-token rotation guide shows (https://authjs.dev/guides/refresh-token-rotation), and
// the federated logout at the provider's end-session endpoint with the ID token as
// id_token_hint. tests/e2e/test_authjs.py starts it and drives it in Chromium.
//
// Environment: PORT, ISSUER (the realm URL), CLIENT_ID, CLIENT_SECRET, AUTH_SECRET (the JWT's
// encryption secret), WELL_KNOWN (optional: the provider's `wellKnown`), USERINFO (optional:
// the profile from userinfo rather than the ID token), PROVIDER_CHECKS (optional: the provider's
// default checks rather than PKCE, state and nonce), RESPONSE_MODE and CHECKS (optional: an
// authorization parameter response_mode, the checks), BARE (optional: no authorization
// parameters), CLIENT_AUTH and PRIVATE_KEY (optional:
// how the client authenticates at the token endpoint).
//
// Pages: Auth.js's own under /auth (/auth/signin, /auth/callback/keycloak, /auth/signout,
// /auth/error…); /session (JSON: getSession()), /refresh (an HTML page updating the session as
// Auth.js's client does, trigger "update", then showing /session), /logout (an HTML page: Auth.js's
// sign-out, then the end-session endpoint), /logout-url (JSON: the end-session URL built from the
// JWT), /logged-out (JSON).

import { readFileSync } from 'node:fs';
import express from 'express';
import { ExpressAuth, getSession } from '@auth/express';
import Keycloak from '@auth/core/providers/keycloak';
import { getToken } from '@auth/core/jwt';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const ISSUER = env('ISSUER');
const CLIENT_ID = env('CLIENT_ID');
const CLIENT_SECRET = env('CLIENT_SECRET');
const AUTH_SECRET = env('AUTH_SECRET');

// PSC's claims kept in the session (docs/reference/pro-sante-connect.md).
const PSC_CLAIMS = ['SubjectNameID', 'SubjectRefPro', 'given_name', 'family_name', 'acr', 'sub'];

// The refresh-token grant as the rotation guide writes it, at Keycloak's token endpoint.
async function refreshed(token) {
  const response = await fetch(`${ISSUER}/protocol/openid-connect/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      grant_type: 'refresh_token',
      refresh_token: token.refresh_token,
    }),
  });
  const tokens = await response.json();
  if (!response.ok) throw tokens;
  return {
    ...token,
    access_token: tokens.access_token,
    id_token: tokens.id_token ?? token.id_token,
    id_token_refreshed: Boolean(tokens.id_token),
    expires_at: Math.floor(Date.now() / 1000) + tokens.expires_in,
    refresh_token: tokens.refresh_token ?? token.refresh_token,
    previous_access_token: token.access_token,
    refreshes: (token.refreshes ?? 0) + 1,
  };
}

const keycloak = {
  issuer: ISSUER,
  clientId: CLIENT_ID,
  clientSecret: CLIENT_SECRET,
  authorization: { params: { scope: 'openid scope_all', acr_values: 'eidas1' } },
  checks: ['pkce', 'state', 'nonce'],
  profile(profile) {
    return {
      id: profile.sub,
      name: `${profile.given_name} ${profile.family_name}`,
      email: null,
      nationalId: profile.SubjectNameID,
    };
  },
};
if (process.env.WELL_KNOWN) keycloak.wellKnown = process.env.WELL_KNOWN;
// PSC releases the practice data (SubjectRefPro…) in userinfo only: `idToken: false` makes
// Auth.js read the profile from the userinfo endpoint (the ID token still validated).
if (process.env.USERINFO) keycloak.idToken = false;
// RESPONSE_MODE: an authorization parameter `response_mode` (form_post: Auth.js then sends its
// state and nonce cookies SameSite=None; Secure, which Chromium keeps for http://localhost, but
// not its PKCE cookie, which a cross-site POST does not bring back: CHECKS then leaves PKCE out,
// as Auth.js's Apple provider does).
if (process.env.RESPONSE_MODE) {
  keycloak.authorization.params.response_mode = process.env.RESPONSE_MODE;
}
// BARE: the provider as its page writes it (issuer, clientId, clientSecret): Auth.js's
// default scope "openid profile email", no acr_values.
if (process.env.BARE) delete keycloak.authorization;
// CHECKS: the checks, comma-separated.
if (process.env.CHECKS) keycloak.checks = process.env.CHECKS.split(',');
// PROVIDER_CHECKS: the provider's default checks (PKCE alone: no state, no nonce).
if (process.env.PROVIDER_CHECKS) delete keycloak.checks;
// CLIENT_AUTH: the provider's `client.token_endpoint_auth_method` (client_secret_basic when
// unset); private_key_jwt signs with the RS256 JWK in the file PRIVATE_KEY, given to Auth.js as
// `token.clientPrivateKey` (https://authjs.dev/reference/core/providers#token).
const CLIENT_AUTH = process.env.CLIENT_AUTH;
if (CLIENT_AUTH) keycloak.client = { token_endpoint_auth_method: CLIENT_AUTH };
if (CLIENT_AUTH === 'private_key_jwt') {
  const jwk = JSON.parse(readFileSync(env('PRIVATE_KEY'), 'utf8'));
  const key = await crypto.subtle.importKey(
    'jwk',
    jwk,
    { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  keycloak.token = { clientPrivateKey: { key, kid: jwk.kid } };
}
// Auth.js deep-merges a provider's options into its defaults (lib/utils/merge.js), which turns
// a CryptoKey into a plain object ('"clientPrivateKey.key" must be a CryptoKey'): with a key,
// the provider is written out whole (Keycloak's defaults and these options, nothing to merge).
const provider =
  CLIENT_AUTH === 'private_key_jwt' ? { ...Keycloak({}), ...keycloak } : Keycloak(keycloak);

const authConfig = {
  providers: [provider],
  secret: AUTH_SECRET,
  trustHost: true,
  session: { strategy: 'jwt' },
  callbacks: {
    async jwt({ token, account, profile, user, trigger, session }) {
      if (account) {
        return {
          ...token,
          access_token: account.access_token,
          refresh_token: account.refresh_token,
          id_token: account.id_token,
          expires_at: account.expires_at,
          nationalId: user.nationalId,
          psc: Object.fromEntries(PSC_CLAIMS.map((name) => [name, profile[name]])),
          iss: profile.iss,
          nonce: profile.nonce,
          sid: profile.sid,
        };
      }
      const forced = trigger === 'update' && session?.refresh;
      if (!forced && Date.now() < token.expires_at * 1000) return token;
      try {
        return await refreshed(token);
      } catch (error) {
        return { ...token, error: 'RefreshTokenError', refresh_error: error };
      }
    },
    async session({ session, token }) {
      return {
        ...session,
        nationalId: token.nationalId,
        psc: token.psc,
        iss: token.iss,
        nonce: token.nonce,
        sid: token.sid,
        access_token: token.access_token,
        previous_access_token: token.previous_access_token ?? null,
        refresh_token_present: Boolean(token.refresh_token),
        id_token_present: Boolean(token.id_token),
        id_token_refreshed: token.id_token_refreshed ?? false,
        expires_at: token.expires_at,
        refreshes: token.refreshes ?? 0,
        error: token.error ?? null,
        refresh_error: token.refresh_error ?? null,
      };
    },
  },
};

const app = express();
app.set('trust proxy', true);
app.use('/auth/*', ExpressAuth(authConfig));

app.get('/session', async (req, res, next) => {
  try {
    res.json({ session: await getSession(req, authConfig) });
  } catch (err) {
    next(err);
  }
});

// The federated logout's URL: the end-session endpoint with the ID token kept in the JWT.
app.get('/logout-url', async (req, res, next) => {
  try {
    const token = await getToken({ req, secret: AUTH_SECRET, secureCookie: false });
    if (!token) return res.json({ url: null });
    const url = new URL(`${ISSUER}/protocol/openid-connect/logout`);
    url.searchParams.set('id_token_hint', token.id_token);
    const back = `${req.protocol}://${req.get('host')}/logged-out`;
    url.searchParams.set('post_logout_redirect_uri', back);
    res.json({ url: url.toString() });
  } catch (err) {
    next(err);
  }
});

// What next-auth's client does (its `update()` and `signOut()`): the CSRF token from
// /auth/csrf, then a POST with the X-Auth-Return-Redirect header.
const page = (script) => `<!doctype html><html lang="en"><head><title>Auth.js</title></head>
<body><p id="status">working</p><script>
async function csrf() { return (await (await fetch('/auth/csrf')).json()).csrfToken; }
const shown = (text) => { document.getElementById('status').textContent = text; };
(async () => { ${script} })().catch((e) => shown('failed: ' + e));
</script></body></html>`;

app.get('/refresh', (req, res) =>
  res.type('html').send(
    page(`
      const answer = await fetch('/auth/session', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ csrfToken: await csrf(), data: { refresh: true } }),
      });
      if (!answer.ok) throw new Error('session update: ' + answer.status);
      location.href = '/session';`),
  ),
);

app.get('/logout', (req, res) =>
  res.type('html').send(
    page(`
      const { url } = await (await fetch('/logout-url')).json();
      const answer = await fetch('/auth/signout', {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'X-Auth-Return-Redirect': '1',
        },
        body: new URLSearchParams({ csrfToken: await csrf(), callbackUrl: '/logged-out' }),
      });
      if (!answer.ok) throw new Error('sign-out: ' + answer.status);
      location.href = url ?? (await answer.json()).url;`),
  ),
);

app.get('/logged-out', async (req, res, next) => {
  try {
    res.json({ loggedOut: true, session: await getSession(req, authConfig) });
  } catch (err) {
    next(err);
  }
});

// Express's error handler: anything thrown outside Auth.js (which answers its own errors with
// its error pages), as JSON.
// eslint-disable-next-line no-unused-vars
app.use((err, req, res, next) => {
  res.status(500).json({ status: 500, message: String(err && err.message) });
});

const server = app.listen(Number(env('PORT')), '127.0.0.1', () => {
  console.log(`listening on ${server.address().port}`);
});
