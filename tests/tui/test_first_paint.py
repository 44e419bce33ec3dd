"""The first paint comes from a snapshot compiled in a second process; the real plan follows."""

from __future__ import annotations

from pathlib import Path

from floe_tui.governance import Compiler, default_manifests
from floe_tui.tui.app import FloeApp, is_light
from floe_tui.tui.messages import PlanLoaded
from floe_tui.tui.prefetch import PlanPrefetch
from floe_tui.tui.snapshot import dump, load


def test_a_snapshot_carries_what_the_governance_screen_reads() -> None:
    broken = default_manifests().parent / "broken"
    for path in (default_manifests(), broken):
        plan = Compiler().compile(path)
        light = load(dump(path))
        assert light.environments == plan.environments and light.floe_files == plan.floe_files
        assert [d.code for d in light.diagnostics] == [d.code for d in plan.diagnostics]
        assert [(d.line, d.column, d.is_error) for d in light.diagnostics] == [
            (d.line, d.column, d.is_error) for d in plan.diagnostics
        ]
        assert [t.transform for lv in light.levels("product") for t in lv.transforms] == [
            t.transform for lv in plan.levels("product") for t in lv.transforms
        ]
        for diagnostic in light.diagnostics:
            assert diagnostic.meaning and "hunter2" not in str(diagnostic.excerpt)
    product = load(dump(default_manifests())).product("sales/orders")
    assert product is not None and product.qualified_name == "sales/orders"
    assert [t.output("prod") for t in product.transforms] == ["prod_duckdb", "prod_duckdb", "prod_spark"]


async def test_the_snapshot_is_painted_then_replaced_by_the_real_plan(until, tmp_path: Path) -> None:
    manifests = default_manifests()
    seen: list[bool] = []

    class Recording(FloeApp):
        def on_plan_loaded(self, message: PlanLoaded) -> None:
            seen.append(is_light(message.plan))  # Textual calls FloeApp's handler too

    app = Recording(manifests, prefetch=PlanPrefetch(manifests), data_dir=tmp_path, watch_files=False)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.plan is not None and not is_light(app.plan), what="the real plan")
            assert seen == [True, False]  # the snapshot first, then the compiled plan
            assert app.engines() is not None  # engines come from the real plan only
            tree = app.screen.query_one("#gov-tree")
            assert [str(n.label).split()[0] for n in tree.root.children[0].children] == [
                "finance",
                "marketing",
                "sales",
            ]
            assert not any(line.kind == "reload" for line in app.events)  # not a reload
    finally:
        app.close_engines()


def test_a_failing_helper_falls_back_to_compiling_in_the_console(tmp_path: Path) -> None:
    assert PlanPrefetch(tmp_path / "missing").result() is None
