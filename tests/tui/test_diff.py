"""`floe-tui --diff BASE`: the governance tree marks what a change does, the detail pane says old -> new."""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console
from rich.text import Text
from textual.widgets import Static, Tree

from floe_tui.paths import default_manifests

ORDERS = Path("domains/sales/products/orders/floe.yaml")
FCT_ORDERS = ("enterprise:acme", "domain:sales", "product:orders", "transform:fct_orders")


def rendered(widget: Static) -> str:
    console = Console(width=200, record=True)
    console.print(widget.content)
    return console.export_text()


async def test_a_changed_default_marks_its_transforms_and_the_detail_says_old_and_new(
    make_app, until, tmp_path: Path
) -> None:
    base, head = tmp_path / "base", tmp_path / "head"
    shutil.copytree(default_manifests(), base)
    shutil.copytree(default_manifests(), head)
    floe = head / ORDERS
    text = floe.read_text()
    assert "default: spark" in text
    floe.write_text(text.replace("default: spark", "default: duckdb"))  # fct_orders moves to duckdb
    app = make_app(head, diff_base=base)
    async with app.run_test(size=(140, 45)) as pilot:
        await until(pilot, lambda: app.core.plans.changes, what="the diff against BASE")
        assert FCT_ORDERS in app.core.plans.changes
        screen = app.screen
        tree = screen.query_one("#gov-tree", Tree)

        def shown() -> bool:  # the tree may be rebuilt once more (the real plan after the snapshot)
            node = tree.cursor_node
            if node is None or node.data is None or node.data.key != FCT_ORDERS:
                screen._select_key(FCT_ORDERS)
                return False
            return "changed since" in rendered(screen.query_one("#detail", Static))

        await until(pilot, shown, what="the changed transform's detail")
        node = tree.cursor_node
        label = node.label.plain if isinstance(node.label, Text) else str(node.label)
        assert "~ changed" in label  # a text mark, not colour alone
        detail = rendered(screen.query_one("#detail", Static))
        assert "changed since" in detail and "spark" in detail and "-> duckdb" in detail
