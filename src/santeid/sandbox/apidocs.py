"""Interactive API documentation: Swagger UI for the INSi REST API, the e-CPS device API and
the sandbox control API, at ``/api-docs/<name>``.

Swagger UI's files come from the ``flask-swagger-ui`` package (its ``dist/`` folder, Swagger
UI 5, which reads OpenAPI 3.1) and are served by santeid itself: no CDN, and the page meets
santeid's Content Security Policy (``script-src 'self'``: the start-up script is a file).
Only the documents' own servers are called by "Try it out".
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

import yaml
from flask import Blueprint
from flask import abort
from flask import jsonify
from flask import render_template
from flask import send_from_directory
from flask import url_for

from santeid.ecps.api import PREFIX as ECPS_DEVICE_PREFIX
from santeid.i18n import Translator
from santeid.insi.problems import served_origin
from santeid.services import services

bp = Blueprint("api_docs", __name__, url_prefix="/api-docs")

#: The e-CPS device protocol's document: in the repository's docs/, or inside a wheel.
_ECPS_DOCUMENT = "ecps-device-openapi.yaml"


def _swagger_dist() -> Path:
    return Path(str(resources.files("flask_swagger_ui") / "dist"))


@functools.cache
def _ecps_device_document() -> dict | None:
    here = Path(__file__).resolve()
    for candidate in (
        here.parents[1] / "_docs" / _ECPS_DOCUMENT,  # installed wheel
        here.parents[3] / "docs" / _ECPS_DOCUMENT,  # source checkout
    ):
        if candidate.is_file():
            return yaml.safe_load(candidate.read_text(encoding="utf-8"))
    return None


def _documents() -> dict[str, tuple[str, str]]:
    """name → (title, URL of the OpenAPI document) for what this server offers."""
    found = {"insi": ("INSi REST", "/insi/openapi.json")}
    if _ecps_device_document() is not None:
        found["ecps-device"] = ("e-CPS device API", url_for("api_docs.ecps_device_json"))
    if services().sandbox is not None:
        found["sandbox"] = ("Sandbox control API", url_for("sandbox_api.openapi"))
    return found


@bp.get("/")
def index():
    return render_template("sandbox/api_docs.html", t=Translator("fr"), documents=_documents())


@bp.get("/<name>")
def viewer(name: str):
    documents = _documents()
    if name not in documents:
        abort(404)
    title, url = documents[name]
    return render_template(
        "sandbox/swagger.html", t=Translator("fr"), title=title, spec_url=url, name=name
    )


@bp.get("/ecps-device.json")
def ecps_device_json():
    document = _ecps_device_document()
    if document is None:
        abort(404)
    document = dict(document)
    # The document's paths are relative to the device API's base, as its own ``servers``.
    # The origin it is served from, never the request's Host (served_origin's rule).
    origin = served_origin(services().settings)
    document["servers"] = [{"url": origin + ECPS_DEVICE_PREFIX}]
    return jsonify(document)


@bp.get("/swagger-ui/<path:filename>")
def swagger_file(filename: str):
    if filename not in ("swagger-ui.css", "swagger-ui-bundle.js", "index.css", "LICENSE"):
        abort(404)
    return send_from_directory(_swagger_dist(), filename, max_age=3600)


def init_app(app) -> None:
    app.register_blueprint(bp)
