"""Checks every compute plugin must pass (DESIGN section 2), run against the real engine."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from packaging.requirements import Requirement

from floe_tui.compute import (
    API_VERSION,
    CatalogConfig,
    ComputeConfig,
    ComputeError,
    ComputePlugin,
    ConfigError,
    ConnectionConfig,
    HealthState,
    LiteralSecretError,
    NotConnectedError,
    PoolConfig,
    QueryOutcome,
    ResourceSize,
    ResourceSpec,
)
from floe_tui.compute import telemetry as compute_telemetry
from floe_tui.testing.cpu import EngineCpu

DEADLINE_S = 30.0


def wait_for(condition: Any, deadline_s: float = DEADLINE_S, step_s: float = 0.005) -> bool:
    """Poll `condition` until it holds or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(step_s)
    return True


class ComputePluginCompliance:
    """Subclass as ``class TestMyPlugin(ComputePluginCompliance)`` and fill in the blanks."""

    #: The plugin under test.
    plugin_class: ClassVar[type[ComputePlugin[Any]]]
    #: A statement that keeps the engine's CPUs busy for minutes unless it is stopped.
    long_running_sql: ClassVar[str]
    #: A statement that returns millions of rows, streamable.
    large_result_sql: ClassVar[str]
    #: Credential names the plugin takes, for the check that secrets never leak.
    secret_credential_names: ClassVar[tuple[str, ...]] = ()
    #: After a cancel, `SELECT 1` on the same connection answers within this much more than the
    #: engine's own warm `SELECT 1` (measured just before): 100 ms on DuckDB's ~1 ms or Spark's ~50.
    responsive_within_s: ClassVar[float] = 0.1
    #: The long-running query must first keep the engine's processes at least this busy (cores)...
    busy_above_cores: ClassVar[float] = 0.5
    #: ...and "stopped" means their CPU then falls under this fraction of what it was. Relative, so
    #: that a loaded machine (which slows both readings) does not blur the difference.
    stopped_below_fraction: ClassVar[float] = 0.25
    #: Run the real `dbt debug` on the generated profile (needs the adapter installed).
    run_dbt_debug: ClassVar[bool] = True

    def make_config(self, directory: Path) -> ComputeConfig:
        """A working configuration of the target; `directory` is a fresh temporary directory."""
        raise NotImplementedError("return a ComputeConfig for the plugin under test")

    # -- fixtures --------------------------------------------------------------------------
    def _single_connection(self, directory: Path) -> ComputeConfig:
        config = self.make_config(directory)
        pool = PoolConfig(size=1, acquire_timeout_s=10, connect_timeout_s=config.pool.connect_timeout_s)
        return config.model_copy(update={"pool": pool})

    @pytest.fixture(scope="class")
    @classmethod
    def connected(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComputePlugin]:
        """One connected target with a pool of one, shared by the class (engines start slowly)."""
        plugin = cls.plugin_class(cls()._single_connection(tmp_path_factory.mktemp("compliance")))
        plugin.connect()
        yield plugin
        plugin.disconnect()

    @pytest.fixture
    def fresh(self, tmp_path: Path) -> Iterator[ComputePlugin]:
        plugin = self.plugin_class(self.make_config(tmp_path))
        yield plugin
        plugin.disconnect()

    @pytest.fixture
    def secret_values(self, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
        values = {}
        for name in self.secret_credential_names:
            value = f"s3cr3t-{secrets.token_hex(8)}"
            monkeypatch.setenv(f"FLOE_COMPLIANCE_{name.upper()}", value)
            values[name] = value
        return values

    # -- metadata and configuration --------------------------------------------------------
    def test_metadata(self) -> None:
        cls = self.plugin_class
        assert cls.name and cls.name == cls.name.lower()
        assert cls.version and cls.description
        assert cls.api_version.split(".")[0] == API_VERSION.split(".")[0]
        assert isinstance(cls.is_self_hosted, bool)
        assert issubclass(cls.config_model, ConnectionConfig)

    def test_unknown_connection_key_is_rejected(self, tmp_path: Path) -> None:
        config = self.make_config(tmp_path)
        bad = config.model_copy(update={"connection": {**config.connection, "no_such_key": 1}})
        with pytest.raises(ConfigError) as caught:
            self.plugin_class(bad).parse_connection(bad)
        assert "no_such_key" in caught.value.message and caught.value.hint
        result = self.plugin_class().validate_connection(bad)
        assert result.success is False and "no_such_key" in result.message

    def test_validate_connection_accepts_a_good_config(self, tmp_path: Path) -> None:
        result = self.plugin_class().validate_connection(self.make_config(tmp_path))
        assert result.success, result.message

    def test_literal_secret_in_connection_is_refused(self, tmp_path: Path) -> None:
        config = self.make_config(tmp_path)
        data = config.model_dump(mode="json")
        data["connection"]["password"] = "hunter2-literal"
        with pytest.raises(LiteralSecretError) as caught:
            ComputeConfig.from_mapping(data)
        assert "hunter2" not in str(caught.value)

    def test_resource_presets(self) -> None:
        sizes: tuple[ResourceSize, ...] = ("small", "medium", "large")
        for size in sizes:
            spec = self.plugin_class().get_resource_requirements(size)
            assert isinstance(spec, ResourceSpec) and spec.size == size

    def test_required_packages_are_pip_requirements(self) -> None:
        packages = self.plugin_class().get_required_packages()
        assert packages
        for requirement in packages:
            Requirement(requirement)

    def test_catalog_attachment_quotes_its_values(self) -> None:
        hostile = CatalogConfig(name="lake", uri="http://127.0.0.1:1/cat", warehouse="w'; DROP TABLE t; --")
        sql = self.plugin_class().get_catalog_attachment_sql(hostile)
        assert sql is None or ("w''; DROP TABLE t; --" in sql and "w'; DROP" not in sql)

    # -- lifecycle -------------------------------------------------------------------------
    def test_connect_and_disconnect_are_idempotent_and_leak_nothing(self, fresh: ComputePlugin) -> None:
        fresh.connect()
        fresh.connect()
        assert fresh.execute("SELECT 1").fetch_all().num_rows == 1
        fresh.disconnect()
        fresh.disconnect()
        stats = fresh.pool_stats()
        assert stats.in_use == 0 and stats.idle == 0 and stats.size == 0
        assert stats.created == stats.closed > 0
        with pytest.raises(NotConnectedError):
            fresh.execute("SELECT 1")

    def test_context_manager_connects_and_disconnects(self, fresh: ComputePlugin) -> None:
        with fresh as plugin:
            assert plugin.health_check(timeout=30).status is not HealthState.UNHEALTHY
        stats = fresh.pool_stats()
        assert stats.created == stats.closed and stats.in_use == 0

    def test_connection_checked_out_at_disconnect_closes_when_returned(self, fresh: ComputePlugin) -> None:
        fresh.connect()
        handle = fresh.execute(self.large_result_sql, timeout=60)
        assert handle.wait_started(DEADLINE_S)
        fresh.disconnect()
        handle.cancel()
        handle.wait(DEADLINE_S)
        assert wait_for(lambda: fresh.pool_stats().in_use == 0)
        stats = fresh.pool_stats()
        assert stats.size == 0 and stats.created == stats.closed

    # -- queries ---------------------------------------------------------------------------
    def test_execute_returns_at_once_and_streams(self, connected: ComputePlugin) -> None:
        started = time.monotonic()
        handle = connected.execute(self.large_result_sql, timeout=60)
        assert time.monotonic() - started < 0.5, "execute() must not wait for the result"
        batches = handle.batches()
        first = next(batches)
        assert first.num_rows > 0 and not handle.done, "the first batch must come before the end"
        handle.cancel()
        assert handle.wait(DEADLINE_S) is QueryOutcome.CANCELLED

    def test_limit_is_a_hard_row_limit_with_overflow_signal(self, connected: ComputePlugin) -> None:
        handle = connected.execute(self.large_result_sql, timeout=60, limit=10)
        table = handle.fetch_all()
        assert table.num_rows == 10 and handle.rows == 10
        assert handle.truncated and handle.outcome is QueryOutcome.COMPLETED
        exact = connected.execute("SELECT 1 AS one", timeout=60, limit=1)
        assert exact.fetch_all().num_rows == 1 and not exact.truncated

    def test_columns_and_outcome_of_a_small_query(self, connected: ComputePlugin) -> None:
        handle = connected.execute("SELECT 1 AS one", timeout=60)
        assert handle.fetch_all().column(0).to_pylist() == [1]
        # Case-insensitive: Snowflake folds unquoted identifiers to upper case (ONE), as SQL allows.
        assert [c.name.lower() for c in handle.columns] == ["one"]
        assert handle.outcome is QueryOutcome.COMPLETED and handle.rows == 1 and handle.elapsed_s > 0

    def test_sql_error_fails_the_query_and_keeps_the_connection(self, connected: ComputePlugin) -> None:
        handle = connected.execute("SELEC nothing FROM", timeout=60)
        with pytest.raises(ComputeError) as caught:
            handle.fetch_all()
        assert handle.outcome is QueryOutcome.FAILED and caught.value.code.startswith("FLOE-C4")
        assert connected.execute("SELECT 1").fetch_all().num_rows == 1

    def test_cancel_stops_the_engine(self, connected: ComputePlugin) -> None:
        self._check_really_stopped(connected, timeout=None)

    def test_timeout_stops_the_engine(
        self, connected: ComputePlugin, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="floe_tui.compute"):
            self._check_really_stopped(connected, timeout=3.0)
        events = [r for r in caplog.records if getattr(r, "event", None) == "query.timed_out"]
        assert len(events) == 1

    def _check_really_stopped(self, plugin: ComputePlugin, timeout: float | None) -> None:
        usual = min(self._select_one_seconds(plugin) for _ in range(3))
        cpu = EngineCpu()
        handle = plugin.execute(self.long_running_sql, timeout=timeout or 600)
        busy = cpu.wait_until_above(self.busy_above_cores, deadline_s=DEADLINE_S)
        assert busy >= self.busy_above_cores, (
            f"the long-running query should keep the engine busy ({busy:.2f})"
        )
        if timeout is None:
            threading.Thread(target=handle.cancel).start()
            expected, budget = QueryOutcome.CANCELLED, 5.0
        else:
            expected, budget = QueryOutcome.TIMED_OUT, timeout + 5.0
        assert handle.wait(budget) is expected
        assert handle.stop_confirmed is True, "the engine call stayed blocked after the interrupt"
        stopped_below = self.stopped_below_fraction * busy
        used = cpu.wait_until_below(stopped_below, deadline_s=5.0)
        assert used < stopped_below, (
            f"the engine still burns {used:.2f} cores (it used {busy:.2f}) after {expected.value}: "
            "the query was abandoned, not cancelled in the engine"
        )
        # Best of three, so one scheduler hiccup on a loaded machine is not read as a busy engine.
        fastest = min(self._select_one_seconds(plugin) for _ in range(3))
        assert fastest < usual + self.responsive_within_s, (
            f"SELECT 1 took {fastest * 1000:.0f} ms afterwards, {usual * 1000:.0f} ms before the query"
        )

    @staticmethod
    def _select_one_seconds(plugin: ComputePlugin) -> float:
        probe = plugin.execute("SELECT 1", timeout=10)
        assert probe.wait(10) is QueryOutcome.COMPLETED
        return probe.elapsed_s

    # -- health and pool -------------------------------------------------------------------
    def test_health_never_raises(self, fresh: ComputePlugin) -> None:
        before = fresh.health_check(timeout=1)
        assert before.status is HealthState.UNHEALTHY and before.message
        fresh.connect()
        healthy = fresh.health_check(timeout=30)
        assert healthy.status is HealthState.HEALTHY, healthy.message
        assert healthy.latency_ms is not None and healthy.latency_ms >= 0
        fresh.disconnect()
        assert fresh.health_check(timeout=1).status is HealthState.UNHEALTHY

    def test_health_answers_within_its_timeout_while_the_pool_is_busy(self, connected: ComputePlugin) -> None:
        handle = connected.execute(self.long_running_sql, timeout=60)  # holds the only connection
        assert handle.wait_started(DEADLINE_S)
        started = time.monotonic()
        status = connected.health_check(timeout=0.5)
        assert time.monotonic() - started < 1.5
        assert status.status is HealthState.UNHEALTHY
        handle.cancel()
        assert handle.wait(DEADLINE_S) is QueryOutcome.CANCELLED

    def test_pool_accounting_returns_to_zero(self, tmp_path: Path) -> None:
        config = self.make_config(tmp_path)
        config = config.model_copy(update={"pool": config.pool.model_copy(update={"size": 2})})
        with self.plugin_class(config) as plugin:
            handles = [plugin.execute("SELECT 1", timeout=60) for _ in range(8)]
            assert all(h.wait(DEADLINE_S) is QueryOutcome.COMPLETED for h in handles)
            stats = plugin.pool_stats()
            assert stats.in_use == 0 and stats.waiting == 0 and 1 <= stats.size <= 2
            assert stats.created - stats.closed == stats.size
        stats = plugin.pool_stats()
        assert stats.created == stats.closed and stats.size == 0

    def test_acquire_timeout_fails_the_query_cleanly(self, tmp_path: Path) -> None:
        config = self._single_connection(tmp_path)
        config = config.model_copy(update={"pool": config.pool.model_copy(update={"acquire_timeout_s": 0.2})})
        with self.plugin_class(config) as plugin:
            blocker = plugin.execute(self.long_running_sql, timeout=60)
            assert blocker.wait_started(DEADLINE_S)
            starved = plugin.execute("SELECT 1", timeout=60)
            assert starved.wait(DEADLINE_S) is QueryOutcome.FAILED
            assert starved.error is not None and starved.error.code == "FLOE-C310"
            blocker.cancel()
            assert blocker.wait(DEADLINE_S) is QueryOutcome.CANCELLED
            assert plugin.pool_stats().acquire_timeouts == 1

    # -- dbt -------------------------------------------------------------------------------
    def test_dbt_profile_is_accepted_by_dbt(self, tmp_path: Path) -> None:
        config = self.make_config(tmp_path)
        output = self.plugin_class().generate_dbt_profile(config, "dev")
        assert isinstance(output, dict) and output.get("type")
        if not self.run_dbt_debug:
            return
        dbt = Path(sys.executable).with_name("dbt")
        assert dbt.exists() or shutil.which("dbt"), "dbt-core must be installed to check profiles"
        project = tmp_path / "dbt_project"
        project.mkdir()
        (project / "dbt_project.yml").write_text(
            "name: compliance\nversion: '1.0'\nconfig-version: 2\nprofile: compliance\n"
        )
        (project / "profiles.yml").write_text(
            yaml.safe_dump({"compliance": {"target": "dev", "outputs": {"dev": output}}})
        )
        env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        run = subprocess.run(
            [str(dbt) if dbt.exists() else "dbt", "debug", "--profiles-dir", str(project)],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=180,
            env=env,
        )
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]

    # -- secrets ---------------------------------------------------------------------------
    def test_secrets_never_appear_in_any_output(
        self, tmp_path: Path, secret_values: dict[str, str], caplog: pytest.LogCaptureFixture
    ) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        reader = InMemoryMetricReader()
        compute_telemetry.use_meter_provider(MeterProvider(metric_readers=[reader]))
        base = self.make_config(tmp_path).model_dump(mode="json")
        base["credentials"] = {n: {"env": f"FLOE_COMPLIANCE_{n.upper()}"} for n in secret_values}
        config = ComputeConfig.from_mapping(base)
        outputs: list[str] = [repr(config), config.model_dump_json()]
        try:
            with caplog.at_level(logging.DEBUG), self.plugin_class(config) as plugin:
                outputs.append(repr(plugin))
                outputs.append(str(plugin.validate_connection(config)))
                outputs.append(str(plugin.health_check(timeout=30)))
                outputs.append(str(plugin.pool_stats()))
                outputs.append(str(plugin.memory_stats()))
                failed = plugin.execute("SELEC broken", timeout=30)
                failed.wait(DEADLINE_S)
                outputs.append(str(failed.error))
                timed_out = plugin.execute(self.long_running_sql, timeout=0.5)
                timed_out.wait(DEADLINE_S)
                outputs.append(str(timed_out.error))
                outputs.append(yaml.safe_dump(plugin.generate_dbt_profile(config, "prod")))
            outputs.append(caplog.text)
            metrics = reader.get_metrics_data()
            outputs.append(metrics.to_json() if metrics is not None else "")
        finally:
            compute_telemetry.use_meter_provider(None)
        everything = "\n".join(outputs)
        for name, value in secret_values.items():
            assert value not in everything, f"the value of credential {name!r} leaked"
