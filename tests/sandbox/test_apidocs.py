"""``/api-docs/``: the documents Swagger UI's "Try it out" calls."""

from __future__ import annotations


def test_ecps_device_document_names_the_device_api_as_its_server(client):
    document = client.get("/api-docs/ecps-device.json").get_json()
    # The paths (/register, /requests, …) are relative to the device API's base, as in
    # docs/ecps-device-openapi.yaml's own ``servers``.
    assert document["servers"] == [{"url": "http://localhost/ecps/device"}]
    assert "/register" in document["paths"]
