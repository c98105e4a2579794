"""Professionals defined by the integrator: a YAML or JSON file (``sandbox_professionals``
setting) loaded at start, or one professional at a time through the control API.

The shape is the demo directory's (``santeid/directory/demo_professionals.json``), with each
activity's ``structure`` written in place and a ``scenario`` per professional::

    professionals:
      - national_id: "810000000101"      # parsed as the login page parses it
        family_name: DUPONT
        given_names: [JEAN]
        scenario: {outcome: approve, delay: 5}   # or deny, never, wrong_code, …
        exercices:
          - code_profession: "10"
            code_savoir_faire: SM54
            activities:
              - code_mode_exercice: L
                structure: {identifiant_technique: R900000000101, raison_sociale: CABINET}

Every field name is a field of ``santeid.directory.models`` (unknown names are refused, so a
typo is not silently ignored); every error names the line (files) or the JSON path (API).
Without ``other_ids`` a professional is listed with its own identifier, as the demo directory's
are (:func:`santeid.directory.models.own_other_ids`); ``other_ids: []`` lists none.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path
from typing import Any

import yaml

from santeid.directory.models import STATUSES
from santeid.directory.models import Activity
from santeid.directory.models import Exercice
from santeid.directory.models import OtherId
from santeid.directory.models import Professional
from santeid.directory.models import SavoirFaire
from santeid.directory.models import Structure
from santeid.directory.models import own_other_ids
from santeid.psc.national_id import NationalIdError
from santeid.psc.national_id import parse_national_id
from santeid.sandbox.scenarios import Scenario
from santeid.sandbox.scenarios import ScenarioError
from santeid.sandbox.scenarios import parse_scenario

#: Most professionals one file or request may define.
MAX_PROFESSIONALS = 10_000

Path_ = tuple[str | int, ...]


class ProfessionalsError(ValueError):
    """Invalid professionals; ``errors`` lists every problem found, each located."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclasses.dataclass(frozen=True)
class Defined:
    professional: Professional
    scenario: Scenario | None


def _str_fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls) if f.type == "str"}


