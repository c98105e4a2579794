"""``[ecps]``: the e-CPS mobile authenticator, its activation and its limits (santeid.ecps,
santeid.web_ecps, docs/ecps-device-protocol.md, docs/security.md)."""

from __future__ import annotations

from santeid.settings.base import Count
from santeid.settings.base import HttpUrlText
from santeid.settings.base import Seconds
from santeid.settings.base import Section


class EcpsSettings(Section):
    flat_prefix = "ecps_"

    #: Seconds a professional has to approve a login on the phone.
    request_lifetime: Seconds = 120
    #: Seconds an activation code (QR) stays valid; single use.
    activation_code_lifetime: Seconds = 90
    #: Wrong PINs in a row that lock a device until it is activated again.
    pin_attempts: Count = 3
    #: Wrong offline (TOTP) codes that lock the offline fallback, and for how long (s).
    totp_failures: Count = 5
    totp_lock: Seconds = 900
    #: Longest wait of a device long-poll, in seconds.
    long_poll: Seconds = 25
    #: Public address of the app that activation QR codes open, e.g.
    #: ``https://192.168.1.20:5443/ecps/app/`` for a phone on the same network; empty = the
    #: issuer's origin followed by ``/ecps/app/``.
    app_url: HttpUrlText = ""
    #: e-CPS long polls and event streams one device may hold open at once (429 beyond).
    waits_per_device: Count = 2
    #: Pending e-CPS requests one professional may have at a time; a new one withdraws the
    #: oldest (a professional approves one login at a time).
    max_pending_requests: Count = 1
    #: e-CPS requests (pushes to the phone) the login page may start per professional and per
    #: client address within ``ecps_push_window`` seconds; beyond, 429 on the login page.
    push_limit_per_professional: Count = 10
    push_limit_per_address: Count = 30
    push_window: Seconds = 600
    #: Wrong offline codes a professional may receive from all addresses together within
    #: ``ecps_totp_lock`` seconds (each address is locked after ``ecps_totp_failures``).
    totp_failures_per_professional: Count = 20
    #: Wrong offline codes a professional may receive from all addresses together within 24 h
    #: (a window starting at the first): beyond, the offline code is refused to everyone until
    #: the window ends, which bounds a slow guesser that waits out each ``ecps_totp_lock``.
    totp_failures_per_day: Count = 50
    #: Self-service activation: code pairs sent per professional and per requesting address
    #: within ``ecps_activation_window`` seconds.
    activation_sends_per_professional: Count = 5
    activation_sends_per_address: Count = 3
    activation_window: Seconds = 600
