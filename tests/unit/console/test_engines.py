"""Registry and monitor lifecycle: lazy, kept across reloads that change nothing, closed on a thread."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from floe_tui.console.engines import Engines
from floe_tui.governance import Compiler, Plan


def engines_for(plan: Plan | None, collected: Any, **options: Any) -> Engines:
    return Engines(
        plan,
        "dev",
        on_sample=collected.sample,
        on_event=collected.event,
        interval_s=0.2,
        timeout_s=2,
        **options,
    )


def test_the_registry_is_built_once_connects_nothing_and_narrows_to_a_product(
    compiled: Plan, collected: Any
) -> None:
    engines = engines_for(compiled, collected)
    registry = engines.registry()
    assert registry is not None and registry.names == ["duckdb", "spare"] and engines.registry() is registry
    assert registry.get("duckdb").pool_stats().size == 0  # nothing opened
    billing = compiled.product("billing")
    narrowed = engines.query_registry(billing)
    assert narrowed is not None and narrowed.names == ["duckdb"]
    assert engines.query_registry(None) is registry
    assert engines.monitor is None and collected.samples == []
    engines.close(5)


def test_no_plan_is_an_error_and_a_plan_being_compiled_is_not(collected: Any, compiled: Plan) -> None:
    engines = engines_for(None, collected, problem="cannot load the manifests: boom")
    assert engines.registry() is None and engines.error == "cannot load the manifests: boom"
    engines.refresh(None, waiting=True)
    assert engines.waiting and engines.registry() is None
    engines.refresh(compiled, "dev")
    assert not engines.waiting and engines.registry() is not None and engines.error is None
    engines.close(5)


def test_a_reload_that_changes_no_target_keeps_registry_and_monitor_and_one_that_does_rebuilds(
    tree: Path, compiled: Plan, collected: Any, rewrite: Callable[..., Path], wait: Callable[..., None]
) -> None:
    started: list[Any] = []
    engines = engines_for(compiled, collected, on_monitor_started=started.append)
    monitor = engines.ensure_monitor()
    assert monitor is not None and started == [monitor] and engines.ensure_monitor() is monitor
    wait(lambda: {s.target for s in collected.samples} >= {"duckdb", "spare"}, what="a sample of each")
    registry = engines.registry()
    compiler = Compiler()
    engines.refresh(compiler.compile(tree), "dev")  # the same targets: nothing restarts
    assert engines.registry() is registry and engines.monitor is monitor
    rewrite(tree, threads=2)  # the `spare` target's configuration changed
    engines.refresh(compiler.compile(tree), "dev")
    assert engines.registry() is not registry and engines.monitor is not monitor
    assert engines.monitor is not None and len(started) == 2  # polling goes on, from the new registry
    wait(lambda: not monitor.running, what="the old monitor to stop")
    engines.close(5)
    assert engines.monitor is None and engines.registry() is not None  # a fresh registry on demand


def test_samples_are_kept_only_from_the_running_monitor_and_the_interval_is_clamped(
    compiled: Plan, collected: Any, wait: Callable[..., None]
) -> None:
    engines = engines_for(compiled, collected, targets=["spare"])
    monitor = engines.ensure_monitor()
    assert monitor is not None and monitor.targets == ["spare"]  # `monitor --compute spare`
    wait(lambda: collected.samples, what="a sample")
    sample = collected.samples[0]
    assert engines.accept_sample(sample) and engines.samples["spare"] is sample
    assert engines.set_interval(0.01) == 0.2 and monitor.interval_s == 0.2
    engines.close(5)
    assert not monitor.running and not engines.accept_sample(sample) and engines.samples == {}
