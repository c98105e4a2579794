// A Pro Santé Connect service written with NextAuth.js v4 (https://next-auth.js.org) and its
// Keycloak provider (https://next-auth.js.org/providers/keycloak), configured as that page
// documents it, with PSC's parameters: the realm as `issuer`, a client secret, PSC's scopes
// and acr_values, the checks PKCE, state and nonce; the JWT session keeping the tokens and
// refreshing them in the `jwt` callback as the refresh-token rotation guide shows
// (https://next-auth.js.org/v3/tutorials/refresh-token-rotation). tests/e2e/test_nextauth_v4.py
// builds it once, starts it with `next start` and drives it in Chromium.
//
// Environment (read when the server runs, not at build time): ISSUER (the realm URL),
// CLIENT_ID, CLIENT_SECRET, NEXTAUTH_URL (the service's origin), NEXTAUTH_SECRET (the JWT's
// encryption secret); BARE, WELL_KNOWN, USERINFO, CLIENT_AUTH and PRIVATE_KEY (optional,
// below).

import { readFileSync } from 'node:fs';
import NextAuth from 'next-auth';
import KeycloakProvider from 'next-auth/providers/keycloak';

const ISSUER = process.env.ISSUER;
const CLIENT_ID = process.env.CLIENT_ID;
const CLIENT_SECRET = process.env.CLIENT_SECRET;

// The refresh-token grant as the rotation guide writes it, at Keycloak's token endpoint.
async function refreshAccessToken(token) {
  try {
    const response = await fetch(`${ISSUER}/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        grant_type: 'refresh_token',
        refresh_token: token.refreshToken,
      }),
    });
    const refreshedTokens = await response.json();
    if (!response.ok) throw refreshedTokens;
    return {
      ...token,
      accessToken: refreshedTokens.access_token,
      accessTokenExpires: Date.now() + refreshedTokens.expires_in * 1000,
      refreshToken: refreshedTokens.refresh_token ?? token.refreshToken,
      idToken: refreshedTokens.id_token ?? token.idToken,
      idTokenRefreshed: Boolean(refreshedTokens.id_token),
      previousAccessToken: token.accessToken,
      refreshes: (token.refreshes ?? 0) + 1,
    };
  } catch (error) {
    return { ...token, error: 'RefreshAccessTokenError', refreshError: error };
  }
}

const keycloak = {
  clientId: CLIENT_ID,
  clientSecret: CLIENT_SECRET,
  issuer: ISSUER,
  authorization: { params: { scope: 'openid scope_all', acr_values: 'eidas1' } },
  checks: ['pkce', 'state', 'nonce'],
};
// BARE: the provider as its page writes it (clientId, clientSecret, issuer): its default
// scope "openid email profile", no acr_values, its default checks PKCE and state.
if (process.env.BARE) {
  delete keycloak.authorization;
  delete keycloak.checks;
}
// WELL_KNOWN: the provider's `wellKnown`, the discovery document's URL (by default the
// issuer's /.well-known/openid-configuration).
if (process.env.WELL_KNOWN) keycloak.wellKnown = process.env.WELL_KNOWN;
// USERINFO: the provider's `idToken: false`, for the profile from the userinfo endpoint
// (PSC releases the practice data, SubjectRefPro, there only). next-auth then takes the code
// to openid-client's oauthCallback(), which refuses a token answer with an ID token — which
// Keycloak gives for the scope `openid`.
if (process.env.USERINFO) keycloak.idToken = false;
// CLIENT_AUTH: the provider's `client.token_endpoint_auth_method`, given to openid-client's
// Client (client_secret_basic when unset); private_key_jwt signs with the private JWK in the
// file PRIVATE_KEY, given as the provider's `jwks`.
if (process.env.CLIENT_AUTH) {
  keycloak.client = { token_endpoint_auth_method: process.env.CLIENT_AUTH };
}
if (process.env.PRIVATE_KEY) {
  keycloak.jwks = { keys: [JSON.parse(readFileSync(process.env.PRIVATE_KEY, 'utf8'))] };
}

export const authOptions = {
  providers: [KeycloakProvider(keycloak)],
  session: { strategy: 'jwt' },
  callbacks: {
    async jwt({ token, account, user, profile }) {
      // The sign-in: the tokens, and the user as the provider's profile() maps the ID token.
      if (account && user) {
        return {
          accessToken: account.access_token,
          accessTokenExpires: account.expires_at * 1000,
          refreshToken: account.refresh_token,
          idToken: account.id_token,
          // What next-auth keeps of the token answer beside the tokens (Keycloak's members).
          account: {
            token_type: account.token_type,
            session_state: account.session_state,
            scope: account.scope,
            refresh_expires_in: account.refresh_expires_in,
            not_before_policy: account['not-before-policy'],
          },
          user,
          claims: {
            sub: profile.sub,
            preferred_username: profile.preferred_username,
            name: profile.name,
            given_name: profile.given_name,
            family_name: profile.family_name,
            iss: profile.iss,
            nonce: profile.nonce,
            acr: profile.acr,
            sid: profile.sid,
            SubjectNameID: profile.SubjectNameID,
            practices: profile.SubjectRefPro?.exercices?.length ?? 0,
          },
        };
      }
      if (Date.now() < token.accessTokenExpires) return token;
      return refreshAccessToken(token);
    },
    async session({ session, token }) {
      session.user = token.user;
      session.claims = token.claims;
      session.account = token.account;
      session.idTokenRefreshed = token.idTokenRefreshed ?? false;
      session.accessToken = token.accessToken;
      session.accessTokenExpires = token.accessTokenExpires;
      session.previousAccessToken = token.previousAccessToken ?? null;
      session.refreshTokenPresent = Boolean(token.refreshToken);
      session.idTokenPresent = Boolean(token.idToken);
      session.refreshes = token.refreshes ?? 0;
      session.error = token.error ?? null;
      session.refreshError = token.refreshError ?? null;
      return session;
    },
  },
};

export default NextAuth(authOptions);
