"""The real server of the e-CPS app tests: its address, settings and log (``conftest.py``
starts it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SANTEID = str(Path(sys.executable).with_name("santeid"))
SECRET = "a-long-secret-for-the-ecps-app-test-0123456"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"


def santeid_cli(env: dict, *args: str) -> str:
    return subprocess.run(
        [SANTEID, *args], env=env, check=True, capture_output=True, text=True, timeout=60
    ).stdout


class Server:
    def __init__(self, base: str, env: dict, home: Path, redirect_uri: str) -> None:
        self.base = base
        self.issuer = env["SANTEID_ISSUER"]
        self.env = env
        self.home = home
        self.redirect_uri = redirect_uri
        self.process = None

    @property
    def log(self) -> str:
        return (self.home / "server.log").read_text()
