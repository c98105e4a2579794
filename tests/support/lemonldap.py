"""A real LemonLDAP::NG portal (https://lemonldap-ng.org, Debian 12's ``lemonldap-ng`` 2.16)
for the tests of the portal as a Pro Santé Connect relying party: Debian's
``llng-fastcgi-server`` behind a real nginx with the server block of Debian's
``/etc/lemonldap-ng/portal-nginx.conf``, its ``lemonldap-ng.ini`` (``LLNG_DEFAULTCONFFILE``),
its File configuration backend, sessions and caches in a temporary folder, on a port the test
picks. Nothing of ``/etc/lemonldap-ng`` or ``/var/lib/lemonldap-ng`` is read or written.

The portal's own settings (its URL, its storage) are written as the first configuration; the
provider is then declared by the example's script, examples/psc-lemonldap-ng/psc-connect.sh,
with ``lemonldap-ng-cli``. LemonLDAP::NG's FastCGI server and CLI refuse to run as root: run as
root, both switch to ``www-data`` (Debian's default for them), and the folder is theirs."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.paths import ROOT
from tests.support.redis_server import free_port
from tests.support.security import nginx_binary
from tests.support.security import running_nginx
from tests.support.servers import running_server

FASTCGI_SERVER = Path("/usr/sbin/llng-fastcgi-server")
CLI = Path("/usr/share/lemonldap-ng/bin/lemonldap-ng-cli")
PORTAL = Path("/usr/share/lemonldap-ng/portal")
#: The example's script that declares the provider (the documentation's Manager steps).
SCRIPT = ROOT / "examples" / "psc-lemonldap-ng" / "psc-connect.sh"
#: The user Debian runs the FastCGI server and the CLI as
#: (``/etc/default/lemonldap-ng-fastcgi-server``, ``lemonldap-ng-cli``'s default).
USER = "www-data"


def _absent() -> str | None:
    if not FASTCGI_SERVER.exists() or not CLI.exists():
        return (
            "LemonLDAP::NG is missing: apt-get install lemonldap-ng "
            "lemonldap-ng-fastcgi-server (.ci/run installs them)"
        )
    if nginx_binary() is None:
        return "nginx is missing: apt-get install nginx (.ci/run installs it)"
    return None


#: Skips a test where LemonLDAP::NG or nginx is not installed (CI installs them).
needs_lemonldap_ng = pytest.mark.skipif(_absent() is not None, reason=_absent() or "")

INI = """\
[all]
logLevel = debug
logger = Lemonldap::NG::Common::Logger::Std
userLogger = Lemonldap::NG::Common::Logger::Std
checkTime = 1

[configuration]
type = File
dirName = {root}/conf

[portal]
staticPrefix = /static
templateDir = {portal}/templates
languages = en, fr

[handler]
status = 0

[manager]
protection = manager
staticPrefix = /static
templateDir = /usr/share/lemonldap-ng/manager/htdocs/templates
enabledModules = conf
"""

#: Debian's /etc/lemonldap-ng/portal-nginx.conf, on this port, socket and folder.
NGINX_SERVER = """
    server {{
        listen 127.0.0.1:{port};
        root {portal}/htdocs/;
        if ($uri !~ ^/((static|javascript|favicon).*|.*\\.psgi)) {{
            rewrite ^/(.*)$ /index.psgi/$1 break;
        }}
        location ~ ^(?<sc>/.*\\.psgi)(?:$|/) {{
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:{root}/llng-fastcgi.sock;
            fastcgi_param HTTP_HOST $host;
            fastcgi_param LLTYPE psgi;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_split_path_info ^(.*\\.psgi)(/.*)$;
            fastcgi_param PATH_INFO $fastcgi_path_info;
        }}
        index index.psgi;
        location / {{
            try_files $uri $uri/ =404;
        }}
        location /static/ {{
            alias {portal}/htdocs/static/;
        }}
        location /javascript/ {{
            alias /usr/share/javascript/;
        }}
    }}
