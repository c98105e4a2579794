"""santeid: Pro Santé Connect–compatible OpenID Connect provider and INSi teleservice.

Every ``santeid.*`` module imports this package first, so it imports nothing itself: its names
are loaded on first use (PEP 562 module ``__getattr__``, https://peps.python.org/pep-0562/).
A command such as ``santeid clients add`` thus never loads Flask, which only the application
(:mod:`santeid.app`) needs."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from santeid.app import create_app
    from santeid.app import create_services
    from santeid.settings import ConfigurationError
    from santeid.settings import Settings
    from santeid.settings import load_settings

__all__ = ["ConfigurationError", "Settings", "create_app", "create_services", "load_settings"]

#: Each public name and the module that defines it.
_HOMES = {
    "create_app": "santeid.app",
    "create_services": "santeid.app",
    "ConfigurationError": "santeid.settings",
    "Settings": "santeid.settings",
    "load_settings": "santeid.settings",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'santeid' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
