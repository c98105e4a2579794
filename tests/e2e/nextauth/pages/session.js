// The session, as the server reads it (getServerSession runs the jwt callback, which refreshes
// an expired access token, then the session callback), shown as JSON.

import { getServerSession } from 'next-auth/next';
import { authOptions } from './api/auth/[...nextauth]';

export async function getServerSideProps({ req, res }) {
  const session = await getServerSession(req, res, authOptions);
  return { props: { shown: JSON.stringify({ session }) } };
}

export default function Session({ shown }) {
  return <pre id="session">{shown}</pre>;
}
