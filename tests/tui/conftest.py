"""Fixtures of the console tests: manifests on disk, a scripted toy engine, an app factory.

`ToyPlugin` is a stand-in engine used only where a real one cannot do what a test needs: a
health check that hangs for 30 s, an engine that is down, fixed latencies and memory figures for
stable snapshots. Queries always run on a real (in-memory) DuckDB.
"""

from __future__ import annotations

import io
import shutil
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import ConfigDict
from textual.pilot import Pilot

from floe_tui.compute import (
    ComputeConfig,
    ComputePlugin,
    ConnectionConfig,
    ConnectionFailedError,
    ConnectionResult,
    HealthState,
    HealthStatus,
    MemoryStats,
    PoolStats,
    QueryHandle,
    ResourceSpec,
)
from floe_tui.compute.discovery import Discovered, discover_plugins
from floe_tui.governance import default_manifests
from floe_tui.tui.app import FloeApp

FIXED_NOW = datetime(2026, 1, 2, 9, 30, 0, tzinfo=timezone(timedelta(hours=1)))
#: Released at the end of every test, so a "hanging" toy health check never outlives its test.
RELEASE = threading.Event()


class ToyConnection(ConnectionConfig):
    latency_ms: float = 1.0
    state: str = "healthy"
    message: str = "ok"
    down: bool = False
    hang_s: float = 0.0
    memory_limit_bytes: int | None = None


