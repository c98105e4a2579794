"""Sandbox mode: the single switch for test conveniences (sandbox authenticator, generated
dev keys, demo directory). When it is on, every page shows a banner and every response
carries ``X-Santeid-Sandbox: true``; when it is off none of these exist.

For integrators (``docs/sandbox.md``):

* :mod:`~santeid.sandbox.scenarios` — what each professional's login does (approved, denied,
  never answered, wrong code, locked device, at once or after a delay);
* :mod:`~santeid.sandbox.phone` — the sandbox phone that answers by scenario;
* :mod:`~santeid.sandbox.professionals` — professionals defined in a YAML/JSON file
  (``sandbox_professionals``) or through the control API;
* :mod:`~santeid.sandbox.api` — the control API under ``/sandbox/api/`` (404 outside sandbox
  mode);
* :mod:`~santeid.sandbox.logins` — its scripted logins: a code flow's browser part in one call;
* :mod:`santeid.testing` — the pytest plugin.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Flask
from flask import render_template
from markupsafe import Markup

from santeid.i18n import Translator
from santeid.services import services

if TYPE_CHECKING:
    from santeid.clock import Clock
    from santeid.directory.repository import Directory
    from santeid.ecps.service import EcpsService
    from santeid.sandbox.phone import SandboxPhone
    from santeid.sandbox.scenarios import ScenarioBook
    from santeid.settings import Settings
    from santeid.storage.base import EphemeralStore

log = logging.getLogger(__name__)


def home():
    svc = services()
    t = Translator("fr")
    scenario_rows = []
    if svc.sandbox is not None:
        from santeid.sandbox.api import scenario_listing

        scenario_rows = scenario_listing(t)
    return render_template(
        "home.html",
        t=t,
        settings=svc.settings,
        scenarios=scenario_rows,
        discovery=f"{svc.settings.issuer}/.well-known/wallet-openid-configuration",
    )


def banner_html(locale: str = "fr", *, every_language: bool = False) -> Markup:
    """The sandbox banner (``templates/_sandbox_banner.html``; empty outside sandbox mode) for
    the pages that are not built on ``base.html``: the e-CPS app's shell and the pages of
    ``santeid.problem_pages.table_page`` (problem types, INSi ``CodeCR``). ``every_language``:
    the banner also carries its text in each language, as ``data-text-<locale>``, for the e-CPS
    app, which changes language by itself."""
    from santeid.i18n import SUPPORTED

    alternates = (
        {code: Translator(code)("sandbox_banner") for code in SUPPORTED} if every_language else {}
    )
    html = render_template("_sandbox_banner.html", t=Translator(locale), alternates=alternates)
    return Markup(html)  # noqa: S704 - rendered by Jinja with autoescape


def phone_for(
    settings: Settings,
    *,
    store: EphemeralStore,
    ecps: EcpsService,
    directory: Directory,
    clock: Clock,
) -> SandboxPhone | None:
    """The sandbox phone in sandbox mode, with the scenarios of ``sandbox_professionals``
    (whose professionals are upserted into the directory); ``None`` otherwise: outside sandbox
    mode nobody's login or CIBA request is ever answered by scenario. Raises
    ``ConfigurationError`` for an unusable professionals file (the server does not start)."""
    if not settings.sandbox.enabled:
        return None
    from santeid.ciba.requests import CibaRequestBook
    from santeid.sandbox.phone import SandboxPhone
    from santeid.sandbox.scenarios import ScenarioBook

    phone = SandboxPhone(
        settings=settings,
        ecps=ecps,
        directory=directory,
        scenarios=ScenarioBook(store),
        ciba_requests=CibaRequestBook(store, clock=clock),
        clock=clock,
    )
    if settings.sandbox.professionals:
        load_professionals_file(directory, phone.scenarios, settings.sandbox.professionals)
    return phone


def init_app(app: Flask) -> None:
    svc = app.extensions["santeid"]
    settings = svc.settings
    app.jinja_env.globals["sandbox"] = settings.sandbox.enabled
    app.add_url_rule("/", "home", home)
    from santeid.sandbox import apidocs

    apidocs.init_app(app)
    if svc.sandbox is None:
        return
    log.warning(
        "SANDBOX MODE: sandbox authenticator on, dev keys and demo directory in use. "
        "Never expose this instance to real users."
    )
    from santeid.sandbox import api
    from santeid.sandbox import debugger

    app.register_blueprint(api.bp)
    debugger.init_app(app)


def load_professionals_file(directory: Directory, scenarios: ScenarioBook, path: str) -> int:
    """Upsert the file's professionals into the directory and note their scenarios; raises
    ``ConfigurationError`` with every located error (the server does not start)."""
    from santeid.sandbox.professionals import ProfessionalsError
    from santeid.sandbox.professionals import load_file
    from santeid.settings import ConfigurationError

    try:
        defined = load_file(path)
    except ProfessionalsError as exc:
        raise ConfigurationError("sandbox_professionals:\n  " + "\n  ".join(exc.errors)) from None
    directory.upsert_many(d.professional for d in defined)
    for item in defined:
        if item.scenario is not None:
            scenarios.from_file[item.professional.national_id] = item.scenario
    log.info("sandbox: %d professionals loaded from %s", len(defined), path)
    return len(defined)
