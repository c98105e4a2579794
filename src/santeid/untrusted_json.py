"""The one reading of JSON a client or an operator chose (a request body, a JWT segment read
before its signature is checked, a console form, a file given to ``santeid clients add``).
Apart from the web layer, so that a command reading a file does not load Flask."""

from __future__ import annotations

import base64
import json
import math
import sys


def loads_untrusted_json(raw: bytes | str):
    """``json.loads`` of text someone else chose: JSON nested deeper than Python can parse is
    a ``ValueError`` like any other malformed JSON, never a ``RecursionError`` that would
    escape as a 500 or a traceback."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise
    except ValueError:
        # The only other ValueError: an integer longer than Python converts (CVE-2020-10735,
        # https://docs.python.org/3/library/stdtypes.html#int-max-str-digits), whose text
        # advises sys.set_int_max_str_digits() — a remedy for santeid's operator, not for the
        # caller it would be shown to.
        raise ValueError(
            f"an integer with more than {sys.get_int_max_str_digits()} digits"
        ) from None


def segment_object(segment: str) -> dict:
    """The JSON object a base64url segment of a compact JWS holds (its header or its payload,
    RFC 7515 §7.1), read before any signature is checked; ``ValueError`` for anything else."""
    data = loads_untrusted_json(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def json_number(value: object) -> float | None:
    """The one reading of a number in JSON a client wrote (a JWT's NumericDate, RFC 7519 §2:
    integer or not), as a float; ``None`` for anything else: a boolean (a Python ``int``),
    ``NaN`` and the infinities (Python's ``json`` reads ``NaN`` and ``Infinity``), and an
    integer beyond a double's range — ``json`` reads integers of any size, which ``float()``
    and ``math.isfinite`` refuse with ``OverflowError``: an unplanned 500 for the caller."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
