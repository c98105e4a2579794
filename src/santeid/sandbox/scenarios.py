"""Scenarios by identity: what the sandbox phone answers when a professional logs in.

A scenario is an *outcome* and a *delay*: ``approve``, ``deny``, ``wrong_code`` (the
professional picks another code than the one on the login page), ``device_locked`` (the last
PIN attempt was wrong: the device locks) are applied ``delay`` seconds after the request is
made; ``never`` leaves the request unanswered until it expires (the control API can still
answer it). A professional without a scenario has no sandbox phone: an activated e-CPS or a
CPS card is the only way in — the ``card_only`` scenario says so explicitly.

Where a professional's scenario comes from, first found wins:

1. set through the control API (``PUT /sandbox/api/professionals/{id}/scenario``), kept in the
   ephemeral store (``sandbox:scenario:<id>``, field ``chosen``) so every worker sees it;
2. the scenario the professional was created with through the control API (``POST
   /sandbox/api/professionals``), kept with the professional in the directory
   (``Professional.sandbox_scenario``): it lasts as long as the professional, a restart of a
   server on the embedded store included (an earlier santeid kept it in the store record,
   field ``base``, still read);
3. the integrator's professionals file (``sandbox_professionals`` setting);
4. :data:`DEFAULT_SCENARIOS`, the demo professionals listed in ``docs/sandbox.md``;
5. ``sandbox_auto_approve`` in the directory: ``approve``.

A reset (``DELETE …/scenario``) forgets the first only: back to the creation's, the file's or
the default scenario. Creating the professional again (``POST``) forgets the first too.

Outcomes map to the e-CPS request statuses of ``santeid.ecps.requests`` (``approved``,
``denied``, ``failed`` with ``wrong_code`` or ``pin_locked``, ``expired``), so the login page
and the CIBA token endpoint explain them exactly as they explain a real phone's answer.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import g
from flask import has_request_context

from santeid.ecps.requests import KIND_BROWSER
from santeid.ecps.requests import KIND_CIBA
from santeid.i18n import Translator
from santeid.storage import StoreUnavailable
from santeid.storage import keys
from santeid.untrusted_json import json_number

log = logging.getLogger(__name__)

APPROVE = "approve"
DENY = "deny"
NEVER = "never"
WRONG_CODE = "wrong_code"
DEVICE_LOCKED = "device_locked"
CARD_ONLY = "card_only"
OUTCOMES = (APPROVE, DENY, NEVER, WRONG_CODE, DEVICE_LOCKED, CARD_ONLY)

#: Longest delay accepted (seconds): beyond, the request expires first anyway.
MAX_DELAY = 3600

#: How long a scenario set through the control API (or a created professional's) is kept
#: (the store needs a lifetime; beside its key).
OVERRIDE_TTL = keys.SANDBOX_SCENARIO_LIFETIME


class ScenarioError(ValueError):
    """A scenario that cannot be understood; the message says why."""


@dataclass(frozen=True)
class Scenario:
    outcome: str
    #: Seconds between the request and the answer; ``None``: :meth:`delay_for` says (as before
    #: scenarios existed).
    delay: float | None = None

    @property
    def has_phone(self) -> bool:
        return self.outcome != CARD_ONLY

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "delay": self.delay}

    def delay_for(self, kind: str, approval_delay: float) -> float:
        """Seconds between a request of ``kind`` (``santeid.ecps.requests``: a browser login or
        CIBA) and the answer: the scenario's delay; without one, ``approval_delay`` (the
        ``sandbox_approval_delay`` setting) for a browser login, and none — at once — for
        CIBA."""
        if self.delay is not None:
            return self.delay
        return approval_delay if kind == KIND_BROWSER else 0.0

    def describe(self, approval_delay: float, t: Translator | None = None) -> str:
        """What the sandbox phone does, in words, in ``t``'s language (the control API's in
        English, the home page's in French); ``approval_delay`` is the
        ``sandbox_approval_delay`` setting (:meth:`delay_for`)."""
        t = t or Translator("en")
        if self.delay is None:
            when = t(
                "sandbox_scenario.when_default",
                browser=f"{approval_delay:g}",
                ciba=_when(self.delay_for(KIND_CIBA, approval_delay), t),
            )
        else:
            when = _when(self.delay, t)
        return t(f"sandbox_scenario.{self.outcome}", when=when)


def _when(delay: float, t: Translator) -> str:
    if delay == 0:
        return t("sandbox_scenario.at_once")
    return t("sandbox_scenario.after", seconds=f"{delay:g}")


def parse_scenario(value: Any) -> Scenario:
    """``"deny"``, or ``{"outcome": "approve", "delay": 5}``; raises :class:`ScenarioError`."""
    if isinstance(value, str):
        value = {"outcome": value}
    if not isinstance(value, dict):
        raise ScenarioError("a scenario is an outcome name or an object {outcome, delay}")
    unknown = set(value) - {"outcome", "delay"}
    if unknown:
        raise ScenarioError(f"unknown scenario field(s): {', '.join(sorted(unknown))}")
    outcome = value.get("outcome")
    if outcome not in OUTCOMES:
        raise ScenarioError(f"'outcome' must be one of {', '.join(OUTCOMES)}; got {outcome!r}")
    delay = value.get("delay")
    if delay is not None:
        if isinstance(delay, bool) or not isinstance(delay, int | float):
            raise ScenarioError("'delay' is a number of seconds")
        seconds = json_number(delay)
        if seconds is None or not 0 <= seconds <= MAX_DELAY:
            raise ScenarioError(f"'delay' must be between 0 and {MAX_DELAY} seconds")
        delay = seconds
    return Scenario(outcome, delay)


#: The demo professionals' scenarios (``docs/sandbox.md`` lists them with their identities).
DEFAULT_SCENARIOS: dict[str, Scenario] = {
    "810000000030": Scenario(APPROVE, 0.0),
    "810000000031": Scenario(APPROVE, 10.0),
    "810000000032": Scenario(DENY),
    "810000000034": Scenario(NEVER),
    "810000000035": Scenario(WRONG_CODE),
    "810000000036": Scenario(DEVICE_LOCKED),
    # Identities with something to show in their claims, approved like the auto-approve ones.
    "810000000012": Scenario(APPROVE),  # two exercices, two professions
    "810000000021": Scenario(APPROVE),  # an exercice without any activity
    "0999500012": Scenario(APPROVE),  # ADELI only
    "500000010900017/SEC0042": Scenario(APPROVE),  # structure staff by SIRET, no exercice
    "30B6900011/ADM0107": Scenario(APPROVE),  # structure staff by FINESS, no exercice
    "810000000005": Scenario(CARD_ONLY),
}


def with_scenario(professional: Any, scenario: Scenario | None) -> Any:
    """``professional`` (of the directory) created through the control API with ``scenario``
    (``None``: none of its own), which the directory keeps with it."""
    kept = "" if scenario is None else json.dumps(scenario.to_dict())
    return dataclasses.replace(professional, sandbox_scenario=kept)


#: Where an HTTP request keeps the scenario records it has read (:meth:`ScenarioBook._stored`).
_SEEN = "sandbox_scenarios_seen"


def _key(national_id: str) -> str:
    return keys.SANDBOX_SCENARIO.key(national_id)


def _fields(record: dict) -> tuple[Any, Any]:
    """``(chosen, base)`` of a stored record; a record of an earlier santeid is the chosen
    scenario itself."""
    if "chosen" in record or "base" in record:
        return record.get("chosen"), record.get("base")
    return record, None


class ScenarioBook:
    """A professional's scenario (see the module docstring for the order)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        #: From the integrator's professionals file, loaded at start by every worker alike.
        self.from_file: dict[str, Scenario] = {}

    def get(self, professional: Any) -> Scenario | None:
        """The scenario in force, or ``None`` (no sandbox phone)."""
        record = self._stored(professional.national_id)
        chosen, base = (None, None) if record is None else _fields(record)
        created = json.loads(professional.sandbox_scenario or "null")
        stored = next((s for s in (chosen, created, base) if s is not None), None)
        if stored is not None:
            return parse_scenario(stored)
        found = self.from_file.get(professional.national_id) or DEFAULT_SCENARIOS.get(
            professional.national_id
        )
        if found is not None:
            return found
        return Scenario(APPROVE) if professional.sandbox_auto_approve else None

    def phone_scenario(self, professional: Any) -> Scenario | None:
        """The scenario if it involves the sandbox phone (not ``card_only``)."""
        scenario = self.get(professional)
        return scenario if scenario is not None and scenario.has_phone else None

    def set(self, national_id: str, scenario: Scenario) -> None:
        self._write(national_id, chosen=scenario.to_dict())

    def reset(self, national_id: str) -> None:
        """Forget the control API's choice: back to the creation's, the file's or the default
        scenario."""
        self._write(national_id, chosen=None)

    def forget_choice(self, national_id: str) -> Callable[[], None]:
        """A professional is (re)created through the control API, its own scenario kept with
        it in the directory (:func:`with_scenario`): the choice set before (and the creation's
        scenario an earlier santeid kept here) is forgotten. Returns what puts it back, should
        the professional not be written after all."""
        key = _key(national_id)
        self._forget_seen(national_id)
        record = self.store.get(key)
        if record is None:
            return lambda: None
        self.store.delete(key)

        def put_back() -> None:
            self._forget_seen(national_id)
            try:
                self.store.put(key, record, OVERRIDE_TTL)
            except StoreUnavailable as exc:
                log.error("sandbox scenario of %s not put back: %s", national_id, exc)

        return put_back

    def _stored(self, national_id: str) -> dict | None:
        """The control API's record for ``national_id``, read once per HTTP request: what
        decides that the sandbox phone answers and what the request it makes carries are the
        same scenario, for one store read (docs/storage.md)."""
        if not has_request_context():
            return self.store.get(_key(national_id))
        seen = g.setdefault(_SEEN, {})
        if national_id not in seen:
            seen[national_id] = self.store.get(_key(national_id))
        return seen[national_id]

    @staticmethod
    def _forget_seen(national_id: str) -> None:
        """A write of ``national_id``'s record: this request reads it again."""
        if has_request_context():
            g.get(_SEEN, {}).pop(national_id, None)

    def _write(self, national_id: str, *, chosen: dict | None) -> None:
        """The control API's choice changed; the creation's scenario stays."""
        record = self.store.get(_key(national_id))
        base = None if record is None else _fields(record)[1]
        self._put(national_id, chosen, base)

    def _put(self, national_id: str, chosen: dict | None, base: dict | None) -> None:
        self._forget_seen(national_id)
        if chosen is None and base is None:
            self.store.delete(_key(national_id))
        else:
            self.store.put(_key(national_id), {"chosen": chosen, "base": base}, OVERRIDE_TTL)
