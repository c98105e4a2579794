"""Constants shared by the INSi tests (a module of its own: ``conftest`` names collide across
test directories, so nothing is imported from it)."""

from __future__ import annotations

from santeid.insi.model import CallContext

REST_CTX = CallContext(
    software_id="TESTSGIE0000",
    structure_id="10B0152872",
    professional_id="899900063480",
    channel="rest",
    auth_method="bearer",
)
SOAP_CTX = CallContext(
    software_id="TESTSGIE0000",
    structure_id="10B0152872",
    professional_id=None,
    channel="soap",
    auth_method="certificate",
)
