"""The test suite's own layout: tests/<package>/ mirrors src/santeid/<package>/, helpers live in
the tests.support package, and no test edits ``sys.path`` (pytest runs with
``--import-mode=importlib``, pyproject.toml)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.paths import ROOT
from tests.support.paths import suite_files

TESTS = ROOT / "tests"
PACKAGE = ROOT / "src" / "santeid"
#: Folders outside the mirror: shared helpers and fixtures, and the tests that run real server
#: processes or browsers (their subject is a whole deployment, not one module).
OUTSIDE_THE_MIRROR = {"support", "e2e"}


def _test_folders() -> list[Path]:
    """Every folder under tests/ (outside support/ and e2e/) that holds test modules or a
    conftest: data folders next to them (golden files, a node project) are not packages."""
    folders = []
    for path in suite_files(TESTS):
        relative = path.parent.relative_to(TESTS)
        if relative.parts and relative.parts[0] in OUTSIDE_THE_MIRROR:
            continue
        if path.name.startswith("test_") or path.name == "conftest.py":
            folders.append(path.parent)
    return sorted(set(folders))


def test_every_test_folder_mirrors_a_package_of_src_santeid():
    strays = [
        str(folder.relative_to(TESTS))
        for folder in _test_folders()
        if folder != TESTS and not (PACKAGE / folder.relative_to(TESTS) / "__init__.py").is_file()
    ]
    assert strays == [], f"tests/<dir> must mirror src/santeid/<dir>: {strays}"


def test_the_mirror_check_sees_the_nested_folders():
    folders = {str(folder.relative_to(TESTS)) for folder in _test_folders()}
    assert {"oidc", "insi/soap"} <= folders


def test_no_test_module_edits_sys_path():
    edits = re.compile(r"sys\.path\.(insert|append|extend)|sys\.path\s*\+?=")
    offenders = [
        str(path.relative_to(ROOT))
        for path in suite_files(TESTS)
        if path != Path(__file__).resolve() and edits.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "import through tests.support.* instead: " + ", ".join(offenders)


def test_test_file_names_do_not_repeat_their_folder():
    repeated = [
        str(path.relative_to(TESTS))
        for path in suite_files(TESTS, "test_*.py")
        if path.parent != TESTS
        and path.parent.name not in OUTSIDE_THE_MIRROR
        and path.name.startswith(f"test_{path.parent.name}_")
    ]
    assert repeated == []
