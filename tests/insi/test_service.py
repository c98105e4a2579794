"""The protocol-neutral core: published test identities, matching rule, validation."""

from __future__ import annotations

import sqlite3

import pytest

from santeid.civil_status.test_identities import PUBLISHED_CASES
from santeid.civil_status.test_identities import TEST_IDENTITIES
from santeid.insi.model import InsiError
from santeid.insi.model import TraitsQuery
from santeid.insi.service import given_names_match
from tests.support.insi import REST_CTX
from tests.support.insi import SOAP_CTX


def _query(case) -> TraitsQuery:
    return TraitsQuery(
        case.birth_name,
        tuple(case.given_names.split(" ")),
        case.sex,
        case.birth_date,
        case.birthplace,
    )


@pytest.mark.parametrize("ctx", [REST_CTX, SOAP_CTX], ids=["normalising", "strict"])
@pytest.mark.parametrize("case", PUBLISHED_CASES, ids=lambda c: f"{c.birth_name}-{c.given_names}")
def test_every_published_case_answers_as_recorded(service, case, ctx):
    """docs/reference/insi-teleservice.md §9: 00 with the recorded matricule, 01, 02, or the
    insi_102 fault."""
    if case.expected == "fault":
        with pytest.raises(InsiError) as caught:
            service.search_by_traits(_query(case), ctx)
        error = caught.value
        assert f"{error.subcode}/{error.code}" == case.fault == "siram_40/insi_102"
        assert error.severity == "fatal"  # as captured, although the XSD says "fatale"
        assert error.fault == "Receiver"
        assert error.reason.startswith("Le service est temporairement inaccessible.")
        return
    result = service.search_by_traits(_query(case), ctx)
    assert result.cr == case.expected
    if case.expected == "00":
        assert result.identity.matricule == case.matricule
        assert result.label == "OK"
    else:
        assert result.identity is None
        assert result.label in ("Aucune identite trouvee", "Plusieurs identites trouvees")


@pytest.mark.parametrize("person", TEST_IDENTITIES, ids=lambda p: f"{p.birth_name}-{p.birthplace}")
def test_published_identities_come_back_whole(service, person):
    """Every published identity, HERMANN's keys that do not verify included (§9). With the
    birthplace, which tells the two DE VINCI apart (without it they answer 02)."""
    result = service.search_by_traits(
        TraitsQuery(
            person.birth_name,
            person.given_names[:1],
            person.sex,
            person.birth_date,
            person.birthplace,
        ),
        REST_CTX,
    )
    identity = result.identity
    assert (identity.matricule, identity.key) == (person.matricule, f"{person.key:02d}")
    assert identity.oid == f"1.2.250.1.213.1.4.{person.oid}"
    assert identity.given_names == person.given_names  # ListePrenom, whole
    assert (identity.sex, identity.birth_date, identity.birthplace) == (
        person.sex,
        person.birth_date,
        person.birthplace,
    )
    assert [(h.matricule, h.key, h.start, h.end) for h in identity.history] == [
        (h.matricule, f"{h.key:02d}", h.date_deb, h.date_fin) for h in person.history
    ]


def test_ecetinsi_history_is_as_captured(service):
    result = service.search_by_traits(
        TraitsQuery("ECETINSI", ("PIERRE-ALAIN",), "M", "2009-07-14"), SOAP_CTX
    )
    assert result.identity.given_names_text == "PIERRE-ALAIN MURIEL FLORIANT"
    first = result.identity.history[0]
    assert (first.value, first.oid, first.start, first.end) == (
        "209076322083439",
        "1.2.250.1.213.1.4.8",
        "2019-03-01",
        "2019-02-28",
    )


def test_provisoire_holds_a_nia(service):
    identity = service.search_by_traits(
        TraitsQuery("PROVISOIRE", ("MATRICULE",), "M", "2009-07-01"), SOAP_CTX
    ).identity
    assert (identity.value, identity.oid, identity.kind) == (
        "109076322088835",
        "1.2.250.1.213.1.4.9",
        "NIA",
    )


