"""`make run` until the console exists: a real health round and query on embedded DuckDB."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from floe_tui.compute import ComputeConfig, ComputeError, ComputeRegistry

SAMPLE_QUERY = """
SELECT n_name AS nation, count(*) AS orders, round(sum(o_totalprice), 2) AS revenue
FROM orders JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY n_name ORDER BY revenue DESC LIMIT 10
"""


def run_demo() -> int:
    console = Console()
    target = ComputeConfig.from_mapping(
        {
            "name": "duckdb",
            "connection": {"path": ":memory:", "memory_limit": "1GB", "threads": 2, "extensions": ["tpch"]},
            "pool": {"size": 2},
        }
    )
    try:
        registry = ComputeRegistry([target], default="duckdb")
        plugin = registry.get()
        with plugin:
            plugin.execute("CALL dbgen(sf => 0.01)", timeout=60).fetch_all()
            health = plugin.health_check(timeout=5)
            handle = plugin.execute(SAMPLE_QUERY, timeout=30, limit=100)
            result = handle.fetch_all()
            stats = plugin.pool_stats()
            memory = plugin.memory_stats()
    except ComputeError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        return 1
    console.print(
        f"[bold]duckdb[/] {health.status.value} in {health.latency_ms:.1f} ms "
        f"(pool {stats.in_use}/{stats.max} in use, {stats.created} opened)"
    )
    if memory is not None:
        console.print(
            f"memory: {memory.used_bytes / 2**20:.1f} MiB of {(memory.limit_bytes or 0) / 2**20:.0f} MiB"
        )
    table = Table(title="TPC-H sf 0.01: revenue by nation (top 10)")
    for column in handle.columns:
        table.add_column(
            f"{column.name}\n[dim]{column.type}[/]", justify="right" if column.type != "VARCHAR" else "left"
        )
    for row in result.to_pylist():
        table.add_row(*(str(value) for value in row.values()))
    console.print(table)
    console.print(f"[green]{handle.outcome.value}[/]: {handle.rows} rows in {handle.elapsed_s * 1000:.1f} ms")
    return 0
