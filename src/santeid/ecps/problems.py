"""Refusals of the e-CPS device API as RFC 9457 problem details.

Every refusal has a stable ``code`` (what a phone app switches on). The codes, their HTTP status
and their title are entries of the one problem catalogue (:mod:`santeid.problems`, family
``ecps``), whose ``type`` URIs ``{origin}/problems/{code}`` santeid serves;
``docs/ecps-device-protocol.md`` lists them and a test keeps the two in step.
"""

from __future__ import annotations

from typing import Any

from santeid import problems

#: ``code`` → (HTTP status, title) of the e-CPS device API's problems (catalogue order).
CATALOGUE: dict[str, tuple[int, str]] = {
    code: (p.status, p.title) for code, p in problems.family("ecps").items()
}


def problem_type(code: str) -> str:
    """The ``type`` URI of ``code`` (RFC 9457 §3.1.1); needs the application's settings."""
    from santeid.services import services

    return problems.problem_uri(services().settings, code)


class Problem(Exception):
    """A refusal, raised anywhere under the device API and answered by
    :func:`santeid.ecps.api.to_response` (the problem object of
    :func:`santeid.problem_pages.problem_body`).

    ``extra`` members are added to the problem object (RFC 9457 §3.2 extension members),
    e.g. ``remaining_attempts``.
    """

    def __init__(self, code: str, detail: str | None = None, **extra: Any) -> None:
        if code not in CATALOGUE:  # a programming error, caught by the tests
            raise KeyError(f"unknown e-CPS problem code {code!r}")
        self.code = code
        self.status, self.title = CATALOGUE[code]
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(f"{code}: {self.detail}")
