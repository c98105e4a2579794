"""The service's login, tested against a real santeid sandbox (the santeid_server fixture of
santeid's pytest plugin): no phone, no card, no test account."""

from urllib.parse import urlsplit

import pytest

from app import create_app


@pytest.fixture
def service(santeid_server):
    client = santeid_server.client
    app = create_app(
        issuer=santeid_server.issuer,
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        redirect_uri=client["redirect_uris"][0],
    )
    return app.test_client()


def back_to_the_service(service, url):
    parts = urlsplit(url)
    return service.get(f"{parts.path}?{parts.query}")


def test_a_professional_logs_in_and_the_service_reads_the_userinfo(service, santeid_server):
    authorization_url = service.get("/login").headers["Location"]
    login = santeid_server.begin_login_at(authorization_url, "810000000030")  # approved at once
    back_to_the_service(service, login.callback())
    assert service.get("/me").text == "Bonjour CLEMENT ARNAUD (810000000030)"


def test_a_denied_login_never_reaches_the_service(service, santeid_server):
    authorization_url = service.get("/login").headers["Location"]
    login = santeid_server.begin_login_at(authorization_url, "810000000034")  # never answers
    santeid_server.deny_next("810000000034")
    with pytest.raises(AssertionError, match="ended failed"):
        login.callback()
    assert service.get("/me").status_code == 302
