"""Headless Chromium for the browser tests (the e-CPS app, the sandbox debugger, the admin
console, the form_post page): Debian's ``chromium`` driven through its own ``chromedriver``
(same package version, so they always match) with Selenium. Nothing is downloaded: the
binaries are the ones installed by ``apt-get install chromium chromium-driver`` (``.ci/run``
installs them when missing).

``http://127.0.0.1`` is a secure context for Chromium ("potentially trustworthy origin",
W3C Secure Contexts §3.1), so WebCrypto, IndexedDB and service workers work without TLS;
:func:`start_browser` checks it on the first page the test opens.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.node import install_locked

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: A phone-sized window: the app is designed for 390 × 844 first.
PHONE_SIZE = (390, 844)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    # Chromium 156 loads its WebUI omnibox popups (chrome://omnibox-popup.top-chrome/ and its
    # AI-mode page) at every start, headless too, in a renderer of their own: about a third of
    # a start's CPU, for a popup a test never opens. Their code:
    # https://chromium.googlesource.com/chromium/src/+/main/chrome/browser/ui/webui/omnibox_popup/
    "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup",
)


def require_chromium() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: apt-get install chromium chromium-driver "
            "(.ci/run installs them)"
        )


def start_browser(
    profile: Path,
    *,
    size: tuple[int, int] = PHONE_SIZE,
    lang: str = "fr-FR",
    fake_camera: bool = False,
    trusted_certificate: Path | None = None,
    third_party_cookies: bool = False,
    network_log: bool = False,
):
    """A Chromium of its own (its own profile: cookies, IndexedDB, service workers);
    ``fake_camera``: Chromium's test camera, granted without asking; ``trusted_certificate``:
    an HTTPS server certificate (PEM) accepted as if an authority had signed it — its key,
    with Chromium's ``--ignore-certificate-errors-spki-list``, no other certificate error;
    ``third_party_cookies``: a site's cookies are kept and sent inside another site's page
    (an iframe), which this Chromium refuses by default; ``network_log``: Chromium's
    performance log kept, read by :func:`requested_urls`."""
    require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={size[0]},{size[1]}")
    options.add_argument(f"--lang={lang}")
    if trusted_certificate is not None:
        options.add_argument(
            f"--ignore-certificate-errors-spki-list={spki_hash(trusted_certificate)}"
        )
    if fake_camera:
        options.add_argument("--use-fake-device-for-media-stream")
        options.add_argument("--use-fake-ui-for-media-stream")
    logging_prefs = {"browser": "ALL", "performance": "ALL"} if network_log else {"browser": "ALL"}
    options.set_capability("goog:loggingPrefs", logging_prefs)
    # The first tab opens about:blank rather than the new tab page, a WebUI page and renderer
    # of its own: the preferences behind the RestoreOnStartup (4, "open a list of URLs") and
    # RestoreOnStartupURLs policies, https://chromeenterprise.google/policies/#RestoreOnStartup
    prefs: dict[str, Any] = {
        "session.restore_on_startup": 4,
        "session.startup_urls": ["about:blank"],
    }
    if third_party_cookies:
        # Chromium's "Third-party cookies" setting: 0 allows them (Chrome's default for most
        # of its users), 1 blocks them in incognito windows, 2 always. Started as here, this
        # Chromium blocks them, as Safari and Firefox do in their way.
        prefs["profile.cookie_controls_mode"] = 0
    options.add_experimental_option("prefs", prefs)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    # --window-size sets the window; the viewport must be exactly the phone's.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": size[0] < 600},
    )
    return driver


def desktop_browser(
    profile: Path,
    server_certificate: Path | None = None,
    *,
    third_party_cookies: bool = False,
    network_log: bool = False,
):
    """A desktop-sized Chromium (:func:`start_browser`) that trusts the HTTPS certificate of a
    test server (``<home>/tls/cert.pem``; none for plain HTTP) and waits for no element
    implicitly: the browser of the tests that move between a relying party's pages and
    santeid's."""
    driver = start_browser(
        profile,
        size=(1000, 800),
        trusted_certificate=server_certificate,
        third_party_cookies=third_party_cookies,
        network_log=network_log,
    )
    driver.implicitly_wait(0)
    return driver


def spki_hash(certificate: Path) -> str:
    """Base64 of the SHA-256 of a PEM certificate's SubjectPublicKeyInfo: how Chromium's
    ``--ignore-certificate-errors-spki-list`` names a key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = x509.load_pem_x509_certificate(certificate.read_bytes()).public_key()
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def requested_urls(driver) -> list[str]:
    """The URLs a browser started with ``network_log`` requested since it was last asked,
    redirects included, in order: its performance log's Chrome DevTools Protocol
    ``Network.requestWillBeSent`` events
    (https://chromedevtools.github.io/devtools-protocol/tot/Network/#event-requestWillBeSent)."""
    import json

    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def start_afresh(driver, *origins: str) -> None:
    """Leave a browser shared by a module's tests as a new one would be for the next test: the
    previous test's page closed (its timers and polling stop), no cookies, no HTTP cache, and
    nothing kept for each of ``origins`` (local storage, IndexedDB, Cache Storage, service
    workers), with the Chrome DevTools Protocol's ``Network.clearBrowserCookies``,
    ``Network.clearBrowserCache`` and ``Storage.clearDataForOrigin``
    (https://chromedevtools.github.io/devtools-protocol/tot/Storage/#method-clearDataForOrigin).
    """
    driver.get("about:blank")
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    for origin in origins:
        driver.execute_cdp_cmd(
            "Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"}
        )


