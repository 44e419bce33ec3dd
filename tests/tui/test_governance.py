"""Governance screen: the tree, details, stepping through diagnostics, filter, reload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Input, OptionList, Tree
from textual.widgets.tree import TreeNode

from floe_tui.governance import default_manifests


def visible_labels(app: Any) -> list[str]:
    """The labels of the tree's nodes that are shown (expanded ancestors), top to bottom."""
    tree: Tree[Any] = app.screen.query_one("#gov-tree", Tree)
    found: list[str] = []

    def walk(node: TreeNode[Any]) -> None:
        for child in node.children:
            found.append(str(child.label))
            if child.is_expanded:
                walk(child)

    walk(tree.root)
    return found


def cursor_key(app: Any) -> tuple[str, ...] | None:
    node = app.screen.query_one("#gov-tree", Tree).cursor_node
    return node.data.key if node is not None and node.data is not None else None


def static_text(app: Any, selector: str) -> str:
    from textual.widgets import Static

    content = app.screen.query_one(selector, Static).content
    return content if isinstance(content, str) else _plain(content)


def _plain(content: Any) -> str:
    import io

    from rich.console import Console
    from rich.text import Text

    if isinstance(content, Text):
        return content.plain
    console = Console(width=200, record=True, file=io.StringIO(), color_system=None)
    console.print(content)
    return console.export_text()


async def test_the_sample_opens_with_the_enterprise_expanded_and_its_domains_on_screen(
    make_app, until
) -> None:
    app = make_app(default_manifests())
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.core.plan is not None and visible_labels(app), what="the tree")
        labels = visible_labels(app)
        assert labels[0].startswith("acme")
        assert [label.split()[0] for label in labels[1:]] == ["finance", "marketing", "sales"]
        # Children are loaded lazily: the domains' products are not nodes yet.
        tree: Tree[Any] = app.screen.query_one("#gov-tree", Tree)
        sales = tree.root.children[0].children[2]
        assert not sales.is_expanded and sales.data.populated is False
        await until(pilot, lambda: "enterprise acme" in static_text(app, "#detail"), what="the details")
        assert "environment matrix" in static_text(app, "#detail")


async def test_transforms_show_their_compute_and_provenance(make_app, until) -> None:
    app = make_app(default_manifests())
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: visible_labels(app), what="the tree")
        screen = app.screen
        node = screen._select_key(
            ("enterprise:acme", "domain:sales", "product:orders", "transform:fct_orders")
        )
        assert node is not None
        await pilot.pause()
        labels = visible_labels(app)
        assert any(label.startswith("stg_orders → duckdb (explicit)") and "✓ ok" in label for label in labels)
        assert any(label.startswith("fct_orders → spark (product-default)") for label in labels)
        detail = static_text(app, "#detail")
        assert "compute   spark" in detail
        assert "product-default" in detail and "the product's default" in detail
        assert "dev_spark" in detail and "prod_spark" in detail  # the environment matrix with dbt outputs


async def test_a_plan_taken_in_before_the_cursor_moves_keeps_the_selection(make_app, until) -> None:
    # `n` and `N` select the node of a diagnostic; the cursor gets there after the next
    # refresh. A plan taken in before that (the real compile, after a snapshot) rebuilds the tree.
    app = make_app(default_manifests())
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: visible_labels(app), what="the tree")
        screen = app.screen
        key = ("enterprise:acme", "domain:sales", "product:orders", "transform:fct_orders")
        assert screen._select_key(key) is not None
        screen.plan_changed()  # the app took a plan in, before any refresh

        await until(pilot, lambda: cursor_key(app) == key, what="the cursor on fct_orders")
        assert "compute   spark" in static_text(app, "#detail")


async def test_n_and_shift_n_step_through_errors_select_the_node_and_show_the_source(
    make_app, until, broken_tree: Path
) -> None:
    app = make_app(broken_tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.core.plan is not None and visible_labels(app), what="the tree")
        plan = app.core.plan
        codes = [d.code for d in plan.diagnostics]
        assert {"FLOE-E100", "FLOE-E300", "FLOE-E301"} <= set(codes)
        assert "✗" in static_text(app, "#gov-title") and "error" in static_text(app, "#gov-title")
        options = app.screen.query_one("#diagnostics", OptionList)
        assert options.option_count == len(codes)
        seen: dict[str, tuple[tuple[str, ...] | None, str]] = {}
        for index in range(len(codes)):
            await pilot.press("n")
            await pilot.pause()
            assert app.screen.diagnostic_cursor == index
            assert options.highlighted == index
            seen[codes[index]] = (
                cursor_key(app),
                static_text(app, "#diag-detail") + static_text(app, "#source"),
            )
        # E300: the transform whose compute is not approved is selected, its line marked in the source.
        key, source = seen["FLOE-E300"]
        assert key == ("enterprise:brokenco", "domain:sales", "product:orders", "transform:fct_orders")
        assert "▶ 8 │   - {name: fct_orders, compute: backup}" in source
        assert "^" in source and "hint:" in source
        # E301 selects the domain.
        assert seen["FLOE-E301"][0] == ("enterprise:brokenco", "domain:sales")
        # E100: the file did not load, so it has no node; its source is shown all the same.
        assert "did not load" in seen["FLOE-E100"][1]
        # n wraps to the first diagnostic; N goes back to the last.
        await pilot.press("n")
        assert app.screen.diagnostic_cursor == 0
        await pilot.press("N")
        assert app.screen.diagnostic_cursor == len(codes) - 1
        # Badges are words and marks, not colour alone.
        labels = visible_labels(app)
        assert any(
            label.startswith("fct_orders → ? (unresolved)") and "✗ 1 error" in label for label in labels
        )


