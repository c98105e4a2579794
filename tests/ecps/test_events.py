"""e-CPS activations, wrong PINs, locks and revocations become authentication events and
metrics."""

from __future__ import annotations

from santeid.observability import events
from santeid.observability.metrics import OWN_METRICS


def _count(name: str) -> float:
    return OWN_METRICS.get_sample_value(name) or 0.0


def test_wrong_pins_lock_and_revocation_are_recorded(app, phone, ecps, national_id):
    store = app.extensions["santeid"].events
    (activation,) = store.list(types=(events.DEVICE_ACTIVATION,))
    assert (activation.professional, activation.device) == (national_id, phone.device_id)
    wrong_before = _count("santeid_ecps_wrong_pins_total")
    locks_before = _count("santeid_ecps_device_locks_total")

    request = ecps.create_browser_request(national_id, client_name="Service de test")
    for pin in ("1111", "2222", "3333"):
        assert phone.decide(request.request_id, pin=pin, code=request.code).status_code == 403
    failures = store.list(types=(events.PIN_FAILURE,))
    assert len(failures) == 3 and {f.device for f in failures} == {phone.device_id}
    (lock,) = store.list(types=(events.DEVICE_LOCK,))
    assert lock.professional == national_id
    assert _count("santeid_ecps_wrong_pins_total") - wrong_before == 3
    assert _count("santeid_ecps_device_locks_total") - locks_before == 1
    # The PIN itself is never stored with an event.
    assert all("1111" not in str(e.as_json()) for e in store.list())

    with app.test_request_context():
        assert ecps.revoke_device(phone.device_id)
    (revocation,) = store.list(types=(events.DEVICE_REVOCATION,))
    assert revocation.device == phone.device_id
    # The professional's too: `santeid events list --professional` and the console's recent
    # events of the professional show it.
    assert revocation.professional == national_id
    assert events.DEVICE_REVOCATION in {e.type for e in store.list(professional=national_id)}
