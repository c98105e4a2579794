"""The core, REST and FHIR give the same identities for the same few hundred queries."""

from __future__ import annotations

from collections import Counter

from tests.support.insi import REST_CTX
from tests.support.insi_parity import core_adapter
from tests.support.insi_parity import fhir_adapter
from tests.support.insi_parity import generate_queries
from tests.support.insi_parity import mismatches
from tests.support.insi_parity import rest_adapter


def test_core_rest_and_fhir_agree_on_generated_queries(app, client, bearer, insi_base):
    queries = generate_queries(insi_base, count=300)
    assert len(queries) >= 250
    adapters = {
        "core": core_adapter(app.extensions["santeid"].insi, REST_CTX),
        "rest": rest_adapter(client, bearer),
        "fhir": fhir_adapter(client, bearer),
    }
    assert mismatches(adapters, queries) == []

    # The queries exercise every kind of answer, not just one.
    results = Counter(adapters["core"](q).result for q in queries)
    assert results["00"] >= 50
    assert results["01"] >= 20
    assert results["02"] >= 5
    assert results["error:santeid_invalid_trait"] >= 3
    assert results["error:insi_102"] == 1