# -- the given-name rule (docs/insi-overview.md) ------------------------------------------
def test_given_name_rule_reproduces_every_published_case(base_db):
    """The rule chosen ("every queried given name is one of the person's") against the base's
    own published_cases table: the cases whose answer depends on persons, recomputed in SQL."""
    cases = base_db.execute("SELECT * FROM published_cases WHERE expected != 'fault'").fetchall()
    assert len(cases) == len([c for c in PUBLISHED_CASES if c.expected != "fault"])
    for case in cases:
        candidates = base_db.execute(
            "SELECT matricule, given_names FROM persons "
            "WHERE birth_name = ? AND sex = ? AND birth_date = ?",
            (case["birth_name"], case["sex"], case["birth_date"]),
        ).fetchall()
        queried = tuple(case["given_names"].split(" "))
        found = [c for c in candidates if given_names_match(queried, c["given_names"])]
        expected = {"00": 1, "01": 0, "02": 2}[case["expected"]]
        assert len(found) == expected, dict(case)
        if case["expected"] == "00":
            assert found[0]["matricule"] == case["matricule"]


def test_given_names_order_free_and_exact():
    assert given_names_match(("MURIEL",), "PIERRE-ALAIN MURIEL FLORIANT")
    assert given_names_match(("FLORIANT", "PIERRE-ALAIN"), "PIERRE-ALAIN MURIEL FLORIANT")
    assert not given_names_match(("PIERRE",), "PIERRE-ALAIN MURIEL FLORIANT")
    assert not given_names_match(("JEAN",), "JEANNE")
    assert not given_names_match(("OLA",), "CATARINA BELLA")


def test_a_later_given_name_alone_finds_the_person(service):
    result = service.search_by_traits(
        TraitsQuery("ECETINSI", ("FLORIANT",), "M", "2009-07-14"), REST_CTX
    )
    assert result.cr == "00"
    # All the given names in one item, as clients send them (docs/reference/insi-teleservice.md §5).
    result = service.search_by_traits(
        TraitsQuery("ECETINSI", ("PIERRE-ALAIN MURIEL FLORIANT",), "M", "2009-07-14"), SOAP_CTX
    )
    assert result.cr == "00"


def _homonym_group(base_db: sqlite3.Connection) -> list[sqlite3.Row]:
    """A generated homonym group (same birth name, first given name, sex, birth date; other
    birthplaces) whose members' given-name lists differ."""
    groups = base_db.execute(
        "SELECT birth_name, first_given_name, sex, birth_date FROM persons "
        "GROUP BY 1, 2, 3, 4 HAVING count(*) > 1 AND count(DISTINCT given_names) > 1 "
        "AND count(DISTINCT birthplace) = count(*) ORDER BY 1"
    ).fetchall()
    assert groups, "the generated base has homonyms whose given names differ"
    g = groups[0]
    return base_db.execute(
        "SELECT * FROM persons WHERE birth_name = ? AND first_given_name = ? AND sex = ? "
        "AND birth_date = ? ORDER BY id",
        tuple(g),
    ).fetchall()


def test_homonyms_give_02_until_other_given_names_or_birthplace_are_added(service, base_db):
    members = _homonym_group(base_db)
    first = members[0]
    shared = TraitsQuery(
        first["birth_name"], (first["first_given_name"],), first["sex"], first["birth_date"]
    )
    assert service.search_by_traits(shared, SOAP_CTX).cr == "02"
    for person in members:
        by_place = TraitsQuery(
            shared.birth_name, shared.given_names, shared.sex, shared.birth_date,
            person["birthplace"],
        )  # fmt: skip
        assert (
            service.search_by_traits(by_place, SOAP_CTX).identity.matricule == (person["matricule"])
        )
    # A member whose whole list no other member has is found by its given names.
    lists = [set(p["given_names"].split(" ")) for p in members]
    unique = [
        p for p, names in zip(members, lists, strict=True)
        if sum(names <= other for other in lists) == 1
    ]  # fmt: skip
    assert unique
    for person in unique:
        by_names = TraitsQuery(
            shared.birth_name, tuple(person["given_names"].split(" ")), shared.sex,
            shared.birth_date,
        )  # fmt: skip
        assert (
            service.search_by_traits(by_names, SOAP_CTX).identity.matricule == (person["matricule"])
        )


