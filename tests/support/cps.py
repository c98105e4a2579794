"""Constants shared by the CPS-card tests."""

from __future__ import annotations

#: Demo professionals (src/santeid/directory/demo_professionals.json).
ACTIVE_ID = "810000000004"  # LEGRAND Antoine: no e-CPS, not auto-approved
INACTIVE_ID = "810000000024"  # FABRE Odile: status inactive
UNKNOWN_ID = "810000000099"  # absent from the directory
