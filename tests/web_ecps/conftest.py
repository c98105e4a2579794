"""Fixtures of the e-CPS web page tests (helpers in ``web_ecps_helpers.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from tests.support.redis_server import free_port
from tests.support.web_ecps import RecordingHandler
from tests.support.web_ecps import SmsReceiver


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, RecordingHandler]]:
    """A plain SMTP server on 127.0.0.1 (no TLS, no AUTH)."""
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, handler
    controller.stop()


@pytest.fixture
def sms_receiver() -> Iterator[SmsReceiver]:
    with SmsReceiver() as receiver:
        yield receiver
