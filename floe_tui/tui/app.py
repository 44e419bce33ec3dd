"""The floe-tui console: one Textual app, three screens (DESIGN section 5).

Threads and the UI: the manifests compile on a thread worker; every engine call (connect, health
check, query, disconnect) runs on a worker or monitor thread that touches no widget and reports
by message. Engines connect lazily: on the first dashboard view, the first query, or `ctrl+r`;
the first paint never waits on or competes with an engine start.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import tomllib
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.theme import Theme

from floe_tui.tui.history import QueryHistory
from floe_tui.tui.messages import (
    LogLine,
    ManifestsChanged,
    MonitorEventArrived,
    PlanLoaded,
    SampleArrived,
)
from floe_tui.tui.prefetch import Signature, level_files, manifest_signature
from floe_tui.tui.snapshot import is_light

if TYPE_CHECKING:
    from floe_tui.compute import ComputeRegistry
    from floe_tui.compute.discovery import Discovered
    from floe_tui.governance import Compiler, Level, Plan
    from floe_tui.monitor import HealthMonitor, MonitorEvent, TargetSample
    from floe_tui.tui.prefetch import PlanPrefetch

DEFAULT_THEME = "floe-dark"
NO_COLOR_THEME = "floe-high-contrast"
EVENT_LOG_LINES = 500
WATCH_INTERVAL_S = 1.0
QUIT_BUDGET_S = 3.0


def load_themes() -> tuple[list[Theme], list[str]]:
    """Every `*.toml` of the themes package as a Textual Theme; problems are returned, not raised."""
    themes: list[Theme] = []
    problems: list[str] = []
    try:
        folder = resources.files("floe_tui_themes")
        files = sorted((f for f in folder.iterdir() if f.name.endswith(".toml")), key=lambda f: f.name)
    except (ModuleNotFoundError, OSError) as exc:
        return themes, [f"themes: {type(exc).__name__}"]
    for file in files:
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
            variables = {str(k): str(v) for k, v in dict(data.pop("variables", {})).items()}
            themes.append(Theme(**data, variables=variables))
        except (tomllib.TOMLDecodeError, TypeError, ValueError, OSError) as exc:
            problems.append(f"theme file {file.name}: {type(exc).__name__}: {exc}")
    return themes, problems


def process_stats_reader() -> Callable[[], tuple[float, int]]:
    """CPU (% of one core since the previous call) and RSS (bytes) of this process."""
    import psutil

    process = psutil.Process()
    process.cpu_percent(None)

    def read() -> tuple[float, int]:
        return process.cpu_percent(None), process.memory_info().rss

    return read


class FloeApp(App[int]):
    """The console. Parameters other than `manifests`/`env` exist for tests and benchmarks."""

    TITLE = "floe-tui"
    CSS_PATH = str(Path(__file__).with_name("styles.tcss"))
    # Screens are imported when first shown: the first paint needs only the governance one.
    MODES: ClassVar[dict[str, Any]] = {
        "governance": lambda: _governance_screen(),
        "dashboard": lambda: _dashboard_screen(),
        "query": lambda: _query_screen(),
    }
    DEFAULT_MODE = "governance"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "show('governance')", "Governance", tooltip="the manifests' tree and diagnostics"),
        Binding("2", "show('dashboard')", "Dashboard", tooltip="health of every approved target"),
        Binding("3", "show('query')", "Query", tooltip="run SQL on an approved target"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        manifests: Path,
        env: str | None = None,
        *,
        plugins: Discovered | None = None,
        data_dir: Path | None = None,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] | None = None,
        process_stats: Callable[[], tuple[float, int]] | None = None,
        interval_s: float = 1.0,
        health_timeout_s: float = 5.0,
        watch_files: bool = True,
        prefetch: PlanPrefetch | None = None,
    ) -> None:
        super().__init__(driver_class=_driver_class())
        self.manifests = manifests
        self.env_argument = env
        self.env = env or os.environ.get("FLOE_ENV") or "dev"
        self.clock = clock or (lambda: datetime.now().astimezone())
        self.monotonic = monotonic or time.monotonic
        self._process_stats = process_stats
        self.interval_s = interval_s
        self.health_timeout_s = health_timeout_s
        self.watch_files = watch_files
        self._plugins = plugins
        self._prefetch = prefetch if plugins is None else None
        self._real_plan_loaded = False
        self._compiler: Compiler | None = None
        self.plan: Plan | None = None
        self.plan_error: str | None = None
        self.plan_seconds = 0.0
        self.plan_generation = 0
        self.registry: ComputeRegistry | None = None
        self.registry_error: str | None = None
        self._registry_key: tuple[str, ...] | None = None
        self.monitor: HealthMonitor | None = None
        self.samples: dict[str, TargetSample] = {}
        self.events: deque[LogLine] = deque(maxlen=EVENT_LOG_LINES)
        self.selected_product: Level | None = None
        self.history = QueryHistory(data_dir)
        self._views: dict[str, Any] = {}
        self._stop_watching = threading.Event()
        self._quitting = False
        self.theme_problems: list[str] = []
        themes, self.theme_problems = load_themes()
        for theme in themes:
            self.register_theme(theme)
        names = {theme.name for theme in themes}
        wanted = NO_COLOR_THEME if self.no_color else DEFAULT_THEME
        if wanted in names:
            self.theme = wanted

    # -- start -----------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.history.load()
        if self.history.notice:
            self.log_event("console", "history", self.history.notice)
            self.notify(self.history.notice, severity="warning", timeout=8)
        for problem in self.theme_problems:
            self.log_event("console", "theme", problem)
        self.load_plan()

    def register_view(self, name: str, view: Any) -> None:
        self._views[name] = view

    def view(self, name: str) -> Any:
        return self._views.get(name)

    # -- the plan --------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="compile", exit_on_error=False)
    def load_plan(self) -> None:
        """Compile the manifests off the UI thread; the compiler re-reads only changed files."""
        started = time.perf_counter()
        try:
            prefetch, self._prefetch = self._prefetch, None
            if prefetch is not None:
                snapshot = prefetch.result()
                if snapshot is not None:  # paint it now; the real plan is compiled right after
                    problem = None if snapshot.floe_files else f"no floe manifest under {self.manifests}"
                    self.post_message(PlanLoaded(snapshot, problem, time.perf_counter() - started))
                    return
            from floe_tui.governance import Compiler

            if not self.manifests.exists():
                error = f"{self.manifests}: no such file or directory"
                self.post_message(PlanLoaded(None, error, time.perf_counter() - started))
                return
            if self._compiler is None:
                self._compiler = Compiler(self._plugins)
            plan = self._compiler.compile(self.manifests)
            problem = None if plan.floe_files else f"no floe manifest under {self.manifests}"
            self.post_message(PlanLoaded(plan, problem, time.perf_counter() - started))
        except Exception as exc:  # a compiler bug must not take the console down: show it
            message = f"cannot load the manifests: {type(exc).__name__}: {exc}"
            self.post_message(PlanLoaded(None, message, time.perf_counter() - started))

    def on_plan_loaded(self, message: PlanLoaded) -> None:
        light = is_light(message.plan)
        first = not light and not self._real_plan_loaded
        self.plan_error = message.error
        self.plan_seconds = message.seconds
        if message.plan is not None:
            self.plan = message.plan
        self.plan_generation += 1
        plan = self.plan
        if plan is not None and plan.environments and self.env not in plan.environments:
            fallback = plan.environments[0]
            self.notify(
                f"unknown environment `{self.env}`; showing `{fallback}` "
                f"(environments: {', '.join(plan.environments)})",
                severity="warning",
                timeout=8,
            )
            self.env = fallback
        if not first and not light:
            errors = sum(d.is_error for d in plan.diagnostics) if plan else 0
            self.log_event("governance", "reload", f"manifests reloaded: {errors} error(s)")
        self._refresh_engines()
        if plan is not None and self.selected_product is not None:
            self.selected_product = plan.product(self.selected_product.qualified_name)
        for view in list(self._views.values()):
            view.plan_changed()
        if light:  # the snapshot is on screen: now compile the real plan (and build engines from it)
            self.call_after_refresh(self.load_plan)
        if first:
            self._real_plan_loaded = True
            if self.watch_files:
                threading.Thread(target=self._watch_manifests, name="floe-watch", daemon=True).start()

    def on_manifests_changed(self, _: ManifestsChanged) -> None:
        self.load_plan()

    def _watch_manifests(self) -> None:
        """Poll the manifests' modification times (cheap, portable) and post a change."""
        last = self._signature()
        while not self._stop_watching.wait(WATCH_INTERVAL_S):
            current = self._signature()
            if current != last:
                last = current
                self.post_message(ManifestsChanged())

    def _signature(self) -> Signature:
        return manifest_signature(self.manifests, level_files(self.plan) if self.plan else ())

    # -- engines (lazy) ------------------------------------------------------------------
    def _refresh_engines(self) -> None:
        """Keep the registry (and its pools) while the targets' configurations are unchanged."""
        plan = self.plan
        if is_light(plan):
            return  # engines are built from the real plan only
        key = (
            tuple(c.model_dump_json() for c in plan.targets.get(self.env, []))
            + tuple(level.default or "" for level in plan.enterprises)
            if plan
            else ()
        )
        if key == self._registry_key:
            return
        had_monitor = self.monitor is not None
        self._release_engines()
        self._registry_key = key
        self.registry, self.registry_error = None, None
        if had_monitor:
            self.ensure_monitor()

    def engines(self) -> ComputeRegistry | None:
        """The approved targets of this environment as a registry; builds no connection."""
        if is_light(self.plan):
            return None  # the real plan is being compiled: a moment
        if self.registry is None and self.registry_error is None:
            if self.plan is None:
                self.registry_error = self.plan_error or "the manifests are not loaded"
                return None
            from floe_tui.compute import ComputeError

            try:
                self.registry = self.plan.registry(self.env)
            except ComputeError as exc:
                self.registry_error = f"{exc.message} (hint: {exc.hint})"
        return self.registry

    def query_registry(self) -> ComputeRegistry | None:
        """The registry the query pane chooses from: narrowed to the selected product's set."""
        registry = self.engines()
        product = self.selected_product
        if registry is None or product is None:
            return registry
        usable = [name for name in product.approved if name in registry]
        if not usable:
            return None
        return registry.restricted(usable, product.default if product.default in usable else None)

    def ensure_monitor(self) -> HealthMonitor | None:
        """Start polling (and so connecting) every approved target; called on first need."""
        if self.monitor is not None:
            return self.monitor
        registry = self.engines()
        if registry is None:
            return None
        from floe_tui.monitor import HealthMonitor

        plugins = {name: registry.get(name) for name in registry.names}
        self.monitor = HealthMonitor(
            plugins,
            on_sample=self._post_sample,
            on_event=self._post_event,
            interval_s=self.interval_s,
            timeout_s=self.health_timeout_s,
        )
        self.monitor.start()
        every = f"every {self.interval_s:g} s"
        self.log_event("dashboard", "monitor", f"polling {len(plugins)} target(s) {every}")
        return self.monitor

    def _release_engines(self) -> None:
        """Stop polling and close the pools on a thread: nothing here waits on an engine."""
        monitor, registry = self.monitor, self.registry
        self.monitor, self.registry = None, None
        self.samples.clear()
        if monitor is None and registry is None:
            return
        threading.Thread(
            target=_close_engines, args=(monitor, registry), name="floe-disconnect", daemon=True
        ).start()

    def _post_sample(self, sample: TargetSample) -> None:
        self.post_message(SampleArrived(sample))  # called on a monitor thread: post, never touch

    def _post_event(self, event: MonitorEvent) -> None:
        self.post_message(MonitorEventArrived(event))

    def on_sample_arrived(self, message: SampleArrived) -> None:
        monitor = self.monitor
        if monitor is None or message.sample.target not in monitor.targets:
            return
        self.samples[message.sample.target] = message.sample
        dashboard = self.view("dashboard")
        if dashboard is not None and self.current_mode == "dashboard":
            dashboard.sample_arrived(message.sample)

    def on_monitor_event_arrived(self, message: MonitorEventArrived) -> None:
        event = message.event
        self.log_event(event.target, event.kind, event.message)

    def process_stats(self) -> tuple[float, int]:
        if self._process_stats is None:
            self._process_stats = process_stats_reader()
        return self._process_stats()

    def set_interval_s(self, seconds: float) -> float:
        from floe_tui.monitor import clamp_interval

        self.interval_s = clamp_interval(seconds)
        if self.monitor is not None:
            self.monitor.interval_s = self.interval_s
        return self.interval_s

    # -- the event log -------------------------------------------------------------------
    def log_event(self, source: str, kind: str, message: str) -> None:
        line = LogLine(self.clock(), source, kind, message)
        self.events.append(line)
        dashboard = self.view("dashboard")
        if dashboard is not None:
            dashboard.event_logged(line)

    # -- actions -------------------------------------------------------------------------
    async def action_show(self, mode: str) -> None:
        if mode != self.current_mode:
            await self.switch_mode(mode)

    def action_help(self) -> None:
        from floe_tui.tui.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        """Quit within a bounded time: queries cancelled, pools closed on a thread."""
        if self._quitting:
            self.exit(0)
            return
        self._quitting = True
        closer = self._start_closing()
        deadline = time.monotonic() + QUIT_BUDGET_S

        def exit_when_closed() -> None:
            if closer.is_alive() and time.monotonic() < deadline:
                self.set_timer(0.02, exit_when_closed)
            else:
                self.exit(0)

        exit_when_closed()

    def close_engines(self, timeout_s: float = QUIT_BUDGET_S) -> None:
        """Cancel queries, stop polling, close the pools, waiting at most `timeout_s`.

        Blocks: for use after the app has exited (and by tests), never from an event handler.
        """
        self._start_closing().join(timeout_s)

    def _start_closing(self) -> threading.Thread:
        """Stop watching and polling, cancel the running query, close the pools on a thread."""
        self._stop_watching.set()
        if self._prefetch is not None:
            self._prefetch.cancel()
        query = self.view("query")
        if query is not None:
            query.cancel_running(log=False)
        monitor, registry = self.monitor, self.registry
        self.monitor, self.registry = None, None
        closer = threading.Thread(
            target=_close_engines, args=(monitor, registry), name="floe-disconnect", daemon=True
        )
        closer.start()
        return closer

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for title, help_text, mode, action in PALETTE:
            yield SystemCommand(title, help_text, self._palette_callback(mode, action))

    def _palette_callback(self, mode: str | None, action: str) -> Callable[[], Any]:
        async def run() -> None:
            if mode is not None and mode != self.current_mode:
                await self.switch_mode(mode)
            target = self if mode is None else self.screen
            await self.run_action(action, target)

        return run


