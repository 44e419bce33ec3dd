"""Issue 13, point 5: a canary secret in every credential, searched for everywhere afterwards.

Every credential the manifests reference (DuckDB's S3 key id and secret, the Spark Connect
token, the Snowflake password, the BigQuery token, the Databricks token) holds a canary value
(`support.canary`). A whole scripted session runs on the real engines and local servers:
`validate` (every format), `plan`, `profiles`, `health`, `query` on every engine with a server
(and a failing query), `monitor` with each exporter (console, OTLP to a loopback receiver,
Prometheus scraped), and the console driven through its three screens by Pilot (errors stepped
through, every target polled, a query on every engine, a failing one, a CSV export). Every
child process logs at DEBUG to a file (all loggers, the engine clients' too); the console's
process does the same into memory. Then stdout, stderr, the logs, the exported metrics, the
screen captures, the event log, the history, the profiles, the CSV and every file under the XDG
data/cache/config/state dirs are searched: the canary (and its base64 forms) occurs nowhere.

The same for a canary written as a literal in a manifest (FLOE-E305): the diagnostic, the
source excerpt (and the snapshot that carries it), every report format and the console mask it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.server
import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from textual.widgets import Input, Select, Static, TextArea

from floe_tui.compute import HealthState
from floe_tui.testing.servers import free_port, wait_for

from .support import (
    CANARY_CORE,
    CHECKOUT,
    CREDENTIALS,
    DUCKDB_TARGET,
    SERVER_ENGINES,
    CliRun,
    ServerEngine,
    child_env,
    databricks_target,
    status_line,
    until,
    write_tree,
)

#: Every form in which a canary could be written out: as is, and base64 (an auth header, a dump).
NEEDLES = [CANARY_CORE.encode()] + [
    encoded
    for value in CREDENTIALS.values()
    for encoded in (base64.b64encode(value.encode()), base64.urlsafe_b64encode(value.encode()))
]


def leaks(found: dict[str, bytes | str]) -> dict[str, str]:
    """The artifacts that hold a canary, each with the text around the first occurrence."""
    bad: dict[str, str] = {}
    for label, content in found.items():
        data = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
        for needle in NEEDLES:
            at = data.find(needle)
            if at >= 0:
                bad[label] = data[max(0, at - 80) : at + 80].decode("utf-8", "replace")
                break
    return bad


def files_below(*roots: Path) -> dict[str, bytes]:
    return {
        str(path): path.read_bytes()
        for root in roots
        if root.exists()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


@contextlib.contextmanager
def debug_log() -> Iterator[io.StringIO]:
    """Every logger of this process at DEBUG into memory, for the duration."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


