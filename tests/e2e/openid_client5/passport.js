// An Express service logging professionals in with openid-client 5's Passport strategy
// (https://github.com/panva/openid-client/blob/v5.x/docs/README.md#strategy), configured as
// its documentation shows: Issuer.discover, a Client, then
// new Strategy({ client, params, usePKCE }, verify), with PSC's scope and acr_values.
//
// tests/e2e/test_openid_client5.py starts it and drives it over HTTP.
//
// Environment: PORT, BASE_URL (this service's origin), ISSUER (the realm's issuer or PSC's
// wallet discovery URL), CLIENT_ID, CLIENT_SECRET, APP_SECRET (the session cookie's secret).
//
// Pages (JSON): /login starts a login; /callback logs the user in and answers what verify was
// given ({claims, userinfo, scope}), or the strategy's refusal with status 401: an OPError or
// RPError as {error, error_description, message, name, passport} (passport: whether the
// strategy called error() or fail()), or what fail() was given otherwise ({failure}).
'use strict'

const express = require('express')
const session = require('express-session')
const passport = require('passport')
const { Issuer, Strategy, errors } = require('openid-client')

const env = (name) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set`)
  return value
}

async function main() {
  const base = env('BASE_URL')
  const issuer = await Issuer.discover(env('ISSUER'))
  const client = new issuer.Client({
    client_id: env('CLIENT_ID'),
    client_secret: env('CLIENT_SECRET'),
    redirect_uris: [`${base}/callback`],
    response_types: ['code'],
  })
  passport.use('oidc', new Strategy(
    { client, params: { scope: 'openid scope_all', acr_values: 'eidas1' }, usePKCE: 'S256' },
    // verify(tokenset, userinfo, done): the strategy reads userinfo for a four-argument verify.
    (tokenset, userinfo, done) => done(null, {
      claims: tokenset.claims(),
      userinfo,
      scope: tokenset.scope,
    }),
  ))
  passport.serializeUser((user, done) => done(null, user))
  passport.deserializeUser((user, done) => done(null, user))

  const app = express()
  app.use(session({ secret: env('APP_SECRET'), resave: false, saveUninitialized: false }))
  app.use(passport.initialize())
  app.use(passport.session())
  app.get('/health', (req, res) => res.json({ status: 'ok' }))
  app.get('/login', passport.authenticate('oidc'))
  app.get('/callback', (req, res, next) => {
    // The strategy hands an OPError with an invalid_* or server_error code to error(), the
    // other OAuth errors and its RPErrors to fail().
    passport.authenticate('oidc', (error, user, info) => {
      const refusal = error ?? info
      if (refusal instanceof errors.OPError || refusal instanceof errors.RPError) {
        return res.status(401).json({
          error: refusal.error,
          error_description: refusal.error_description,
          message: refusal.message,
          name: refusal.name,
          passport: error ? 'error' : 'fail',
        })
      }
      if (error) return next(error)
      if (!user) return res.status(401).json({ failure: info })
      return req.logIn(user, (failed) => (failed ? next(failed) : res.json(user)))
    })(req, res, next)
  })
  app.listen(Number(env('PORT')), '127.0.0.1')
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`)
  process.exit(1)
})
