"""The floe-tui console: one Textual app, three screens (DESIGN section 5), hosting a ConsoleCore.

The core (`floe_tui.console`) holds the plan, the engines, the query runs, the history and the
event log; the app runs its blocking parts on thread workers, turns what they report into
messages, and tells the screens what changed. Every engine call (connect, health check, query,
disconnect) runs on a worker or monitor thread that touches no widget and reports by message.
Engines connect lazily: on the first dashboard view, the first query, or `ctrl+r`; the first
paint never waits on or competes with an engine start.
"""

from __future__ import annotations

import os
import threading
import time
import tomllib
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import Reactive
from textual.screen import Screen
from textual.theme import Theme

from floe_tui.console.core import ConsoleCore
from floe_tui.paths import package_folder
from floe_tui.tui.messages import (
    ManifestsChanged,
    MonitorEventArrived,
    PlanLoaded,
    ReloadRequested,
    SamplesArrived,
)

if TYPE_CHECKING:
    from floe_tui.compute.discovery import Discovered
    from floe_tui.console.events import LogLine
    from floe_tui.console.plans import Applied
    from floe_tui.console.prefetch import PlanPrefetch
    from floe_tui.monitor import MonitorEvent, TargetSample
    from floe_tui.tui.dashboard_screen import DashboardScreen
    from floe_tui.tui.governance_screen import GovernanceScreen
    from floe_tui.tui.query_screen import QueryScreen

_S = TypeVar("_S", bound=Screen[Any])

DEFAULT_THEME = "floe-dark"
NO_COLOR_THEME = "floe-high-contrast"
QUIT_BUDGET_S = 3.0


def load_themes() -> tuple[list[Theme], list[str]]:
    """Every `*.toml` of the themes package as a Textual Theme; problems are returned, not raised."""
    themes: list[Theme] = []
    problems: list[str] = []
    try:
        folder = package_folder("floe_tui_themes")
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