# -- OTLP receiver and monitor runs ---------------------------------------------------------------
class OtlpReceiver:
    """A loopback HTTP server that keeps every body posted to it (a collector's stand-in)."""

    def __init__(self) -> None:
        bodies = self.bodies = []  # type: list[bytes]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="otlp-receiver", daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_monitor(
    tree: Path, env: dict[str, str], exporter: str, log: Path, targets: dict[str, str], extra: dict[str, str]
) -> dict[str, bytes | str]:
    """`floe-tui monitor` with `exporter` until every target has reported (those `targets` map to
    "healthy", healthy), then SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "floe_tui.cli", "monitor", "-m", str(tree), "--interval", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(
            env,
            OTEL_METRICS_EXPORTER=exporter,
            OTEL_METRIC_EXPORT_INTERVAL="300",
            FLOE_FAULTS_LOG=str(log),
            **extra,
        ),
        cwd=str(CHECKOUT),
    )
    lines: list[dict[str, Any]] = []
    err = bytearray()
    assert process.stdout is not None and process.stderr is not None
    stdout, stderr = process.stdout, process.stderr
    readers = [
        threading.Thread(target=lambda: [lines.append(json.loads(line)) for line in stdout], daemon=True),
        threading.Thread(
            target=lambda: [err.extend(chunk) for chunk in iter(lambda: stderr.read(4096), b"")]
        ),
    ]
    for reader in readers:
        reader.start()
    scraped: list[str] = []
    try:

        def reported() -> bool:
            statuses = {line["target"]: line.get("status") for line in lines if line["kind"] == "status"}
            return set(statuses) >= set(targets) and all(
                statuses[name] == "healthy" for name, state in targets.items() if state == "healthy"
            )

        wait_for(reported, 120, f"monitor ({exporter}): a status of every target")
        if exporter == "prometheus":
            url = f"http://127.0.0.1:{extra['OTEL_EXPORTER_PROMETHEUS_PORT']}/metrics"

            def scrape() -> bool:
                with urllib.request.urlopen(url, timeout=5) as response:
                    scraped.append(response.read().decode())
                return "floe_compute" in scraped[-1] or "db_client" in scraped[-1]

            wait_for(scrape, 30, "Prometheus metrics", interval_s=0.2)
        elif exporter == "console":
            wait_for(lambda: b"resource_metrics" in err, 30, "a console export on stderr")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(10)
        finally:
            if process.poll() is None:
                process.kill()
        for reader in readers:
            reader.join(10)
    assert code == 0, (exporter, code, bytes(err)[-2000:])
    return {
        f"monitor {exporter} stdout": json.dumps(lines),
        f"monitor {exporter} stderr": bytes(err),
        **({f"monitor {exporter} scrape": scraped[-1]} if scraped else {}),
    }


# -- the whole session ----------------------------------------------------------------------------
QUERIES = {
    "duckdb": ("SELECT 1 AS one", "SELECT * FROM no_such_table"),
    "spark": ("SELECT 1 AS one", None),
    "snowflake": ("SELECT 1 AS one", "SELECT * FROM no_such_table"),
    "bigquery": ("SELECT 1 AS one", "SELECT * FROM floe_test.no_such_table"),
}


#: Engines whose failing query also runs as a child process (the console runs every engine's).
CLI_FAILING = ("snowflake", "bigquery")


def session_tree(root: Path, engines: dict[str, ServerEngine], *, with_spark: bool = True) -> Path:
    servers = [engines[name].target(name) for name in SERVER_ENGINES if with_spark or name != "spark"]
    return write_tree(root, [DUCKDB_TARGET, *servers, databricks_target()], broken_product=True)


#: Commands run in this process (cheap: no interpreter start, the compiler loaded once), their
#: stdout and stderr captured; those that open engines run as child processes (below).
FORMATS = ("text", "json", "github", "sarif", "junit")
IN_PROCESS = {
    **{f"validate {form}": ("validate", "{tree}", "--format", form) for form in FORMATS},
    "plan text": ("plan", "-m", "{tree}"),
    "plan json": ("plan", "-m", "{tree}", "--format", "json"),
    "profiles": ("profiles", "-m", "{tree}", "--product", "orders", "-o", "{out}"),
}  # fmt: skip


async def cli_session(
    tree: Path, cli: Callable[..., CliRun], logs: Path, out: Path
) -> tuple[dict[str, bytes | str], list[CliRun]]:
    """Every headless command once: their outputs by label, and the child processes' runs."""
    found: dict[str, bytes | str] = {}
    with debug_log() as log:
        for label, template in IN_PROCESS.items():
            args = [part.format(tree=tree, out=out) for part in template]
            code, stdout, stderr = in_process(*args)
            assert code in (0, 1) and "Traceback" not in stderr, (label, code, stderr)
            found[f"{label} stdout"], found[f"{label} stderr"] = stdout, stderr
    found["in-process commands debug log"] = log.getvalue()
    runs: list[tuple[str, tuple[str, ...]]] = [("health", ("health", "-m", str(tree), "--format", "json"))]
    for engine, (good, bad) in QUERIES.items():
        runs.append(
            (f"query {engine}", ("query", "-m", str(tree), "--compute", engine, "--format", "json", good))
        )
        if bad is not None and engine in CLI_FAILING:
            runs.append((f"query {engine} failing", ("query", "-m", str(tree), "--compute", engine, bad)))
    gate = asyncio.Semaphore(2)

    async def one(label: str, args: tuple[str, ...]) -> CliRun:
        async with gate:
            log = logs / f"{label.replace(' ', '-')}.log"
            run = await asyncio.to_thread(cli, *args, env={"FLOE_FAULTS_LOG": str(log)}, timeout=180)
        found[f"{label} stdout"] = run.stdout
        found[f"{label} stderr"] = run.stderr
        return run

    done = await asyncio.gather(*(one(label, args) for label, args in runs))
    return found, list(done)


