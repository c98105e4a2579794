"""Citations a reader can open: a commit cited in the documentation is a commit id git and
GitHub resolve — 40 hex digits, or a prefix of at least 7 — never a longer string."""

from __future__ import annotations

import re

from tests.support.paths import ROOT

CITED_COMMIT = re.compile(r"commits?\s+`([0-9a-f]+)…?`")


def _wrong(text: str) -> list[str]:
    return [commit for commit in CITED_COMMIT.findall(text) if not 7 <= len(commit) <= 40]


def test_every_cited_commit_id_can_be_opened():
    wrong = {
        str(path.relative_to(ROOT)): found
        for path in sorted((ROOT / "docs").rglob("*.md"))
        if (found := _wrong(path.read_text()))
    }
    assert wrong == {}


def test_a_commit_id_too_long_is_found_across_a_line_break():
    assert _wrong("`File.java`, commit\n  `006a0f856e0181a5ff94d2a0f2838201dd643f9a1780b`)") == [
        "006a0f856e0181a5ff94d2a0f2838201dd643f9a1780b"
    ]
