#!/usr/bin/env node
// The OpenID Connect side of a Pro Santé Connect service written with openid-client 5
// (https://github.com/panva/openid-client/tree/v5.x, the major next-auth v4 and many Express
// services run), pointed at santeid by its discovery URL alone. Each command prints JSON; what
// a web service keeps in its session (state, nonce, PKCE verifier, tokens) is kept in
// PSC_SESSION. An error the library raises (OPError, an OAuth error answer; RPError, an answer
// it refuses) is printed as {name, error, error_description, message, status} and the command
// exits 3; anything else exits 1.
'use strict'

const { readFileSync, writeFileSync } = require('node:fs')
const { Issuer, TokenSet, errors, generators } = require('openid-client')

const env = process.env
const sessionFile = env.PSC_SESSION
const scope = 'openid scope_all'

async function configure() {
  // Issuer.discover takes the issuer (and adds /.well-known/openid-configuration) or a
  // discovery document's URL, PSC's wallet one included, read as given.
  const issuer = await Issuer.discover(env.PSC_ISSUER)
  const metadata = {
    client_id: env.PSC_CLIENT_ID,
    client_secret: env.PSC_CLIENT_SECRET,
    redirect_uris: [env.PSC_REDIRECT_URI],
    response_types: ['code'],
    token_endpoint_auth_method: env.PSC_AUTH_METHOD ?? 'client_secret_basic',
  }
  if (env.PSC_POST_LOGOUT_REDIRECT_URI) {
    metadata.post_logout_redirect_uris = [env.PSC_POST_LOGOUT_REDIRECT_URI]
  }
  if (env.PSC_USERINFO_SIGNED_RESPONSE_ALG) {
    metadata.userinfo_signed_response_alg = env.PSC_USERINFO_SIGNED_RESPONSE_ALG
  }
  // private_key_jwt: the client's private JWK Set, whose public half is registered.
  const jwks = env.PSC_PRIVATE_JWKS ? JSON.parse(readFileSync(env.PSC_PRIVATE_JWKS, 'utf8')) : undefined
  return { issuer, client: new issuer.Client(metadata, jwks) }
}

// name=value arguments, each split at its first "=".
const pairs = (args) => Object.fromEntries(args.map((arg) => arg.split(/=(.*)/s, 2)))
const load = () => JSON.parse(readFileSync(sessionFile, 'utf8'))
const save = (session) => writeFileSync(sessionFile, JSON.stringify(session), { mode: 0o600 })

// The TokenSet's members (expires_at included) and its ID token's claims.
const tokenSet = (tokens) => ({ ...tokens, claims: tokens.id_token ? tokens.claims() : undefined })

const commands = {
  async discover({ issuer }) {
    return issuer.metadata
  },

  // The URL to send the professional's browser to, with PKCE S256, state and nonce; extra
  // name=value arguments are added to the request (prompt=none, max_age=…, scope=…); "--par"
  // first pushes it.
  async login({ client }, ...args) {
    const codeVerifier = generators.codeVerifier()
    const state = generators.state()
    const nonce = generators.nonce()
    const pushed = args[0] === '--par'
    const extra = pairs(pushed ? args.slice(1) : args)
    const params = {
      scope,
      acr_values: 'eidas1',
      code_challenge: generators.codeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...extra,
    }
    save({ codeVerifier, state, nonce, maxAge: extra.max_age })
    if (!pushed) return { url: client.authorizationUrl(params) }
    // RFC 9126: the request pushed (the client authenticated as at the token endpoint), the
    // browser sent with its request_uri.
    const { request_uri: requestUri } = await client.pushedAuthorizationRequest(params)
    return { url: client.authorizationUrl({ request_uri: requestUri }) }
  },

  // The browser's callback URL: callbackParams reads it, callback checks iss (RFC 9207),
  // state, then exchanges the code with the verifier and validates the ID token (signature by
  // kid against the JWKS, iss, aud, azp, exp, iat, nonce, at_hash, auth_time with max_age).
  async callback({ client }, url) {
    const session = load()
    const params = client.callbackParams(url)
    const checks = {
      state: session.state,
      nonce: session.nonce,
      code_verifier: session.codeVerifier,
      response_type: 'code',
    }
    if (session.maxAge !== undefined) checks.max_age = Number(session.maxAge)
    const tokens = await client.callback(env.PSC_REDIRECT_URI, params, checks)
    save({ ...session, tokens })
    return tokenSet(tokens)
  },

  // userinfo with the access token (GET by default; "POST header" or "POST body" to send it
  // as OpenID Connect Core 1.0 §5.3.1 allows); the library compares its sub with the ID
  // token's.
  async userinfo({ client }, method = 'GET', via = 'header') {
    return client.userinfo(new TokenSet(load().tokens), { method, via })
  },

  async refresh({ client }) {
    const session = load()
    const tokens = await client.refresh(new TokenSet(session.tokens))
    save({ ...session, tokens })
    return tokenSet(tokens)
  },

  async introspect({ client }, which = 'access') {
    const tokens = load().tokens
    return client.introspect(tokens[`${which}_token`], `${which}_token`)
  },

  async revoke({ client }, which = 'access') {
    const tokens = load().tokens
    await client.revoke(tokens[`${which}_token`], `${which}_token`)
    return { revoked: which }
  },

  // client_credentials through client.grant, which validates an ID token in the answer as the
  // code flow's (no nonce); the tokens kept for userinfo.
  async service({ client }, scope = 'openid') {
    const tokens = await client.grant({ grant_type: 'client_credentials', scope })
    save({ tokens })
    return tokenSet(tokens)
  },

  // RP-initiated logout: the end-session URL with the ID token as id_token_hint.
  async logout({ client }, ...args) {
    const session = load()
    const state = generators.state()
    save({ ...session, logoutState: state })
    return {
      url: client.endSessionUrl({ id_token_hint: session.tokens.id_token, state, ...pairs(args) }),
    }
  },
}

async function main() {
  const [name, ...args] = process.argv.slice(2)
  const command = commands[name]
  if (command === undefined) throw new Error(`unknown command ${name}`)
  try {
    process.stdout.write(`${JSON.stringify(await command(await configure(), ...args))}\n`)
  } catch (error) {
    if (!(error instanceof errors.OPError || error instanceof errors.RPError)) throw error
    process.stdout.write(`${JSON.stringify({
      name: error.name,
      error: error.error,
      error_description: error.error_description,
      message: error.message,
      status: error.response?.statusCode,
    })}\n`)
    process.exitCode = 3
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`)
  process.exitCode = 1
})