#: (title, help, screen to show first or None for the app, action) for the command palette.
PALETTE: list[tuple[str, str, str | None, str]] = [
    ("Governance screen", "The manifests' tree, details and diagnostics (1)", None, "show('governance')"),
    ("Dashboard screen", "Health, pools and memory of every approved target (2)", None, "show('dashboard')"),
    ("Query screen", "Run SQL on an approved target (3)", None, "show('query')"),
    ("Help: keys", "List every key binding (?)", None, "help"),
    ("Reload manifests", "Compile the manifests again (r)", "governance", "reload"),
    ("Next diagnostic", "Select the next error or warning and its node (n)", "governance", "next_diagnostic"),
    ("Previous diagnostic", "Select the previous error or warning (N)", "governance", "previous_diagnostic"),
    ("Filter the tree", "Show only nodes whose name matches (/)", "governance", "filter"),
    ("Pause or resume polling", "Stop or restart the health polls (p)", "dashboard", "toggle_pause"),
    ("Poll faster", "Shorter polling interval, down to 0.2 s (+)", "dashboard", "faster"),
    ("Poll slower", "Longer polling interval, up to 60 s (-)", "dashboard", "slower"),
    ("Poll now", "Poll every target now; connects engines (ctrl+r)", "dashboard", "poll_now"),
    ("Run query", "Run the SQL in the editor (ctrl+enter or f5)", "query", "run_query"),
    ("Cancel query", "Cancel the running query in the engine (escape)", "query", "cancel_query"),
    ("Export result to CSV", "Write the shown result to a CSV file (ctrl+s)", "query", "export"),
    ("Query history", "Pick a query run before, also in earlier sessions (f2)", "query", "history"),
]


