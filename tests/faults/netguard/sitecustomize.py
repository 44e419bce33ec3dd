"""Loaded by every child Python process of the fault suite (it is on their PYTHONPATH).

Refuses a ``connect()`` to an address that is not loopback and records it in
``$FLOE_FAULTS_NETLOG``; the suite's teardown fails if anything was recorded. With
``$FLOE_FAULTS_LOG`` set, every logger of the process (floe's, the plugins', the engine
clients') writes at DEBUG to that file, which the canary test then searches. Not a test module.
"""

import ipaddress
import os
import socket

_LOG = os.environ.get("FLOE_FAULTS_NETLOG")


def _loopback(address):
    if not isinstance(address, tuple) or not address:
        return True
    host = str(address[0])
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guard(method):
    def call(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
            if _LOG:
                with open(_LOG, "a", encoding="utf-8") as log:
                    log.write(f"pid {os.getpid()}: {address!r}\n")
            raise OSError(101, f"floe fault suite: no network beyond loopback ({address!r})")
        return method(self, address)

    return call


if _LOG:
    socket.socket.connect = _guard(socket.socket.connect)
    socket.socket.connect_ex = _guard(socket.socket.connect_ex)

_DEBUG_LOG = os.environ.get("FLOE_FAULTS_LOG")
if _DEBUG_LOG:
    import logging

    logging.basicConfig(filename=_DEBUG_LOG, level=logging.DEBUG, format="%(name)s %(levelname)s %(message)s")
