"""Parity harness: the same queries through every INSi adapter must give the same answers.

An **adapter** is a callable ``Query -> Outcome``: it sends the query its own way (core call,
REST JSON, FHIR search, SOAP envelope…) and reduces the answer to an :class:`Outcome` — the
``CodeCR`` or error code, and for a 00 the identity's signature.  :func:`mismatches` runs every
query through every adapter and lists the disagreements.  Adding a protocol is adding one
callable to the dict (see ``test_parity_rest_fhir.py``; the SOAP layer adds its own).

Queries come from :func:`generate_queries`: existing persons (first given name, all of them, a
later one alone, with birthplace, deceased, NIA, twins), homonym groups with and without the
discriminating traits, perturbed traits (nobody), invalid traits and the published cases.
Queries whose ``insi_form`` is False use civil-status spellings (accents, lower case,
typographic apostrophes): only the normalising adapters (REST, FHIR, the core on a REST
context) take them; a strict adapter (SOAP) should skip them.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from datetime import timedelta
from pathlib import Path

from santeid.civil_status.test_identities import PUBLISHED_CASES
from santeid.insi.model import CallContext
from santeid.insi.model import Identity
from santeid.insi.model import InsiError
from santeid.insi.model import TraitsQuery

NIA_OID = "1.2.250.1.213.1.4.9"


@dataclass(frozen=True)
class Query:
    label: str
    birth_name: str
    given_names: tuple[str, ...]
    sex: str
    birth_date: str
    birthplace: str | None = None
    insi_form: bool = True

    def traits(self) -> TraitsQuery:
        return TraitsQuery(
            self.birth_name, self.given_names, self.sex, self.birth_date, self.birthplace
        )


@dataclass(frozen=True)
class Outcome:
    """``result``: ``00``/``01``/``02`` or ``error:<code>``; ``identity``: signature for 00."""

    result: str
    identity: tuple | None = None


Adapter = Callable[[Query], Outcome]


def signature(
    value: str,
    oid: str,
    birth_name: str,
    given_names: Iterable[str],
    sex: str,
    birth_date: str,
    birthplace: str,
    history: Iterable[tuple[str, str]],
) -> tuple:
    """What must agree: the active INS (15 characters + OID), the five traits, and the earlier
    NIRs (history entries other than NIAs and the active INS itself, which FHIR cannot carry
    as ``use = old``; see docs/insi-fhir.md)."""
    earlier = frozenset(v for v, o in history if o != NIA_OID and v != value)
    return (value, oid, birth_name, tuple(given_names), sex, birth_date, birthplace, earlier)


def identity_signature(identity: Identity) -> tuple:
    return signature(
        identity.value,
        identity.oid,
        identity.birth_name,
        identity.given_names,
        identity.sex,
        identity.birth_date,
        identity.birthplace,
        [(h.value, h.oid) for h in identity.history],
    )


# -- adapters -------------------------------------------------------------------------------
def core_adapter(service, ctx: CallContext) -> Adapter:
    def call(query: Query) -> Outcome:
        try:
            result = service.search_by_traits(query.traits(), ctx)
        except InsiError as exc:
            return Outcome(f"error:{exc.code}")
        identity = identity_signature(result.identity) if result.identity else None
        return Outcome(result.cr, identity)

    return call


def rest_adapter(client, headers: dict[str, str]) -> Adapter:
    def call(query: Query) -> Outcome:
        body: dict = {
            "birthName": query.birth_name,
            "givenNames": list(query.given_names),
            "sex": query.sex,
            "birthDate": query.birth_date,
        }
        if query.birthplace:
            body["birthplace"] = query.birthplace
        response = client.post("/insi/v1/ins/search-by-traits", json=body, headers=headers)
        data = response.get_json()
        if response.status_code != 200:
            return Outcome(f"error:{data['code']}")
        identity = data["identity"]
        if identity is None:
            return Outcome(data["cr"])
        ins = identity["ins"]
        return Outcome(
            data["cr"],
            signature(
                ins["value"],
                ins["oid"],
                identity["birthName"],
                identity["givenNames"],
                identity["sex"],
                identity["birthDate"],
                identity["birthplace"],
                [(h["value"], h["oid"]) for h in identity["history"]],
            ),
        )

    return call


def fhir_params(query: Query) -> list[tuple[str, str]]:
    params = [("family", query.birth_name)]
    params += [("given", g) for g in query.given_names]
    gender = {"M": "male", "F": "female"}.get(query.sex.upper(), query.sex)
    params += [("gender", gender), ("birthdate", query.birth_date)]
    if query.birthplace:
        params.append(("birthplace", query.birthplace))
    return params


def patient_signature(patient: dict) -> tuple:
    """Signature of a FR Core Patient INS (docs/insi-fhir.md)."""
    active = next(i for i in patient["identifier"] if i["use"] != "old")
    oid = active["system"].removeprefix("urn:oid:")
    old = [(i["value"], i["system"].removeprefix("urn:oid:")) for i in patient["identifier"]]
    name = patient["name"][0]
    given_list = next(
        e["valueString"] for e in name["extension"] if e["url"].endswith("birth-list-given-name")
    )
    place = next(e for e in patient["extension"] if e["url"].endswith("patient-birthPlace"))[
        "valueAddress"
    ]["extension"][0]["valueCoding"]["code"]
    return signature(
        active["value"],
        oid,
        name["family"],
        given_list.split(" "),
        {"male": "M", "female": "F"}[patient["gender"]],
        patient["birthDate"],
        place,
        old,
    )


def fhir_adapter(client, headers: dict[str, str]) -> Adapter:
    def call(query: Query) -> Outcome:
        response = client.get(
            "/insi/fhir/Patient", query_string=fhir_params(query), headers=headers
        )
        data = response.get_json()
        if data["resourceType"] == "OperationOutcome":
            return Outcome(f"error:{data['issue'][0]['details']['coding'][0]['code']}")
        matches = [e for e in data.get("entry", []) if e["search"]["mode"] == "match"]
        if matches:
            assert data["total"] == 1
            return Outcome("00", patient_signature(matches[0]["resource"]))
        outcomes = [e for e in data.get("entry", []) if e["search"]["mode"] == "outcome"]
        if outcomes:
            return Outcome(outcomes[0]["resource"]["issue"][0]["details"]["coding"][0]["code"])
        return Outcome("01")

    return call


def mismatches(adapters: dict[str, Adapter], queries: Iterable[Query]) -> list[str]:
    """One line per query on which the adapters disagree (empty: full parity)."""
    problems: list[str] = []
    for query in queries:
        outcomes = {name: adapter(query) for name, adapter in adapters.items()}
        if len(set(outcomes.values())) > 1:
            detail = "; ".join(f"{name}={o.result} {o.identity}" for name, o in outcomes.items())
            problems.append(f"{query.label} {query}: {detail}")
    return problems


# -- queries ----------------------------------------------------------------------------------
def _shift(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def generate_queries(base: Path, *, count: int = 300, seed: int = 1) -> list[Query]:
    """About ``count`` queries drawn from ``base`` (deterministic for a given base and seed)."""
    rng = random.Random(f"insi-parity:{seed}")  # noqa: S311 - test data, not secrets
    conn = sqlite3.connect(f"{base.as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        persons = conn.execute("SELECT * FROM persons WHERE id > 10 ORDER BY id").fetchall()
        homonyms = conn.execute(
            "SELECT birth_name, first_given_name, sex, birth_date FROM persons "
            "GROUP BY birth_name, first_given_name, sex, birth_date HAVING count(*) > 1 "
            "ORDER BY 1, 2, 3, 4"
        ).fetchall()
        nia = conn.execute("SELECT * FROM persons WHERE kind = 'NIA' ORDER BY id").fetchall()
        dead = conn.execute(
            "SELECT * FROM persons WHERE death_date IS NOT NULL ORDER BY id"
        ).fetchall()
    finally:
        conn.close()

    queries: list[Query] = []
    for case in PUBLISHED_CASES:
        queries.append(
            Query(
                f"published {case.birth_name}/{case.given_names}",
                case.birth_name,
                tuple(case.given_names.split(" ")),
                case.sex,
                case.birth_date,
                case.birthplace,
            )
        )

    def person_query(label: str, p: sqlite3.Row, given: tuple[str, ...], **kw) -> Query:
        return Query(label, p["birth_name"], given, p["sex"], p["birth_date"], **kw)

    budget = max(count - len(queries), 40)
    sample = rng.sample(persons, min(len(persons), budget * 3 // 5))
    for p in sample:
        names = tuple(p["given_names"].split(" "))
        kind = rng.randrange(7)
        if kind == 0:
            queries.append(person_query("first given name", p, names[:1]))
        elif kind == 1:
            queries.append(person_query("all given names", p, names))
        elif kind == 2:
            queries.append(person_query("last given name", p, names[-1:]))
        elif kind == 3:
            queries.append(
                person_query("with birthplace", p, names[:1], birthplace=p["birthplace"])
            )
        elif kind == 4:
            queries.append(
                Query(
                    "civil-status spelling",
                    p["birth_name_raw"],
                    tuple(p["given_names_raw"].split(", ")),
                    p["sex"].lower(),
                    p["birth_date"],
                    insi_form=False,
                )
            )
        elif kind == 5:
            day = _shift(p["birth_date"], 1)
            queries.append(Query("next day", p["birth_name"], names[:1], p["sex"], day))
        else:
            queries.append(person_query("unknown given name", p, ("ZZYZX",)))
    for group in rng.sample(homonyms, min(len(homonyms), budget // 12)):
        queries.append(
            Query(
                "homonyms",
                group["birth_name"],
                (group["first_given_name"],),
                group["sex"],
                group["birth_date"],
            )
        )
    conn = sqlite3.connect(f"{base.as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        for q in list(queries):
            if q.label != "homonyms":
                continue
            for p in conn.execute(
                "SELECT * FROM persons WHERE birth_name = ? AND first_given_name = ? AND sex = ? "
                "AND birth_date = ? ORDER BY id",
                (q.birth_name, q.given_names[0], q.sex, q.birth_date),
            ):
                queries.append(
                    person_query("homonym + all given names", p, tuple(p["given_names"].split(" ")))
                )
                queries.append(
                    person_query(
                        "homonym + birthplace", p, q.given_names, birthplace=p["birthplace"]
                    )
                )
    finally:
        conn.close()
    for p in rng.sample(nia, min(len(nia), budget // 20)):
        queries.append(person_query("NIA", p, tuple(p["given_names"].split(" "))[:1]))
    for p in rng.sample(dead, min(len(dead), budget // 20)):
        queries.append(person_query("deceased", p, tuple(p["given_names"].split(" "))[:1]))
    # Invalid traits: every adapter must refuse them the same way.
    invalid = [
        Query("invalid: digit", "DUPONT2", ("JEAN",), "M", "1980-01-01"),
        Query("invalid: date", "DUPONT", ("JEAN",), "M", "1980-02-30"),
        Query("invalid: sex", "DUPONT", ("JEAN",), "X", "1980-01-01"),
        Query("invalid: birthplace", "DUPONT", ("JEAN",), "M", "1980-01-01", "ABCDE"),
        # Refused by a strict (SOAP) adapter, collapsed by the normalising ones.
        Query("double space", "DU  PONT", ("JEAN",), "M", "1980-01-01", insi_form=False),
    ]
    queries.extend(invalid)
    return queries
