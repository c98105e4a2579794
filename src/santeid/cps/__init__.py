"""CPS cards (Carte de Professionnel de Santé): logging in with the card's IGC-Santé
authentication certificate presented over mutual TLS (docs/reference/pro-sante-connect.md §3, §11,
§13).

- :mod:`~santeid.cps.cards`: the card subject format, test cards, and
  :func:`verify_card_certificate` (RFC 5280 checks, revocation, directory);
- :mod:`~santeid.cps.registry`: issued and revoked cards (``{data_dir}/cps-cards.sqlite3``).

The login route is ``santeid.login.card``; TLS and the client certificate of a request are in
``santeid.tls``; the test PKI is ``santeid.pki``. See docs/cps-card.md.
"""

from __future__ import annotations

from santeid.cps.cards import CARD_AMR
from santeid.cps.cards import CARD_AUTH_MODE
from santeid.cps.cards import CPS_TEST_CA_COMMON_NAME
from santeid.cps.cards import CPS_TEST_CA_NAME
from santeid.cps.cards import CardError
from santeid.cps.cards import IssuedCard
from santeid.cps.cards import card_authority
from santeid.cps.cards import card_subject
from santeid.cps.cards import issue_test_card
from santeid.cps.cards import national_id_from_subject
from santeid.cps.cards import trusted_authorities
from santeid.cps.cards import verify_card_certificate
from santeid.cps.registry import CardRecord
from santeid.cps.registry import CardRegistry

__all__ = [
    "CARD_AMR",
    "CARD_AUTH_MODE",
    "CPS_TEST_CA_COMMON_NAME",
    "CPS_TEST_CA_NAME",
    "CardError",
    "CardRecord",
    "CardRegistry",
    "IssuedCard",
    "card_authority",
    "card_subject",
    "issue_test_card",
    "national_id_from_subject",
    "trusted_authorities",
    "verify_card_certificate",
]
