"""The one mapping from a proof to ``authMode``, ``acr`` and ``amr`` (santeid.psc.proofs)."""

from __future__ import annotations

import pytest

from santeid.psc import proofs
from santeid.settings import Settings


@pytest.mark.parametrize("proof", list(proofs.PROOFS))
def test_every_proof_reports_an_auth_mode_psc_sends(proof):
    claims = proofs.proof_claims(proof, Settings())
    assert claims["auth_mode"] in ("CARD", "MOBILE")
    assert claims["amr"]


def test_acr_comes_from_the_settings_of_each_proof():
    settings = Settings(default_acr="eidas1", ecps_acr="eidas2", card_acr="eidas3")
    acr = {proof: proofs.proof_claims(proof, settings)["acr"] for proof in proofs.PROOFS}
    assert acr == {
        proofs.SANDBOX: "eidas1",
        proofs.ECPS: "eidas2",
        proofs.ECPS_OFFLINE: "eidas2",
        proofs.CARD: "eidas3",
    }


def test_the_device_reported_amr_wins_over_the_default():
    assert proofs.proof_claims(proofs.ECPS, Settings(), ["pin", "swk"])["amr"] == ["pin", "swk"]
    assert proofs.proof_claims(proofs.ECPS, Settings())["amr"] == ["swk", "pin", "mfa"]
    assert proofs.proof_claims(proofs.SANDBOX, Settings())["amr"] == ["sandbox"]