def test_deceased_persons_are_found(service, base_db):
    """docs/insi-overview.md: the RNIPP keeps the dead; an INS is never reused."""
    dead = base_db.execute(
        "SELECT * FROM persons WHERE death_date IS NOT NULL AND id > 10 ORDER BY id"
    ).fetchall()
    person = next(
        p
        for p in dead
        if base_db.execute(
            "SELECT count(*) FROM persons WHERE birth_name = ? AND sex = ? AND birth_date = ?",
            (p["birth_name"], p["sex"], p["birth_date"]),
        ).fetchone()[0]
        == 1
    )
    result = service.search_by_traits(
        TraitsQuery(
            person["birth_name"], (person["first_given_name"],), person["sex"],
            person["birth_date"],
        ),
        SOAP_CTX,
    )  # fmt: skip
    assert result.cr == "00"
    assert result.identity.matricule == person["matricule"]


# -- normalisation and validation at the boundary -------------------------------------------
@pytest.mark.parametrize(
    ("birth_name", "given", "sex"),
    [
        ("adrtrois", ("dominique",), "f"),
        ("  Adrtrois ", ("Dominique",), "F"),
        ("ADRTROIS", ("Dominique ",), "f"),
    ],
)
def test_rest_context_normalises_civil_status_spellings(service, birth_name, given, sex):
    result = service.search_by_traits(TraitsQuery(birth_name, given, sex, "1997-02-26"), REST_CTX)
    assert result.identity.matricule == "297022A020778"


def test_accents_apostrophes_and_hyphens_are_normalised(service, base_db):
    """A person whose civil-status spelling differs from the INSi form (accents, ligatures,
    particles, typographic apostrophes) is found from the civil-status spelling on REST."""
    person = base_db.execute(
        "SELECT * FROM persons WHERE birth_name_raw != birth_name AND id > 10 "
        "AND (birth_name_raw LIKE '%''%' OR birth_name_raw GLOB '*[^ -~]*') ORDER BY id"
    ).fetchone()
    assert person is not None
    raw_name = person["birth_name_raw"].replace("'", "\u2019")
    query = TraitsQuery(
        raw_name, tuple(person["given_names_raw"].split(", ")), person["sex"],
        person["birth_date"],
    )  # fmt: skip
    result = service.search_by_traits(query, REST_CTX)
    assert result.cr in ("00", "02")
    if result.cr == "00":
        assert result.identity.birth_name == person["birth_name"]
    # Strict (SOAP) context: the same spelling is refused, naming the element and the rule.
    with pytest.raises(InsiError) as caught:
        service.search_by_traits(query, SOAP_CTX)
    assert caught.value.element in ("NomNaissance", "Prenom")
    assert caught.value.rule in ("lowercase", "diacritic", "ligature", "charset")


def test_hyphen_and_apostrophe_spacing_is_normalised(service):
    result = service.search_by_traits(
        TraitsQuery("ecetinsi", ("Pierre – Alain",), "M", "2009-07-14"), REST_CTX
    )
    assert result.identity.matricule == "1090763220834"
    with pytest.raises(InsiError) as caught:
        service.search_by_traits(
            TraitsQuery("d\u2019 Aeion", ("Cœur",), "m", "1987-01-25"), REST_CTX
        )
    assert caught.value.code == "insi_102"  # normalised to D'AEION / COEUR first


