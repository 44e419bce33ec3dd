"""`floe-tui monitor` and metrics that leave the process: Prometheus, OTLP/HTTP and the console exporter.

Real processes, real DuckDB targets, real exporters. The one stand-in is the OTLP receiver: no
collector binary can be installed here, so a loopback HTTP server decodes what the exporter
posts with `opentelemetry-proto`, as a collector would.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

BIN = Path(sys.executable).parent
TARGETS = ("alpha", "beta", "gamma")
DEADLINE_S = 60.0
#: The only attributes an exported data point may carry: names of plugins, targets and states.
ALLOWED_ATTRIBUTES = {
    "db.system.name",
    "floe.compute.target",
    "db.client.connection.state",
    "floe.query.outcome",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    """Three in-memory DuckDB targets, one product using them."""
    approved = "".join(
        f"    - {{name: {name}, plugin: duckdb, connection: {{path: ':memory:'}}}}\n" for name in TARGETS
    )
    (tmp_path / "enterprise.yaml").write_text(
        "apiVersion: floe.dev/v1\nkind: Manifest\nmetadata: {name: co, scope: enterprise}\n"
        f"compute:\n  approved:\n{approved}  default: alpha\n"
    )
    (tmp_path / "domain.yaml").write_text(
        "apiVersion: floe.dev/v1\nkind: Manifest\nmetadata: {name: d, scope: domain}\n"
        "parent: enterprise.yaml\n"
    )
    transforms = "".join(f"  - {{name: t_{name}, compute: {name}}}\n" for name in TARGETS)
    (tmp_path / "floe.yaml").write_text(
        "apiVersion: floe.dev/v1\nkind: FloeSpec\nmetadata: {name: p}\n"
        f"platform: {{manifest: domain.yaml}}\ntransforms:\n{transforms}"
    )
    return tmp_path


def env_with(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return {**env, **extra}


class Monitor:
    """A running `floe-tui monitor`, its JSON lines read on a thread."""

    def __init__(self, manifests: Path, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [str(BIN / "floe-tui"), "monitor", "-m", str(manifests), "--interval", "0.2", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[dict[str, object]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(json.loads(line))  # every line is one whole JSON object

    def wait_for(self, condition: object, what: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not condition():  # type: ignore[operator]
            assert self.process.poll() is None, self.process.stderr.read() if self.process.stderr else ""
            assert time.monotonic() < deadline, f"timed out waiting for {what}; lines: {self.lines[-5:]}"
            time.sleep(0.05)  # polling step of a loop with a deadline

    def healthy_targets(self) -> set[object]:
        return {
            line["target"] for line in self.lines if line["kind"] == "status" and line["status"] == "healthy"
        }


@pytest.fixture
def stop_all() -> Iterator[list[Monitor]]:
    started: list[Monitor] = []
    yield started
    for monitor in started:
        if monitor.process.poll() is None:
            monitor.process.kill()
            monitor.process.wait(10)


def test_monitor_prints_json_lines_and_serves_prometheus_metrics(
    manifests: Path, stop_all: list[Monitor]
) -> None:
    port = free_port()
    env = env_with(OTEL_METRICS_EXPORTER="prometheus", OTEL_EXPORTER_PROMETHEUS_PORT=str(port))
    monitor = Monitor(manifests, env)
    stop_all.append(monitor)
    monitor.wait_for(lambda: monitor.healthy_targets() == set(TARGETS), "a status event per target")
    for line in monitor.lines:
        assert {"at", "target", "kind", "message"} <= set(line)
        assert str(line["at"]).endswith("+00:00")  # ISO 8601 with its zone

    families = {}
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
        families = {family.name: family for family in text_string_to_metric_families(text)}
        if "db_client_connection_count" in families and "floe_compute_health_status" in families:
            break
        time.sleep(0.1)  # polling step: the first scrape may come before the first poll ended
    connections = families["db_client_connection_count"].samples
    assert {s.labels["floe_compute_target"] for s in connections} == set(TARGETS)
    assert all(s.labels["db_system_name"] == "duckdb" for s in connections)
    status = {
        s.labels["floe_compute_target"]: s.value for s in families["floe_compute_health_status"].samples
    }
    assert status == dict.fromkeys(TARGETS, 0.0)  # 0: healthy
    latency = [f for name, f in families.items() if name.startswith("floe_compute_health_latency")]
    assert latency and {s.labels.get("floe_compute_target") for s in latency[0].samples} >= set(TARGETS)
    for family in families.values():
        for sample in family.samples:
            assert not any("/" in value for value in sample.labels.values()), sample  # no path

    started = time.monotonic()
    monitor.process.send_signal(signal.SIGTERM)
    assert monitor.process.wait(10) == 0
    assert time.monotonic() - started < 3.0


def test_sigint_closes_every_pool_and_exits_0(manifests: Path, stop_all: list[Monitor]) -> None:
    monitor = Monitor(manifests, env_with(), "--compute", "beta")
    stop_all.append(monitor)
    monitor.wait_for(lambda: monitor.healthy_targets() == {"beta"}, "beta's status event")
    assert {line["target"] for line in monitor.lines} == {"beta"}
    started = time.monotonic()
    monitor.process.send_signal(signal.SIGINT)
    assert monitor.process.wait(10) == 0 and time.monotonic() - started < 3.0
    assert monitor.process.stderr is not None and monitor.process.stderr.read() == ""


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "floe-tui"), *args], capture_output=True, text=True, timeout=120, env=env or env_with()
    )


@pytest.mark.parametrize(
    "args",
    [
        ("monitor", "--interval", "0.1"),
        ("monitor", "--interval", "61"),
        ("monitor", "--compute", "nope"),
        ("query", "--compute", "nope", "select 1"),
        ("health", "--compute", "nope"),
        ("plan", "--product", "nope"),
    ],
    ids=lambda a: " ".join(a),
)
def test_bad_arguments_are_one_line_and_exit_2(manifests: Path, args: tuple[str, ...]) -> None:
    done = run(*args, "-m", str(manifests))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "(hint: " in lines[0]


def test_usage_errors_name_the_right_help() -> None:
    assert "(hint: floe-tui validate --help)" in run("validate", "--bogus").stderr
    assert "(hint: floe-tui --help)" in run("bogus").stderr


def test_a_taken_prometheus_port_is_one_line_and_exit_2(manifests: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = env_with(OTEL_METRICS_EXPORTER="prometheus", OTEL_EXPORTER_PROMETHEUS_PORT=str(port))
        done = run("monitor", "-m", str(manifests), env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: cannot serve Prometheus metrics on 127.0.0.1:{port} (Address already in use) "
        "(hint: set OTEL_EXPORTER_PROMETHEUS_PORT to a free port)"
    ]


def test_the_console_exporter_prints_query_metrics_on_stderr(manifests: Path) -> None:
    done = run(
        "query",
        "-m",
        str(manifests),
        "--compute",
        "beta",
        "select 1",
        env=env_with(OTEL_METRICS_EXPORTER="console"),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].strip() == "1"
    assert "db.client.operation.duration" in done.stderr
    assert '"floe.compute.target": "beta"' in done.stderr


class _Receiver(http.server.BaseHTTPRequestHandler):
    posts: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.posts.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_otlp_http_posts_metrics_a_collector_can_decode(manifests: Path) -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    _Receiver.posts = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/metrics"
        env = env_with(OTEL_METRICS_EXPORTER="otlp", OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=endpoint)
        done = run("query", "-m", str(manifests), "--compute", "gamma", "select 42", env=env)
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr
    assert _Receiver.posts and all(path == "/v1/metrics" for path, _ in _Receiver.posts)
    names, attributes = set(), set()
    for _, body in _Receiver.posts:
        request = ExportMetricsServiceRequest.FromString(body)
        for resource in request.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    names.add(metric.name)
                    points = [
                        *metric.histogram.data_points,
                        *metric.sum.data_points,
                        *metric.gauge.data_points,
                    ]
                    for point in points:
                        attributes |= {(a.key, a.value.string_value) for a in point.attributes}
    assert "db.client.operation.duration" in names
    assert ("floe.compute.target", "gamma") in attributes and ("db.system.name", "duckdb") in attributes
    assert {key for key, _ in attributes} <= ALLOWED_ATTRIBUTES
