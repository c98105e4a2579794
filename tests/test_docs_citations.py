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


#: A link to a section: ``[text](other.md#anchor)``, or ``(#anchor)`` in the same file.
SECTION_LINK = re.compile(r"\]\(([^()\s#]*\.md)?#([^()\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
LINKED_TEXT = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def _anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a file's headings: the heading as shown (a link's text, no
    backticks), lower case, without punctuation but ``-`` and ``_``, spaces as ``-``; the
    second of two same headings ``-1`` (github-slugger), and the ``<a id>`` written out."""
    anchors: set[str] = set(re.findall(r'<a (?:id|name)="([^"]+)"', markdown))
    seen: dict[str, int] = {}
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not (heading := HEADING.match(line)):
            continue
        shown = LINKED_TEXT.sub(r"\1", heading.group(1)).lower()
        slug = re.sub(r"[^\w\- ]", "", shown).replace(" ", "-")
        repeat = seen.get(slug, 0)
        seen[slug] = repeat + 1
        anchors.add(f"{slug}-{repeat}" if repeat else slug)
    return anchors


def _broken_section_links(path) -> list[str]:
    broken = []
    for target, anchor in SECTION_LINK.findall(path.read_text()):
        linked = (path.parent / target) if target else path
        if not linked.is_file() or anchor not in _anchors(linked.read_text()):
            broken.append(f"{target}#{anchor}")
    return broken


def test_every_link_to_a_section_finds_it():
    """A link to a section of a doc (``endpoints.md#session-status-iframe``) opens that
    section on GitHub: a heading renamed since leaves the reader at the top of the file."""
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken = {
        str(path.relative_to(ROOT)): found
        for path in documents
        if (found := _broken_section_links(path))
    }
    assert broken == {}


def test_a_section_anchor_is_the_heading_as_github_shows_it(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "### 5.3 Logout, `session_state` and more\n\n## Notes\n\n## Notes\n\n"
        "### Operations: health ([operations.md](operations.md))\n\n"
        "[a](#53-logout-session_state-and-more) [b](#notes-1) [c](#operations-health-operationsmd)"
        " [d](#session-status-iframe) [e](doc.md#notes-2)\n"
    )
    assert _broken_section_links(doc) == ["#session-status-iframe", "doc.md#notes-2"]