REFUSALS = [
    # (birth name, given names, sex, date, birthplace, strict?, element, rule)
    ("", ("JEAN",), "M", "1980-01-01", None, True, "NomNaissance", "required"),
    ("DUPONT", (), "M", "1980-01-01", None, True, "Prenom", "required"),
    ("DUPONT", ("JEAN",), "", "1980-01-01", None, True, "Sexe", "required"),
    ("DUPONT", ("JEAN",), "M", "", None, True, "DateNaissance", "required"),
    ("Dupont", ("JEAN",), "M", "1980-01-01", None, True, "NomNaissance", "lowercase"),
    ("DUPONTÉ", ("JEAN",), "M", "1980-01-01", None, True, "NomNaissance", "diacritic"),
    ("BŒUF", ("JEAN",), "M", "1980-01-01", None, True, "NomNaissance", "ligature"),
    ("DUPONT2", ("JEAN",), "M", "1980-01-01", None, False, "NomNaissance", "charset"),
    ("-DUPONT", ("JEAN",), "M", "1980-01-01", None, True, "NomNaissance", "first-character"),
    ("DUPONT", ("JEAN-",), "M", "1980-01-01", None, True, "Prenom", "last-character"),
    ("D''ARC", ("JEAN",), "M", "1980-01-01", None, True, "NomNaissance", "space-apostrophe"),
    ("DU---PONT", ("JEAN",), "M", "1980-01-01", None, True, "NomNaissance", "hyphen-run"),
    ("DUPONT", ("JEAN--LUC",), "M", "1980-01-01", None, True, "Prenom", "hyphen-run"),
    ("DUPONT", ("JEAN",), "X", "1980-01-01", None, False, "Sexe", "sex"),
    ("DUPONT", ("JEAN",), "M", "01/01/1980", None, False, "DateNaissance", "date-format"),
    # Digits of other scripts are no AAAA-MM-JJ (they are not a calendar date that is wrong).
    ("DUPONT", ("JEAN",), "M", "１９８０-01-01", None, False, "DateNaissance", "date-format"),
    ("DUPONT", ("JEAN",), "M", "١٩٨٠-٠١-٠١", None, True, "DateNaissance", "date-format"),
    ("DUPONT", ("JEAN",), "M", "1980-02-30", None, False, "DateNaissance", "date-value"),
    ("DUPONT", ("JEAN",), "M", "1700-01-01", None, False, "DateNaissance", "date-range"),
    ("DUPONT", ("JEAN",), "M", "2999-01-01", None, False, "DateNaissance", "date-range"),
    ("DUPONT", ("JEAN",), "M", "1980-01-01", "7501", False, "LieuNaissance", "cog-format"),
    ("DUPONT", ("JEAN",), "M", "1980-01-01", "99100", False, "LieuNaissance", "cog-value"),
    ("D" * 101, ("JEAN",), "M", "1980-01-01", None, False, "NomNaissance", "length"),
]


@pytest.mark.parametrize(
    ("name", "given", "sex", "day", "place", "strict", "element", "rule"),
    REFUSALS,
    ids=[f"{r[-2]}-{r[-1]}" for r in REFUSALS],
)
def test_each_refusal_names_element_and_rule(
    service, name, given, sex, day, place, strict, element, rule
):
    ctx = SOAP_CTX if strict else REST_CTX
    with pytest.raises(InsiError) as caught:
        service.search_by_traits(TraitsQuery(name, given, sex, day, place), ctx)
    error = caught.value
    assert (error.element, str(error.rule)) == (element, rule)
    assert error.code == "santeid_invalid_trait"
    assert error.http_status == 400
    assert error.fault == "Sender"


@pytest.mark.parametrize("ctx", [SOAP_CTX, REST_CTX], ids=["soap", "rest"])
@pytest.mark.parametrize(
    "query",
    [
        TraitsQuery("", ("JEAN",), "M", "1980-01-01"),
        TraitsQuery("DUPONT", ("",), "M", "1980-01-01"),
        TraitsQuery("DUPONT", ("JEAN",), " ", "1980-01-01"),
        TraitsQuery("DUPONT", ("JEAN",), "M", ""),
    ],
    ids=["birth-name", "given-names", "sex", "birth-date"],
)
def test_an_empty_trait_is_refused_with_a_sentence(service, query, ctx):
    """The text a REST ``detail``, a FHIR ``details.text`` and a SOAP ``siram:Erreur`` show:
    it said ``required``, the rule's id again ("Prenom : required [required]")."""
    with pytest.raises(InsiError) as caught:
        service.search_by_traits(query, ctx)
    assert caught.value.rule == "required"
    assert caught.value.message == "missing or empty"


def test_missing_base_is_a_clear_503(tmp_path):
    from santeid.insi.service import InsiService

    service = InsiService(tmp_path / "absent.sqlite3", tmp_path / "insi.sqlite3")
    with pytest.raises(InsiError) as caught:
        service.search_by_traits(TraitsQuery("A", ("B",), "M", "1980-01-01"), REST_CTX)
    assert caught.value.http_status == 503
    assert caught.value.code == "desir_1020"
    assert "santeid civil generate" in caught.value.detail
    assert service.audit.rows()[0]["result"] == "desir_1020"


