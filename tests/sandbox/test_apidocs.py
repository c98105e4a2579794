"""``/api-docs/``: the documents Swagger UI's "Try it out" calls."""

from __future__ import annotations


def test_ecps_device_document_names_the_device_api_as_its_server(client):
    document = client.get("/api-docs/ecps-device.json").get_json()
    # The paths (/register, /requests, …) are relative to the device API's base, as in
    # docs/ecps-device-openapi.yaml's own ``servers``.
    assert document["servers"] == [{"url": "http://localhost/ecps/device"}]
    assert "/register" in document["paths"]


def test_the_documents_servers_are_the_servers_origin_never_the_host(client):
    """The e-CPS device and sandbox control documents name the origin they are served from
    as the INSi REST document does (santeid.insi.problems.served_origin): the configured
    issuer's, never the request's ``Host`` — a forged Host was written into ``servers``, where
    Swagger UI's "Try it out" and generated clients send their requests."""
    for path, prefix in (("/api-docs/ecps-device.json", "/ecps/device"),
                         ("/sandbox/api/openapi.json", "/sandbox/api")):  # fmt: skip
        forged = client.get(path, base_url="http://forged.example.org")
        assert forged.get_json()["servers"] == [{"url": f"http://localhost{prefix}"}], path
        # Received over santeid's own TLS listener (make run's second port): https on that port.
        secure = client.get(path, base_url="https://localhost:5443")
        assert secure.get_json()["servers"] == [{"url": f"https://localhost:5443{prefix}"}], path
