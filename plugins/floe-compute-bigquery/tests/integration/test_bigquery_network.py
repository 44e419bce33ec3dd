"""Network hygiene: a whole session of the plugin reaches only the api_endpoint on loopback.

An audit hook in a fresh process records every name lookup and every socket connect while the
plugin validates, connects, queries, cancels and checks health: no metadata-server probe, no
Google host, and no Storage Read client (gRPC opens its sockets in C, out of the hook's sight:
the script records every gRPC channel created instead).
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path

from floe_tui.testing import ServerProcess

SCRIPT = Path(__file__).with_name("scripts") / "network_audit.py"


def test_only_loopback_is_reached(crucible: ServerProcess) -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), crucible.base_url], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr == "", "nothing but the report: library warnings and logs stay off stderr"
    seen = json.loads(run.stdout)
    assert seen["outcome"] == "cancelled"
    assert seen["connects"], "the audit hook saw the client's connections"
    for address in seen["connects"]:
        assert ipaddress.ip_address(address).is_loopback, address
    for host in seen["lookups"]:
        assert host in ("127.0.0.1", "localhost", "::1"), host
    assert seen["grpc_channels"] == [], "no Storage Read client the plugin did not configure"