def test_the_fast_path_accepts_only_what_the_full_rules_accept_unchanged():
    """``_fast_traits`` skips civil_status.traits for values already in plain INSi form: on
    random inputs it must agree with both the strict and the normalising full paths."""
    import random
    from datetime import date as day

    from santeid.civil_status import traits as tr
    from santeid.insi.service import _fast_traits

    rng = random.Random(5)
    pieces = ["AB", "A", "B", "É", "a", " ", "-", "--", "'", "  ", " - ", "'A"]

    def text(length: int) -> str:
        return "".join(rng.choice(pieces[:4] if rng.random() < 0.5 else pieces) for _ in
                       range(length))  # fmt: skip

    today = day.today()
    accepted = 0
    for _ in range(20000):
        name = text(rng.randint(0, 4))
        given = tuple(text(rng.randint(0, 3)) for _ in range(rng.randint(0, 2)))
        sex = rng.choice(["M", "F"] * 4 + ["m", "X"])
        birth = rng.choice(["1980-01-01"] * 6 + ["1980-02-30", "2999-01-01", "1980-1-1"])
        place = rng.choice([None, "", "2A020"] * 3 + ["99100", "00123", "2a020"])
        query = TraitsQuery(name, given, sex, birth, place)
        fast = _fast_traits(query, today)
        if fast is None:
            continue
        accepted += 1
        strict = tr.validate_traits(
            birth_name=name, given_names=" ".join(given), sex=sex, birth_date=birth,
            birthplace=place or None, today=today,
        )  # fmt: skip
        normalised = tr.normalize_traits(
            birth_name=name, given_names=[g for g in given if g], sex=sex, birth_date=birth,
            birthplace=place or None, today=today,
        )  # fmt: skip
        assert fast == strict == normalised, query
    assert accepted > 100


@pytest.mark.parametrize("sandbox", [True, False])
def test_the_slow_sandbox_scenario_waits_then_answers_01(tmp_path, insi_base, sandbox):
    """``SANTEID-FAUTE`` / ``LENT``: in sandbox mode the answer comes ``sandbox_delay`` seconds
    late (client time-outs can be tested), then as for any unknown name; outside it, at once."""
    from santeid.insi.service import InsiService

    waits: list[float] = []
    service = InsiService(
        insi_base, tmp_path / "insi.sqlite3", sandbox=sandbox, sandbox_delay=7.5,
        sleep=waits.append,
    )  # fmt: skip
    query = TraitsQuery("SANTEID-FAUTE", ("LENT",), "F", "1990-01-01")
    for ctx in (REST_CTX, SOAP_CTX):
        assert service.search_by_traits(query, ctx).cr == "01"
    assert waits == ([7.5, 7.5] if sandbox else [])


def test_the_server_takes_the_slow_scenarios_delay_from_its_settings(settings):
    from santeid.insi.service import InsiService

    settings.sandbox.insi_delay = 2.5
    service = InsiService.for_settings(settings)
    assert (service.sandbox, service.sandbox_delay) == (settings.sandbox.enabled, 2.5)


@pytest.mark.parametrize("strict", [True, False], ids=["soap", "rest"])
def test_today_is_the_french_civil_date_on_every_channel(tmp_path, insi_base, strict):
    """At 23:30 UTC on 31 December it is already 1 January in France (UTC+1): a person born
    that day in France is not "born in the future". The core judged the date by the UTC one,
    while its FHIR answers dated the query by the French one."""
    import datetime as dt

    from santeid.insi.service import InsiService

    moment = dt.datetime(2025, 12, 31, 23, 30, tzinfo=dt.UTC)
    service = InsiService(insi_base, tmp_path / "insi.sqlite3", clock=lambda: moment)
    assert service.today() == dt.date(2026, 1, 1)
    result = service.search_by_traits(
        TraitsQuery("NOUVEAUNE", ("JEAN",), "M", "2026-01-01"), SOAP_CTX if strict else REST_CTX
    )
    assert result.cr == "01"  # searched (no such person), not refused
    with pytest.raises(InsiError) as caught:
        service.search_by_traits(
            TraitsQuery("NOUVEAUNE", ("JEAN",), "M", "2026-01-02"), SOAP_CTX if strict else REST_CTX
        )
    assert str(caught.value.rule) == "date-range"