class FloeApp(App[int]):
    """The console: hosts a `ConsoleCore` and renders it. Parameters other than `manifests`/`env`
    exist for tests and benchmarks."""

    TITLE = "floe-tui"
    CSS_PATH = str(Path(__file__).with_name("styles.tcss"))
    DEFAULT_MODE = "governance"
    #: The theme from the start, not set in `__init__`: setting it there makes Textual parse every
    #: stylesheet twice more before the first paint (a fifth of the time to it).
    theme: Reactive[str] = Reactive(DEFAULT_THEME)
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
        diff_base: Path | None = None,
        after_first_frame: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(driver_class=_driver_class())
        #: Start-up work that need not be on the first frame, run once the first frame with a plan
        #: is painted (None once it is).
        self._after_first: list[Callable[[], object]] | None = []
        if after_first_frame is not None:
            self._after_first.append(after_first_frame)
        self._inbox: list[TargetSample] = []
        self._inbox_lock = threading.Lock()
        self.core = ConsoleCore(
            manifests,
            env,
            diff_base=diff_base,
            on_sample=self.post_sample,
            on_event=self._post_event,
            plugins=plugins,
            prefetch=prefetch,
            data_dir=data_dir,
            clock=clock,
            monotonic=monotonic,
            process_stats=process_stats,
            interval_s=interval_s,
            health_timeout_s=health_timeout_s,
        )
        self.core.events.listen(self._event_logged)
        self.watch_files = watch_files
        self._quitting = False
        # The screens, made when first shown (the first paint imports only the governance one);
        # the app tells them of a new plan, sample or log line, they ask it by messages.
        self._governance: GovernanceScreen | None = None
        self._dashboard: DashboardScreen | None = None
        self._query: QueryScreen | None = None
        #: A small cached snapshot taken in before the screens were composed (`on_load`).
        self._early_plan: Applied | None = None
        self.add_mode("governance", self._make_governance)
        self.add_mode("dashboard", self._make_dashboard)
        self.add_mode("query", self._make_query)
        themes, self.theme_problems = load_themes()
        for theme in themes:
            self.register_theme(theme)
        names = {theme.name for theme in themes}
        if DEFAULT_THEME not in names:
            self.theme = "textual-dark"  # the themes package is broken (`theme_problems` says how)
        elif self.no_color and NO_COLOR_THEME in names:
            self.theme = NO_COLOR_THEME
        # App.__init__ built the stylesheet's variables before our themes were registered.
        self.stylesheet.set_variables(self.get_css_variables())

    def _make_governance(self) -> Screen[Any]:
        from floe_tui.tui.governance_screen import GovernanceScreen

        self._governance = self._current_css(GovernanceScreen())
        return self._governance

    def _make_dashboard(self) -> Screen[Any]:
        from floe_tui.tui.dashboard_screen import DashboardScreen

        self._add_rules("dashboard.tcss")
        self._dashboard = self._current_css(DashboardScreen())
        return self._dashboard

    def _make_query(self) -> Screen[Any]:
        from floe_tui.tui.query_screen import QueryScreen

        self._add_rules("query.tcss")
        self._query = self._current_css(QueryScreen())
        return self._query

    def _add_rules(self, name: str) -> None:
        """A screen's own rules join the app's stylesheet when the screen is first made, not before
        the first paint (parsing them was 4 ms of it). Not as the screen's `CSS_PATH`: Textual
        would parse every stylesheet again and restyle every node of the app (30 ms at the first
        switch). These rules match only nodes of the screen about to mount, styled as they mount;
        a theme change re-parses them with the rest."""
        path = Path(__file__).with_name(name)
        self.stylesheet.add_source(path.read_text(encoding="utf-8"), read_from=(str(path), ""))
        self.stylesheet.parse()

    def _current_css(self, screen: _S) -> _S:
        """Mark a new mode screen as styled by the current CSS, which it is (its styles come from
        the app's stylesheet as it mounts). Textual 8 takes a new screen for one of an older CSS
        generation (-1 against 0) and refreshes all of it: every stylesheet parsed twice more,
        every node restyled, a layout: about 20 ms before the first paint (Textual's private counter,
        pinned with Textual)."""
        screen._css_update_count = self._css_update_count
        return screen

    # -- start -----------------------------------------------------------------------------
    def on_load(self) -> None:
        # Before any screen is composed. The app's own styles first (Textual applies them after
        # the first screen is composed, then restyled every node in the CSS refresh that
        # `_current_css` spares): widgets coloured `auto` take the app's background as they mount.
        self.stylesheet.apply(self)
        # A small cached snapshot, so that the first frame shows the tree.
        snapshot = self.core.plans.cached_snapshot()
        self._early_plan = self.core.plan_loaded(snapshot) if snapshot is not None else None

    def on_mount(self) -> None:
        self.after_first_frame(self._start_core)
        for problem in self.theme_problems:
            self.core.events.log("console", "theme", problem)
        if self._early_plan is not None:  # the screens composed with it: compile the real plan
            self._plan_taken(self._early_plan, screens=False)
        else:
            self.load_plan()

    def _start_core(self) -> None:
        """The query history is read once the first frame is up; a problem with it is a notice."""
        notice = self.core.start()
        if notice:
            self.notify(notice, severity="warning", timeout=8)

    def after_first_frame(self, callback: Callable[[], object]) -> None:
        """Run `callback` once the first frame with a plan is painted (soon, if it is already).

        Not `call_after_refresh`: Textual runs those callbacks inside its start-up batch of
        updates, before any frame reached the terminal, and they delayed it (the Footer's mount,
        the compiler's start, the collector).
        """
        if self._after_first is None:
            self.call_later(callback)
        else:
            self._after_first.append(callback)

    def frame_painted(self) -> None:
        """A screen painted a frame (`ConsoleScreen` tells): the first one that shows a plan (the
        snapshot, the compiled plan, or why there is none) lets the waiting work go. On a first
        launch the frames before it say "loading" while the snapshot helper compiles on the other
        core: the waiting work (the Footer, the collector, the history) ran then, slowing the
        helper, and the tree came 50-100 ms after the snapshot."""
        if self._after_first is not None and self.core.plan_generation:  # a load result is in
            waiting, self._after_first = self._after_first, None
            for callback in waiting:
                self.call_later(callback)

    # -- the plan --------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="compile", exit_on_error=False)
    def load_plan(self) -> None:
        """Off the UI thread: the snapshot first if there is one, else a compile."""
        self.post_message(PlanLoaded(self.core.plans.load()))

    def on_plan_loaded(self, message: PlanLoaded) -> None:
        self._plan_taken(self.core.plan_loaded(message.loaded), screens=True)

    def _plan_taken(self, applied: Applied, *, screens: bool) -> None:
        if applied.env_notice:
            self.notify(applied.env_notice, severity="warning", timeout=8)
        for screen in (self._governance, self._dashboard, self._query) if screens else ():
            if screen is not None:
                screen.plan_changed()
        if applied.compile_next:  # the snapshot is on screen: now compile the real plan
            self.after_first_frame(self.load_plan)
        if applied.first and self.watch_files:
            self.core.plans.watch(self._post_manifests_changed)

    def _post_manifests_changed(self) -> None:
        self.post_message(ManifestsChanged())  # called on the watching thread: post, never touch

    def on_manifests_changed(self, _: ManifestsChanged) -> None:
        self.load_plan()

    def on_reload_requested(self, _: ReloadRequested) -> None:
        self.load_plan()

    # -- the monitor (its callbacks run on its threads: post, never touch) --------------------
    def post_sample(self, sample: TargetSample) -> None:
        """Hand a sample in from any thread; a round's samples cost one message, and one wake-up."""
        with self._inbox_lock:
            self._inbox.append(sample)
            first = len(self._inbox) == 1
        if first:
            self.post_message(SamplesArrived())

    def _post_event(self, event: MonitorEvent) -> None:
        self.post_message(MonitorEventArrived(event))

    def on_samples_arrived(self, _: SamplesArrived) -> None:
        with self._inbox_lock:
            samples, self._inbox = self._inbox, []
        dashboard = self._dashboard if self.current_mode == "dashboard" else None
        for sample in samples:
            if self.core.sample_arrived(sample) and dashboard is not None:
                dashboard.sample_arrived(sample)

    def on_monitor_event_arrived(self, message: MonitorEventArrived) -> None:
        self.core.monitor_event(message.event)

    def _event_logged(self, line: LogLine) -> None:
        if self._dashboard is not None:
            self._dashboard.event_logged(line)

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
        closer = self.core.close_async()
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
        self.core.close(timeout_s)

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
