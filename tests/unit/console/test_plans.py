"""Plan loading: the snapshot first, then the compiled plan, reloads, the environment, watching."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from floe_tui.console.plans import Plans
from floe_tui.console.prefetch import PlanPrefetch


def test_the_snapshot_comes_first_then_the_compiled_plan_then_reloads(tree: Path, tmp_path: Path) -> None:
    plans = Plans(tree, "dev", prefetch=PlanPrefetch(tree, tmp_path / "cache"))
    snapshot = plans.load()
    assert snapshot.plan is not None and snapshot.compiled is None and snapshot.error is None
    applied = plans.apply(snapshot)
    assert applied.compile_next and not applied.first and not applied.reloaded
    assert plans.compiling and plans.model is snapshot.plan and plans.generation == 1

    real = plans.load()
    assert real.compiled is not None and real.plan is real.compiled
    applied = plans.apply(real)
    assert applied.first and not applied.compile_next and not applied.reloaded
    assert not plans.compiling and plans.compiled is real.compiled

    again = plans.apply(plans.load())
    assert again.reloaded and not again.first and plans.generation == 3


def test_a_selected_product_follows_a_reload_and_an_unknown_environment_falls_back(tree: Path) -> None:
    plans = Plans(tree, "qa")
    applied = plans.apply(plans.load())
    assert (
        plans.env == "dev"
        and applied.env_notice is not None
        and "unknown environment `qa`" in applied.env_notice
    )
    model = plans.model
    assert model is not None
    plans.select_product(model.product("billing"))
    product = tree / "domains" / "sales" / "products" / "billing" / "floe.yaml"
    product.write_text(product.read_text().replace("t_billing", "t_invoices"))
    plans.apply(plans.load())
    assert plans.model is not None and plans.model is not model
    selected = plans.selected_product
    assert selected is plans.model.product("billing") and selected is not None
    assert [t.transform for t in selected.transforms] == ["t_invoices"]  # the new plan's product


def test_a_path_that_does_not_load_is_an_error_and_keeps_what_was_shown(tree: Path, tmp_path: Path) -> None:
    missing = Plans(tmp_path / "missing", "dev")
    loaded = missing.load()
    assert loaded.plan is None and loaded.error is not None and "no such file or directory" in loaded.error
    missing.apply(loaded)
    assert missing.model is None and missing.error == loaded.error

    plans = Plans(tree, "dev")
    plans.apply(plans.load())
    shown = plans.model
    (tree / "enterprise.yaml").rename(tree / "moved.txt")
    plans.manifests = tree / "enterprise.yaml"  # now a path that is gone
    failed = plans.load()
    plans.apply(failed)
    assert failed.plan is None and plans.model is shown and plans.error == failed.error


def test_watching_calls_back_when_a_manifest_changes_and_stops_on_stop(
    tree: Path, wait: Callable[..., None]
) -> None:
    plans = Plans(tree, "dev")
    plans.apply(plans.load())
    changed = threading.Event()
    watcher = plans.watch(changed.set, interval_s=0.05)
    product = tree / "domains" / "sales" / "products" / "orders" / "floe.yaml"
    product.write_text(product.read_text() + "# edited\n")
    assert changed.wait(5), "the change was not seen"
    plans.stop()
    wait(lambda: not watcher.is_alive(), what="the watcher to stop")
