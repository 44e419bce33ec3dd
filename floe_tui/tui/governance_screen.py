"""Governance screen: the manifests' tree, a node's details, and the diagnostics with their source.

The tree is built lazily: a node's children become widgets only when it is first expanded, so a
tree of thousands of products costs what is on screen. Every transform shows its effective
compute and where it came from, and every node a badge in words and marks (never colour alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import OptionList, Static, Tree
from textual.widgets.option_list import Option
from textual.widgets.tree import TreeNode

from floe_tui.paths import package_folder
from floe_tui.planmodel import enterprise_part
from floe_tui.tui.host import ConsoleScreen
from floe_tui.tui.messages import ReloadRequested

if TYPE_CHECKING:
    from textual.widgets import Input

    from floe_tui.planmodel import Diagnostic, Level, PlanModel, TransformPlan

NodeKey = tuple[str, ...]
Kind = Literal["enterprise", "domain", "product", "transform"]
OK_MARK, ERROR_MARK, WARNING_MARK = "✓", "✗", "!"


@dataclass
class NodeRef:
    kind: Kind
    key: NodeKey
    level: Level | None = None
    transform: TransformPlan | None = None
    populated: bool = False


class DiagnosticIndex:
    """Which tree node each diagnostic belongs to, and the badge counts per node."""

    def __init__(self, plan: PlanModel) -> None:
        self.by_key: dict[NodeKey, list[Diagnostic]] = {}
        self.key_of: dict[int, NodeKey] = {}
        self.levels: dict[NodeKey, Level] = {}
        by_file: dict[str, Level] = {}
        for enterprise in plan.enterprises:
            for level, key in _walk(enterprise, (), enterprise_part(plan, enterprise)):
                self.levels[key] = level
                by_file.setdefault(level.file, level)
        keys = {id(level): key for key, level in self.levels.items()}
        for index, diagnostic in enumerate(plan.diagnostics):
            owner = by_file.get(diagnostic.file)
            if owner is None:
                continue
            key = keys[id(owner)]
            transform = _transform_of(owner, diagnostic)
            if transform is not None:
                key = (*key, f"transform:{transform.transform}")
            self.key_of[index] = key
            self.by_key.setdefault(key, []).append(diagnostic)

    def counts_below(self, key: NodeKey) -> tuple[int, int]:
        errors = warnings = 0
        for where, diagnostics in self.by_key.items():
            if where[: len(key)] == key:
                errors += sum(d.is_error for d in diagnostics)
                warnings += sum(not d.is_error for d in diagnostics)
        return errors, warnings


def _walk(level: Level, prefix: NodeKey, part: str | None = None) -> list[tuple[Level, NodeKey]]:
    key = (*prefix, part or f"{level.scope}:{level.name}")
    found = [(level, key)]
    for child in level.children:
        found.extend(_walk(child, key))
    return found


def _transform_of(level: Level, diagnostic: Diagnostic) -> TransformPlan | None:
    """The transform a product-file diagnostic is about: by position (E300) or by name (E400...)."""
    if level.scope != "product" or not level.transforms:
        return None
    if diagnostic.code == "FLOE-E300":
        before = [t for t in level.transforms if t.line <= diagnostic.line]
        return max(before, key=lambda t: t.line) if before else None
    for transform in level.transforms:
        if f"`{transform.transform}`" in diagnostic.message:
            return transform
    return None


def badge(errors: int, warnings: int) -> Text:
    if errors:
        return Text(f"{ERROR_MARK} {errors} error{'s' if errors > 1 else ''}", style="bold red")
    if warnings:
        return Text(f"{WARNING_MARK} {warnings} warning{'s' if warnings > 1 else ''}", style="dark_orange")
    return Text(f"{OK_MARK} ok", style="green")


class GovernanceScreen(ConsoleScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "next_diagnostic", "Next error"),
        Binding("N", "previous_diagnostic", "Prev error", key_display="N"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("r", "reload", "Reload"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.index: DiagnosticIndex | None = None
        self.diagnostic_cursor = -1
        self.filter_text = ""
        self._unfiltered_expansion: set[NodeKey] | None = None
        self._built_generation = -1
        self._footer_queued = False
        #: The node `_select_key` chose, until the tree's cursor has moved to it (after a refresh).
        self._pending_selection: NodeKey | None = None

    def compose(self) -> ComposeResult:
        yield Static("floe-tui · governance · loading the manifests…", id="gov-title", classes="title")
        with Vertical(id="tree-pane"):
            # A Text, not a str: a str label is read as markup, whose emoji lookup imports
            # rich's table of emoji codes (3 ms of the start).
            tree: Tree[NodeRef] = Tree(Text("manifests"), id="gov-tree")
            tree.show_root = False
            tree.guide_depth = 3
            tree.auto_expand = True
            yield tree
        with VerticalScroll(id="detail-pane"):
            yield Static("", id="detail")
        with Vertical(id="diag-list-pane"):
            yield Static("Diagnostics", id="diag-title", classes="pane-title")
            yield OptionList(id="diagnostics")
        with VerticalScroll(id="source-pane"):
            yield Static("", id="diag-detail")
            yield Static("", id="source")
        # No Footer yet: its keys cost as much to lay out as the tree; it follows the first tree.
        # The filter box comes with the first `/`.

    def on_mount(self) -> None:
        self.query_one("#gov-tree", Tree).focus()
        if self.core.plan is not None or self.core.plan_error is not None:
            self.plan_changed()

    def on_screen_resume(self) -> None:
        if self._built_generation != self.core.plan_generation:
            self.plan_changed()

    # -- building --------------------------------------------------------------------------
    def plan_changed(self) -> None:
        """The app took a new plan (or snapshot) in: rebuild, keeping selection and expansion."""
        plan = self.core.plan
        tree: Tree[NodeRef] = self.query_one("#gov-tree", Tree)
        expanded, selected = self._remember(tree)
        if self.filter_text and self._unfiltered_expansion is None:
            self._unfiltered_expansion = expanded  # the filtered tree is all expanded: keep the user's
        elif not self.filter_text and self._unfiltered_expansion is not None:
            expanded, self._unfiltered_expansion = self._unfiltered_expansion, None
        self._built_generation = self.core.plan_generation
        self.index = DiagnosticIndex(plan) if plan is not None else None
        tree.clear()
        if plan is not None:
            for enterprise in plan.enterprises:
                ref = NodeRef("enterprise", (enterprise_part(plan, enterprise),), level=enterprise)
                node = tree.root.add(self._label(ref), data=ref, allow_expand=bool(enterprise.children))
                if not expanded or ref.key in expanded or self.filter_text:
                    self._expand(node)
        if self.filter_text:
            self._apply_filter(tree)
        else:
            self._restore(tree, expanded)
        self._fill_diagnostics()
        self._update_title()
        target = selected if selected and self.find_node(selected, create=True) else None
        if target is None and plan is not None and plan.enterprises:
            target = (enterprise_part(plan, plan.enterprises[0]),)
        if target is not None:
            self._select_key(target)
        else:
            self._show_detail(None)
        if not self._footer_queued:
            self._footer_queued = True
            self.floe.after_first_frame(self._add_footer)

    async def _add_footer(self) -> None:
        from textual.widgets import Footer  # imported once the first frame is out: 3 ms of it

        if self.is_attached:  # not attached: the app quit on its first frame
            await self.mount(Footer())
            self.refresh_bindings()  # a Footer shows its keys once told that the bindings are ready

    def _filter_field(self) -> Input:
        """The filter box, mounted on the first `/` (hidden until then, it need not slow the first paint)."""
        from textual.widgets import Input

        field = next(iter(self.query("#filter").results(Input)), None)
        if field is None:
            field = Input(placeholder="filter: part of a name (enter keeps it, escape clears)", id="filter")
            field.display = False
            self.query_one("#tree-pane", Vertical).mount(field, before=0)
        return field

    def _remember(self, tree: Tree[NodeRef]) -> tuple[set[NodeKey], NodeKey | None]:
        expanded: set[NodeKey] = set()
        stack = list(tree.root.children)
        while stack:
            node = stack.pop()
            if node.is_expanded and node.data is not None:
                expanded.add(node.data.key)
                stack.extend(node.children)
        cursor = tree.cursor_node
        selected = cursor.data.key if cursor is not None and cursor.data is not None else None
        return expanded, self._pending_selection or selected

    def _restore(self, tree: Tree[NodeRef], expanded: set[NodeKey]) -> None:
        for key in sorted(expanded, key=len):
            node = self.find_node(key, create=True)
            if node is not None:
                self._expand(node)

    def _update_title(self) -> None:
        core = self.core
        plan = core.plan
        title = self.query_one("#gov-title", Static)
        if plan is None:
            title.update(Text(f"floe-tui · governance · {core.plan_error or 'loading the manifests…'}"))
            return
        errors = sum(d.is_error for d in plan.diagnostics)
        warnings = len(plan.diagnostics) - errors
        counts: dict[str, int] = {}
        for enterprise in plan.enterprises:
            counts[enterprise.name] = counts.get(enterprise.name, 0) + 1
        names = ", ".join(f"{n} (x{c})" if c > 1 else n for n, c in counts.items()) or "no enterprise"
        text = Text.assemble(
            ("floe-tui · governance · ", ""),
            (names, "bold"),
            f" · {display_path(core.manifests)} · env {core.env} · {plan.floe_files} file(s) · ",
            badge(errors, warnings),
        )
        if self.filter_text:
            text.append(f" · filter “{self.filter_text}”")
        if core.plan_error:
            text.append(f" · {core.plan_error}")
        title.update(text)

    def _label(self, ref: NodeRef) -> Text:
        errors, warnings = self.index.counts_below(ref.key) if self.index else (0, 0)
        mark = badge(errors, warnings)
        change = self.core.plans.changes.get(ref.key)
        if change is not None:  # `--diff BASE`: a text mark, as the badges are
            mark = Text.assemble(mark, (f"  {change.mark} {change.status}", "bold"))
        if ref.kind == "transform" and ref.transform is not None:
            transform = ref.transform
            compute = transform.compute or "?"
            source = transform.source or "unresolved"
            return Text.assemble(
                (transform.transform, "bold"), " → ", (compute, "bold"), f" ({source})  ", mark
            )
        level = ref.level
        assert level is not None
        where = ""
        if ref.kind == "enterprise" and "@" in ref.key[0]:
            where = f" ({level.file})"
        default = f"default {level.default}" if level.default else "no default"
        approved = ", ".join(level.approved) or "none approved"
        return Text.assemble(
            (level.name, "bold"), (f"  {level.scope}{where}", "dim"), f"  [{approved}] {default}  ", mark
        )

    def _expand(self, node: TreeNode[NodeRef]) -> None:
        self._populate(node)
        node.expand()

    def _populate(self, node: TreeNode[NodeRef]) -> None:
        ref = node.data
        if ref is None or ref.populated or ref.level is None:
            return
        ref.populated = True
        level = ref.level
        for child in level.children:
            child_ref = NodeRef(child.scope, (*ref.key, f"{child.scope}:{child.name}"), level=child)
            expandable = bool(child.children or child.transforms)
            node.add(self._label(child_ref), data=child_ref, allow_expand=expandable)
        for transform in level.transforms:
            child_ref = NodeRef(
                "transform", (*ref.key, f"transform:{transform.transform}"), level=level, transform=transform
            )
            node.add_leaf(self._label(child_ref), data=child_ref)

    @on(Tree.NodeExpanded, "#gov-tree")
    def _on_expanded(self, event: Tree.NodeExpanded[NodeRef]) -> None:
        self._populate(event.node)

    def find_node(self, key: NodeKey, create: bool = False) -> TreeNode[NodeRef] | None:
        """The node for `key`; with `create`, ancestors are populated (not expanded) on the way."""
        tree: Tree[NodeRef] = self.query_one("#gov-tree", Tree)
        node: TreeNode[NodeRef] = tree.root
        for depth in range(1, len(key) + 1):
            if depth > 1 and create:
                self._populate(node)
            match = next((c for c in node.children if c.data is not None and c.data.key == key[:depth]), None)
            if match is None:
                return None
            node = match
        return node

    def _select_key(self, key: NodeKey) -> TreeNode[NodeRef] | None:
        node = self.find_node(key, create=True)
        if node is None:
            return None
        parent = node.parent
        while parent is not None and parent.data is not None:
            self._expand(parent)
            parent = parent.parent
        tree: Tree[NodeRef] = self.query_one("#gov-tree", Tree)
        # A plan that arrives before the cursor moves rebuilds the tree: it keeps this selection
        # (`_remember`), and the move finds the node by its key in the tree as it is then.
        self._pending_selection = key

        def move() -> None:
            if self._pending_selection != key:  # a later selection took over
                return
            self._pending_selection = None
            current = self.find_node(key)
            if current is not None:
                tree.move_cursor(current)
                tree.scroll_to_node(current, animate=False)

        self.call_after_refresh(move)
        self._show_detail(node.data)
        return node

    # -- selection and details -------------------------------------------------------------
    @on(Tree.NodeHighlighted, "#gov-tree")
    def _on_highlighted(self, event: Tree.NodeHighlighted[NodeRef]) -> None:
        ref = event.node.data
        if self._pending_selection is not None and (ref is None or ref.key != self._pending_selection):
            return  # the cursor is on its way to a chosen node: a rebuild's highlight is no choice
        self._show_detail(ref)

    def _show_detail(self, ref: NodeRef | None) -> None:
        detail = self.query_one("#detail", Static)
        core = self.core
        plan = core.plan
        if plan is None:
            core.select_product(None)
            detail.update(Text(core.plan_error or "Nothing to show: no floe manifest was loaded."))
            return
        if ref is None or ref.level is None:
            return
        level = ref.level
        core.select_product(level if level.scope == "product" else None)
        detail.update(self._detail_renderable(plan, ref))

    def _detail_renderable(self, plan: PlanModel, ref: NodeRef) -> Any:
        level = ref.level
        assert level is not None
        parts: list[Any] = []
        if ref.kind == "transform" and ref.transform is not None:
            t = ref.transform
            head = Text.assemble(("transform ", "dim"), (t.transform, "bold"), f"  in {level.qualified_name}")
            head.append("\n")
            head.append(f"compute   {t.compute or '? (unresolved)'}\n")
            head.append(f"source    {t.source or '-'}  ({_provenance(t, level)})\n")
            head.append(f"file      {t.file}:{t.line}\n")
            parts.append(head)
            matrix = Table(title="environment matrix", title_justify="left", expand=False)
            matrix.add_column("environment")
            matrix.add_column("compute")
            matrix.add_column("dbt output")
            for env in plan.environments:
                mark = " (current)" if env == self.core.env else ""
                matrix.add_row(env + mark, t.environments.get(env) or "?", t.output(env) or "-")
            parts.append(matrix)
        else:
            head = Text.assemble((f"{level.scope} ", "dim"), (level.qualified_name, "bold"), "\n")
            head.append(f"file      {level.file}:{level.line}\n")
            if level.owner:
                head.append(f"owner     {level.owner}\n")
            head.append(f"approved  {', '.join(level.approved) or 'none'}\n")
            declared = f" (declared by the {level.default_declared_by})" if level.default_declared_by else ""
            head.append(f"default   {level.default or 'none'}{declared}\n")
            if level.scope == "enterprise":
                head.append(f"query timeout  {plan.query_timeout_s:g} s\n")
            parts.append(head)
            parts.append(self._matrix(plan, level))
        change = self.core.plans.changes.get(ref.key)
        if change is not None:
            text = Text(f"\n{change.mark} {change.status} since {self.core.plans.diff_base}\n", style="bold")
            for line in change.lines:
                text.append(f"  {line}\n")
            parts.append(text)
        diagnostics = self.index.by_key.get(ref.key, []) if self.index else []
        if diagnostics:
            text = Text("\ndiagnostics here\n", style="bold")
            for d in diagnostics:
                text.append(f"{ERROR_MARK if d.is_error else WARNING_MARK} {d.code} {d.message}\n")
            parts.append(text)
        return Group(*parts)

    def _matrix(self, plan: PlanModel, level: Level) -> Table:
        if level.scope == "product" and level.transforms:
            table = Table(title="environment matrix: compute per transform", title_justify="left")
            table.add_column("transform")
            for env in plan.environments:
                table.add_column(env + (" *" if env == self.core.env else ""))
            for t in level.transforms:
                table.add_row(t.transform, *(t.environments.get(env) or "?" for env in plan.environments))
            return table
        table = Table(title="environment matrix: approved targets", title_justify="left")
        table.add_column("target")
        for env in plan.environments:
            table.add_column(env + (" *" if env == self.core.env else ""))
        for name in level.approved:
            cells = []
            for env in plan.environments:
                usable = name in plan.target_names.get(env, [])
                cells.append(f"{OK_MARK} usable" if usable else f"{ERROR_MARK} not usable")
            table.add_row(name + (" (default)" if name == level.default else ""), *cells)
        return table

    # -- diagnostics -------------------------------------------------------------------------
    def _fill_diagnostics(self) -> None:
        options = self.query_one("#diagnostics", OptionList)
        options.clear_options()
        plan = self.core.plan
        diagnostics = plan.diagnostics if plan else []
        title = self.query_one("#diag-title", Static)
        if not diagnostics:
            title.update(Text(f"Diagnostics: {OK_MARK} none"))
            self._show_source(Text("No diagnostics: the manifests are clean."), Text())
            self.diagnostic_cursor = -1
            return
        errors = sum(d.is_error for d in diagnostics)
        title.update(
            Text(f"Diagnostics: {errors} error(s), {len(diagnostics) - errors} warning(s) · n / N to step")
        )
        options.add_options(
            Option(
                Text.assemble(
                    (f"{ERROR_MARK if d.is_error else WARNING_MARK} {d.code} ", "bold"),
                    f"{d.file}:{d.line}:{d.column} ",
                    d.message,
                )
            )
            for d in diagnostics
        )
        if 0 <= self.diagnostic_cursor < len(diagnostics):
            self._show_diagnostic(self.diagnostic_cursor, select_node=False)
        else:
            self.diagnostic_cursor = -1
            self._show_source(
                Text("Press n to go to the first diagnostic: its node and the source lines around it."),
                Text(),
            )

    def action_next_diagnostic(self) -> None:
        self._step(+1)

    def action_previous_diagnostic(self) -> None:
        self._step(-1)

    def _step(self, delta: int) -> None:
        plan = self.core.plan
        if plan is None or not plan.diagnostics:
            self.notify("No diagnostics: the manifests are clean.", timeout=3)
            return
        count = len(plan.diagnostics)
        if self.diagnostic_cursor < 0:
            self.diagnostic_cursor = 0 if delta > 0 else count - 1
        else:
            self.diagnostic_cursor = (self.diagnostic_cursor + delta) % count
        self._show_diagnostic(self.diagnostic_cursor)

    @on(OptionList.OptionSelected, "#diagnostics")
    def _on_diagnostic_selected(self, event: OptionList.OptionSelected) -> None:
        self.diagnostic_cursor = event.option_index
        self._show_diagnostic(event.option_index)

    def _show_diagnostic(self, index: int, select_node: bool = True) -> None:
        plan = self.core.plan
        if plan is None or not 0 <= index < len(plan.diagnostics):
            return
        diagnostic = plan.diagnostics[index]
        options = self.query_one("#diagnostics", OptionList)
        options.highlighted = index
        key = self.index.key_of.get(index) if self.index else None
        if select_node and key is not None:
            if self.filter_text:
                self._set_filter("")
            self._select_key(key)
        self._show_source(*self._source_excerpt(diagnostic, key is not None))

    def _show_source(self, head: Text, lines: Text) -> None:
        self.query_one("#diag-detail", Static).update(head)
        self.query_one("#source", Static).update(lines)

    def _source_excerpt(self, diagnostic: Diagnostic, in_tree: bool) -> tuple[Text, Text]:
        """What the diagnostic says (wrapped), and the numbered source lines (never wrapped)."""
        meaning, lines = diagnostic.meaning, self.core.source_lines(diagnostic)
        text = Text()
        mark = ERROR_MARK if diagnostic.is_error else WARNING_MARK
        text.append(f"{mark} {diagnostic.code} {diagnostic.severity}", style="bold")
        text.append(f": {meaning}\n" if meaning else "\n")
        text.append(f"{diagnostic.file}:{diagnostic.line}:{diagnostic.column}\n")
        text.append(f"{diagnostic.message}\n")
        text.append(f"hint: {diagnostic.hint}\n", style="italic")
        if not in_tree:
            text.append("(this file is not in the tree: it did not load)\n", style="dim")
        head, text = text, Text()
        if not lines:
            text.append("(source not readable)\n", style="dim")
            return head, text
        width = len(str(lines[-1][0]))
        for number, line in lines:
            here = number == diagnostic.line
            text.append(f"{'▶' if here else ' '} {number:>{width}} │ ", style="bold" if here else "dim")
            text.append(line + "\n", style="bold" if here else "")
            if here:
                text.append(" " * (width + 5 + max(0, diagnostic.column - 1)) + "^\n", style="bold red")
        return head, text

    # -- filter and reload -------------------------------------------------------------------
    def action_filter(self) -> None:
        field = self._filter_field()
        field.display = True
        field.focus()

    def action_clear_filter(self) -> None:
        field = self._filter_field()
        if field.display or self.filter_text:
            field.value = ""
            field.display = False
            self._set_filter("")
            self.query_one("#gov-tree", Tree).focus()

    def on_input_changed(self, event: Input.Changed) -> None:  # the filter box is the only Input
        self._set_filter(event.value.strip())

    def on_input_submitted(self, _: Input.Submitted) -> None:
        field = self._filter_field()
        if not field.value.strip():
            field.display = False
        self.query_one("#gov-tree", Tree).focus()

    def _set_filter(self, text: str) -> None:
        if text == self.filter_text:
            return
        self.filter_text = text
        if not text:
            field = self._filter_field()
            if field.value:
                field.value = ""
        self._built_generation = -1
        self.plan_changed()

    def _apply_filter(self, tree: Tree[NodeRef]) -> None:
        """Show the nodes whose name matches, with their ancestors, expanded."""
        needle = self.filter_text.lower()
        if self.index is None:
            return
        matches: list[NodeKey] = []
        for key, level in self.index.levels.items():
            if needle in level.name.lower():
                matches.append(key)
            for t in level.transforms:
                if needle in t.transform.lower() or needle in (t.compute or "").lower():
                    matches.append((*key, f"transform:{t.transform}"))
        keep = {key[:depth] for key in matches for depth in range(1, len(key) + 1)}
        for node in list(tree.root.children):
            self._prune(node, keep)

    def _prune(self, node: TreeNode[NodeRef], keep: set[NodeKey]) -> None:
        ref = node.data
        if ref is None:
            return
        if ref.key not in keep:
            node.remove()
            return
        self._populate(node)
        if node.children:
            node.expand()
        for child in list(node.children):
            self._prune(child, keep)

    def action_reload(self) -> None:
        self.query_one("#gov-title", Static).update(Text("floe-tui · governance · reloading…"))
        self.app.post_message(ReloadRequested())


def _provenance(transform: TransformPlan, level: Level) -> str:
    source = transform.source
    if source == "explicit":
        return "set on the transform"
    if source is None:
        return "no compute: see the diagnostics"
    scope = source.removesuffix("-default")
    holder: Level | None = level
    while holder is not None and holder.scope != scope:
        holder = holder.parent
    where = f" in {holder.file}" if holder is not None else ""
    return f"the {scope}'s default{where}"


def display_path(path: Path) -> str:
    """A short, stable name for the manifests' path: the bundled sample, relative, or ~-based."""
    absolute = path.expanduser().absolute()
    try:
        samples = package_folder("floe_tui_samples").absolute()
        return f"<sample>/{absolute.relative_to(samples)}"
    except (ValueError, ModuleNotFoundError):
        pass
    for base, label in ((Path.cwd(), ""), (Path.home(), "~/")):
        try:
            return f"{label}{absolute.relative_to(base)}"
        except ValueError:
            continue
    return str(path)