def _show(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


class _Reader:
    """Turns parsed data into models, collecting located errors."""

    def __init__(self, locate) -> None:
        self.locate = locate
        self.errors: list[str] = []

    def error(self, path: Path_, message: str) -> None:
        self.errors.append(f"{self.locate(path)}{_show(path)}: {message}")

    def mapping(self, value: Any, path: Path_, cls: type, extra: set[str]) -> dict | None:
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping of {cls.__name__} fields")
            return None
        known = {f.name for f in dataclasses.fields(cls)} | extra
        for key in value:
            if key not in known:
                self.error((*path, str(key)), f"unknown field (known: {', '.join(sorted(known))})")
        strings = {}
        for key in _str_fields(cls) & set(value):
            item = value[key]
            if isinstance(item, int) and not isinstance(item, bool):
                item = str(item)  # YAML reads 10 as a number; codes are strings
            if not isinstance(item, str):
                self.error((*path, key), "expected a string")
            else:
                strings[key] = item
        return strings

    def items(self, value: Any, path: Path_) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(path, "expected a list")
            return []
        return value

    def structure(self, value: Any, path: Path_) -> Structure | None:
        fields = self.mapping(value, path, Structure, set())
        if fields is None:
            return None
        if not fields.get("identifiant_technique"):
            self.error(path, "'identifiant_technique' is required")
            return None
        return Structure(**fields)

    def activity(self, value: Any, path: Path_) -> Activity:
        fields = self.mapping(value, path, Activity, set()) or {}
        structure = None
        if isinstance(value, dict) and value.get("structure") is not None:
            structure = self.structure(value["structure"], (*path, "structure"))
        return Activity(**fields, structure=structure)

    def exercice(self, value: Any, path: Path_) -> Exercice | None:
        fields = self.mapping(value, path, Exercice, set())
        if fields is None:
            return None
        if not fields.get("code_profession"):
            self.error(path, "'code_profession' is required (TRE_G15, e.g. \"10\")")
            return None
        activities = [
            self.activity(item, (*path, "activities", i))
            for i, item in enumerate(self.items(value.get("activities"), (*path, "activities")))
        ]
        others = []
        for i, item in enumerate(
            self.items(value.get("other_savoir_faire"), (*path, "other_savoir_faire"))
        ):
            other = self.mapping(item, (*path, "other_savoir_faire", i), SavoirFaire, set())
            if other is not None:
                others.append(SavoirFaire(**other))
        return Exercice(**fields, activities=tuple(activities), other_savoir_faire=tuple(others))

    def other_id(self, value: Any, path: Path_) -> OtherId | None:
        fields = self.mapping(value, path, OtherId, set())
        if fields is None:
            return None
        if not fields.get("identifiant") or not fields.get("origine"):
            self.error(path, "'identifiant' and 'origine' are required")
            return None
        qualite = value.get("qualite", 1)
        if isinstance(qualite, bool) or not isinstance(qualite, int):
            self.error((*path, "qualite"), "expected a whole number")
            return None
        return OtherId(**fields, qualite=qualite)

    def professional(self, value: Any, path: Path_) -> Defined | None:
        extra = {"scenario"}
        fields = self.mapping(value, path, Professional, extra)
        if fields is None:
            return None
        before = len(self.errors)
        for reserved in ("id_type", "local_id", "sandbox_auto_approve", "sandbox_scenario"):
            if reserved in value:
                self.error((*path, reserved), "not settable here (derived, or use 'scenario')")
        national_id = None
        raw_id = value.get("national_id")
        if raw_id is None:
            self.error(path, "'national_id' is required")
        else:
            try:
                national_id = parse_national_id(str(raw_id))
            except NationalIdError as exc:
                self.error((*path, "national_id"), exc.message_en)
        if not fields.get("family_name"):
            self.error(path, "'family_name' is required")
        given = value.get("given_names", [])
        if not isinstance(given, list) or not all(isinstance(g, str) for g in given):
            self.error((*path, "given_names"), "expected a list of strings")
            given = []
        birth = value.get("birth_date")
        if isinstance(birth, str):
            try:
                birth = datetime.date.fromisoformat(birth)
            except ValueError:
                self.error((*path, "birth_date"), "expected a date YYYY-MM-DD")
                birth = None
        elif birth is not None and not isinstance(birth, datetime.date):
            self.error((*path, "birth_date"), "expected a date YYYY-MM-DD")
            birth = None
        status = fields.pop("status", "active")
        if status not in STATUSES:
            self.error((*path, "status"), f"expected one of {', '.join(STATUSES)}")
        scenario = None
        if value.get("scenario") is not None:
            try:
                scenario = parse_scenario(value["scenario"])
            except ScenarioError as exc:
                self.error((*path, "scenario"), str(exc))
        exercices = [
            self.exercice(item, (*path, "exercices", i))
            for i, item in enumerate(self.items(value.get("exercices"), (*path, "exercices")))
        ]
        other_ids = [
            self.other_id(item, (*path, "other_ids", i))
            for i, item in enumerate(self.items(value.get("other_ids"), (*path, "other_ids")))
        ]
        if national_id is not None and value.get("other_ids") is None:
            # Not given: the person's own id, as every PSC answer lists it (docs/claims.md);
            # ``other_ids: []`` says the person has none.
            other_ids = list(own_other_ids(national_id.value, national_id.id_type))
        if len(self.errors) > before or national_id is None:
            return None
        fields.pop("national_id", None)
        professional = Professional(
            national_id=national_id.value,
            id_type=national_id.id_type,
            local_id=national_id.local_id,
            given_names=tuple(given),
            birth_date=birth,
            status=status,
            exercices=tuple(e for e in exercices if e is not None),
            other_ids=tuple(o for o in other_ids if o is not None),
            **fields,
        )
        return Defined(professional, scenario)


def read_professionals(document: Any, locate=lambda path: "") -> list[Defined]:
    """``{"professionals": [...]}`` → the professionals; raises :class:`ProfessionalsError`
    listing every problem. ``locate(path)`` prefixes an error (e.g. ``"file:12: "``)."""
    reader = _Reader(locate)
    if not isinstance(document, dict) or set(document) != {"professionals"}:
        reader.error((), "expected a mapping with one key, 'professionals'")
        raise ProfessionalsError(reader.errors)
    items = reader.items(document["professionals"], ("professionals",))
    if len(items) > MAX_PROFESSIONALS:
        reader.error(("professionals",), f"at most {MAX_PROFESSIONALS} professionals")
        raise ProfessionalsError(reader.errors)
    found: list[Defined] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        defined = reader.professional(item, ("professionals", i))
        if defined is None:
            continue
        if defined.professional.national_id in seen:
            reader.error(("professionals", i, "national_id"), "defined twice")
        seen.add(defined.professional.national_id)
        found.append(defined)
    if reader.errors:
        raise ProfessionalsError(reader.errors)
    return found


def read_one(document: Any) -> Defined:
    """One professional (the control API's body), errors located by JSON path."""
    return read_professionals({"professionals": [document]})[0]


def _lines(node: yaml.Node, path: Path_, into: dict[Path_, int]) -> None:
    into[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            into[(*path, str(key.value))] = key.start_mark.line + 1
            _lines(value, (*path, str(key.value)), into)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            _lines(value, (*path, i), into)


def load_file(path: str | Path) -> list[Defined]:
    """Read a YAML or JSON professionals file; errors are ``file:LINE: path: message``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfessionalsError([f"{path}: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise ProfessionalsError([f"{path}: not UTF-8 text"]) from None
    if path.suffix.lower() == ".json":
        try:
            json.loads(text)  # JSON's own errors (YAML is more lenient)
        except json.JSONDecodeError as exc:
            raise ProfessionalsError([f"{path}:{exc.lineno}: {exc.msg}"]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProfessionalsError([f"{where}: {problem}"]) from None
    lines: dict[Path_, int] = {}
    if node is not None:
        _lines(node, (), lines)

    def locate(where: Path_) -> str:
        while where and where not in lines:
            where = where[:-1]
        return f"{path}:{lines.get(where, 1)}: "

    return read_professionals(document, locate)
