"""What makes santeid Pro Santé Connect rather than a generic OpenID provider.

- :mod:`santeid.psc.national_id`: the identifiers professionals type
(docs/reference/pro-sante-connect.md §15.1);
- :mod:`santeid.psc.claims`: the userinfo claim set, key for key and in PSC's order
(docs/reference/pro-sante-connect.md §9).
"""

from __future__ import annotations
