"""Which server the commands that call one talk to (``santeid.cli.server_url``)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from santeid.cli.server_url import forget_serving
from santeid.cli.server_url import record_serving
from santeid.cli.server_url import server_issuer
from santeid.settings import Settings
from tests.support.servers import santeid_home

DEFAULT = "http://127.0.0.1:5000/auth/realms/esante-wallet"


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=str(tmp_path / "var"))


def test_explicit_server_as_issuer_or_as_base_url(settings):
    issuer = "https://idp.example.org/auth/realms/esante-wallet"
    assert server_issuer(settings, issuer + "/") == (issuer, "--server")
    assert server_issuer(settings, "http://127.0.0.1:8443") == (
        "http://127.0.0.1:8443/auth/realms/esante-wallet",
        "--server",
    )
    with pytest.raises(ValueError, match="--server"):
        server_issuer(settings, "127.0.0.1:8443")


def test_the_configured_issuer_wins_over_a_running_server(settings):
    record_serving(settings.replace(issuer="http://127.0.0.1:9999/auth/realms/esante-wallet"))
    configured = settings.replace(issuer="https://idp.example.org/auth/realms/esante-wallet")
    assert server_issuer(configured) == (configured.issuer, "the configured issuer")


def test_the_running_server_recorded_by_serve(settings):
    running = settings.replace(issuer="http://127.0.0.1:8443/auth/realms/esante-wallet")
    record_serving(running)  # this test process stands for the living server
    issuer, why = server_issuer(settings)
    assert issuer == running.issuer and why.startswith("the running santeid serve")


def test_a_stopped_server_is_not_used(settings):
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    settings.data_path.mkdir(parents=True)
    (settings.data_path / "serving.json").write_text(
        json.dumps({"issuer": "http://127.0.0.1:8443/x", "pid": int(ended.stdout)})
    )
    assert server_issuer(settings) == (DEFAULT, "the default issuer")
    (settings.data_path / "serving.json").write_text("not json")
    assert server_issuer(settings) == (DEFAULT, "the default issuer")


def _living_server(settings: Settings, issuer: str) -> subprocess.Popen:
    """Another process that records itself as serving ``issuer``, then lives until its
    standard input closes."""
    script = (
        "import sys\n"
        "from santeid.cli.server_url import record_serving\n"
        "from santeid.settings import Settings\n"
        f"record_serving(Settings(data_dir={str(settings.data_path)!r}, issuer={issuer!r}))\n"
        "print('recorded', flush=True)\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert child.stdout.readline().strip() == "recorded"
    return child


def test_several_running_servers_the_last_started_wins(settings):
    first = settings.replace(issuer="http://127.0.0.1:8443/auth/realms/esante-wallet")
    record_serving(first)  # this test process stands for the first server
    second = "http://127.0.0.1:8444/auth/realms/esante-wallet"
    child = _living_server(settings, second)
    try:
        assert server_issuer(settings)[0] == second
    finally:
        child.communicate()  # closes its standard input: it ends
    # The second server is gone: the first one, still running, is found again.
    assert server_issuer(settings)[0] == first.issuer
    forget_serving(first)
    assert server_issuer(settings) == (DEFAULT, "the default issuer")


@pytest.mark.parametrize(
    "layout",
    ["werkzeug", pytest.param("granian", marks=pytest.mark.redis)],
)
def test_a_serve_that_cannot_listen_leaves_the_record_alone(tmp_path, request, layout):
    """``santeid serve`` records itself only once it listens: one that finds its port taken
    says so in one line and does not hide the server that runs."""
    settings_env: dict[str, str | None] = {"SANTEID_ISSUER": None}
    args: list[str] = []
    if layout == "granian":
        settings_env["SANTEID_STORE_URL"] = request.getfixturevalue("redis_url")
        args = ["--workers", "2"]
    home = santeid_home(tmp_path / "home", **settings_env)
    settings = Settings(data_dir=home.env["SANTEID_DATA_DIR"])
    running = settings.replace(issuer="http://127.0.0.1:8443/auth/realms/esante-wallet")
    record_serving(running)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = home.cli("serve", "--port", str(port), *args, check=False)
    assert refused.returncode == 1 and "in use" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr and "backtrace" not in refused.stderr
    why = f"the running santeid serve ({settings.data_path / 'serving.json'})"
    assert server_issuer(settings) == (running.issuer, why)


CORRUPT_RECORDS = [
    {"issuer": "http://127.0.0.1:8443/x", "pid": 99999999999999999999},  # past a C long
    {"issuer": "http://127.0.0.1:8443/x", "pid": 2**32},  # past any pid
    {"servers": [{"issuer": "http://127.0.0.1:8443/x", "pid": -(2**70)}]},
    {"issuer": "http://127.0.0.1:8443/x", "pid": 0},
    {"issuer": "http://127.0.0.1:8443/x", "pid": -1},
    {"issuer": "http://127.0.0.1:8443/x", "pid": "1"},
    {"issuer": "http://127.0.0.1:8443/x", "pid": True},
    {"issuer": "http://127.0.0.1:8443/x", "pid": 1.5},
    {"issuer": "not an issuer", "pid": 1},  # pid 1 always lives
    {"issuer": "ftp://127.0.0.1/x", "pid": 1},
    {"issuer": ["http://127.0.0.1:8443/x"], "pid": 1},
    {"servers": "http://127.0.0.1:8443/x"},
    {"servers": {"issuer": "http://127.0.0.1:8443/x", "pid": 1}},
    {"servers": [None, 3, "x", ["http://127.0.0.1:8443/x", 1]]},
    [1, 2],
    "http://127.0.0.1:8443/x",
    None,
]


@pytest.mark.parametrize(
    "text",
    [json.dumps(record) for record in CORRUPT_RECORDS] + ["[" * 100_000, "{", "\udcff"],
)
def test_a_corrupt_record_counts_as_absent_and_is_written_anew(settings, text):
    """A record no ``serve`` wrote (hand-edited, damaged) is no running server: the commands
    use the default issuer, and the next server to start replaces it."""
    settings.data_path.mkdir(parents=True)
    path = settings.data_path / "serving.json"
    path.write_text(text, errors="surrogateescape")
    assert server_issuer(settings) == (DEFAULT, "the default issuer")
    running = settings.replace(issuer="http://127.0.0.1:8443/auth/realms/esante-wallet")
    record_serving(running)
    assert json.loads(path.read_text()) == {
        "servers": [{"issuer": running.issuer, "pid": os.getpid()}]
    }
    assert server_issuer(settings)[0] == running.issuer
    forget_serving(running)
    assert json.loads(path.read_text()) == {"servers": []}
