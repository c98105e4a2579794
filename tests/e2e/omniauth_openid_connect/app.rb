# A Pro Santé Connect service written with OmniAuth and its OpenID Connect strategy
# (omniauth_openid_connect, GitLab's fork as Debian 12 packages it:
# https://gitlab.com/gitlab-org/gitlab-omniauth-openid-connect, the strategy GitLab and
# Discourse use), configured as its README documents it for a provider with discovery, here
# with PSC's parameters. A plain Rack application served by WEBrick, all from Debian's packages
# (ruby-omniauth-openid-connect, ruby-rack, ruby-rack-protection,
# ruby-webrick).
# tests/e2e/test_omniauth_openid_connect.py starts it and drives it in Chromium.
#
# Environment: PORT, BASE_URL (this service's origin), ISSUER (the realm), PROVIDER_SCHEME,
# PROVIDER_HOST, PROVIDER_PORT (the provider's base URL, split as client_options wants it),
# CLIENT_ID, CLIENT_SECRET, APP_SECRET (the session cookie's secret); SSL_CERT_FILE, the
# authority of the provider's HTTPS certificate, read by Ruby's HTTP client.
#
# Pages (JSON but the first): / (a form that POSTs to /auth/openid_connect, as OmniAuth 2
# asks, with rack-protection's authenticity token), /auth/openid_connect/callback (the auth
# hash the strategy made), /auth/failure (the strategy's failure: its type and the error it
# raised), /logged-out. Any other exception is answered as JSON with a 500.

require 'json'
require 'rack'
require 'rack/handler/webrick'
require 'rack/protection'
require 'omniauth'
require 'omniauth_openid_connect'

def env!(name)
  ENV.fetch(name) { raise "#{name} is not set" }
end

OmniAuth.config.logger = Logger.new($stderr)

# The strategy's failure (OmniAuth's on_failure, called by fail!): what it reports to the
# service — the error type and the exception with santeid's error.
OmniAuth.config.on_failure = proc do |env|
  error = env['omniauth.error']
  body = {
    type: env['omniauth.error.type'].to_s,
    exception: error&.class&.name,
    message: error&.message,
    error_reason: (error.error_reason if error.respond_to?(:error_reason))
  }
  [200, { 'content-type' => 'application/json' }, [JSON.generate(body)]]
end

def json(body, status = 200)
  [status, { 'content-type' => 'application/json' }, [JSON.generate(body)]]
end

# Exceptions the strategy lets through (discovery, ID token verification…), shown as JSON.
class ShowErrors
  def initialize(app)
    @app = app
  end

  def call(env)
    @app.call(env)
  rescue StandardError => e
    [500, { 'content-type' => 'application/json' },
     [JSON.generate({ exception: e.class.name, message: e.message })]]
  end
end

class Service
  def call(env)
    request = Rack::Request.new(env)
    case request.path_info
    when '/'
      token = Rack::Protection::AuthenticityToken.token(env['rack.session'])
      [200, { 'content-type' => 'text/html' }, [<<~HTML]]
        <!doctype html><html><body>
        <form method="post" action="/auth/openid_connect">
          <input type="hidden" name="authenticity_token" value="#{token}">
          <button type="submit" id="login">Pro Santé Connect</button>
        </form></body></html>
      HTML
    when '/auth/openid_connect/callback'
      json(env['omniauth.auth'].to_hash)
    when '/logged-out'
      json({ logged_out: true })
    else
      json({ not_found: request.path_info }, 404)
    end
  end
end

provider_uri = URI::Generic.build(
  scheme: env!('PROVIDER_SCHEME'), host: env!('PROVIDER_HOST'), port: Integer(env!('PROVIDER_PORT'))
)

app = Rack::Builder.new do
  use ShowErrors
  use Rack::Session::Cookie, key: 'service_session', secret: env!('APP_SECRET'), same_site: :lax
  use OmniAuth::Builder do
    provider :openid_connect,
             name: :openid_connect,
             issuer: env!('ISSUER'),
             discovery: true,
             scope: %i[openid scope_all],
             response_type: :code,
             acr_values: 'eidas1',
             pkce: true,
             client_auth_method: :basic,
             post_logout_redirect_uri: "#{env!('BASE_URL')}/logged-out",
             client_options: {
               scheme: provider_uri.scheme,
               host: provider_uri.host,
               port: provider_uri.port,
               identifier: env!('CLIENT_ID'),
               secret: env!('CLIENT_SECRET'),
               redirect_uri: "#{env!('BASE_URL')}/auth/openid_connect/callback"
             }
  end
  run Service.new
end

Rack::Handler::WEBrick.run(app, Host: '127.0.0.1', Port: Integer(env!('PORT')))
