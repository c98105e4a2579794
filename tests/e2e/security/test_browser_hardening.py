"""The HTTPS listener of ``make run``'s layout (one process, HTTP issuer, ``--tls-port``):
HSTS on HTTPS responses (not for loopback names, nor over plain HTTP) and a ``Secure``
session cookie over HTTPS even though the issuer is plain HTTP."""

from __future__ import annotations

import pytest
import requests

from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]


@pytest.fixture(scope="module")
def listeners(tmp_path_factory):
    prepared = santeid_home(tmp_path_factory.mktemp("browser"))
    home = prepared.home
    prepared.cli("tls", "dev-cert", "--out", str(home / "tls"))
    tls = ["--tls-cert", str(home / "tls/cert.pem"), "--tls-key", str(home / "tls/key.pem")]
    with santeid_process(home, args=tls, tls_port=True, SANTEID_STORE_URL="memory://") as server:
        yield {"http": server.base, "https": server.https, "ca": str(home / "tls/ca.pem")}


def test_the_session_cookie_is_secure_on_the_https_listener(listeners):
    over_tls = requests.get(listeners["https"] + "/ecps/devices", verify=listeners["ca"],
                            allow_redirects=False, timeout=10)  # fmt: skip
    assert "santeid_session=" in over_tls.headers["Set-Cookie"]
    assert "; Secure" in over_tls.headers["Set-Cookie"]
    plain = requests.get(listeners["http"] + "/ecps/devices", allow_redirects=False, timeout=10)
    assert "santeid_session=" in plain.headers["Set-Cookie"]
    assert "; Secure" not in plain.headers["Set-Cookie"]  # a plain-HTTP localhost issuer


def test_hsts_on_https_for_a_host_name(listeners):
    response = requests.get(listeners["https"] + "/health", verify=listeners["ca"], timeout=10,
                            headers={"Host": "idp.santeid.test"})  # fmt: skip
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_no_hsts_over_plain_http_nor_for_loopback_names(listeners):
    plain = requests.get(listeners["http"] + "/health", timeout=10,
                         headers={"Host": "idp.santeid.test"})  # fmt: skip
    assert "Strict-Transport-Security" not in plain.headers
    loopback = requests.get(listeners["https"] + "/health", verify=listeners["ca"], timeout=10)
    assert "Strict-Transport-Security" not in loopback.headers
