"""The one reading of JSON a client or an operator chose (a request body, a JWT segment read
before its signature is checked, a console form, a file given to ``santeid clients add``).
Apart from the web layer, so that a command reading a file does not load Flask.

An object with a member name twice (after its escapes are read: ``"sex"`` and ``"\\u0073ex"``
are one name) is refused, :class:`DuplicateMember` naming it: I-JSON (RFC 7493 §2.3,
https://www.rfc-editor.org/rfc/rfc7493#section-2.3) requires unique names, and RFC 8259 §4
leaves what a parser does with duplicates open — Python's ``json`` keeps the last, others the
first or both, so two readers of one body (a gateway, an audit log, santeid) would act on two
different requests. Two readings keep the last member instead (``last_member_wins``), as
Jackson, Keycloak's JSON library, does by default:

* JWTs: RFC 7519 §4 lets a JWT parser "use a JSON parser that returns only the lexically last
  duplicate member name" (RFC 7515 §4 the same of a JOSE header), as the JOSE library verifying
  them does, so that santeid's reading before the signature check and the library's are one;
  their bytes are signed by the party whose claims they are;
* the OIDC ``claims`` parameter, read as Keycloak reads it (``santeid.oidc.authorize``).
"""

from __future__ import annotations

import base64
import json
import math
import sys


class DuplicateMember(ValueError):
    """An object has the member :attr:`member` more than once (RFC 7493 §2.3)."""

    def __init__(self, member: str) -> None:
        super().__init__(f"member {member!r} appears more than once")
        self.member = member


def _unique_members(pairs: list[tuple[str, object]]) -> dict:
    """``object_pairs_hook``: the object, unless a name comes twice."""
    members = dict(pairs)
    if len(members) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise DuplicateMember(name)
            seen.add(name)
    return members


def loads_untrusted_json(raw: bytes | str, *, last_member_wins: bool = False):
    """``json.loads`` of text someone else chose: JSON nested deeper than Python can parse is
    a ``ValueError`` like any other malformed JSON, never a ``RecursionError`` that would
    escape as a 500 or a traceback; a member name twice in an object is a
    :class:`DuplicateMember` (a ``ValueError``), unless ``last_member_wins`` (JWTs and the OIDC
    ``claims`` parameter: module docstring)."""
    try:
        if last_member_wins:
            return json.loads(raw)
        return json.loads(raw, object_pairs_hook=_unique_members)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError, DuplicateMember):
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
    RFC 7515 §7.1), read before any signature is checked; ``ValueError`` for anything else. A
    member twice: the last one, as the JOSE library that then verifies the token reads it
    (RFC 7519 §4, RFC 7515 §4), so that both readings are one."""
    data = loads_untrusted_json(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)), last_member_wins=True
    )
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