async def console_session(
    tree: Path, engines: dict[str, ServerEngine], data: Path, csv: Path
) -> dict[str, bytes | str]:
    """The console through its three screens; its screen captures, event log and debug log."""
    from floe_tui.console.prefetch import PlanPrefetch
    from floe_tui.tui.app import FloeApp

    found: dict[str, bytes | str] = {}
    names = ["duckdb", *SERVER_ENGINES]
    with debug_log() as log:
        app = FloeApp(
            tree,
            data_dir=data,
            prefetch=PlanPrefetch(tree),  # the snapshot cache under $XDG_CACHE_HOME
            watch_files=False,
            health_timeout_s=10,
            process_stats=lambda: (1.0, 64 * 2**20),
        )
        try:
            async with app.run_test(size=(140, 45)) as pilot:
                await until(
                    pilot, lambda: app.core.plan is not None and not app.core.plans.compiling, 60, "plan"
                )
                errors = sum(d.is_error for d in app.core.plan.diagnostics)
                assert errors >= 2, app.core.plan.diagnostics
                for step in range(errors):  # every error stepped through, its source shown
                    await pilot.press("n")
                    await until(pilot, lambda: app.screen.diagnostic_cursor == step, 5, f"error {step}")  # noqa: B023
                    found[f"screen governance error {step}"] = app.export_screenshot()
                await pilot.press("2")
                await pilot.press("ctrl+r")
                await until(
                    pilot,
                    lambda: (
                        all(
                            (s := app.core.samples.get(n)) is not None
                            and s.health.status is HealthState.HEALTHY
                            for n in names
                        )
                        and "databricks" in app.core.samples
                    ),
                    120,
                    "every target polled (Databricks, on a closed port, unhealthy)",
                )
                found["screen dashboard"] = app.export_screenshot()
                await pilot.press("3")
                await until(pilot, lambda: isinstance(app.focused, TextArea), 10, "the editor")
                for engine, (good, bad) in QUERIES.items():
                    for sql, ends in ((good, "completed"), (bad, "failed")):
                        if sql is None:
                            continue
                        app.screen.query_one("#target", Select).value = engine
                        app.screen.query_one("#editor", TextArea).text = sql
                        before = app.core.queries.counter
                        await pilot.press("f5")
                        await until(
                            pilot,
                            lambda: app.core.queries.counter > before and status_line(app).endswith(ends),  # noqa: B023
                            120,
                            f"`{ends}` on {engine} ({status_line(app)!r})",
                        )
                        found[f"screen query {engine} {ends}"] = app.export_screenshot()
                app.screen.query_one("#target", Select).value = "duckdb"
                app.screen.query_one("#editor", TextArea).text = "SELECT 42 AS answer, 'row' AS label"
                before = app.core.queries.counter
                await pilot.press("f5")
                await until(pilot, lambda: status_line(app).endswith("completed"), 60, "a last query")
                await pilot.press("ctrl+s")
                await until(
                    pilot, lambda: app.screen.__class__.__name__ == "ExportScreen", 10, "the export prompt"
                )
                app.screen.query_one("#export-path", Input).value = str(csv)
                await pilot.press("enter")
                await until(pilot, csv.exists, 30, "the CSV file")
                await until(pilot, lambda: (data / "history.json").exists(), 30, "the history file")
                await pilot.press("1")
                found["screen governance at the end"] = app.export_screenshot()
                found["screen text"] = "\n".join(
                    str(getattr(w.content, "plain", w.content)) for w in app.screen.query(Static)
                )
                found["event log"] = "\n".join(
                    f"{line.source} {line.kind} {line.message}" for line in app.core.events
                )
        finally:
            app.close_engines(timeout_s=10)
    found["console debug log"] = log.getvalue()
    return found


