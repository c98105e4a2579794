"""Two workers of one host (two apps on one data directory, each with its own per-process
directory cache): a professional deactivated through one is refused by the other's next
CIBA request (docs/directory.md, "Reading the directory while serving")."""

from __future__ import annotations

import dataclasses

from santeid import create_app
from santeid.storage import MemoryStore
from tests.support.ciba import backchannel
from tests.support.ciba import register_ciba_client
from tests.support.ciba import start


def test_a_deactivation_through_one_worker_is_refused_by_the_other(app, settings, auto_id):
    other = create_app(settings, store=MemoryStore())
    meta = register_ciba_client(app)
    worker_a, worker_b = app.test_client(), other.test_client()
    start(worker_b, meta, auto_id)  # worker B has read (and cached) the professional

    directory_a = app.extensions["santeid"].directory
    directory_a.upsert(dataclasses.replace(directory_a.get(auto_id), status="inactive"))

    refused = backchannel(worker_b, meta, login_hint=auto_id)
    assert refused.status_code == 400
    assert refused.get_json() == {"error": "invalid_request", "error_description": "invalid_user"}
    assert backchannel(worker_a, meta, login_hint=auto_id).status_code == 400

    directory_a.upsert(dataclasses.replace(directory_a.get(auto_id), status="active"))
    start(worker_b, meta, auto_id)
