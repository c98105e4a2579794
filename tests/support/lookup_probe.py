"""Name resolution of a real server process, observed and scripted: a ``sitecustomize``
module first on the server's ``PYTHONPATH`` answers the names under ``.lookup-probe.test``
itself and writes each one it is asked to a log file (:func:`lookup_probe`), so a test reads
there which names the server looked up, how often, and where it tried to connect:

* ``slow.lookup-probe.test`` answers after 60 s (longer than any client of the tests waits),
  with a private address;
* ``public.lookup-probe.test`` answers :data:`PUBLIC_ADDRESS`, a globally routable address;
* ``rebind-<n>.lookup-probe.test`` answers :data:`PUBLIC_ADDRESS` to its first ``n``
  lookups, then ``127.0.0.1`` (DNS rebinding: a check sees a public address, a later lookup
  reaches this machine);
* any other name under ``.lookup-probe.test`` answers ``10.0.0.1`` (a private address).

Addresses come with the port asked for. No connection ever leaves for
:data:`PUBLIC_ADDRESS`: the probe refuses it at once (``ConnectionRefusedError``) and logs
``connect <address>:<port>``, so a test sees that the server connected to the address it had
checked."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

SUFFIX = ".lookup-probe.test"
#: Globally routable (``ipaddress``'s ``is_global``), never actually connected to.
PUBLIC_ADDRESS = "203.0.114.10"

PROBE = textwrap.dedent(
    """
    import os
    import socket
    import threading
    import time

    PUBLIC = %(public)r
    _real_getaddrinfo = socket.getaddrinfo
    _real_create_connection = socket.create_connection
    _lock = threading.Lock()
    _seen = {}


    def _log(line):
        with _lock, open(os.environ["LOOKUP_PROBE_LOG"], "a") as log:
            log.write(line + "\\n")


    def _address(host):
        label = host.split(".", 1)[0]
        with _lock:
            _seen[host] = count = _seen.get(host, 0) + 1
        if label == "slow":
            time.sleep(60)
            return "10.0.0.1"
        if label == "public":
            return PUBLIC
        if label.startswith("rebind-"):
            return PUBLIC if count <= int(label[len("rebind-"):]) else "127.0.0.1"
        return "10.0.0.1"


    def getaddrinfo(host, port=None, *args, **kwargs):
        if isinstance(host, str) and host.endswith(%(suffix)r):
            _log(host)
            address = _address(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0)))]
        return _real_getaddrinfo(host, port, *args, **kwargs)


    def create_connection(address, *args, **kwargs):
        if address[0] == PUBLIC:
            _log("connect %%s:%%s" %% tuple(address[:2]))
            raise ConnectionRefusedError("lookup probe: no connection leaves for " + PUBLIC)
        return _real_create_connection(address, *args, **kwargs)


    socket.getaddrinfo = getaddrinfo
    socket.create_connection = create_connection
    """
) % {"public": PUBLIC_ADDRESS, "suffix": SUFFIX}


def lookup_probe(home: Path) -> tuple[dict[str, str], Path]:
    """The probe installed under ``home``: the environment settings that give it to a
    server started with them (``PYTHONPATH`` first, then this process's), and its log."""
    probe = home / "lookup-probe"
    probe.mkdir(exist_ok=True)
    (probe / "sitecustomize.py").write_text(PROBE)
    log = home / "lookups.txt"
    log.touch()
    path = os.pathsep.join(p for p in (str(probe), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "LOOKUP_PROBE_LOG": str(log)}, log


def looked_up(log: Path) -> list[str]:
    """The names looked up so far, in order (the connection lines left out)."""
    return [line for line in log.read_text().split("\n") if line.endswith(SUFFIX)]


def connections(log: Path) -> list[str]:
    """``<address>:<port>`` of each connection to :data:`PUBLIC_ADDRESS` so far."""
    return [line.split(" ", 1)[1] for line in log.read_text().split("\n")
            if line.startswith("connect ")]  # fmt: skip
