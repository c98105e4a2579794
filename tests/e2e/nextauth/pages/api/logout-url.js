// The federated logout's URL as integrators build it: Keycloak's end-session endpoint with the
// ID token kept in the JWT as id_token_hint and the service's return page.

import { getToken } from 'next-auth/jwt';

export default async function handler(req, res) {
  const token = await getToken({ req });
  if (!token) return res.json({ url: null });
  const url = new URL(`${process.env.ISSUER}/protocol/openid-connect/logout`);
  url.searchParams.set('id_token_hint', token.idToken);
  url.searchParams.set('post_logout_redirect_uri', `${process.env.NEXTAUTH_URL}/logged-out`);
  return res.json({ url: url.toString() });
}
