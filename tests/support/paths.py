"""Where the repository is, for tests that run a command in it or read one of its files."""

from __future__ import annotations

from pathlib import Path

#: The repository's root folder (this file is tests/support/paths.py).
ROOT = Path(__file__).resolve().parents[2]
