"""The first paint comes from a snapshot (cached, or compiled in a second process); the real plan follows."""

from __future__ import annotations

import gc
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Footer

from floe_tui.console.plans import Loaded, Plans
from floe_tui.console.prefetch import PlanPrefetch
from floe_tui.console.snapshot import dump, load
from floe_tui.governance import Compiler, default_manifests
from floe_tui.planmodel import Diagnostic, Level, PlanModel, TransformPlan
from floe_tui.tui.app import FloeApp
from floe_tui.tui.messages import PlanLoaded


def test_a_snapshot_carries_what_the_governance_screen_reads() -> None:
    broken = default_manifests().parent / "broken"
    for path in (default_manifests(), broken):
        plan = Compiler().compile(path)
        light = load(dump(path))
        # One model, whatever the source: the compiled plan is a PlanModel too, of the same parts.
        assert isinstance(plan, PlanModel) and type(light) is PlanModel
        assert {type(d) for d in light.diagnostics} <= {Diagnostic} >= {type(d) for d in plan.diagnostics}
        assert {type(level) for level in light.levels("product")} == {Level}
        assert {type(t) for t in light.transforms} == {type(t) for t in plan.transforms} == {TransformPlan}
        assert light.diagnostics == plan.diagnostics and light.target_names == plan.target_names
        assert [t.transform for t in light.transforms] == [t.transform for t in plan.transforms]
        assert light.environments == plan.environments and light.floe_files == plan.floe_files
        assert [d.code for d in light.diagnostics] == [d.code for d in plan.diagnostics]
        assert [(d.line, d.column, d.is_error) for d in light.diagnostics] == [
            (d.line, d.column, d.is_error) for d in plan.diagnostics
        ]
        assert [t.transform for lv in light.levels("product") for t in lv.transforms] == [
            t.transform for lv in plan.levels("product") for t in lv.transforms
        ]
        for diagnostic in light.diagnostics:
            assert diagnostic.meaning and "hunter2" not in str(light.excerpts[diagnostic])
    product = load(dump(default_manifests())).product("sales/orders")
    assert product is not None and product.qualified_name == "sales/orders"
    assert [t.output("prod") for t in product.transforms] == ["prod_duckdb", "prod_duckdb", "prod_spark"]


async def test_the_snapshot_is_painted_then_replaced_by_the_real_plan(until, tmp_path: Path) -> None:
    manifests = default_manifests()
    seen: list[bool] = []

    class Recording(FloeApp):
        def on_plan_loaded(self, message: PlanLoaded) -> None:
            seen.append(message.loaded.compiled is None)  # Textual calls FloeApp's handler too

    prefetch = PlanPrefetch(manifests, tmp_path / "cache")
    assert not prefetch.from_cache  # an empty cache: the helper process compiles
    app = Recording(manifests, prefetch=prefetch, data_dir=tmp_path, watch_files=False)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.core.plans.compiled is not None, what="the real plan")
            assert seen == [True, False]  # the snapshot first, then the compiled plan
            assert app.core.registry() is not None  # engines come from the real plan only
            tree = app.screen.query_one("#gov-tree")
            assert [str(n.label).split()[0] for n in tree.root.children[0].children] == [
                "finance",
                "marketing",
                "sales",
            ]
            assert not any(line.kind == "reload" for line in app.core.events)  # not a reload
    finally:
        app.close_engines()


def test_a_failing_helper_falls_back_to_compiling_in_the_console(tmp_path: Path) -> None:
    assert PlanPrefetch(tmp_path / "missing", tmp_path / "cache").result() is None


# -- the snapshot cache ------------------------------------------------------------------------
def picture(prefetch: PlanPrefetch) -> list[tuple[str, str, list[str]]]:
    """What the first tree shows: every level, its diagnostics' codes, its transforms' computes."""
    snapshot = prefetch.result()
    assert snapshot is not None
    codes = [d.code for d in snapshot.diagnostics]
    return [
        (level.scope, level.name, [f"{t.transform}={t.compute}" for t in level.transforms] + codes)
        for scope in ("enterprise", "domain", "product")
        for level in snapshot.levels(scope)
    ]


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(default_manifests(), tmp_path / "acme"))


