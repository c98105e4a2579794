// Where santeid's end-session endpoint sends the browser back: the session, none expected.

import { getServerSession } from 'next-auth/next';
import { authOptions } from './api/auth/[...nextauth]';

export async function getServerSideProps({ req, res }) {
  const session = await getServerSession(req, res, authOptions);
  return { props: { shown: JSON.stringify({ loggedOut: true, session }) } };
}

export default function LoggedOut({ shown }) {
  return <pre id="logged-out">{shown}</pre>;
}
