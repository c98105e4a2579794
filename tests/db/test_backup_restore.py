"""docs/deployment.md, "Backup and restore", run as written on an embedded installation: what
its table says to back up, restored onto another host, is all that host needs to serve as the
first did — an old refresh token refreshed, an old access token accepted, the same Web Push key
(a phone's subscription is bound to it), the same INSi audit hash key and session secret."""

from __future__ import annotations

import re
import shutil
import sqlite3
import time

import pytest
import requests
from click.testing import CliRunner

from santeid.cli import main
from santeid.db.schemas import all_schemas
from santeid.ecps.push import load_vapid_key
from santeid.ecps.push import vapid_public_key
from santeid.insi.audit import AuditLog
from santeid.security import load_secret_key
from santeid.settings import Settings
from tests.support.ciba import poll_over_http
from tests.support.ciba import start_over_http
from tests.support.paths import ROOT

SECTION = (ROOT / "docs" / "deployment.md").read_text().split("## Backup and restore")[1]
#: Files of the data directory the table covers by their own rows: the components' databases
#: (the online ``.backup`` of each) and the national bases (re-imported).
COMPONENT_FILES = {schema.component.file_name for schema in all_schemas()}
DATABASES = COMPONENT_FILES | {"directory.sqlite3", "civil-status.sqlite3"}
#: What a server leaves beside its files and needs no backup: SQLite's WAL and shared-memory
#: files, lock files, the list of servers running (``serving.json``).
NOT_DATA = re.compile(r"(-wal|-shm)$|^\.|^serving\.json$")
RP = {
    "client_id": "rp-backup",
    "client_name": "rp-backup",
    "client_secret": "secret-secret-secret",
    "redirect_uris": ["https://rp.example/cb"],
    "grant_types": ["authorization_code", "refresh_token", "urn:openid:params:grant-type:ciba"],
    "backchannel_token_delivery_mode": "poll",
}
CREDENTIALS = (RP["client_id"], RP["client_secret"])


def _named_in_the_table(name: str) -> bool:
    return f"`{name}`" in SECTION or f"/{name}`" in SECTION


def _online_backup(path, copy) -> None:
    """``sqlite3 FILE ".backup 'COPY'"``: SQLite's online backup API, while the server runs."""
    source, target = sqlite3.connect(path), sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def _login(server) -> dict:
    discovery = requests.get(f"{server.issuer}/.well-known/openid-configuration", timeout=5).json()
    auth_req_id = start_over_http(discovery, CREDENTIALS, "810000000001")  # auto-approved
    for _ in range(100):
        answer = poll_over_http(discovery, CREDENTIALS, auth_req_id)
        if answer.status_code == 200:
            return answer.json()
        assert answer.json()["error"] in ("authorization_pending", "slow_down"), answer.text
        time.sleep(0.2)
    raise AssertionError("the sandbox did not approve the login")


def _secrets(settings: Settings) -> tuple[str, str, str]:
    """The Web Push public key, an INSi audit query hash and the session secret of an
    installation, as its server uses them (each is made on first use when missing)."""
    audit = AuditLog(settings.data_path / "insi.sqlite3")
    return (
        vapid_public_key(load_vapid_key(settings.keys_path)),
        audit.query_hash("rechercherInsAvecTraitsIdentite", "DUPONT", "JEAN", "M", "1980-01-01"),
        load_secret_key(settings),
    )


@pytest.mark.server
@pytest.mark.redis
def test_what_the_backup_table_lists_restores_an_embedded_installation(redis_server, tmp_path):
    from tests.support.servers import santeid_process

    store = redis_server.url.rsplit("/", 1)[0] + "/13"
    first = tmp_path / "first"
    # The session secret left to the server ({data_dir}/secret_key), as on one host.
    with santeid_process(
        first, clients=[RP], SANTEID_STORE_URL=store, SANTEID_SECRET_KEY=None
    ) as server:
        issuer = server.issuer
        tokens = _login(server)
        settings = Settings(data_dir=str(first / "var"), keys_dir=str(first / "keys"))
        before = _secrets(settings)  # the first INSi call makes the audit key
        # The test authorities a sandbox makes on first use, each a file of the keys folder.
        for command in (
            ["tls", "dev-cert", "--out", str(tmp_path / "tls")],
            ["cps", "issue-card", "810000000001", "--out", str(tmp_path / "card")],
            [
                "insi",
                "issue-cert",
                "--structure",
                "1234567890",
                "--cn",
                "INSI-AUTO",
                "--out",
                str(tmp_path / "insi"),
            ],
        ):
            made = CliRunner().invoke(
                main,
                command,
                env={
                    "SANTEID_CONFIG": "",
                    "SANTEID_SANDBOX": "true",
                    "SANTEID_DATA_DIR": str(settings.data_path),
                    "SANTEID_KEYS_DIR": str(settings.keys_path),
                },
            )
            assert made.exit_code == 0, made.output

        backup = tmp_path / "backup"
        for folder in (settings.data_path, settings.keys_path):
            (backup / folder.name).mkdir(parents=True)
            for path in sorted(folder.iterdir()):
                if NOT_DATA.search(path.name):
                    continue
                if path.name in DATABASES:
                    if path.name in COMPONENT_FILES:
                        _online_backup(path, backup / folder.name / path.name)
                    continue
                assert _named_in_the_table(path.name), (
                    f"{folder.name}/{path.name}: a file of the installation the table of "
                    '"Backup and restore" does not name'
                )
                shutil.copy2(path, backup / folder.name / path.name)

    second = tmp_path / "second"
    shutil.copytree(backup / "var", second / "var")
    shutil.copytree(backup / "keys", second / "keys")
    # The directory is re-imported on the new host (the table's row).
    with santeid_process(
        second,
        clients=[],
        SANTEID_STORE_URL=store,
        SANTEID_SECRET_KEY=None,
        SANTEID_ISSUER=issuer,
    ) as restored:
        refreshed = requests.post(
            f"{restored.base}/auth/realms/esante-wallet/protocol/openid-connect/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=CREDENTIALS,
            timeout=5,
        )
        assert refreshed.status_code == 200, refreshed.text
        userinfo = requests.get(
            f"{restored.base}/auth/realms/esante-wallet/protocol/openid-connect/userinfo",
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
            timeout=5,
        )
        assert userinfo.status_code == 200, userinfo.text
        after = _secrets(Settings(data_dir=str(second / "var"), keys_dir=str(second / "keys")))
    assert after[0] == before[0], "the Web Push key: the phones' subscriptions are bound to it"
    assert after[1] == before[1], "the INSi audit hash key: old rows' hashes no longer match"
    assert after[2] == before[2], "the session secret: every browser session is lost"