class ToyPlugin(ComputePlugin):
    name: ClassVar[str] = "toy"
    version: ClassVar[str] = "0"
    description: ClassVar[str] = "scripted test engine"
    is_self_hosted: ClassVar[bool] = True
    config_model: ClassVar[type[ConnectionConfig]] = ToyConnection
    connects: ClassVar[dict[str, int]] = {}
    checks: ClassVar[dict[str, int]] = {}

    @property
    def settings(self) -> ToyConnection:
        return ToyConnection.model_validate(self.config.connection)

    def connect(self) -> None:
        ToyPlugin.connects[self.config.name] = ToyPlugin.connects.get(self.config.name, 0) + 1
        if self.settings.down:
            raise ConnectionFailedError("toy engine is down: connection refused")

    def disconnect(self) -> None:
        pass

    def execute(self, sql: str, *, timeout: float | None = None, limit: int | None = None) -> QueryHandle:
        raise ConnectionFailedError("the toy engine runs no SQL")

    def health_check(self, timeout: float = 5.0) -> HealthStatus:
        ToyPlugin.checks[self.config.name] = ToyPlugin.checks.get(self.config.name, 0) + 1
        settings = self.settings
        if settings.hang_s:
            RELEASE.wait(settings.hang_s)  # ignores its own timeout on purpose
        return HealthStatus(
            status=HealthState(settings.state),
            latency_ms=settings.latency_ms,
            message=settings.message,
            checked_at=FIXED_NOW,
        )

    def pool_stats(self) -> PoolStats:
        return PoolStats(
            size=1,
            max=2,
            in_use=0,
            idle=1,
            waiting=0,
            created=1,
            closed=0,
            reconnects=0,
            acquire_timeouts=0,
            acquire_wait_p50_ms=0.2,
            acquire_wait_p99_ms=0.9,
        )

    def memory_stats(self) -> MemoryStats | None:
        limit = self.settings.memory_limit_bytes
        if limit is None:
            return None
        return MemoryStats(
            used_bytes=limit // 4,
            limit_bytes=limit,
            by_tag={"BASE_TABLE": limit // 8, "HASH_TABLE": limit // 16, "ORDER_BY": limit // 16},
        )

    def validate_connection(self, config: ComputeConfig) -> ConnectionResult:
        return ConnectionResult(success=True, message="ok")

    def generate_dbt_profile(self, config: ComputeConfig, environment: str) -> dict[str, Any]:
        return {}

    def get_catalog_attachment_sql(self, catalog: Any) -> str | None:
        return None

    def get_resource_requirements(self, size: Any) -> ResourceSpec:
        raise NotImplementedError

    def get_required_packages(self) -> list[str]:
        return []


ENTERPRISE = """\
apiVersion: floe.dev/v1
kind: Manifest
metadata: {name: testco, scope: enterprise, owner: platform@testco.example}
environments: [dev, prod]
compute:
  approved:
    - name: duckdb
      connection: {path: ":memory:", threads: 1, memory_limit: 256MB}
      pool: {size: 2}
%(extra)s  default: duckdb
  query_timeout_s: 30
"""

DOMAIN = """\
apiVersion: floe.dev/v1
kind: Manifest
metadata: {name: %(name)s, scope: domain}
parent: ../../enterprise.yaml
compute: {approved: [%(approved)s]}
"""

PRODUCT = """\
apiVersion: floe.dev/v1
kind: FloeSpec
metadata: {name: %(name)s}
platform: {manifest: ../../manifest.yaml}
%(compute)stransforms:
%(transforms)s
"""


def _yaml(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def write_tree(root: Path, targets: dict[str, dict[str, Any]] | None = None) -> Path:
    """A small, valid hierarchy: duckdb plus toy targets, one domain, two products."""
    extra = ""
    for name, connection in (targets or {}).items():
        flow = ", ".join(
            f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in connection.items()
        )
        extra += f"    - name: {name}\n      plugin: toy\n      connection: {{{flow}}}\n"
    names = ", ".join(["duckdb", *(targets or {})])
    (root / "domains" / "sales" / "products" / "orders").mkdir(parents=True)
    (root / "domains" / "sales" / "products" / "billing").mkdir(parents=True)
    (root / "enterprise.yaml").write_text(ENTERPRISE % {"extra": extra})
    (root / "domains" / "sales" / "manifest.yaml").write_text(DOMAIN % {"name": "sales", "approved": names})
    transforms = "".join(f"  - {{name: t_{n}, compute: {n}}}\n" for n in ["duckdb", *(targets or {})])
    (root / "domains" / "sales" / "products" / "orders" / "floe.yaml").write_text(
        PRODUCT % {"name": "orders", "compute": "", "transforms": transforms.rstrip("\n")}
    )
    (root / "domains" / "sales" / "products" / "billing" / "floe.yaml").write_text(
        PRODUCT
        % {
            "name": "billing",
            "compute": "compute: {approved: [duckdb]}\n",
            "transforms": "  - {name: invoices}",
        }
    )
    return root


def write_broken_tree(root: Path) -> Path:
    """Faults of several kinds: E301, E300, E100 (a file that does not parse)."""
    (root / "domains" / "sales" / "products" / "orders").mkdir(parents=True)
    (root / "domains" / "sales" / "products" / "garbled").mkdir(parents=True)
    (root / "enterprise.yaml").write_text(
        "apiVersion: floe.dev/v1\n"
        "kind: Manifest\n"
        "metadata: {name: brokenco, scope: enterprise}\n"
        "compute:\n"
        "  approved:\n"
        "    - name: duckdb\n"
        "      connection:\n"
        '        path: ":memory:"\n'
        "    - name: backup\n"
        "      plugin: duckdb\n"
        '      connection: {path: ":memory:"}\n'
        "  default: duckdb\n"
    )
    (root / "domains" / "sales" / "manifest.yaml").write_text(
        "apiVersion: floe.dev/v1\n"
        "kind: Manifest\n"
        "metadata: {name: sales, scope: domain}\n"
        "parent: ../../enterprise.yaml\n"
        "compute:\n"
        "  approved: [duckdb, backup, snowflake]\n"
    )
    (root / "domains" / "sales" / "products" / "orders" / "floe.yaml").write_text(
        "apiVersion: floe.dev/v1\n"
        "kind: FloeSpec\n"
        "metadata: {name: orders}\n"
        "platform: {manifest: ../../manifest.yaml}\n"
        "compute: {approved: [duckdb]}\n"
        "transforms:\n"
        "  - {name: stg_orders}\n"
        "  - {name: fct_orders, compute: backup}\n"
    )
    (root / "domains" / "sales" / "products" / "garbled" / "floe.yaml").write_text(
        "apiVersion: floe.dev/v1\nkind: FloeSpec\nmetadata: {name: garbled\ntransforms: [\n"
    )
    return root


@pytest.fixture
def plugins() -> Discovered:
    return Discovered(plugins={"duckdb": discover_plugins().get("duckdb"), "toy": ToyPlugin})


@pytest.fixture(autouse=True)
def _release_toys() -> Iterator[None]:
    RELEASE.clear()
    ToyPlugin.connects.clear()
    ToyPlugin.checks.clear()
    yield
    RELEASE.set()


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """The bundled sample hierarchy, copied so a test may edit it."""
    target = tmp_path / "acme"
    shutil.copytree(default_manifests(), target)
    return target


AppFactory = Callable[..., FloeApp]


@pytest.fixture
def make_app(tmp_path: Path, plugins: Discovered) -> Iterator[AppFactory]:
    made: list[FloeApp] = []

    def make(manifests: Path, **options: Any) -> FloeApp:
        options.setdefault("plugins", plugins)
        options.setdefault("data_dir", tmp_path / "data")
        options.setdefault("clock", lambda: FIXED_NOW)
        options.setdefault("process_stats", lambda: (1.5, 96 * 2**20))
        options.setdefault("watch_files", False)
        options.setdefault("health_timeout_s", 1.0)
        app = FloeApp(manifests, **options)
        made.append(app)
        return app

    yield make
    RELEASE.set()
    for app in made:
        app.close_engines(timeout_s=5.0)


Until = Callable[..., Awaitable[None]]


async def _until(
    pilot: Pilot[Any], condition: Callable[[], Any], timeout: float = 10.0, what: str = ""
) -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        await pilot.pause(0.02)


@pytest.fixture
def until() -> Until:
    return _until


def plain(content: Any) -> str:
    """The text of a Static's content (str, Rich Text, Content or any Rich renderable)."""
    from rich.console import Console
    from rich.text import Text
    from textual.content import Content

    if isinstance(content, str):
        return content
    if isinstance(content, Text | Content):
        return content.plain
    console = Console(width=200, record=True, file=io.StringIO(), color_system=None)
    console.print(content)
    return console.export_text()


def screen_text(app: FloeApp) -> str:
    """What a person sees in the Statics of the current screen, without colour."""
    from textual.widgets import Static

    return "\n".join(plain(widget.content) for widget in app.screen.query(Static))


@pytest.fixture
def text_of() -> Callable[[FloeApp], str]:
    return screen_text


@pytest.fixture
def broken_tree(tmp_path: Path) -> Path:
    return write_broken_tree(tmp_path / "broken")


@pytest.fixture
def tree_with(tmp_path: Path) -> Callable[..., Path]:
    """`tree_with({"steady": {"latency_ms": 2.5}})`: the test hierarchy with these toy targets."""

    def make(targets: dict[str, dict[str, Any]] | None = None) -> Path:
        return write_tree(tmp_path / "manifests", targets)

    return make


@pytest.fixture
def static_text() -> Callable[[FloeApp, str], str]:
    def read(app: FloeApp, selector: str) -> str:
        from textual.widgets import Static

        return plain(app.screen.query_one(selector, Static).content)

    return read


@pytest.fixture
def secret_tree(tmp_path: Path) -> Path:
    """An enterprise manifest with a literal password (E305): it must never reach the screen."""
    root = tmp_path / "secret"
    root.mkdir()
    (root / "enterprise.yaml").write_text(
        "apiVersion: floe.dev/v1\n"
        "kind: Manifest\n"
        "metadata: {name: leaky, scope: enterprise}\n"
        "compute:\n"
        "  approved:\n"
        "    - name: duckdb\n"
        "      connection:\n"
        '        path: ":memory:"\n'
        "        password: hunter2-do-not-show\n"
        "  default: duckdb\n"
    )
    return root


@pytest.fixture
def toy() -> type[ToyPlugin]:
    """The toy plugin class: its `connects` and `checks` count calls per target."""
    return ToyPlugin


class StandInConnection(ConnectionConfig):
    """Takes any connection keys: lets a toy stand in for another plugin (snapshots only)."""

    model_config = ConfigDict(extra="allow", frozen=True)


class StandInPlugin(ToyPlugin):
    """A toy under another plugin's name: fixed latency and memory, whatever the connection says."""

    config_model: ClassVar[type[ConnectionConfig]] = StandInConnection

    @property
    def settings(self) -> ToyConnection:
        known = {k: v for k, v in self.config.connection.items() if k in ToyConnection.model_fields}
        known.setdefault("latency_ms", 1.8)
        known.setdefault("memory_limit_bytes", 1 << 30)
        return ToyConnection.model_validate(known)


@pytest.fixture
def stand_ins() -> Discovered:
    """Every plugin name the snapshots use, played by toys with fixed numbers."""
    return Discovered(plugins={"duckdb": StandInPlugin, "spark": StandInPlugin, "toy": ToyPlugin})
