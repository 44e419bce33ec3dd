"""ConsoleCore without a screen: what the console shows and does, driven as the app drives it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from floe_tui.console.core import ConsoleCore
from floe_tui.console.events import EventLog
from floe_tui.console.prefetch import PlanPrefetch
from floe_tui.governance import default_manifests

NOW = datetime(2026, 1, 2, 9, 30, tzinfo=UTC)


def core_for(manifests: Path, tmp_path: Path, collected: Any, **options: Any) -> ConsoleCore:
    return ConsoleCore(
        manifests,
        on_sample=collected.sample,
        on_event=collected.event,
        data_dir=tmp_path / "data",
        clock=lambda: NOW,
        interval_s=0.2,
        health_timeout_s=2,
        **options,
    )


def test_snapshot_then_plan_engines_follow_the_real_plan_and_reloads_are_logged(
    tree: Path, tmp_path: Path, collected: Any, wait: Callable[..., None]
) -> None:
    core = core_for(tree, tmp_path, collected, prefetch=PlanPrefetch(tree, tmp_path / "cache"))
    assert core.start() is None and core.env == "dev"
    applied = core.plan_loaded(core.plans.load())
    assert applied.compile_next and core.plans.compiling and core.plan is not None
    assert core.registry() is None and core.registry_error is None  # a moment: the real plan is coming
    core.plan_loaded(core.plans.load())
    registry = core.registry()
    assert registry is not None and registry.names == ["duckdb", "spare"]
    core.select_product(core.plan.product("billing") if core.plan else None)
    narrowed = core.query_registry()
    assert narrowed is not None and narrowed.names == ["duckdb"]
    assert [line.kind for line in core.events] == []
    core.plan_loaded(core.plans.load())
    assert [(line.source, line.kind, line.message) for line in core.events] == [
        ("governance", "reload", "manifests reloaded: 0 error(s)")
    ]
    assert core.toggle_pause() is True  # starts the monitor, paused
    assert [line.message for line in core.events][-2:] == [
        "polling 2 target(s) every 0.2 s",
        "polling paused",
    ]
    assert core.toggle_pause() is False
    wait(lambda: collected.samples, what="a sample")
    assert core.sample_arrived(collected.samples[0]) and collected.samples[0].target in core.samples
    closer = core.close_async()
    closer.join(5)
    assert core.monitor is None and not closer.is_alive()


def test_source_lines_come_from_the_snapshot_first_and_from_the_file_once_compiled(
    tmp_path: Path, collected: Any
) -> None:
    broken = default_manifests().parent / "broken" / "e305-literal-secret"
    core = core_for(broken, tmp_path, collected, prefetch=PlanPrefetch(broken, tmp_path / "cache"))
    core.plan_loaded(core.plans.load())
    assert core.plan is not None and core.plans.compiling
    (diagnostic,) = (d for d in core.plan.diagnostics if d.code == "FLOE-E305")
    from_snapshot = core.source_lines(diagnostic)
    core.plan_loaded(core.plans.load())
    assert core.plan is not None and not core.plans.compiling and not core.plan.excerpts
    (compiled,) = (d for d in core.plan.diagnostics if d.code == "FLOE-E305")
    assert compiled == diagnostic and core.source_lines(compiled) == from_snapshot
    assert "****" in "".join(text for _, text in from_snapshot) and "wJalr" not in str(from_snapshot)
    assert diagnostic.meaning == "literal secret in a manifest"
    core.close(5)


def test_the_event_log_is_bounded_and_tells_its_listeners() -> None:
    log = EventLog(lambda: NOW, limit=3)
    heard: list[str] = []
    log.listen(lambda line: heard.append(line.message))
    for n in range(5):
        log.log("query", "cancelled", f"run {n}")
    assert [line.message for line in log] == ["run 2", "run 3", "run 4"] and len(log) == 3
    assert heard == [f"run {n}" for n in range(5)]


def test_a_compile_that_fails_after_the_snapshot_keeps_the_tree_and_says_why(
    tree: Path, tmp_path: Path, collected: Any
) -> None:
    core = core_for(tree, tmp_path, collected, prefetch=PlanPrefetch(tree, tmp_path / "cache"))
    core.plan_loaded(core.plans.load())
    snapshot = core.plan
    assert core.plans.compiling and snapshot is not None
    tree.rename(tmp_path / "gone")  # the compile right after the paint finds nothing
    core.plan_loaded(core.plans.load())
    assert core.plan is snapshot and not core.plans.compiling  # no longer waiting for it
    assert core.registry() is None and core.registry_error is not None
    assert "no such file or directory" in core.registry_error
