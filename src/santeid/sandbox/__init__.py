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
* :mod:`santeid.testing` — the pytest plugin.
"""

from __future__ import annotations

import logging

from flask import render_template

from santeid.i18n import Translator
from santeid.services import services

log = logging.getLogger(__name__)


def home():
    svc = services()
    scenario_rows = []
    if svc.sandbox is not None:
        from santeid.sandbox.api import scenario_listing

        scenario_rows = scenario_listing()
    return render_template(
        "home.html",
        t=Translator("fr"),
        settings=svc.settings,
        scenarios=scenario_rows,
        discovery=f"{svc.settings.issuer}/.well-known/wallet-openid-configuration",
    )


def init_app(app) -> None:
    svc = app.extensions["santeid"]
    settings = svc.settings
    app.jinja_env.globals["sandbox"] = settings.sandbox.enabled
    app.add_url_rule("/", "home", home)
    from santeid.sandbox import apidocs

    apidocs.init_app(app)
    if not settings.sandbox.enabled:
        return
    log.warning(
        "SANDBOX MODE: sandbox authenticator on, dev keys and demo directory in use. "
        "Never expose this instance to real users."
    )
    from santeid.sandbox import api
    from santeid.sandbox import debugger
    from santeid.sandbox.phone import SandboxPhone
    from santeid.sandbox.scenarios import ScenarioBook

    scenarios = ScenarioBook(svc.store)
    svc.sandbox = SandboxPhone(
        settings=settings, ecps=svc.ecps, directory=svc.directory, scenarios=scenarios
    )
    if svc.ciba is not None:
        svc.ciba.sandbox_phone = svc.sandbox
        svc.sandbox.ciba = svc.ciba
    if settings.sandbox.professionals:
        load_professionals_file(svc, settings.sandbox.professionals)
    app.register_blueprint(api.bp)
    debugger.init_app(app)


def load_professionals_file(svc, path: str) -> int:
    """Upsert the file's professionals into the directory and note their scenarios; raises
    ``ConfigurationError`` with every located error (the server does not start)."""
    from santeid.sandbox.professionals import ProfessionalsError
    from santeid.sandbox.professionals import load_file
    from santeid.settings import ConfigurationError

    try:
        defined = load_file(path)
    except ProfessionalsError as exc:
        raise ConfigurationError("sandbox_professionals:\n  " + "\n  ".join(exc.errors)) from None
    svc.directory.upsert_many(d.professional for d in defined)
    for item in defined:
        if item.scenario is not None:
            svc.sandbox.scenarios.from_file[item.professional.national_id] = item.scenario
    log.info("sandbox: %d professionals loaded from %s", len(defined), path)
    return len(defined)
