// The sign-out as integrators write it with next-auth/react: the end-session URL built from
// the JWT's ID token, next-auth's signOut() without its redirect, then the browser to santeid.

import { useEffect, useState } from 'react';
import { signOut } from 'next-auth/react';

export default function Logout() {
  const [status, setStatus] = useState('working');
  useEffect(() => {
    (async () => {
      const { url } = await (await fetch('/api/logout-url')).json();
      await signOut({ redirect: false });
      window.location.href = url ?? '/logged-out';
    })().catch((error) => setStatus(`failed: ${error}`));
  }, []);
  return <p id="status">{status}</p>;
}