def wait_for(condition: Callable[[], Any], timeout: float = 20, what: str = "") -> Any:
    """Poll ``condition`` until it returns something truthy (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception as exc:  # noqa: BLE001 — the page is still changing
            last = exc
        else:
            if value:
                return value
            last = value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or condition}: last {last!r}")


def shown_json(driver, url: str) -> Any:
    """Wait until the browser is at ``url`` (its query aside): the JSON the page shows (a
    relying party's test page answering JSON, which Chromium shows as text)."""
    import json

    wait_for(lambda: driver.current_url.split("?")[0] == url, what=url)
    return json.loads(driver.find_element("tag name", "body").text)


def opened_json(driver, url: str) -> Any:
    """Open ``url`` (through whatever redirects) and read the JSON the page answers
    (:func:`shown_json` at ``url``)."""
    driver.get(url)
    return shown_json(driver, url.split("?")[0])


def identify(driver, national_id: str) -> None:
    """On santeid's login page, once it shows: the professional's identifier typed and sent
    (the sandbox phone then answers as docs/sandbox.md says)."""
    wait_for(lambda: driver.find_element("id", "national_id"), what="the login page")
    driver.find_element("id", "national_id").send_keys(national_id)
    driver.find_element("id", "submit").click()


def click_and_wait(driver, element) -> None:
    """Click a submit button and wait for the next page to replace this one."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.common.exceptions import WebDriverException

    element.click()

    def replaced() -> bool:
        # The old page's element is gone. Chromium reports it either as a stale element or,
        # while the new document replaces the old one, as a node of no document.
        try:
            element.is_enabled()
        except (StaleElementReferenceException, WebDriverException):
            return True
        return False

    wait_for(replaced, timeout=10, what="the next page")


#: axe-core, Deque's accessibility engine (https://github.com/dequelabs/axe-core): its locked
#: npm package (``axe/package.json``, ``axe/package-lock.json``), installed with ``npm ci`` into
#: its git-ignored ``node_modules`` the first time; ``.ci/run`` installs node and npm. It
#: checks what a hand-written script here checked before (form fields' labels: ``label``;
#: buttons' and links' names: ``button-name``, ``link-name``; AA contrast: ``color-contrast``)
#: and much more. The e-CPS tests keep their own check of 44 px tap targets (WCAG 2.5.5, level
#: AAA), which axe does not make: its ``target-size`` is WCAG 2.2's 24 px.
AXE_DIR = Path(__file__).resolve().parent / "axe"
#: The rules run, by axe's tags (https://github.com/dequelabs/axe-core/blob/develop/doc/API.md#axe-core-tags):
#: WCAG 2.0 and 2.1 at levels A and AA (RGAA 4.1 follows WCAG 2.1 AA), and axe's best
#: practices, which hold what RGAA asks beyond WCAG's success criteria: every content in a
#: landmark, one main (RGAA 12.6), headings in order (9.1), table headers with a name (5.7)
#: (https://accessibilite.numerique.gouv.fr/methode/criteres-et-tests/).
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice")

#: Runs axe on the page and hands its violations back, each rule with the nodes that break it.
RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: "tag", values: arguments[0]}, resultTypes: ["violations"]})
  .then((results) => done(results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => n.target.join(" ") + ": " + n.failureSummary.replace(/\\s+/g, " ")),
  }))))
  .catch((error) => done([{id: "axe-error", impact: "critical", help: String(error), nodes: []}]));
"""


@functools.cache
def axe_source() -> str:
    """``axe.min.js`` from the locked package (``npm ci`` when it is not installed yet)."""
    return (install_locked(AXE_DIR, "axe-core") / "axe.min.js").read_text(encoding="utf-8")


def accessibility_problems(driver) -> list[str]:
    """The page's violations of the rules of :data:`AXE_TAGS` (labels, names, contrast,
    language, ARIA, titles, landmarks, headings…), whatever their impact, one line per rule
    and element.

    What axe reports as "incomplete" (it could not decide, e.g. text over a background image)
    is not a violation and is not returned."""
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(axe_source())
    driver.set_script_timeout(60)
    violations = driver.execute_async_script(RUN_AXE, list(AXE_TAGS))
    return [
        f"{v['id']} ({v['impact']}, {v['help']}): {node}"
        for v in violations
        for node in (v["nodes"] or [""])
    ]


def assert_accessible(driver, what: str) -> None:
    """No :func:`accessibility_problems` on the page, each one named in the failure."""
    problems = accessibility_problems(driver)
    assert problems == [], f"{what} ({driver.current_url}):\n" + "\n".join(problems)


def console(driver) -> str:
    return "\n".join(entry["message"] for entry in driver.get_log("browser"))
