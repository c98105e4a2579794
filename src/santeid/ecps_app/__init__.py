"""The e-CPS app: an installable web app (PWA) under ``/ecps/app/`` that turns the
professional's phone into the e-CPS (docs/reference/pro-sante-connect.md §13 — cited in the docs as
``docs/reference/pro-sante-connect.md §13``).

It is a client of the documented device protocol (``docs/ecps-device-protocol.md``), exactly as
the simulator is: the P-256 key pair is made in the browser with WebCrypto (non-extractable,
kept in IndexedDB), device tokens and decisions are ES256 JWTs signed there. The server only
serves files: the shell (HTML, JavaScript, CSS, no build step and nothing from another
origin), the web app manifest (W3C Web Application Manifest), icons drawn at start-up and the
service worker that caches the shell so the app starts — and shows its offline code —
without network. Documentation: ``docs/ecps-app.md``.

=================================  =============================================================
``GET /ecps/app/``                  the shell (``index.html``)
``GET /ecps/app/<file>``            ``app.js``, ``app.css``
``GET /ecps/app/sw.js``             the service worker (its cache name carries the shell's hash)
``GET /ecps/app/manifest.webmanifest``  the manifest
``GET /ecps/app/icon-<size>.png``   icons (192, 512; also maskable)
=================================  =============================================================
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from pathlib import Path

import png
from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import redirect

bp = Blueprint("ecps_app", __name__)

#: URL prefix of the app; also the service worker's scope and the manifest's ``scope``.
PREFIX = "/ecps/app"
#: Shell files served as they are, with their media types.
SHELL_FILES = {
    "app.js": "text/javascript",
    "app.css": "text/css",
}
#: Icon sizes (px) the manifest lists (the install criteria of browsers ask for 192 and 512).
ICON_SIZES = (192, 512)
#: Theme colour of the app and its icons (white on it: contrast 7.2:1, WCAG AAA).
THEME_COLOUR = (0x00, 0x4A, 0x8F)
#: The shell's content security policy: everything from this origin only; the camera stream
#: of the QR scanner is a ``blob:``-free MediaStream, so nothing more is needed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; media-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _app_dir() -> Path:
    folder = current_app.template_folder
    if folder is None:  # create_app always sets it
        raise RuntimeError("the application has no template folder")
    return Path(folder) / "ecps_app"


@functools.cache
def _read(directory: str, name: str) -> bytes:
    return (Path(directory) / name).read_bytes()


def _file(name: str) -> bytes:
    try:
        return _read(str(_app_dir()), name)
    except FileNotFoundError:
        abort(404)


def shell_version() -> str:
    """A hash of every shell file: a new version of any of them renames the service worker's
    cache, so phones fetch the new shell (the worker script itself is compared byte by byte
    by browsers, Service Workers §"Update")."""
    digest = hashlib.sha256()
    for name in ("index.html", *SHELL_FILES):
        digest.update(_file(name))
    return digest.hexdigest()[:16]


def _revalidated(body: bytes | str, mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    # The service worker serves the shell offline; online, each file is checked again.
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("")
def no_slash():
    return redirect(PREFIX + "/", code=301)


#: The line of ``index.html`` that the sandbox banner takes in sandbox mode (and nothing
#: outside it): the app is no page of ``base.html``, yet a sandbox must show on every page.
BANNER_LINE = "  <!-- sandbox banner -->\n"


def _shell_page() -> str:
    from santeid.sandbox import banner_html

    banner = banner_html("fr", every_language=True)
    return _file("index.html").decode().replace(BANNER_LINE, f"  {banner}\n" if banner else "")


@bp.get("/")
def shell():
    response = _revalidated(_shell_page(), "text/html")
    response.headers["Content-Security-Policy"] = CSP
    # A camera for the QR scanner, nothing else (Permissions Policy).
    response.headers["Permissions-Policy"] = "camera=(self), microphone=(), geolocation=()"
    return response


@bp.get('/<any("app.js", "app.css"):name>')
def shell_file(name: str):
    return _revalidated(_file(name), SHELL_FILES[name])


@bp.get("/sw.js")
def service_worker():
    body = _file("sw.js").decode().replace("__SHELL_VERSION__", shell_version())
    response = _revalidated(body, "text/javascript")
    response.headers["Service-Worker-Allowed"] = PREFIX + "/"
    return response


@bp.get("/manifest.webmanifest")
def manifest():
    """W3C Web Application Manifest: installable (standalone, icons 192 and 512)."""
    colour = "#{:02x}{:02x}{:02x}".format(*THEME_COLOUR)
    icons = [
        {"src": f"icon-{size}.png", "sizes": f"{size}x{size}", "type": "image/png",
         "purpose": "any maskable"}
        for size in ICON_SIZES
    ]  # fmt: skip
    document = {
        "name": "e-CPS santeid",
        "short_name": "e-CPS",
        "description": "Valider les connexions Pro Santé Connect avec votre e-CPS",
        "lang": "fr",
        "id": PREFIX + "/",
        "start_url": PREFIX + "/",
        "scope": PREFIX + "/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": colour,
        "icons": icons,
    }
    return _revalidated(json.dumps(document, ensure_ascii=False), "application/manifest+json")


@functools.cache
def icon_png(size: int) -> bytes:
    """A white cross on the theme colour, drawn here (no image committed). The cross stays
    inside the central 80 % circle, the safe zone of maskable icons."""
    arm = size // 10  # half the cross's thickness
    reach = size * 3 // 10  # half the cross's length
    centre = size // 2
    background = bytes(THEME_COLOUR)
    white = b"\xff\xff\xff"
    rows = []
    for y in range(size):
        in_bar = abs(y - centre) < arm
        in_column = abs(y - centre) < reach
        row = bytearray()
        for x in range(size):
            horizontal = in_bar and abs(x - centre) < reach
            vertical = in_column and abs(x - centre) < arm
            row += white if horizontal or vertical else background
        rows.append(bytes(row))
    out = io.BytesIO()
    png.Writer(size, size, greyscale=False, bitdepth=8, compression=9).write(out, rows)
    return out.getvalue()


@bp.get("/icon-<int:size>.png")
def icon(size: int):
    if size not in ICON_SIZES:
        abort(404)
    response = Response(icon_png(size), mimetype="image/png")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


def init_app(app) -> None:
    app.register_blueprint(bp, url_prefix=PREFIX)
