"""Query screen: compute selector, timeout and row limit, SQL editor, streamed results.

The run itself belongs to the console's core (`floe_tui.console.queries`): each run carries an
id; a worker thread runs the core's `stream()` (connect lazily, execute, read in growing pages)
and posts each page and then the outcome, tagged with that id, so a late page or result of a
cancelled or superseded run is dropped. Cancelling interrupts the query inside the engine (the
plugin's `cancel()`), from a short-lived thread: the UI never waits on an engine.

The run key (`f5`, `ctrl+enter`) is an ordinary binding, not a priority one, on purpose: a key
reaches the bindings only after the focused editor has seen it, in the order the terminal sent
the keys, so typing a query and pressing f5 at once runs every character typed. Escape is a
priority binding: it cancels at once, ahead of keys still queued.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal
from textual.timer import Timer
from textual.widgets import Footer, Input, Label, Select, Static, TextArea
from textual.widgets._select import SelectOverlay

from floe_tui.console.queries import DEFAULT_LIMIT, OUTCOME_WORDS, Page, QueryRun, stats_summary, stream
from floe_tui.tui.host import ConsoleScreen
from floe_tui.tui.messages import ExportFinished, QueryFinished, QueryPage

if TYPE_CHECKING:
    import pyarrow as pa

    from floe_tui.compute import ComputePlugin
    from floe_tui.console.history import HistoryEntry

PLACEHOLDER = "SQL here: ctrl+enter or f5 runs it, escape cancels (e.g. SELECT * FROM range(1000) t(n))"


def results_backend(table: pa.Table) -> Any:
    """An Arrow backend for the results table that takes whole Arrow pages on append."""
    from textual_fastdatatable import ArrowBackend

    class StreamingArrowBackend(ArrowBackend):
        def append_rows(self, records: Any) -> list[int]:
            import pyarrow as pa

            if not isinstance(records, pa.Table):
                return list(super().append_rows(records))
            start = self.row_count
            addition = ArrowBackend(records).data.rename_columns(self.data.column_names)
            try:
                self.data = pa.concat_tables([self.data, addition])
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                self.data = pa.concat_tables([self.data, addition], promote_options="permissive")
            self._source_row_count += records.num_rows
            self._reset_content_widths()
            return list(range(start, self.row_count))

    return StreamingArrowBackend(table)


class QueryScreen(ConsoleScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        # Not a priority binding: the editor takes the keys sent before it first (module docstring).
        Binding("ctrl+enter,f5", "run_query", "Run", key_display="f5"),
        Binding("escape", "cancel_query", "Cancel / leave field", key_display="esc", priority=True),
        Binding("ctrl+s", "export", "Export CSV", priority=True),
        Binding("f2", "history", "History"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._ticker: Timer | None = None
        self._default_timeout: str | None = None
        self._table: Any = None
        self._run_when_ready = False

    def compose(self) -> ComposeResult:
        yield Static("floe-tui · query", id="query-title", classes="title")
        with Horizontal(id="query-controls"):
            yield Label("compute", classes="field-label")
            yield Select[str]([], id="target", allow_blank=True, prompt="no approved target")
            yield Label("timeout s", classes="field-label")
            yield Input("300", id="timeout", type="number")
            yield Label("row limit", classes="field-label")
            yield Input(str(DEFAULT_LIMIT), id="limit", type="integer")
            yield Static("", id="scope")
        editor = TextArea.code_editor("", id="editor", soft_wrap=True, placeholder=PLACEHOLDER)
        try:
            editor.language = "sql"
        except Exception:  # no tree-sitter grammar: plain text still works
            editor.language = None
        yield editor
        yield Static("", id="query-status")
        yield Container(Static("Results appear here.", classes="results-placeholder"), id="results")
        yield Footer()

    def on_mount(self) -> None:
        self.plan_changed()

    def on_screen_resume(self) -> None:
        self.plan_changed()
        self.query_one("#editor", TextArea).focus()
        if self.core.queries.current is None:  # shown once the editor has the focus: typing goes there
            self._set_status(
                Text("ready · ctrl+enter or f5 runs · escape cancels · ctrl+s exports · f2 history")
            )

    # -- targets ---------------------------------------------------------------------------
    def plan_changed(self) -> None:
        """The app took a new plan in (or the product selection changed): targets and timeout follow."""
        core = self.core
        select: Select[str] = self.query_one("#target", Select)
        registry = core.query_registry() if core.plan is not None else None
        names = registry.names if registry is not None else []
        current = select.value if isinstance(select.value, str) else None
        options = [(name, name) for name in names]
        if [o[0] for o in options] != [o[0] for o in getattr(self, "_options", [])]:
            select.set_options(options)
            self._options = options
        if names:
            assert registry is not None
            select.value = current if current in names else registry.default
        timeout = self.query_one("#timeout", Input)
        if core.plan is not None:
            default = f"{core.plan.query_timeout_s:g}"
            if self._default_timeout is None or timeout.value == self._default_timeout:
                timeout.value = default
            self._default_timeout = default
        product = core.selected_product
        scope = self.query_one("#scope", Static)
        if core.plan is None:
            scope.update(Text(core.plan_error or "loading the manifests…", style="dim"))
        elif core.plans.compiling:
            scope.update(Text("loading the compute targets…", style="dim"))
        elif registry is None:
            scope.update(Text(f"no usable target: {core.registry_error or 'none approved here'}"))
        elif product is not None:
            scope.update(Text(f"scope: product {product.qualified_name} ({', '.join(names)})"))
        else:
            scope.update(Text(f"scope: all approved targets · env {core.env}"))
        if self._run_when_ready and registry is not None:
            self._run_when_ready = False
            self.call_after_refresh(self.run_action, "run_query")
        elif self._run_when_ready and core.plan_error is not None and not core.plans.compiling:
            self._run_when_ready = False  # the manifests did not load: the query cannot run
            self._set_status(Text(f"cannot run: {core.registry_error or core.plan_error}"))

    # -- running ---------------------------------------------------------------------------
    async def action_run_query(self) -> None:
        core = self.core
        editor = self.query_one("#editor", TextArea)
        sql = (editor.selected_text or editor.text).strip()
        if not sql:
            self._set_status(Text("nothing to run: write SQL in the editor"))
            return
        if core.plan is None or core.plans.compiling:
            # The first paint came from a snapshot; the targets come with the real plan, in a
            # moment: run then rather than refuse.
            self._run_when_ready = True
            self._set_status(Text("waiting for the manifests to compile; the query runs next…"))
            return
        registry = core.query_registry()
        select: Select[str] = self.query_one("#target", Select)
        target = select.value if isinstance(select.value, str) else None
        if registry is None or target is None or target not in registry:
            why = core.registry_error or "choose an approved compute target"
            self._set_status(Text(f"cannot run: {why}"))
            return
        try:
            timeout_s = float(self.query_one("#timeout", Input).value)
            limit = int(self.query_one("#limit", Input).value)
            if timeout_s <= 0 or limit < 1:
                raise ValueError
        except ValueError:
            self._set_status(Text("cannot run: the timeout must be a positive number, the limit 1 or more"))
            return
        run = core.queries.start(target, sql, limit=limit, timeout_s=timeout_s)
        await self._clear_results(Text("running…", style="dim"))
        self._save_history_soon()
        plugin = registry.get(target)
        self.run_worker(
            partial(self._stream, run, plugin), thread=True, group=f"query-{run.id}", exit_on_error=False
        )
        self._tick()
        if self._ticker is None:
            self._ticker = self.set_interval(0.1, self._tick)
        else:
            self._ticker.resume()

    def _stream(self, run: QueryRun, plugin: ComputePlugin) -> None:
        """On a worker thread: the core's stream of the run, posted as messages; touches no widget."""
        for item in stream(run, plugin):
            self.post_message(QueryPage(item) if isinstance(item, Page) else QueryFinished(item))

    async def on_query_page(self, message: QueryPage) -> None:
        message.stop()
        run = self.core.queries.page(message.page)
        if run is None:
            return  # a late page of a superseded or cancelled run
        if self._table is None:
            await self._show_table(message.page.table)
        else:
            self._table.add_rows(message.page.table)
        self._tick()

    async def _show_table(self, data: pa.Table) -> None:
        from textual_fastdatatable import DataTable

        table = DataTable(
            backend=results_backend(data),
            classes="results-table",
            null_rep="NULL",
            render_markup=False,
            max_column_content_width=60,
        )
        await self._replace_results(table)
        self._table = table

    async def _replace_results(self, widget: Any) -> None:
        container = self.query_one("#results", Container)
        self._table = None
        await container.remove_children()
        await container.mount(widget)

    async def on_query_finished(self, message: QueryFinished) -> None:
        message.stop()
        run = self.core.queries.finish(message.finished)
        if run is not None:
            await self._show_end(run, message.finished.columns)

    async def _show_end(self, run: QueryRun, columns: list[tuple[str, str]] | None = None) -> None:
        """The run has ended (the core says how): results, status line, history on disk."""
        if self._ticker is not None:
            self._ticker.pause()
        self._render_status(run)  # first: the results below may take a mount (a frame or more)
        word = OUTCOME_WORDS.get(run.outcome, run.outcome)
        if self._table is None:
            if run.outcome == "completed" and columns:
                import pyarrow as pa

                await self._show_table(pa.table({name: pa.array([], pa.string()) for name, _ in columns}))
            elif run.error:
                await self._clear_results(Text(f"{word}: {run.error}"))
            else:
                await self._clear_results(Text(f"no rows ({word})", style="dim"))
        self._save_history_soon()

    async def _clear_results(self, text: Text) -> None:
        await self._replace_results(Static(text, classes="results-placeholder"))

    def _tick(self) -> None:
        run = self.core.queries.current
        if run is not None:
            self._render_status(run)

    def _render_status(self, run: QueryRun) -> None:
        if run.done:
            elapsed = run.elapsed_s
            rows = f"{run.rows:,} of >{run.limit:,} rows" if run.truncated else f"{run.rows:,} rows"
            word = OUTCOME_WORDS.get(run.outcome, run.outcome)
            style = "bold" if run.outcome == "completed" else "bold reverse"
            summary = stats_summary(run.handle.stats if run.handle is not None else None)
            engine = f"{summary} · " if summary else ""  # bytes processed and billed, query id
            text = Text.assemble(
                f"{run.label} · {run.target} · {elapsed:.3f} s · {rows} · {engine}", (word, style)
            )
        else:
            elapsed = self.core.monotonic() - run.started
            what = "cancelling" if run.cancel_requested else "running"
            text = Text(f"{run.label} · {run.target} · {elapsed:.1f} s · {run.rows:,} rows so far · {what}…")
        self._set_status(text)

    def _set_status(self, text: Text) -> None:
        self.query_one("#query-status", Static).update(text)

    # -- cancelling ------------------------------------------------------------------------
    async def action_cancel_query(self) -> None:
        queries = self.core.queries
        run = queries.current
        if run is not None and not run.done:
            if queries.cancel() and not run.done:  # not in the engine yet: it ends here and now
                await self._show_end(queries.end(run, "cancelled", None))
            # Else the engine confirms: the status ticker says "cancelling…" if that takes a tick.
            # Painting it now would put a frame between escape and `cancelled`.
            return
        focused = self.app.focused
        if focused is None or isinstance(focused, SelectOverlay):
            raise SkipAction()
        self.app.set_focus(None)

    # -- history ---------------------------------------------------------------------------
    def _save_history_soon(self) -> None:
        self.run_worker(self._save_history, thread=True, group="history", exit_on_error=False)

    def _save_history(self) -> None:
        """On a worker thread: the file write; a failure goes to the event log."""
        core = self.core
        try:
            core.history.save()
        except OSError as exc:
            problem = f"cannot save the history: {exc.strerror}"
            self.app.call_from_thread(core.events.log, "query", "history", problem)

    def action_history(self) -> None:
        from floe_tui.tui.modals import HistoryScreen

        entries = list(reversed(self.core.history.entries))
        if not entries:
            self.notify("No query in the history yet.", timeout=3)
            return
        self.app.push_screen(HistoryScreen(entries), self._history_chosen)

    def _history_chosen(self, entry: HistoryEntry | None) -> None:
        if entry is None:
            return
        editor = self.query_one("#editor", TextArea)
        editor.text = entry.sql
        select: Select[str] = self.query_one("#target", Select)
        if entry.target in [o[0] for o in getattr(self, "_options", [])]:
            select.value = entry.target
        editor.focus()

    # -- export ----------------------------------------------------------------------------
    def action_export(self) -> None:
        from floe_tui.tui.modals import ExportScreen

        run = self.core.queries.current
        if run is None or not run.pages:
            self.notify("Nothing to export: run a query that returns rows first.", timeout=4)
            return
        stamp = self.core.clock().strftime("%Y%m%d-%H%M%S")
        default = Path.cwd() / f"floe-result-{stamp}.csv"
        self.app.push_screen(ExportScreen(str(default), run.rows), partial(self._export_to, run))

    def _export_to(self, run: QueryRun, path: str | None) -> None:
        if not path:
            return
        self.run_worker(
            partial(self._write_csv, list(run.pages), Path(path).expanduser()),
            thread=True,
            group="export",
            exit_on_error=False,
        )

    def _write_csv(self, pages: list[pa.Table], path: Path) -> None:
        """On a worker thread: write the shown rows through a temporary file, then rename."""
        import os
        import tempfile

        import pyarrow as pa
        import pyarrow.csv as pacsv

        rows = sum(p.num_rows for p in pages)
        try:
            table = pa.concat_tables(pages, promote_options="permissive")
            table = table.cast(
                pa.schema(
                    [
                        pa.field(f.name, pa.string())
                        if pa.types.is_nested(f.type) or pa.types.is_dictionary(f.type)
                        else f
                        for f in table.schema
                    ]
                )
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)
            try:
                pacsv.write_csv(table, temp)
                os.replace(temp, path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except (OSError, pa.ArrowException) as exc:
            self.post_message(ExportFinished(str(path), rows, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(ExportFinished(str(path), rows, None))

    def on_export_finished(self, message: ExportFinished) -> None:
        message.stop()
        if message.error:
            self.notify(f"export failed: {message.error}", severity="error", timeout=8)
            self.core.events.log("query", "export", f"failed: {message.error}")
        else:
            self.notify(f"exported {message.rows:,} rows to {message.path}", timeout=6)
            self.core.events.log("query", "export", f"{message.rows:,} rows to {message.path}")
