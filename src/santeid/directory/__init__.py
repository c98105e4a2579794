"""The professionals directory: an RPPS/RASS-like store of who may log in and what
userinfo they get (docs/reference/pro-sante-connect.md §15).

- :mod:`~santeid.directory.models`: immutable :class:`Professional` graphs;
- :mod:`~santeid.directory.schema`: the SQLite schema and its versions;
- :mod:`~santeid.directory.repository`: :class:`Directory`, reads and writes;
- :mod:`~santeid.directory.demo`: the synthetic demo professionals;
- :mod:`~santeid.directory.extraction`, :mod:`~santeid.directory.importer`,
  :mod:`~santeid.directory.extract_writer`: the RASS "Extraction ProSanteConnect" file;
- :mod:`~santeid.directory.synthetic`: the national-scale synthetic generator;
- :mod:`~santeid.directory.nomenclatures`: the NOS code lists;
- :mod:`~santeid.directory.search`: indexed searches for the FHIR API.
"""

from __future__ import annotations

from santeid.directory.models import Activity
from santeid.directory.models import Exercice
from santeid.directory.models import OtherId
from santeid.directory.models import Professional
from santeid.directory.models import SavoirFaire
from santeid.directory.models import Structure
from santeid.directory.repository import Directory

__all__ = [
    "Activity",
    "Directory",
    "Exercice",
    "OtherId",
    "Professional",
    "SavoirFaire",
    "Structure",
]
