"""The one reading of JSON a client or an operator chose (a request body, a JWT segment read
before its signature is checked, a console form, a file given to ``santeid clients add``).
Apart from the web layer, so that a command reading a file does not load Flask."""

from __future__ import annotations

import json


def loads_untrusted_json(raw: bytes | str):
    """``json.loads`` of text someone else chose: JSON nested deeper than Python can parse is
    a ``ValueError`` like any other malformed JSON, never a ``RecursionError`` that would
    escape as a 500 or a traceback."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
