#!/usr/bin/env node
// The OpenID Connect side of a Pro Santé Connect service, written with openid-client 6
// (https://github.com/panva/openid-client), pointed at santeid by its issuer URL alone.
// Each command prints JSON; what a web service keeps in its session (state, nonce, PKCE
// verifier, tokens) is kept in PSC_SESSION. An OAuth error is printed as the library parsed
// it, {"error", "error_description", "status", "name"}, and the command exits 3 (README.md).
import * as client from 'openid-client'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const env = process.env
const issuer = new URL(env.PSC_ISSUER ?? 'http://127.0.0.1:5000/auth/realms/esante-wallet')
const redirectUri = env.PSC_REDIRECT_URI ?? 'http://127.0.0.1:8000/callback'
const sessionFile = env.PSC_SESSION ?? join(tmpdir(), 'psc-node-session.json')
const scope = 'openid scope_all'

async function configure() {
  const metadata = { client_secret: env.PSC_CLIENT_SECRET }
  if (env.PSC_USERINFO_SIGNED_RESPONSE_ALG) {
    metadata.userinfo_signed_response_alg = env.PSC_USERINFO_SIGNED_RESPONSE_ALG
  }
  let auth
  switch (env.PSC_AUTH_METHOD ?? 'client_secret_basic') {
    case 'client_secret_basic':
      auth = client.ClientSecretBasic()
      break
    case 'client_secret_post':
      auth = client.ClientSecretPost()
      break
    case 'client_secret_jwt':
      // Keycloak's "Signed JWT with Client Secret": an HS256 assertion keyed with the secret.
      auth = client.ClientSecretJwt(env.PSC_CLIENT_SECRET)
      break
    case 'private_key_jwt': {
      // A private JWK whose public half is in the client's registered jwks.
      const jwk = JSON.parse(readFileSync(env.PSC_PRIVATE_KEY, 'utf8'))
      const key = await crypto.subtle.importKey(
        'jwk', jwk, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign'])
      auth = client.PrivateKeyJwt({ key, kid: jwk.kid })
      break
    }
    default:
      throw new Error(`unknown PSC_AUTH_METHOD ${env.PSC_AUTH_METHOD}`)
  }
  // The sandbox serves plain HTTP on 127.0.0.1; PSC itself is HTTPS only.
  const execute = [client.enableNonRepudiationChecks] // ID tokens verified against the JWKS
  if (issuer.protocol === 'http:') execute.push(client.allowInsecureRequests)
  return client.discovery(issuer, env.PSC_CLIENT_ID, metadata, auth, { execute })
}

const pairs = (args) => Object.fromEntries(args.map((arg) => [
  arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]))
const load = () => JSON.parse(readFileSync(sessionFile, 'utf8'))
// The verifier and the tokens are secrets: the file is its user's alone (0600), one left by an
// earlier run included (the temporary folder is every user's).
const save = (session) => {
  writeFileSync(sessionFile, JSON.stringify(session), { mode: 0o600 })
  chmodSync(sessionFile, 0o600)
}

function tokenSet(tokens) {
  return {
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token,
    id_token: tokens.id_token,
    token_type: tokens.token_type,
    expires_in: tokens.expires_in,
    scope: tokens.scope,
    claims: tokens.claims(),
  }
}

const commands = {
  async discover(config) {
    return config.serverMetadata()
  },

  // The URL to send the professional's browser to; "--par" pushes the request first; extra
  // name=value arguments are added to the request (prompt=none, max_age=…).
  async login(config, ...extra) {
    const par = extra[0] === '--par'
    if (par) extra.shift()
    const session = {
      state: client.randomState(),
      nonce: client.randomNonce(),
      code_verifier: client.randomPKCECodeVerifier(),
    }
    const parameters = {
      redirect_uri: redirectUri,
      scope,
      acr_values: 'eidas1',
      state: session.state,
      nonce: session.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(session.code_verifier),
      code_challenge_method: 'S256',
      ...pairs(extra),
    }
    const url = par
      ? await client.buildAuthorizationUrlWithPAR(config, parameters)
      : client.buildAuthorizationUrl(config, parameters)
    save(session)
    return { url: url.href }
  },

  // The callback URL the browser was sent to: the response (state, iss) is checked, the code
  // exchanged, the ID token validated (signature, iss, aud, exp, iat, nonce).
  async callback(config, url) {
    const session = load()
    const tokens = await client.authorizationCodeGrant(config, new URL(url), {
      pkceCodeVerifier: session.code_verifier,
      expectedState: session.state,
      expectedNonce: session.nonce,
      idTokenExpected: true,
    })
    save({ ...session, ...tokenSet(tokens) })
    return tokenSet(tokens)
  },

  async userinfo(config) {
    const session = load()
    return client.fetchUserInfo(config, session.access_token, session.claims.sub)
  },

  async refresh(config) {
    const session = load()
    const tokens = await client.refreshTokenGrant(config, session.refresh_token)
    save({ ...session, ...tokenSet(tokens) })
    return tokenSet(tokens)
  },

  // "access" (the default) or "refresh": the token of the session to introspect or revoke.
  async introspect(config, which = 'access') {
    return client.tokenIntrospection(config, load()[`${which}_token`])
  },

  async revoke(config, which = 'access') {
    await client.tokenRevocation(config, load()[`${which}_token`], {
      token_type_hint: `${which}_token`,
    })
    return { revoked: which }
  },

  // The RP-initiated logout URL to send the browser to.
  async logout(config, postLogoutRedirectUri) {
    const session = load()
    const url = client.buildEndSessionUrl(config, {
      id_token_hint: session.id_token,
      post_logout_redirect_uri: postLogoutRedirectUri,
      state: session.state,
    })
    return { url: url.href }
  },

  // The service's own tokens, without a professional (client_credentials: its service
  // account); with "openid" in the scope, an ID token too, validated as any other.
  async service(config, serviceScope = 'openid') {
    const tokens = await client.clientCredentialsGrant(config, { scope: serviceScope })
    save(tokenSet(tokens))
    return tokenSet(tokens)
  },

  // CIBA poll mode: the professional approves on the e-CPS app, the service polls.
  async ciba(config, loginHint, ...extra) {
    const request = await client.initiateBackchannelAuthentication(config, {
      scope,
      login_hint: loginHint,
      binding_message: 'A1',
      acr_values: 'eidas1',
      ...pairs(extra),
    })
    // Polls every `interval` s; stops on the server's own answer (expired_token past
    // expires_in, access_denied) rather than on this machine's clock: a few polls of margin.
    const seconds = request.expires_in + 3 * (request.interval ?? 5)
    const tokens = await client.pollBackchannelAuthenticationGrant(config, request, undefined, {
      signal: AbortSignal.timeout(seconds * 1000),
    })
    save(tokenSet(tokens))
    return tokenSet(tokens)
  },
}

const [command, ...args] = process.argv.slice(2)
if (!commands[command]) {
  console.error(`usage: client.js ${Object.keys(commands).join('|')} [arguments]`)
  process.exit(2)
}
try {
  console.log(JSON.stringify(await commands[command](await configure(), ...args), null, 2))
} catch (err) {
  // An OAuth error answer: in the body (token endpoint…), in the redirect (authorization), or
  // in WWW-Authenticate (userinfo: RFC 6750 §3).
  const answer = err instanceof client.WWWAuthenticateChallengeError
    ? { ...err.cause[0].parameters, scheme: err.cause[0].scheme }
    : err
  if (!answer.error) {
    // Not an OAuth error: an answer the library refused (its code, why), or a bug.
    const why = err.cause instanceof Response ? `HTTP ${err.cause.status}` : err.cause?.message
    console.error(err instanceof client.ClientError ? `${err.code}: ${err.message} (${why})` : err)
    process.exit(1)
  }
  const { error, error_description, scheme } = answer
  console.log(JSON.stringify({ error, error_description, status: err.status, scheme, name: err.name }, null, 2))
  process.exit(3)
}
