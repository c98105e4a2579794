"""docs/deployment.md and docs/configuration.md name every component ``santeid db`` knows
(:func:`santeid.db.schemas.all_schemas`) and its embedded file: what an operator backs up or
moves is the whole list."""

from __future__ import annotations

import re

from santeid.db.schemas import all_schemas
from tests.support.paths import ROOT

DEPLOYMENT = (ROOT / "docs" / "deployment.md").read_text()
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()


def test_the_schema_versions_section_lists_every_component():
    listed = re.search(r"one row per\s+component: ([^)]*)\)", DEPLOYMENT)
    assert listed, "docs/deployment.md: the list of components under 'Schema versions'"
    names = re.findall(r"`([^`]+)`", listed.group(1))
    assert names == [schema.component.name for schema in all_schemas()]


def test_every_component_file_is_named_where_the_embedded_files_are_listed():
    one_host = DEPLOYMENT.split("## One host (embedded)")[1].split("\n## ")[0]
    data_dir = next(line for line in CONFIGURATION.splitlines() if line.startswith("| `data_dir`"))
    for schema in all_schemas():
        name = f"`{schema.component.file_name}`"
        assert name in one_host, f"docs/deployment.md, One host: {name}"
        assert name in data_dir, f"docs/configuration.md, data_dir: {name}"
