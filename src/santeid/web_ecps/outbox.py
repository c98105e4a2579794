"""``/sandbox/outbox``: the messages santeid "sent" in sandbox mode
(docs/reference/pro-sante-connect.md §13's two
activation codes), newest first, codes readable — the sandbox counterpart of a mail catcher.

Outside sandbox mode these pages do not exist (404): real messages leave through SMTP and
the SMS hook (``santeid.messaging``) and are never kept.
"""

from __future__ import annotations

from flask import abort
from flask import jsonify
from flask import request

from santeid.cache_control import no_store
from santeid.messaging import OutboxSender
from santeid.security import whole_number
from santeid.services import services
from santeid.web_ecps.common import bp
from santeid.web_ecps.common import page
from santeid.web_ecps.common import senders
from santeid.web_ecps.common import translator

#: Messages shown by default, and at most.
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _outbox() -> OutboxSender:
    outbox = senders().outbox if services().settings.sandbox.enabled else None
    if outbox is None:
        abort(404)
    return outbox


def read_limit(written: str | None) -> int | None:
    """``?limit=`` of the outbox (these pages and the control API's ``GET /outbox``): the
    default when absent or empty, a whole number capped at :data:`MAX_LIMIT` (one of too many
    digits for :func:`whole_number` included); ``None`` for anything else, which each caller
    answers its own way."""
    if not written:
        return DEFAULT_LIMIT
    if not (written.isascii() and written.isdigit()):
        return None
    limit = whole_number(written)
    return MAX_LIMIT if limit is None else min(limit, MAX_LIMIT)


def _limit() -> int:
    """The pages' limit: one that is no whole number is the default, as for a person's typo."""
    limit = read_limit(request.args.get("limit"))
    return DEFAULT_LIMIT if limit is None else limit


@bp.route("/sandbox/outbox")
def outbox():
    entries = _outbox().latest(_limit(), to=request.args.get("to") or None)
    return page("sandbox/outbox.html", translator(), entries=[e.to_dict() for e in entries])


@bp.route("/sandbox/outbox.json")
def outbox_json():
    """``{"messages": [{id, created_at, time, channel, to, subject, body}, …]}``, newest
    first; ``?to=`` keeps one recipient, ``?limit=`` (≤ 200) caps the count."""
    entries = _outbox().latest(_limit(), to=request.args.get("to") or None)
    response = jsonify(messages=[e.to_dict() for e in entries])
    return no_store(response)
