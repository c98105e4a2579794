"""PKCE code challenge methods (RFC 7636 §4.2): the single list discovery, the authorization
endpoint and the token endpoint read.

Nothing is imported here, so that any module may read it.
"""

from __future__ import annotations

PLAIN = "plain"
S256 = "S256"
#: In the order of PSC's ``code_challenge_methods_supported``
#: (``docs/reference/pro-sante-connect.md §2``).
METHODS: tuple[str, ...] = (PLAIN, S256)
#: The method of a ``code_challenge`` sent without ``code_challenge_method`` (RFC 7636 §4.3).
DEFAULT = PLAIN
