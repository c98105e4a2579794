"""The WSDL with the real INSi WSDL's structure (``real_wsdl/ICIR-real-structure.wsdl``), laid
out as real client software ships it: the WSDL next to an ``xsd/`` tree of the file names it
imports (docs/reference/insi-teleservice.md §2), filled here with santeid's own XSDs."""

from __future__ import annotations

import shutil
from pathlib import Path

from santeid.insi.soap import schemas

SOURCE = Path(__file__).parent / "real_wsdl_files" / "ICIR-real-structure.wsdl"
#: The qualification address written in it (a client replaces it by its endpoint).
QUALIFICATION_ADDRESS = "https://qualiflps-services-ps-tlsm.ameli.fr:443/lps"
#: File name in the real layout → santeid's schema of the same namespace.
LAYOUT = {
    "xsd/ServiceIdentiteCertifiee/INSi_RECSANS_INS.xsd": "insi-recsans.xsd",
    "xsd/ServiceIdentiteCertifiee/INSi_RECVITALE_INS.xsd": "insi-recvit.xsd",
    "xsd/ServiceIdentiteCertifiee/INSi_RESULTAT_INS.xsd": "insi-resultat.xsd",
    "xsd/CTX/ROOT_ctxlps_CTXLPS_V01_00.xsd": "ctxlps.xsd",
    "xsd/CTX/ROOT_ctxbam_CTXBAM_V01_02.xsd": "ctxbam.xsd",
    "xsd/schema_faultSOAP_V01_01.xsd": "siram-erreur.xsd",
    "xsd/WSA/ws-addr.xsd": "ws-addressing.xsd",
    "xsd/WSSE/oasis-200401-wss-wssecurity-secext-1.0.xsd": "wsse-security.xsd",
}


def lay_out(directory: Path) -> Path:
    """Write the WSDL and its schemas under ``directory``; return the WSDL's path."""
    for target, name in LAYOUT.items():
        path = directory / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(schemas.document(name))
    wsdl = directory / SOURCE.name
    shutil.copyfile(SOURCE, wsdl)
    return wsdl
