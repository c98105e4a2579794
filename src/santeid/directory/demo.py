"""Synthetic demo professionals, loaded by ``santeid directory seed-demo``.

The data lives in ``demo_professionals.json`` next to this module (``docs/demo-professionals.md``
lists who is who). Every person is invented:

- RPPS-type ids are ``8100000000NN`` with numbers whose Luhn key is wrong, so none can be a real
  RPPS number (real ones carry a valid key); the ADELI id uses department ``99``, which does not
  exist; SIREN and SIRET numbers start with six zeros and FINESS numbers with ``0B``, a
  department code that does not exist either (as in ANS's own test structures);
- e-mail addresses are at ``example.org``; phone numbers come from the ``01 99 00``, ``02 61 91``,
  ``03 53 01``, ``04 65 71``, ``05 36 49`` and ``06 39 98`` blocks, which to our knowledge ARCEP
  reserves for works of fiction;
- communes, postcodes and departments are real, so address validators accept them.

In the JSON file, structures are listed once and referenced by ``identifiant_technique``; a
missing field means ``""``; ``id_type`` and ``local_id`` are derived from the national id by
:func:`santeid.psc.national_id.parse_national_id`, which so checks every demo id.
"""

from __future__ import annotations

import datetime
import functools
import json
from importlib import resources

from santeid.directory.models import Activity
from santeid.directory.models import Exercice
from santeid.directory.models import OtherId
from santeid.directory.models import Professional
from santeid.directory.models import Structure
from santeid.psc.national_id import parse_national_id

DATA_FILE = "demo_professionals.json"


@functools.cache
def demo_professionals() -> tuple[Professional, ...]:
    """The demo set, parsed once per process (the values are immutable)."""
    text = resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8")
    document = json.loads(text)
    structures = {
        key: Structure(identifiant_technique=key, **fields)
        for key, fields in document["structures"].items()
    }
    return tuple(_professional(item, structures) for item in document["professionals"])


def _professional(item: dict, structures: dict[str, Structure]) -> Professional:
    item = dict(item)
    raw = item.pop("national_id")
    national_id = parse_national_id(raw)
    if national_id.value != raw:
        raise ValueError(f"demo national id {raw!r} is not normalised ({national_id.value!r})")
    birth_date = item.pop("birth_date", "")
    return Professional(
        national_id=national_id.value,
        id_type=national_id.id_type,
        local_id=national_id.local_id,
        given_names=tuple(item.pop("given_names", ())),
        birth_date=datetime.date.fromisoformat(birth_date) if birth_date else None,
        exercices=tuple(_exercice(e, structures) for e in item.pop("exercices", ())),
        other_ids=tuple(OtherId(**o) for o in item.pop("other_ids", ())),
        **item,
    )


def _exercice(item: dict, structures: dict[str, Structure]) -> Exercice:
    item = dict(item)
    activities = tuple(_activity(a, structures) for a in item.pop("activities", ()))
    return Exercice(**item, activities=activities)


def _activity(item: dict, structures: dict[str, Structure]) -> Activity:
    item = dict(item)
    key = item.pop("structure", None)
    return Activity(**item, structure=structures[key] if key else None)
