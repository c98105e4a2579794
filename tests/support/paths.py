"""Where the repository is, for tests that run a command in it or read one of its files."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

#: The repository's root folder (this file is tests/support/paths.py).
ROOT = Path(__file__).resolve().parents[2]

#: Folders that hold installed third-party code or caches, not the suite's own: Node.js
#: packages (``npm ci``), a Python program's virtual environment
#: (tests/support/python_venv.py), bytecode caches.
INSTALLED = frozenset({"node_modules", ".venv", "__pycache__"})


def suite_files(root: Path, pattern: str = "*.py") -> list[Path]:
    """The files under ``root`` whose name matches ``pattern``, sorted, the
    :data:`INSTALLED` folders left out (not walked)."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in INSTALLED]
        found += [Path(folder) / name for name in files if fnmatch.fnmatch(name, pattern)]
    return sorted(found)
