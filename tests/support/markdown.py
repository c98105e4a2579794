"""Reading the tables of the docs, for tests that hold the code to what a doc's table says."""

from __future__ import annotations


def table_rows(text: str, header: str) -> list[list[str]]:
    """The cells of every row of the tables of ``text`` (Markdown) whose header line is
    ``header``, the separator line left out."""
    rows = []
    in_table = False
    for line in text.splitlines():
        if line.strip() == header:
            in_table = True
            continue
        if in_table and line.startswith("|"):
            if not set(line) <= set("|-: "):
                rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
            continue
        in_table = False
    return rows