def test_a_second_launch_on_unchanged_manifests_paints_from_the_cache(
    sample_copy: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = PlanPrefetch(sample_copy, cache)
    assert not first.from_cache
    compiled = picture(first)
    again = PlanPrefetch(sample_copy, cache)
    assert again.from_cache  # no helper, no compiler: the snapshot of the first launch
    assert picture(again) == compiled
    (cached,) = (cache / "snapshots").iterdir()
    assert cached.stat().st_mode & 0o777 == 0o600  # the console's own file, for its user only


async def test_a_cached_snapshot_is_in_the_tree_the_screen_is_first_composed_with(
    until, sample_copy: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    assert PlanPrefetch(sample_copy, cache).result() is not None  # the first launch caches it
    at_mount: list[list[str]] = []

    class Recording(FloeApp):
        def on_mount(self) -> None:  # Textual runs FloeApp.on_mount right after this one
            tree = self.screen.query_one("#gov-tree")
            at_mount.append([str(n.label).split()[0] for n in tree.root.children])

    prefetch = PlanPrefetch(sample_copy, cache)
    assert prefetch.from_cache
    app = Recording(sample_copy, prefetch=prefetch, data_dir=tmp_path, watch_files=False)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            # The screens mount before the app does: the tree was built from the snapshot then,
            # not in a later frame from a worker thread.
            assert at_mount == [["acme"]]
            await until(pilot, lambda: app.core.plans.compiled is not None, what="the real plan")
            assert app.core.registry() is not None
    finally:
        app.close_engines()


def test_a_long_cached_snapshot_is_left_to_the_worker_thread(sample_copy: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    compiled = picture(PlanPrefetch(sample_copy, cache))
    prefetch = PlanPrefetch(sample_copy, cache)
    assert prefetch.cached_now(max_chars=100) is None  # too long to load on the UI thread
    assert picture(prefetch) == compiled  # still there for `result()`, on the worker thread


def test_a_path_given_relative_to_the_working_directory_is_cached_too(
    sample_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.chdir(sample_copy.parent)
    compiled = picture(PlanPrefetch(Path(sample_copy.name), cache))
    again = PlanPrefetch(Path(sample_copy.name), cache)
    assert again.from_cache and picture(again) == compiled
    _edit(sample_copy / "domains/sales/manifest.yaml")
    assert not PlanPrefetch(Path(sample_copy.name), cache).from_cache
    assert not PlanPrefetch(sample_copy, cache).from_cache  # the same tree given another way: its own entry


def _edit(path: Path) -> None:
    path.write_text(path.read_text() + "# edited\n")


def _same_size_later(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


CHANGES: dict[str, Callable[[Path], None]] = {
    "a product edited": lambda root: _edit(root / "domains/sales/products/orders/floe.yaml"),
    "a manifest saved again, same size": lambda root: _same_size_later(root / "enterprise.yaml"),
    "a product added": lambda root: shutil.copytree(
        root / "domains/sales/products/customers", root / "domains/sales/products/returns"
    ),
    "a product removed": lambda root: shutil.rmtree(root / "domains/finance/products/ledger"),
}


@pytest.mark.parametrize("change", CHANGES, ids=list(CHANGES))
def test_any_change_to_the_manifests_misses_the_cache(change: str, sample_copy: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    before = picture(PlanPrefetch(sample_copy, cache))
    CHANGES[change](sample_copy)
    after = PlanPrefetch(sample_copy, cache)
    assert not after.from_cache
    compiled = picture(after)
    if change in ("a product added", "a product removed"):
        assert compiled != before  # and the fresh compile shows the change
    assert PlanPrefetch(sample_copy, cache).from_cache  # cached again for the next launch


def test_a_parent_outside_the_opened_file_is_part_of_the_cache_key(sample_copy: Path, tmp_path: Path) -> None:
    cache, product = tmp_path / "cache", sample_copy / "domains/sales/products/orders/floe.yaml"
    picture(PlanPrefetch(product, cache))
    assert PlanPrefetch(product, cache).from_cache
    _edit(sample_copy / "enterprise.yaml")  # reached through `parent` links only
    assert not PlanPrefetch(product, cache).from_cache


def test_a_damaged_cache_is_ignored_and_replaced(sample_copy: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    compiled = picture(PlanPrefetch(sample_copy, cache))
    (cached,) = (cache / "snapshots").iterdir()
    for damage in ("{not json\n", "", '{"format": "1/0.1.0"}\n', cached.read_text()[:-40]):
        cached.write_text(damage)
        prefetch = PlanPrefetch(sample_copy, cache)
        assert not prefetch.from_cache
        assert picture(prefetch) == compiled
    assert PlanPrefetch(sample_copy, cache).from_cache
    # Damage that keeps the length: the console compiles by itself, the next launch caches again.
    header, snapshot = cached.read_text().splitlines(keepends=True)
    cached.write_text(header + "x" * len(snapshot))
    assert PlanPrefetch(sample_copy, cache).result() is None
    assert not PlanPrefetch(sample_copy, cache).from_cache


def test_an_unwritable_cache_costs_time_not_the_first_paint(sample_copy: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the cache directory would go")
    for _ in range(2):
        prefetch = PlanPrefetch(sample_copy, blocked)
        assert not prefetch.from_cache and picture(prefetch)


def test_no_secret_reaches_the_cache(tmp_path: Path) -> None:
    broken = default_manifests().parent / "broken" / "e305-literal-secret"
    picture(PlanPrefetch(broken, tmp_path / "cache"))
    (cached,) = (tmp_path / "cache" / "snapshots").iterdir()
    assert "FLOE-E305" in cached.read_text()
    assert "wJalrXUtnFEMI" not in cached.read_text()


async def test_a_query_asked_for_before_the_real_plan_runs_when_it_comes(
    until, tmp_path: Path, tree_with: Callable[..., Path]
) -> None:
    import threading

    from textual.widgets import Static, TextArea

    manifests = tree_with()
    app = FloeApp(
        manifests, prefetch=PlanPrefetch(manifests, tmp_path / "cache"), data_dir=tmp_path, watch_files=False
    )
    compile_may_start = threading.Event()
    load = app.core.plans.load

    def held_load() -> Any:
        if app.core.plan is not None:  # the snapshot is shown: hold the compile until the test says
            compile_may_start.wait(10)
        return load()

    app.core.plans.load = held_load  # type: ignore[method-assign]
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.core.plans.compiling, what="the snapshot")
            await pilot.press("3")
            await until(pilot, lambda: isinstance(app.focused, TextArea), what="the editor")
            app.screen.query_one("#editor", TextArea).text = "SELECT 42 AS answer"
            await pilot.press("f5")
            status = lambda: str(app.screen.query_one("#query-status", Static).content)  # noqa: E731
            await until(pilot, lambda: "waiting for the manifests to compile" in status(), what="waiting")
            assert app.core.queries.current is None
            compile_may_start.set()
            await until(pilot, lambda: status().endswith("completed"), timeout=30, what="the run")
            assert (
                app.core.queries.current is not None and app.core.queries.current.sql == "SELECT 42 AS answer"
            )
    finally:
        compile_may_start.set()
        app.close_engines()


async def test_the_collector_paused_for_start_up_is_back_on_after_the_first_frame(make_app, until) -> None:
    """`floe-tui` starts with the cyclic collector off (its start-up objects live as long as the
    console) and hands `gc.enable` to the app, which calls it once the first frame is painted."""
    calls: list[bool] = []

    def after_first_frame() -> None:
        calls.append(app.screen.query_one("#gov-tree").is_mounted)
        gc.enable()

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        app = make_app(default_manifests(), after_first_frame=after_first_frame)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: calls, what="the hook")
            await pilot.pause(0.1)
            assert calls == [True] and gc.isenabled()
    finally:
        gc.enable() if was_enabled else gc.disable()


async def test_start_up_work_off_the_first_frame_waits_for_it(
    until, sample_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Footer's mount and the compile of the real plan (a cached snapshot on screen) start
    once a frame is painted: Textual's `call_after_refresh` ran them inside its start-up batch
    of updates, before any frame reached the terminal."""
    cache = tmp_path / "cache"
    assert PlanPrefetch(sample_copy, cache).result() is not None  # the first launch caches it
    at_first_frame: list[tuple[bool, bool]] = []
    compiles: list[bool] = []
    original_load = Plans.load

    class Recording(FloeApp):
        def frame_painted(self) -> None:
            if not at_first_frame:
                at_first_frame.append((bool(self.screen.query(Footer)), bool(compiles)))
            super().frame_painted()

    def load(self: Plans) -> Loaded:
        compiles.append(True)
        return original_load(self)

    monkeypatch.setattr(Plans, "load", load)
    app = Recording(
        sample_copy, prefetch=PlanPrefetch(sample_copy, cache), data_dir=tmp_path, watch_files=False
    )
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(
                pilot, lambda: bool(app.screen.query(Footer)) and bool(compiles), what="Footer, compile"
            )
            assert at_first_frame == [(False, False)]
    finally:
        app.close_engines()


async def test_on_a_first_launch_the_start_up_work_waits_for_the_tree(
    until, sample_copy: Path, tmp_path: Path
) -> None:
    """With no snapshot cached, the first frames say "loading" while the helper compiles on the
    other core; the Footer (and the collector, the history) wait for the frame that shows the
    tree: run before it, they slowed the helper and put off the tree by 50-100 ms."""
    import threading

    prefetch = PlanPrefetch(sample_copy, tmp_path / "cache")
    waiting, snapshot_may_come = threading.Event(), threading.Event()
    result = prefetch.result

    def held_result(timeout: float = 30.0) -> PlanModel | None:
        waiting.set()
        snapshot_may_come.wait(10)
        return result(timeout)

    prefetch.result = held_result  # type: ignore[method-assign]
    app = FloeApp(sample_copy, prefetch=prefetch, data_dir=tmp_path, watch_files=False)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, waiting.is_set, what="the console waiting for the snapshot")
            await pilot.pause()  # everything the first frame let go has run
            assert app.core.plan is None and not app.screen.query(Footer)
            snapshot_may_come.set()
            await until(pilot, lambda: bool(app.screen.query(Footer)), what="the Footer")
            assert app.core.plan is not None
    finally:
        snapshot_may_come.set()
        app.close_engines()