"""


def first_configuration(root: Path, origin: str) -> dict:
    """The portal's own settings, before any provider: its URL, a host-only cookie over plain
    HTTP, its sessions as JSON files (Browseable File) and its caches under ``root``."""
    files = {"generateModule": "Lemonldap::NG::Common::Apache::Session::Generate::SHA256"}
    return {
        "cfgNum": 1,
        "cfgAuthor": "santeid tests",
        "cfgDate": str(int(time.time())),
        "portal": f"{origin}/",
        "domain": "localhost",
        "cookieName": "lemonldap",
        "securedCookie": 0,
        "globalStorage": "Apache::Session::Browseable::File",
        "globalStorageOptions": {
            "Directory": str(root / "sessions"),
            "LockDirectory": str(root / "sessions" / "lock"),
            **files,
        },
        "persistentStorage": "Apache::Session::Browseable::File",
        "persistentStorageOptions": {
            "Directory": str(root / "psessions"),
            "LockDirectory": str(root / "psessions" / "lock"),
        },
        "localSessionStorage": "Cache::FileCache",
        "localSessionStorageOptions": {
            "cache_root": str(root / "cache"),
            "cache_depth": 3,
            "default_expires_in": 600,
            "namespace": "lemonldap-ng-sessions",
        },
        "authentication": "Demo",
        "userDB": "Same",
        "passwordDB": "Demo",
        "exportedVars": {},
        "locationRules": {},
        "exportedHeaders": {},
        "notification": 0,
        "portalSkin": "bootstrap",
        "timeout": 72000,
        "whatToTrace": "uid",
    }


@dataclass
class Portal:
    """A running portal: its origin, folder and the log of its FastCGI server."""

    origin: str
    root: Path

    @property
    def log(self) -> str:
        """What the portal logged (LemonLDAP::NG's ``Std`` logger, at ``debug``)."""
        return "".join(
            path.read_text(errors="replace")
            for path in (self.root / "llng.log", self.root / "nginx-error.log")
            if path.exists()
        )

    def session(self, session_id: str) -> dict | None:
        """The portal's session ``session_id`` (its cookie's value), as its Browseable File
        backend keeps it (a JSON file named after it), or None once it has ended."""
        path = self.root / "sessions" / session_id
        return json.loads(path.read_text()) if path.is_file() else None


def _owned_by_user(root: Path) -> dict[str, str]:
    """Hand ``root`` to :data:`USER` when this process is root (LemonLDAP::NG's tools refuse to
    run as root); the options that make them switch to it."""
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam(USER)
    for path in (root, *root.rglob("*")):
        os.chown(path, user.pw_uid, user.pw_gid)
    return {"--user": USER, "--group": USER}


@contextlib.contextmanager
def running_portal(
    metadata_url: str,
    client_id: str,
    client_secret: str,
    register: Callable[[str], object] = lambda origin: None,
    changes: Iterable[tuple[str, str, str]] = (),
) -> Iterator[Portal]:
    """A portal on a free port of ``localhost`` (another site than santeid's ``127.0.0.1``),
    its provider declared by the example's script with ``metadata_url`` and the client's
    identifier and secret, then ``changes`` made (``lemonldap-ng-cli addKey`` triples: a key,
    a subkey, a value); ``register`` is called with its origin first (the client's
    registration at the provider). Ready once its ``/ping`` answers."""
    port = free_port()
    origin = f"http://localhost:{port}"
    register(origin)
    root = Path(tempfile.mkdtemp(prefix="santeid-llng-"))
    root.chmod(0o755)
    try:
        for name in ("conf", "sessions/lock", "psessions/lock", "cache"):
            (root / name).mkdir(parents=True)
        ini = root / "lemonldap-ng.ini"
        ini.write_text(INI.format(root=root, portal=PORTAL))
        (root / "conf" / "lmConf-1.json").write_text(json.dumps(first_configuration(root, origin)))
        switch = _owned_by_user(root)
        env = {**os.environ, "LLNG_DEFAULTCONFFILE": str(ini)}
        declared = subprocess.run(
            ["sh", str(SCRIPT)],
            env={
                **env,
                "LLNG_CLI": str(CLI),
                "PSC_METADATA_URL": metadata_url,
                "PSC_CLIENT_ID": client_id,
                "PSC_CLIENT_SECRET": client_secret,
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert declared.returncode == 0, declared.stdout + declared.stderr
        changed = [str(CLI), "-yes", "1", "addKey", *(part for c in changes for part in c)]
        if len(changed) > 4:
            done = subprocess.run(changed, env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stdout + done.stderr
        _owned_by_user(root)
        server = NGINX_SERVER.format(port=port, portal=PORTAL, root=root)
        with running_nginx(root, port, 0, root, root, server=server):
            command = [str(FASTCGI_SERVER), "--foreground", "--proc", "2",
                       "--socket", str(root / "llng-fastcgi.sock"),
                       "--pid", str(root / "llng-fastcgi.pid")]  # fmt: skip
            for option, value in switch.items():
                command += [option, value]
            with running_server(
                command,
                {**env, "LLNG_DEFAULTLOGGER": "Lemonldap::NG::Common::Logger::Std"},
                root / "llng.log",
                f"http://127.0.0.1:{port}/ping",
                seconds=20,
            ):
                yield Portal(origin, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
