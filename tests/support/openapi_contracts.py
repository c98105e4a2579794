"""schemathesis over an OpenAPI document santeid publishes, against a real server: requests
made from the document (valid, then invalid), every answer checked against it — no 5xx, a status
the operation declares, a declared media type, a body its schema accepts, the headers it
declares. Shared by tests/e2e/test_openapi_contracts.py (short, derandomized) and
bench/openapi_contracts.py (long, seeded). schemathesis is imported by the functions, not by
every test process that collects a module importing this one."""

from __future__ import annotations

from collections.abc import Callable

import hypothesis
import requests
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis.errors import Unsatisfiable

from tests.support.ciba import poll_over_http
from tests.support.ciba import start_over_http

#: What every run is: no deadline, no example database, no health check (the requests go to a
#: server; a slow answer is no defect of the generator).
BASE_RUN = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))

Headers = Callable[[], dict[str, str]]


def contract_failures(
    document_url: str,
    headers_of: Callable[[], Headers],
    *,
    run: settings,
    stream_examples: int,
    seed: int | None = None,
) -> list[tuple[str, Exception]]:
    """``run`` (a hypothesis ``settings``: examples, derandomize…) on every operation of the
    document at ``document_url`` — whose ``servers`` are where the requests go —, valid then
    invalid requests (an operation whose every input is free has none invalid);
    ``stream_examples`` for an event stream, which the server holds open; ``seed``: the
    requests drawn when ``run`` is not derandomized. ``headers_of()``
    is called once per operation and gives the headers of each of its requests. The
    failures: ``(operation, error)``, schemathesis' error reproducing the request."""
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi import checks

    every_check = [
        not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_schema_conformance,
        checks.response_headers_conformance,
    ]
    schema = schemathesis.openapi.from_url(document_url, timeout=10)
    failures: list[tuple[str, Exception]] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        headers = headers_of()
        answers = operation.definition.raw["responses"].get("200", {}).get("content", {})
        examples = stream_examples if "text/event-stream" in answers else run.max_examples
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            cases = operation.as_strategy(generation_mode=mode)
            check = _check(cases, headers, every_check, settings(run, max_examples=examples))
            if seed is not None:
                check = hypothesis.seed(seed)(check)
            try:
                check()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as error:  # noqa: BLE001 - every operation is run, then reported
                failures.append((f"{operation.label} ({mode})", error))
    return failures


def _check(cases, headers: Headers, every_check: list, run: settings):
    @settings(run)
    @given(case=cases)
    def check(case):
        case.call_and_validate(headers=headers(), checks=every_check, timeout=30)

    return check


def ciba_access_token(issuer: str, credentials: tuple[str, str], national_id: str) -> str:
    """The access token of a CIBA login of ``national_id`` (a sandbox professional approved
    at once) by the client of ``credentials``, at the real server of ``issuer``."""
    discovery = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=5).json()
    auth_req_id = start_over_http(discovery, credentials, national_id)
    answer = poll_over_http(discovery, credentials, auth_req_id)
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]