@pytest.mark.slow
@pytest.mark.timeout(480)
async def test_a_whole_session_leaks_no_secret(
    all_server_engines: dict[str, ServerEngine],
    cli: Callable[..., CliRun],
    fault_env: dict[str, str],
    home: Path,
    tmp_path: Path,
    record: Any,
) -> None:
    engines = all_server_engines
    tree = session_tree(tmp_path / "manifests", engines)
    logs, out = tmp_path / "logs", tmp_path / "profiles"
    logs.mkdir()
    started = time.monotonic()
    found, runs = await cli_session(tree, cli, logs, out)
    by_label = {" ".join(run.args[:1] + run.args[-1:]): run for run in runs}
    assert all(run.returncode in (0, 1) for run in runs), [(r.args, r.returncode, r.stderr) for r in runs]
    assert all("Traceback" not in run.stderr for run in runs)
    assert (out / "profiles.yml").exists(), by_label
    # Every secret is an env_var reference in the profile, never a value.
    profile = json.dumps(yaml.safe_load((out / "profiles.yml").read_text()))
    for name in ("FAULTS_SPARK_TOKEN", "FAULTS_SNOWFLAKE_PASSWORD", "FAULTS_DATABRICKS_TOKEN"):
        assert f"env_var('{name}')" in profile, profile

    receiver = OtlpReceiver()
    try:
        # The monitors poll a tree without Spark (each Spark client costs two seconds of a core to
        # start; the console session and `health` poll Spark Connect with its canary token).
        lighter = session_tree(tmp_path / "manifests-no-spark", engines, with_spark=False)
        targets = {"duckdb": "healthy", "snowflake": "", "bigquery": "", "databricks": ""}
        exporters = {
            "console": (lighter, targets, {}),
            "otlp": (lighter, targets, {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": receiver.endpoint}),
            "prometheus": (lighter, targets, {"OTEL_EXPORTER_PROMETHEUS_PORT": str(free_port())}),
        }
        results = await asyncio.gather(
            *(
                asyncio.to_thread(
                    run_monitor, where, fault_env, name, logs / f"monitor-{name}.log", targets, extra
                )
                for name, (where, targets, extra) in exporters.items()
            )
        )
        for result in results:
            found.update(result)
        wait_for(lambda: bool(receiver.bodies), 10, "an OTLP export")
        found.update({f"otlp body {i}": body for i, body in enumerate(receiver.bodies)})
    finally:
        receiver.close()
    headless_s = time.monotonic() - started

    data = home / "data" / "floe-tui"
    csv = tmp_path / "export" / "result.csv"
    found.update(await console_session(tree, engines, data, csv))
    found.update(files_below(logs, out, csv.parent, home))
    assert any(label.startswith(str(home / "cache")) for label in found), "the snapshot cache was written"
    assert len([label for label in found if label.startswith("screen ")]) >= 10
    # The search itself works, and what it searched is real: debug logs of the clients, screens.
    assert leaks({"probe": f"<{CREDENTIALS['FAULTS_SPARK_TOKEN']}>"})
    assert leaks({"probe": base64.b64encode(CREDENTIALS["FAULTS_BIGQUERY_TOKEN"].encode())})
    logged = b"".join(
        content for label, content in found.items() if label.endswith(".log") and isinstance(content, bytes)
    )
    assert b"snowflake.connector" in logged and b"databricks.sql" in logged, "the DEBUG logs were written"
    assert found["console debug log"], "the console's DEBUG log was captured"
    assert "bigquery" in str(found["screen dashboard"]) and "one" in str(
        found["screen query spark completed"]
    )
    bad = leaks(found)
    assert not bad, f"the canary leaked into: {json.dumps(bad, indent=1)}"
    record(
        "canary secret in every credential, whole session",
        "all (duckdb, spark, snowflake, bigquery; databricks offline)",
        f"0 occurrences in {len(found)} artifacts (outputs of {len(runs)} commands and 3 monitors, "
        "DEBUG logs, metrics, screen captures, history, profiles, CSV, XDG dirs)",
        None,
        f"headless part {headless_s:.0f} s",
    )


# -- the canary as a literal in a manifest (FLOE-E305) -----------------------------------------------
LITERAL = f"floe-{CANARY_CORE}-literal"


def literal_tree(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "enterprise.yaml").write_text(
        "apiVersion: floe.dev/v1\n"
        "kind: Manifest\n"
        "metadata: {name: leaky, scope: enterprise}\n"
        "compute:\n"
        "  approved:\n"
        "    - name: duckdb\n"
        "      plugin: duckdb\n"
        "      connection:\n"
        '        path: ":memory:"\n'
        f"        password: {LITERAL}\n"
        "      credentials:\n"
        f'        s3_secret: "{LITERAL}-2"\n'
        "    - name: lake\n"
        "      plugin: duckdb\n"
        f"      connection: {{path: ':memory:', token: '{LITERAL}-3'}}\n"
        "  default: duckdb\n"
    )
    return root


def in_process(*args: str) -> tuple[int, str, str]:
    from floe_tui import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return code, out.getvalue(), err.getvalue()


async def test_a_literal_secret_in_a_manifest_is_masked_everywhere(tmp_path: Path, home: Path) -> None:
    from floe_tui.console.prefetch import PlanPrefetch
    from floe_tui.console.snapshot import dump
    from floe_tui.governance import Compiler
    from floe_tui.governance.diagnostics import excerpt
    from floe_tui.tui.app import FloeApp

    tree = literal_tree(tmp_path / "literal")
    found: dict[str, bytes | str] = {}
    plan = Compiler().compile(tree)
    secret_diagnostics = [d for d in plan.diagnostics if d.code == "FLOE-E305"]
    assert len(secret_diagnostics) == 3, plan.diagnostics
    for index, d in enumerate(secret_diagnostics):
        found[f"diagnostic {index}"] = d.format()
        lines = excerpt(tree / d.file, d.line, 3)
        found[f"excerpt {index}"] = "\n".join(text for _, text in lines)
        assert any("****" in text for number, text in lines if number == d.line), lines
    found["snapshot document"] = json.dumps(dump(tree))
    for form in ("text", "json", "github", "sarif", "junit"):
        code, stdout, stderr = in_process("validate", str(tree), "--format", form)
        assert code == 1
        found[f"validate {form}"] = stdout + stderr
    for command in (("plan", "-m", str(tree), "--format", "json"), ("health", "-m", str(tree))):
        code, stdout, stderr = in_process(*command)
        found[" ".join(command[:1])] = stdout + stderr

    with debug_log() as log:
        app = FloeApp(tree, data_dir=tmp_path / "data", prefetch=PlanPrefetch(tree), watch_files=False)
        try:
            async with app.run_test(size=(140, 45)) as pilot:
                await until(
                    pilot, lambda: app.core.plan is not None and not app.core.plans.compiling, 60, "plan"
                )
                for step in range(len(app.core.plan.diagnostics)):
                    await pilot.press("n")
                    await until(pilot, lambda: app.screen.diagnostic_cursor == step, 5, f"diagnostic {step}")  # noqa: B023
                    source = app.screen.query_one("#source", Static).content
                    found[f"console source {step}"] = str(getattr(source, "plain", source))
                    found[f"console screen {step}"] = app.export_screenshot()
                    assert "****" in found[f"console source {step}"], found[f"console source {step}"]
                await pilot.press("2")
                await pilot.press("ctrl+r")
                await until(
                    pilot,
                    lambda: (
                        app.current_mode == "dashboard"
                        and (app.core.samples or app.core.registry_error or app.core.monitor is not None)
                    ),
                    30,
                    "the dashboard with what it knows of the refused targets",
                )
                found["console dashboard"] = app.export_screenshot()
                found["console events"] = "\n".join(line.message for line in app.core.events)
        finally:
            app.close_engines(timeout_s=10)
    found["console debug log"] = log.getvalue()
    found.update(files_below(tmp_path / "data", home / "cache"))
    assert any("snapshots" in label for label in found), "the snapshot cache (with excerpts) was written"
    bad = leaks(found)
    assert not bad, f"the literal secret leaked into: {json.dumps(bad, indent=1)}"
    assert os.environ.get("FAULTS_SNOWFLAKE_PASSWORD") == CREDENTIALS["FAULTS_SNOWFLAKE_PASSWORD"]
