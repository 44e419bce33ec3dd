"""Run the plugin through connect, queries, a cancel, health and profile generation while an audit
hook records every name lookup and socket connect of this process; print them as JSON.

Usage: python network_audit.py API_ENDPOINT (the token comes from FLOE_BIGQUERY_TEST_TOKEN).
"""

from __future__ import annotations

import json
import sys
from typing import Any

lookups: list[str] = []
connects: list[str] = []


def audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.getaddrinfo":
        lookups.append(str(args[0]))
    elif event == "socket.connect":
        address = args[1]
        connects.append(str(address[0]) if isinstance(address, tuple) else str(address))


sys.addaudithook(audit)

# gRPC (the Storage Read API) opens its sockets in C, out of the audit hook's sight: record every
# channel the process creates instead.
import grpc._channel  # noqa: E402

channels: list[str] = []
_channel_init = grpc._channel.Channel.__init__


def _record_channel(self: Any, target: str, *args: Any, **kwargs: Any) -> None:
    channels.append(target)
    _channel_init(self, target, *args, **kwargs)


grpc._channel.Channel.__init__ = _record_channel  # type: ignore[method-assign]

from floe_compute_bigquery import BigQueryComputePlugin  # noqa: E402
from floe_tui.compute import ComputeConfig  # noqa: E402

LONG = (
    "SELECT COUNT(*) AS n FROM UNNEST(GENERATE_ARRAY(1, 200000)) AS a "
    "CROSS JOIN UNNEST(GENERATE_ARRAY(1, 200000)) AS b WHERE MOD(a * b, 7) = 3"
)

config = ComputeConfig.from_mapping(
    {
        "name": "audited",
        "connection": {"project": "floe-test", "dataset": "floe_test", "api_endpoint": sys.argv[1]},
        "credentials": {"token": {"env": "FLOE_BIGQUERY_TEST_TOKEN"}},
    }
)
plugin = BigQueryComputePlugin(config)
plugin.validate_connection(config)
plugin.generate_dbt_profile(config, "dev")
with plugin:
    assert plugin.execute("SELECT x FROM UNNEST(GENERATE_ARRAY(1, 30000)) AS x").fetch_all().num_rows == 30000
    handle = plugin.execute(LONG, timeout=60)
    handle.wait_started(10)
    handle.cancel()
    handle.wait(10)
    plugin.health_check(timeout=10)
print(
    json.dumps(
        {
            "lookups": sorted(set(lookups)),
            "connects": sorted(set(connects)),
            "grpc_channels": channels,
            "outcome": handle.outcome.value,
        }
    )
)