async def test_a_literal_secret_is_masked_in_the_source_excerpt(make_app, until, secret_tree: Path) -> None:
    app = make_app(secret_tree)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.core.plan is not None, what="the load")
        assert [d.code for d in app.core.plan.diagnostics] == ["FLOE-E305"]
        await pilot.press("n")
        source = static_text(app, "#diag-detail") + static_text(app, "#source")
        assert "FLOE-E305" in source and "▶  9 │         password: ****" in source
        assert "hunter2" not in text_of_screen(app)


def text_of_screen(app: Any) -> str:
    from textual.widgets import Static

    return "\n".join(static_text(app, f"#{w.id}") for w in app.screen.query(Static) if w.id)


async def test_a_path_that_does_not_load_still_opens_the_console(make_app, until, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.yaml").write_text("kind: something else\n")
    for path, expected in [
        (tmp_path / "missing", "no such file or directory"),
        (empty, "no floe manifest"),
    ]:
        app = make_app(path)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.core.plan_generation > 0, what="the load")  # noqa: B023
            assert expected in static_text(app, "#gov-title")
            await pilot.press("n", "2", "3", "1")
            assert app.is_running


async def test_the_filter_shows_matching_nodes_with_their_ancestors(make_app, until) -> None:
    app = make_app(default_manifests())
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: visible_labels(app), what="the tree")
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"revenue")
        await until(pilot, lambda: app.screen.filter_text == "revenue")
        labels = [label.split()[0] for label in visible_labels(app)]
        assert labels == ["acme", "finance", "revenue", "revenue_by_nation"]
        await pilot.press("enter")
        assert isinstance(app.focused, Tree)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen.filter_text == "")
        assert [label.split()[0] for label in visible_labels(app)] == [
            "acme",
            "finance",
            "marketing",
            "sales",
        ]


async def test_letters_type_into_the_filter_instead_of_acting(make_app, until) -> None:
    app = make_app(default_manifests())
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: visible_labels(app), what="the tree")
        await pilot.press("slash", "r", "n", "2")
        assert app.screen.query_one("#filter", Input).value == "rn2"
        assert app.current_mode == "governance"


async def test_r_and_a_file_change_reload_keeping_selection_and_expansion(
    make_app, until, sample_copy: Path
) -> None:
    app = make_app(sample_copy, watch_files=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: visible_labels(app), what="the tree")
        orders = ("enterprise:acme", "domain:sales", "product:orders")
        app.screen._select_key(orders)
        await until(pilot, lambda: cursor_key(app) == orders, what="orders selected")
        await pilot.press("enter")  # expand orders
        await until(pilot, lambda: any(x.startswith("fct_orders") for x in visible_labels(app)))
        generation = app.core.plan_generation
        product = sample_copy / "domains" / "sales" / "products" / "orders" / "floe.yaml"
        product.write_text(
            product.read_text().replace(
                "  - {name: fct_orders}", "  - {name: fct_orders}\n  - {name: agg_orders}"
            )
        )
        await until(pilot, lambda: app.core.plan_generation > generation, timeout=10, what="the reload")
        await until(pilot, lambda: cursor_key(app) == orders, what="selection kept")
        labels = visible_labels(app)
        assert any(label.startswith("agg_orders → spark") for label in labels)  # orders is still expanded
        assert any(label.startswith("customers") for label in labels)  # so is sales
        generation = app.core.plan_generation
        await pilot.press("r")
        await until(pilot, lambda: app.core.plan_generation > generation, what="the reload on r")
        assert cursor_key(app) == orders
        assert any(line.kind == "reload" for line in app.core.events)


async def test_the_broken_samples_teach_every_code(make_app, until) -> None:
    """`sample_manifests/broken/`: stepping with n visits every code, each with its source lines."""
    broken = default_manifests().parent / "broken"
    app = make_app(broken)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.core.plan is not None and visible_labels(app), what="the tree")
        codes = [d.code for d in app.core.plan.diagnostics]
        assert len(set(codes)) == len(codes) >= 17  # one tree per code
        for index, code in enumerate(codes):
            await pilot.press("n")
            head = static_text(app, "#diag-detail")
            assert head.startswith(f"✗ {code} error: ") or head.startswith(f"! {code} warning: ")
            assert "hint:" in head
            if code != "FLOE-E102":  # a refused file is not shown, even in part
                assert "▶" in static_text(app, "#source"), code
            if app.screen.index.key_of.get(index) is not None:
                assert cursor_key(app) is not None
        # The literal secret of e305 is masked in the excerpt.
        await pilot.press(*["n"] * (codes.index("FLOE-E305") + 1))
        assert app.screen.diagnostic_cursor == codes.index("FLOE-E305")
        assert "****" in static_text(app, "#source")
