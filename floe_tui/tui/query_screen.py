"""Query screen: compute selector, timeout and row limit, SQL editor, streamed results.

Each run carries an id; a worker thread connects (lazily), executes, and posts pages of rows and
then the outcome, all tagged with that id, so a late page or result of a cancelled or superseded
run is dropped. Cancelling interrupts the query inside the engine (the plugin's `cancel()`), from
a short-lived thread: the UI never waits on an engine.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Label, Select, Static, TextArea
from textual.widgets._select import SelectOverlay

from floe_tui.tui.history import HistoryEntry
from floe_tui.tui.messages import ExportFinished, QueryFinished, QueryPage, QueryStarted

if TYPE_CHECKING:
    import pyarrow as pa

    from floe_tui.compute import ComputePlugin, QueryHandle
    from floe_tui.tui.app import FloeApp

DEFAULT_LIMIT = 10_000
FIRST_PAGE_ROWS = 500
MAX_PAGE_ROWS = 50_000
PAGE_EVERY_S = 0.25
OUTCOME_WORDS = {
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "timed_out": "timed out",
}
PLACEHOLDER = "SQL here: ctrl+enter or f5 runs it, escape cancels (e.g. SELECT * FROM range(1000) t(n))"


@dataclass
class Run:
    id: int
    target: str
    sql: str
    limit: int
    timeout_s: float
    started: float
    handle: QueryHandle | None = None
    cancel_requested: bool = False
    done: bool = False
    rows: int = 0
    outcome: str = "running"
    elapsed_s: float = 0.0
    truncated: bool = False
    error: str | None = None
    pages: list[pa.Table] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"run {self.id}"


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


class QueryScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+enter,f5", "run_query", "Run", key_display="f5", priority=True),
        Binding("escape", "cancel_query", "Cancel / leave field", key_display="esc", priority=True),
        Binding("ctrl+s", "export", "Export CSV", priority=True),
        Binding("f2", "history", "History"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.run_counter = 0
        self.current: Run | None = None
        self._ticker: Timer | None = None
        self._default_timeout: str | None = None
        self._table: Any = None
        self._run_when_ready = False

    @property
    def floe(self) -> FloeApp:
        return self.app  # type: ignore[return-value]

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
        self.floe.register_view("query", self)
        self.plan_changed()

    def on_screen_resume(self) -> None:
        self.plan_changed()
        self.query_one("#editor", TextArea).focus()
        if self.current is None:  # shown once the editor has the focus: typing goes there
            self._set_status(
                Text("ready · ctrl+enter or f5 runs · escape cancels · ctrl+s exports · f2 history")
            )

    # -- targets ---------------------------------------------------------------------------
    def plan_changed(self) -> None:
        app = self.floe
        select: Select[str] = self.query_one("#target", Select)
        registry = app.query_registry() if app.plan is not None else None
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
        if app.plan is not None:
            default = f"{app.plan.query_timeout_s:g}"
            if self._default_timeout is None or timeout.value == self._default_timeout:
                timeout.value = default
            self._default_timeout = default
        product = app.selected_product
        scope = self.query_one("#scope", Static)
        if app.plan is None:
            scope.update(Text(app.plan_error or "loading the manifests…", style="dim"))
        elif getattr(app.plan, "light", False):
            scope.update(Text("loading the compute targets…", style="dim"))
        elif registry is None:
            scope.update(Text(f"no usable target: {app.registry_error or 'none approved here'}"))
        elif product is not None:
            scope.update(Text(f"scope: product {product.qualified_name} ({', '.join(names)})"))
        else:
            scope.update(Text(f"scope: all approved targets · env {app.env}"))
        if self._run_when_ready and registry is not None:
            self._run_when_ready = False
            self.call_after_refresh(self.run_action, "run_query")

    # -- running ---------------------------------------------------------------------------
    async def action_run_query(self) -> None:
        app = self.floe
        editor = self.query_one("#editor", TextArea)
        sql = (editor.selected_text or editor.text).strip()
        if not sql:
            self._set_status(Text("nothing to run: write SQL in the editor"))
            return
        from floe_tui.tui.snapshot import is_light

        if app.plan is None or is_light(app.plan):
            # The first paint came from a snapshot; the targets come with the real plan, in a
            # moment: run then rather than refuse.
            self._run_when_ready = True
            self._set_status(Text("waiting for the manifests to compile; the query runs next…"))
            return
        registry = app.query_registry()
        select: Select[str] = self.query_one("#target", Select)
        target = select.value if isinstance(select.value, str) else None
        if registry is None or target is None or target not in registry:
            why = app.registry_error or "choose an approved compute target"
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
        if self.current is not None and not self.current.done:
            self.cancel_running(log=False, superseded=True)
        self.run_counter += 1
        run = Run(self.run_counter, target, sql, limit, timeout_s, started=app.monotonic())
        self.current = run
        await self._clear_results(Text("running…", style="dim"))
        self._remember(run)
        plugin = registry.get(target)
        self.run_worker(
            partial(self._execute, run, plugin), thread=True, group=f"query-{run.id}", exit_on_error=False
        )
        self._tick()
        if self._ticker is None:
            self._ticker = self.set_interval(0.1, self._tick)
        else:
            self._ticker.resume()

    def _execute(self, run: Run, plugin: ComputePlugin) -> None:
        """On a worker thread: connect (lazily), run, stream pages; touches no widget."""
        import time

        import pyarrow as pa

        from floe_tui.compute import ComputeError

        def finish(outcome: str, error: str | None = None, handle: QueryHandle | None = None) -> None:
            columns = [(c.name, c.type) for c in handle.columns] if handle is not None else []
            self.post_message(
                QueryFinished(
                    run.id,
                    outcome,
                    handle.rows if handle else 0,
                    handle.truncated if handle else False,
                    handle.elapsed_s if handle else 0.0,
                    error,
                    columns,
                )
            )

        try:
            plugin.connect()
            if run.cancel_requested:
                finish("cancelled")
                return
            handle = plugin.execute(run.sql, timeout=run.timeout_s, limit=run.limit)
        except ComputeError as exc:
            finish("failed", f"{exc.code}: {exc.message} (hint: {exc.hint})")
            return
        except Exception as exc:  # an engine's own failure to start
            finish("failed", f"{type(exc).__name__}: {exc}"[:500])
            return
        run.handle = handle
        if run.cancel_requested:
            handle.cancel()
        self.post_message(QueryStarted(run.id))
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        page_rows = FIRST_PAGE_ROWS
        last_post = time.monotonic()

        def post_page() -> None:
            columns = [(c.name, c.type) for c in handle.columns]
            self.post_message(QueryPage(run.id, pa.Table.from_batches(pending), columns))

        error: str | None = None
        try:
            for batch in handle.batches():
                if run.cancel_requested and not pending:
                    continue  # let the cancel land; do not ship pages nobody will see
                pending.append(batch)
                pending_rows += batch.num_rows
                if pending_rows >= page_rows or time.monotonic() - last_post >= PAGE_EVERY_S:
                    post_page()
                    pending, pending_rows = [], 0
                    page_rows = min(MAX_PAGE_ROWS, page_rows * 4)
                    last_post = time.monotonic()
        except ComputeError as exc:
            error = f"{exc.code}: {exc.message} (hint: {exc.hint})"
        except Exception as exc:  # reading batches failed in the engine driver
            error = f"{type(exc).__name__}: {exc}"[:500]
        if pending:
            post_page()
        outcome = handle.outcome.value
        if outcome == "running":  # the reader stopped on an unexpected error: stop the engine
            handle.cancel()
            handle.wait(5)
            outcome = handle.outcome.value if handle.outcome.value != "running" else "failed"
        if outcome in ("cancelled", "timed_out", "completed"):
            error = None if outcome == "completed" else (handle.error.message if handle.error else None)
        finish(outcome, error, handle)

    def on_query_started(self, message: QueryStarted) -> None:
        message.stop()

    async def on_query_page(self, message: QueryPage) -> None:
        message.stop()
        run = self.current
        if run is None or run.id != message.run_id or run.done:
            return  # a late page of a superseded or cancelled run
        run.pages.append(message.table)
        run.rows += message.table.num_rows
        if self._table is None:
            await self._show_table(message.table)
        else:
            self._table.add_rows(message.table)
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
        run = self.current
        if run is None or run.id != message.run_id or run.done:
            return
        await self._end(run, message.outcome, message.error, message.truncated, message.columns)

    async def _end(
        self,
        run: Run,
        outcome: str,
        error: str | None,
        truncated: bool = False,
        columns: list[tuple[str, str]] | None = None,
    ) -> None:
        app = self.floe
        run.done = True
        run.outcome = outcome
        run.error = error
        run.truncated = truncated
        run.elapsed_s = app.monotonic() - run.started
        if self._ticker is not None:
            self._ticker.pause()
        word = OUTCOME_WORDS.get(outcome, outcome)
        if self._table is None:
            if outcome == "completed" and columns:
                import pyarrow as pa

                await self._show_table(pa.table({name: pa.array([], pa.string()) for name, _ in columns}))
            elif error:
                await self._clear_results(Text(f"{word}: {error}"))
            else:
                await self._clear_results(Text(f"no rows ({word})", style="dim"))
        self._render_status(run)
        if outcome != "completed":
            detail = f": {error}" if error and outcome == "failed" else ""
            app.log_event("query", word, f"{run.label} on {run.target} after {run.elapsed_s:.2f} s{detail}")
        self._remember(run)

    async def _clear_results(self, text: Text) -> None:
        await self._replace_results(Static(text, classes="results-placeholder"))

    def _tick(self) -> None:
        run = self.current
        if run is not None:
            self._render_status(run)

    def _render_status(self, run: Run) -> None:
        app = self.floe
        if run.done:
            elapsed = run.elapsed_s
            rows = f"{run.rows:,} of >{run.limit:,} rows" if run.truncated else f"{run.rows:,} rows"
            word = OUTCOME_WORDS.get(run.outcome, run.outcome)
            style = "bold" if run.outcome == "completed" else "bold reverse"
            text = Text.assemble(f"{run.label} · {run.target} · {elapsed:.3f} s · {rows} · ", (word, style))
        else:
            elapsed = app.monotonic() - run.started
            what = "cancelling" if run.cancel_requested else "running"
            text = Text(f"{run.label} · {run.target} · {elapsed:.1f} s · {run.rows:,} rows so far · {what}…")
        self._set_status(text)

    def _set_status(self, text: Text) -> None:
        self.query_one("#query-status", Static).update(text)

    # -- cancelling ------------------------------------------------------------------------
    async def action_cancel_query(self) -> None:
        run = self.current
        if run is not None and not run.done:
            if self.cancel_running() and not run.done:
                await self._end(run, "cancelled", None)
            return
        focused = self.app.focused
        if focused is None or isinstance(focused, SelectOverlay):
            raise SkipAction()
        self.app.set_focus(None)

    def cancel_running(self, log: bool = True, superseded: bool = False) -> bool:
        """Ask the engine to stop; True when the run is not in the engine yet (nothing to wait for)."""
        run = self.current
        if run is None or run.done or run.cancel_requested:
            return False
        run.cancel_requested = True
        handle = run.handle
        if handle is not None:
            threading.Thread(target=handle.cancel, name="floe-cancel", daemon=True).start()
            if superseded or not log:
                run.done = True
            else:
                self._render_status(run)
            return False
        # Still connecting: nothing runs in the engine yet, and the worker will not start it.
        if superseded or not log:
            run.done = True
            return False
        return True

    # -- history ---------------------------------------------------------------------------
    def _remember(self, run: Run) -> None:
        app = self.floe
        app.history.add(
            HistoryEntry(
                sql=run.sql,
                target=run.target,
                at=app.clock().isoformat(timespec="seconds"),
                outcome=run.outcome,
                rows=run.rows,
                elapsed_s=round(run.elapsed_s, 3),
            )
        )
        self.run_worker(self._save_history, thread=True, group="history", exit_on_error=False)

    def _save_history(self) -> None:
        try:
            self.floe.history.save()
        except OSError as exc:
            self.app.call_from_thread(
                self.floe.log_event, "query", "history", f"cannot save the history: {exc.strerror}"
            )

    def action_history(self) -> None:
        from floe_tui.tui.modals import HistoryScreen

        entries = list(reversed(self.floe.history.entries))
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

        run = self.current
        if run is None or not run.pages:
            self.notify("Nothing to export: run a query that returns rows first.", timeout=4)
            return
        stamp = self.floe.clock().strftime("%Y%m%d-%H%M%S")
        default = Path.cwd() / f"floe-result-{stamp}.csv"
        self.app.push_screen(ExportScreen(str(default), run.rows), partial(self._export_to, run))

    def _export_to(self, run: Run, path: str | None) -> None:
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
            self.floe.log_event("query", "export", f"failed: {message.error}")
        else:
            self.notify(f"exported {message.rows:,} rows to {message.path}", timeout=6)
            self.floe.log_event("query", "export", f"{message.rows:,} rows to {message.path}")
