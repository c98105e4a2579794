"""Every answer the control API gives these tests is checked against its contract
(``tests/support/control_api.py``): a status, media type or body the OpenAPI document does not
declare fails the test that met it."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.support.control_api import check_answer


@pytest.fixture(autouse=True)
def control_api_contract(monkeypatch):
    opened = FlaskClient.open

    def open_and_check(self, *args, **kwargs):
        response = opened(self, *args, **kwargs)
        asked = response.request
        body = response.get_json(silent=True) if response.is_json else None
        check_answer(
            self.application,
            asked.method,
            asked.path,
            response.status_code,
            response.mimetype,
            body,
        )
        return response

    monkeypatch.setattr(FlaskClient, "open", open_and_check)