def _driver_class() -> Any:
    """On Linux, the driver that sees a lone escape without waiting out a 100 ms input slice."""
    import sys

    if sys.platform != "linux" or os.environ.get("TEXTUAL_DRIVER"):
        return None
    from floe_tui.tui.driver import PromptEscapeDriver

    return PromptEscapeDriver


def _governance_screen() -> Screen[Any]:
    from floe_tui.tui.governance_screen import GovernanceScreen

    return GovernanceScreen()


def _dashboard_screen() -> Screen[Any]:
    from floe_tui.tui.dashboard_screen import DashboardScreen

    return DashboardScreen()


def _query_screen() -> Screen[Any]:
    from floe_tui.tui.query_screen import QueryScreen

    return QueryScreen()


def _close_engines(monitor: HealthMonitor | None, registry: ComputeRegistry | None) -> None:
    if monitor is not None:
        monitor.stop(1.0)
    if registry is not None:
        with contextlib.suppress(Exception):  # closing is best effort on the way out
            registry.close()
    join_query_threads(2.0)


def join_query_threads(timeout_s: float) -> None:
    """Let query workers release their last engine objects before the interpreter exits."""
    deadline = time.monotonic() + timeout_s
    for thread in threading.enumerate():
        if thread.name.startswith("floe-query-") and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
