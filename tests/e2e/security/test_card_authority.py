"""Outside sandbox mode, card logins trust ``cps_ca_file`` only (docs/cps-card.md,
"Production"; docs/security.md, "CPS cards"): the test CPS authority's key lies unencrypted in
``keys_dir``, so anyone who can run ``santeid cps issue-card`` or read that folder could mint
an ``eidas3`` card login for any professional. Against a real ``santeid serve`` outside sandbox
mode with ``cps_ca_file`` empty, such a card (sent by the trusted proxy, as nginx does) answers
``untrusted_issuer``; the same card is accepted once an operator lists that authority in
``cps_ca_file`` on purpose. ``cps issue-card`` itself refuses outside sandbox mode unless told
``--test-authority``."""

from __future__ import annotations

import pytest
import requests

from santeid.pki import load_certificates
from tests.support.attack_server import browser_from
from tests.support.cps import ACTIVE_ID
from tests.support.security import CLIENT
from tests.support.security import card_login_link
from tests.support.servers import PROXY
from tests.support.servers import forwarded_certificate
from tests.support.servers import production_process
from tests.support.servers import santeid_home

pytestmark = [pytest.mark.server]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """The directory, the client, and a card minted with the test authority by the command line
    outside sandbox mode (``--test-authority``), in one folder the servers share."""
    home = tmp_path_factory.mktemp("card-authority")
    production = santeid_home(home, sandbox=False)
    production.cli("directory", "seed-demo")
    production.cli("cps", "issue-card", ACTIVE_ID, "--out", str(home / "card"),
                   "--test-authority")  # fmt: skip
    production.add_client(CLIENT)
    return home


def _card_login(server, home) -> requests.Response:
    """The card link of a fresh login, followed from the proxy's address with the minted card
    in the certificate header (``$ssl_client_escaped_cert``)."""
    card = load_certificates(home / "card" / "cert.pem")[0]
    with browser_from(PROXY) as browser:
        return browser.get(card_login_link(server, browser), headers=forwarded_certificate(card),
                           allow_redirects=False, timeout=10)  # fmt: skip


def test_a_test_card_is_untrusted_outside_sandbox_mode_without_cps_ca_file(home):
    with production_process(home, log_name="no-ca-file.log") as server:
        answer = _card_login(server, home)
        log = server.log.read_text()
    assert answer.status_code == 403, (answer.status_code, answer.headers.get("Location"))
    assert 'data-code="untrusted_issuer"' in answer.text
    assert "cps_ca_file is empty: every card login is refused" in log


def test_the_test_authority_listed_in_cps_ca_file_on_purpose_is_trusted(home):
    """The card itself is sound: an operator who lists the test authority gets it accepted."""
    listed = str(home / "keys" / "cps-test-ca.pem")
    with production_process(
        home, log_name="test-ca-file.log", SANTEID_CPS_CA_FILE=listed
    ) as server:
        answer = _card_login(server, home)
    assert answer.status_code == 302, answer.text
    assert "/login-actions/complete?tx=" in answer.headers["Location"]


def test_issue_card_refuses_outside_sandbox_mode_without_test_authority(home):
    production = santeid_home(home, sandbox=False)
    refused = production.cli("cps", "issue-card", ACTIVE_ID, "--out", str(home / "refused"),
                             check=False)  # fmt: skip
    assert refused.returncode != 0
    assert "--test-authority" in refused.stderr and "cps_ca_file" in refused.stderr
    assert not (home / "refused").exists()
