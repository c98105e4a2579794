"""What the server serves for the e-CPS app: the shell with a strict content security policy,
the web app manifest (installable: standalone, scope, icons 192 and 512), icons drawn at
start-up, and the service worker whose cache name follows the shell's content."""

from __future__ import annotations

import io

import png

from santeid.ecps_app import ICON_SIZES
from santeid.ecps_app import shell_version


def test_shell_is_served_with_a_strict_policy(client):
    response = client.get("/ecps/app/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert '<link rel="manifest" href="manifest.webmanifest">' in page
    assert '<script src="app.js" defer></script>' in page
    assert "<script>" not in page and "http" not in page.split("<body>")[0].replace(
        "http-equiv", ""
    )  # nothing from another origin
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert response.headers["Cache-Control"] == "no-cache"
    assert client.get("/ecps/app").headers["Location"].endswith("/ecps/app/")


def test_manifest_makes_the_app_installable(client):
    response = client.get("/ecps/app/manifest.webmanifest")
    assert response.mimetype == "application/manifest+json"
    manifest = response.get_json(force=True)
    assert manifest["display"] == "standalone"
    assert manifest["start_url"] == manifest["scope"] == "/ecps/app/"
    assert manifest["lang"] == "fr" and manifest["theme_color"].startswith("#")
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert sizes == {"192x192", "512x512"}
    for icon in manifest["icons"]:
        image = client.get(f"/ecps/app/{icon['src']}")
        assert image.mimetype == "image/png"
        width, height, _, _ = png.Reader(file=io.BytesIO(image.data)).read()
        assert f"{width}x{height}" == icon["sizes"]
    assert client.get("/ecps/app/icon-64.png").status_code == 404


def test_service_worker_cache_follows_the_shell(client, app):
    response = client.get("/ecps/app/sw.js")
    body = response.get_data(as_text=True)
    assert response.mimetype == "text/javascript"
    assert response.headers["Service-Worker-Allowed"] == "/ecps/app/"
    with app.app_context():
        version = shell_version()
    assert f'const VERSION = "{version}";' in body
    assert "__SHELL_VERSION__" not in body
    # The device API is never served from the cache.
    assert "startsWith(scope.pathname)" in body


def test_icons_are_white_on_the_theme_colour(client):
    for size in ICON_SIZES:
        _, _, rows, _ = png.Reader(
            file=io.BytesIO(client.get(f"/ecps/app/icon-{size}.png").data)
        ).read()
        rows = [bytes(row) for row in rows]
        assert rows[0][:3] == b"\x00\x4a\x8f"  # corner: background
        middle = rows[size // 2]
        assert middle[3 * (size // 2) : 3 * (size // 2) + 3] == b"\xff\xff\xff"  # the cross


def test_unknown_app_files_are_404(client):
    assert client.get("/ecps/app/secret.py").status_code == 404
    assert client.get("/ecps/app/../settings.py").status_code == 404
