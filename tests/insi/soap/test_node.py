"""The npm ``soap`` client, as vendors' INSi clients use it, against a real santeid server over
mutual TLS: every operation from santeid's WSDLs, and from the WSDL with the real INSi WSDL's
structure shipped with the client (``real_wsdl.py``) with only the endpoint replaced
(docs/reference/insi-teleservice.md §2, §8.1). Faults are read as such a client reads them: on
HTTP 500 only (§8b).

The client is the documented example ``examples/insi-node-soap/client.js``: its locked
dependencies (``package.json``, ``package-lock.json``) are installed with ``npm ci`` into its
``node_modules`` (git-ignored) the first time; ``.ci/run`` installs Debian's nodejs and npm when
they are missing. The example's own input (``search.json``, for ``make run``) runs here too.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support import soap as support
from tests.support.node import NODE
from tests.support.node import install_locked
from tests.support.node import needs_node_and_npm
from tests.support.real_wsdl import lay_out

NODE_DIR = Path(__file__).resolve().parents[3] / "examples" / "insi-node-soap"

pytestmark = [
    pytest.mark.server,
    needs_node_and_npm,
]

#: What the example is given to send.
CALLS = support.ClientCalls("urn:lps:node-soap:2026")


@pytest.fixture(scope="module")
def node_soap() -> Path:
    """The example's ``node_modules`` installed from the lock file (``npm ci``) when missing."""
    install_locked(NODE_DIR, "soap")
    return NODE_DIR / "client.js"


@pytest.fixture(scope="module")
def server(tmp_path_factory, insi_base):
    home = tmp_path_factory.mktemp("insi-node")
    with support.insi_tls_server(home, insi_base, "node soap") as running:
        yield running


def run_client(script: Path, home: Path, clients: list[dict]) -> dict[str, dict]:
    scenario = {
        "cert": str(home / "client" / "cert.pem"),
        "key": str(home / "client" / "key.pem"),
        "ca": str(home / "tls" / "ca.pem"),
        "clients": clients,
    }
    result = subprocess.run(
        [NODE, str(script)], input=json.dumps(scenario), cwd=NODE_DIR,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {entry["name"]: entry for entry in json.loads(result.stdout)}


@pytest.fixture(scope="module")
def beneficiary(insi_base):
    return support.vitale_beneficiary(insi_base)


def check_search_answers(results: dict[str, dict], beneficiary: dict) -> None:
    """What a vendor's client gets: the published answers, and the two faults read on 500."""
    found = results["ADRTROIS DOMINIQUE"]["result"]
    assert found["CR"] == {"CodeCR": "00", "LibelleCR": "OK"}
    assert found["INDIVIDU"]["INSACTIF"]["IdIndividu"] == {
        "NumIdentifiant": "297022A020778", "Cle": "78",
    }  # fmt: skip
    assert found["INDIVIDU"]["TIQ"]["ListePrenom"] == "DOMINIQUE"
    history = results["ECETINSI PIERRE-ALAIN"]["result"]["INDIVIDU"]["INSHISTO"]
    assert history["IdIndividu"]["NumIdentifiant"] == "2090763220834"  # one INSHISTO, as live
    assert (history["DateDeb"], history["DateFin"]) == ("2019-03-01", "2019-02-28")
    assert results["DE VINCI LEONARDO"]["result"]["CR"]["CodeCR"] == "02"
    assert results["HOUILLES PIERRE"]["result"]["CR"] == {
        "CodeCR": "01", "LibelleCR": "Aucune identite trouvee",
    }  # fmt: skip
    vitale = results["carte Vitale"]["result"]
    assert (
        vitale["INDIVIDU"]["INSACTIF"]["IdIndividu"]["NumIdentifiant"] == (beneficiary["matricule"])
    )
    unknown = results["ADRDEUX LAURENT"]
    assert unknown["status"] == 500, unknown
    assert unknown["fault"]["subcode"] == "soap:siram_100"
    assert unknown["fault"]["erreur"]["code"] == "desir_550"
    assert unknown["fault"]["erreur"]["text"] == "Numéro d'autorisation du logiciel inconnu."
    technical = results["D'AEION COEUR"]
    assert technical["status"] == 500, technical
    assert (technical["fault"]["code"], technical["fault"]["subcode"]) == (
        "S:Receiver", "S:siram_40",
    )  # fmt: skip
    assert technical["fault"]["erreur"]["code"] == "insi_102"
    assert technical["fault"]["erreur"]["severite"] == "fatal"


def test_node_soap_with_santeids_wsdls(node_soap, server, beneficiary):
    base = server["base"]
    results = run_client(
        node_soap,
        server["home"],
        [
            {"wsdl": f"{base}/insi/soap?wsdl", "calls": CALLS.searches(beneficiary)},
            {"wsdl": f"{base}/insi/soap/verification?wsdl", "calls": [CALLS.verification()]},
        ],
    )
    assert results[f"{base}/insi/soap?wsdl operations"]["operations"] == [
        "rechercherInsAvecCarteVitale", "rechercherInsAvecTraitsIdentite",
    ]  # fmt: skip
    check_search_answers(results, beneficiary)
    verified = results["verification"]["result"]
    assert verified["CR"]["CodeCR"] == "00"
    assert verified["IndividuVerifie"]["Conforme"] in (True, "true")


def test_node_soap_with_the_real_wsdl_structure_and_santeids_endpoint(
    node_soap, server, beneficiary, tmp_path
):
    wsdl = lay_out(tmp_path)
    results = run_client(
        node_soap,
        server["home"],
        [
            {
                "wsdl": str(wsdl),
                "endpoint": f"{server['base']}/insi/soap",
                "calls": CALLS.searches(beneficiary),
            }
        ],
    )
    assert results[f"{wsdl} operations"]["operations"] == [
        "rechercherInsAvecCarteVitale", "rechercherInsAvecTraitsIdentite",
    ]  # fmt: skip
    check_search_answers(results, beneficiary)


def test_the_examples_own_search_as_its_readme_runs_it(node_soap, server, tmp_path):
    """``examples/insi-node-soap/search.json`` (written for ``make run``: its HTTPS port, its
    certificate paths, the README's software number), after the README's own setup commands,
    with only the port and paths adapted to this server."""
    scenario = json.loads((NODE_DIR / "search.json").read_text(encoding="utf-8"))
    home = server["home"]
    support.run_readme_setup(NODE_DIR, home, tmp_path / "insi-client")
    scenario.update(
        cert=str(tmp_path / "insi-client" / "cert.pem"),
        key=str(tmp_path / "insi-client" / "key.pem"),
        ca=str(home / "tls" / "ca.pem"),
    )
    for client in scenario["clients"]:
        client["wsdl"] = client["wsdl"].replace("https://127.0.0.1:5443", server["base"])
    result = subprocess.run(
        [NODE, str(node_soap)], input=json.dumps(scenario), cwd=NODE_DIR,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answers = {entry["name"]: entry for entry in json.loads(result.stdout)}
    found = answers["ADRTROIS DOMINIQUE"]["result"]
    assert found["CR"]["CodeCR"] == "00"
    assert found["INDIVIDU"]["INSACTIF"]["IdIndividu"]["NumIdentifiant"] == "297022A020778"
