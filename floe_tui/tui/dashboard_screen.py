"""Dashboard screen: one card per approved target, fed by the health monitor.

The monitor (and with it each engine's connection) starts on the first visit of this screen or on
`ctrl+r`. Samples arrive as messages; cards repaint only while the screen is shown, and catch up
from the monitor's history when it is shown again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical, VerticalScroll
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, RichLog, Static

from floe_tui.tui.host import ConsoleScreen

if TYPE_CHECKING:
    from floe_tui.compute import MemoryStats, PoolStats
    from floe_tui.console.events import LogLine
    from floe_tui.monitor import TargetSample

SPARK_WINDOW = 60
SPARK_WIDTH = 50
#: Samples arriving within this delay are painted together.
FLUSH_DELAY_S = 0.1
#: The title's process CPU and RSS are read again after this long: with the cards' repaint while
#: samples come, else by a timer once the last repaint is this late (polling paused or slower).
STATS_EVERY_S = 0.9
STATS_TICK_LATE_S = 1.5
MEMORY_TAGS_SHOWN = 5
BAR_WIDTH = 16
#: What `+` and `-` step the poll interval through (seconds).
INTERVAL_STEPS = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
MARKS = {"healthy": "[OK]", "degraded": "[WARN]", "unhealthy": "[FAIL]"}
STYLES = {"healthy": "bold green", "degraded": "bold dark_orange", "unhealthy": "bold red"}


def fmt_bytes(value: float | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def fmt_interval(seconds: float) -> str:
    return f"{seconds:g} s"


def status_text(sample: TargetSample | None, connecting: bool = False) -> Text:
    if sample is None:
        what = "connecting…" if connecting else "waiting for the first poll"
        return Text(f"[..] {what}", style="bold")
    health = sample.health
    state = health.status.value
    text = Text.assemble((f"{MARKS[state]} {state}", STYLES[state]))
    if health.latency_ms is not None:
        text.append(f"  {health.latency_ms:.1f} ms")
    if health.message and health.message != "ok":
        text.append(f"  {health.message}")
    return text


BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = SPARK_WIDTH) -> str:
    """One block character per sample, scaled between the window's minimum and maximum.

    Plain text on purpose: Textual's Sparkline widget re-renders its bars with a colour blend
    per cell, which made up a third of an idle dashboard's CPU.
    """
    shown = values[-width:]
    if not shown:
        return ""
    low, high = min(shown), max(shown)
    span = high - low
    top = len(BLOCKS) - 1
    return "".join(BLOCKS[round((v - low) / span * top) if span else 0] for v in shown)


def pool_text(pool: PoolStats | None) -> Text:
    if pool is None:
        return Text("pool  -", style="dim")
    return Text(
        f"pool  {pool.size}/{pool.max} open · {pool.in_use} in use · {pool.idle} idle · "
        f"{pool.waiting} waiting\n      created {pool.created} · closed {pool.closed} · "
        f"reconnects {pool.reconnects}\n      wait p50 {pool.acquire_wait_p50_ms:.1f} ms · "
        f"p99 {pool.acquire_wait_p99_ms:.1f} ms · timeouts {pool.acquire_timeouts}"
    )


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


def memory_text(memory: MemoryStats | None) -> Text:
    if memory is None:
        return Text("memory  not reported by this engine", style="dim")
    limit = memory.limit_bytes
    text = Text(f"memory  {fmt_bytes(memory.used_bytes)}")
    if limit:
        fraction = memory.used_bytes / limit
        text.append(f" of {fmt_bytes(limit)} ({fraction:.0%})  {bar(fraction)}")
    text.append(f"\n        temp storage {fmt_bytes(memory.temp_storage_bytes)}")
    tags = sorted(((v, k) for k, v in memory.by_tag.items() if v), reverse=True)[:MEMORY_TAGS_SHOWN]
    scale = limit or memory.used_bytes or 1
    for used, tag in tags:
        text.append(f"\n  {tag[:18]:<18} {bar(used / scale)} {fmt_bytes(used):>10}")
    return text


def set_text(widget: Static, text: Text) -> None:
    """Update a Static only when its text changed, without a new layout while its line count holds."""
    old = widget.content
    if isinstance(old, Text) and old.plain == text.plain and old.spans == text.spans:
        return
    lines_before = old.plain.count("\n") if isinstance(old, Text) else -1
    widget.update(text, layout=lines_before != text.plain.count("\n"))


def card_head(
    sample: TargetSample | None, latencies: list[float], connecting: bool, spark: Style
) -> list[Text]:
    """A card's first lines, which most polls change: status, latency caption and sparkline, a blank."""
    if latencies:
        low, high = min(latencies), max(latencies)
        caption = f"latency (ms) over the last {SPARK_WINDOW} polls: min {low:.1f} · max {high:.1f}"
    else:
        caption = "latency (ms): none measured yet"
    return [
        status_text(sample, connecting),
        Text(caption, style="dim"),
        Text(sparkline(latencies), style=spark),
        Text(),
    ]


class TargetCard(Widget):
    """One approved target: status with a text mark, latency sparkline, pool, memory.

    Drawn line by line: a poll changes one or two lines of a card (the latency, the sparkline),
    and only those are rendered again. A Static per part re-rendered every part of every card on
    each poll, most of an idle dashboard's cost.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"card--spark"}

    def __init__(self, target: str, plugin: str) -> None:
        super().__init__(classes="card")
        self.target = target
        self.border_title = f"{target} · {plugin}"
        self._logical: list[Text] = []
        self._lines: list[Text] = []  # the logical lines folded to the card's width
        self._wrap_width = 0
        self._strips: dict[int, Strip] = {}
        self._shown: tuple[TargetSample | None, list[float], bool] = (None, [], False)
        self._spark: tuple[str, Style] | None = None
        self._tail: tuple[PoolStats | None, MemoryStats | None, list[Text]] | None = None

    @property
    def text(self) -> str:
        """What the card says, as plain text (one line per card line, before folding)."""
        return "\n".join(line.plain for line in self._logical)

    def on_mount(self) -> None:
        self.show(*self._shown)

    def show(self, sample: TargetSample | None, latencies: list[float], connecting: bool) -> None:
        self._shown = (sample, latencies, connecting)
        state = sample.health.status.value if sample else "unknown"
        self.set_class(state == "unhealthy", "-unhealthy")
        self.set_class(state == "degraded", "-degraded")
        if not self.is_mounted:  # component styles need the app: drawn once mounted
            return
        self._logical = [
            *card_head(sample, latencies, connecting, self._spark_style()),
            *self._tail_lines(sample),
        ]
        lines = self._wrap(self.size.width)
        if len(lines) != len(self._lines):
            self._lines, self._strips = lines, {}
            self.refresh(layout=True)
            return
        for y, (old, new) in enumerate(zip(self._lines, lines, strict=True)):
            if old is new:  # a line of the pool or memory, unchanged
                continue
            if old.plain != new.plain or old.spans != new.spans or old.style != new.style:
                self._lines[y] = new
                self._strips.pop(y, None)
                self.refresh(Region(0, y, self.size.width, 1))

    def _tail_lines(self, sample: TargetSample | None) -> list[Text]:
        """The pool and memory lines, made again only when those figures changed: most polls
        change neither, and making them was half of a card's repaint."""
        pool, memory = (sample.pool, sample.memory) if sample else (None, None)
        if self._tail is None or self._tail[0] != pool or self._tail[1] != memory:
            self._tail = (pool, memory, [*pool_text(pool).split("\n"), *memory_text(memory).split("\n")])
        return self._tail[2]

    def _wrap(self, width: int) -> list[Text]:
        """The card's lines folded to `width` cells (a failure's reason is never cut off)."""
        self._wrap_width = width
        if width <= 0:
            return list(self._logical)
        console = self.app.console
        folded: list[Text] = []
        for line in self._logical:
            folded.extend([line] if line.cell_len <= width else line.wrap(console, width))
        return folded

    def _spark_style(self) -> Style:
        """The sparkline's style from the CSS, looked up again only when the theme changes."""
        theme = self.app.theme
        if self._spark is None or self._spark[0] != theme:
            self._spark = (theme, self.get_component_rich_style("card--spark"))
        return self._spark[1]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if width != self._wrap_width:
            self._lines, self._strips = self._wrap(width), {}
        return len(self._lines)

    def render_line(self, y: int) -> Strip:
        strip = self._strips.get(y)
        if strip is None:
            if y >= len(self._lines):
                return Strip.blank(self.size.width)
            strip = Strip(self._lines[y].render(self.app.console))
            self._strips[y] = strip
        return strip


class DashboardScreen(ConsoleScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "toggle_pause", "Pause/resume"),
        Binding("plus", "faster", "Faster", key_display="+"),
        Binding("minus", "slower", "Slower", key_display="-"),
        Binding("equals_sign", "faster", "Faster", show=False),
        Binding("ctrl+r", "poll_now", "Poll now"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._cards: dict[str, TargetCard] = {}
        self._stats_timer: Timer | None = None
        self._dirty: set[str] = set()
        self._stats_at = float("-inf")
        self._flushed_at = float("-inf")
        self._flush_timer: Timer | None = None
        self._cpu_rss: tuple[float, int] | None = None
        self._state: tuple[object, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static("floe-tui · dashboard", id="dash-title", classes="title")
        with VerticalScroll(id="cards-scroll"):
            yield Container(id="cards")
        # In a container of its own: a repaint of the cards then leaves the log's lines alone
        # (Textual re-renders every direct child of the screen on any partial update).
        with Vertical(id="log-pane"):
            yield Static("Event log: status changes, reconnects, timeouts, cancels", classes="pane-title")
            yield RichLog(id="events", max_lines=500, wrap=False, markup=False, auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        log = self.query_one("#events", RichLog)
        for line in self.core.events:
            log.write(self._log_text(line))

    def on_screen_resume(self) -> None:
        self.core.ensure_monitor()
        self._rebuild_cards()
        self._read_process_stats()
        if self._stats_timer is None:
            self._stats_timer = self.set_interval(1.0, self._stats_tick)
        else:
            self._stats_timer.resume()

    def on_screen_suspend(self) -> None:
        if self._stats_timer is not None:
            self._stats_timer.pause()

    def plan_changed(self) -> None:
        """The app took a new plan in: the cards follow the targets, if this screen is shown."""
        if self.app.current_mode == "dashboard":
            self.core.ensure_monitor()
            self._rebuild_cards()

    # -- cards -----------------------------------------------------------------------------
    def _rebuild_cards(self) -> None:
        core = self.core
        registry = core.registry()
        names = registry.names if registry is not None else []
        cards = self.query_one("#cards", Container)
        compiling = core.plans.compiling
        state = (tuple(names), compiling, core.registry_error)
        if state != self._state:
            self._state = state
            cards.remove_children()
            self._cards = {}
            if registry is None and compiling:
                cards.mount(Static(Text("[..] compiling the manifests…"), classes="card"))
            elif registry is None:
                cards.mount(Static(Text(f"[FAIL] no usable target: {core.registry_error}"), classes="card"))
            for name in names:
                card = TargetCard(name, registry.config(name).plugin if registry else "?")
                self._cards[name] = card
                cards.mount(card)
            self.call_after_refresh(self._show_all)
        else:
            self._show_all()
        self._update_title()

    def _show_all(self) -> None:
        for name in self._cards:
            self._show(name)

    def _show(self, name: str) -> None:
        card = self._cards.get(name)
        if card is None:
            return
        monitor = self.core.monitor
        history = list(monitor.history.get(name, ())) if monitor else []
        latencies = [s.health.latency_ms for s in history if s.health.latency_ms is not None][-SPARK_WINDOW:]
        card.show(self.core.samples.get(name), latencies, connecting=monitor is not None)

    def sample_arrived(self, sample: TargetSample) -> None:
        """Repaint soon, not now: the targets' samples of one round land together in one repaint."""
        self._dirty.add(sample.target)
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(FLUSH_DELAY_S, self._flush)

    def _flush(self) -> None:
        self._flush_timer = None
        dirty, self._dirty = self._dirty, set()
        for name in dirty:
            self._show(name)
        self._flushed_at = self.core.monotonic()
        if self._flushed_at - self._stats_at >= STATS_EVERY_S:
            self._read_process_stats()  # in the same repaint as the cards

    # -- title, stats and the log ----------------------------------------------------------
    def _read_process_stats(self) -> None:
        self._stats_at = self.core.monotonic()
        self._cpu_rss = self.core.process_stats()
        self._update_title()

    def _stats_tick(self) -> None:
        """Every second: the title's CPU and RSS, unless the cards' repaints read them (while the
        samples come at least every `STATS_TICK_LATE_S`): one repaint a second, not two."""
        now = self.core.monotonic()
        if now - self._stats_at >= STATS_EVERY_S and now - self._flushed_at >= STATS_TICK_LATE_S:
            self._read_process_stats()

    def _update_title(self) -> None:
        core = self.core
        monitor = core.monitor
        if monitor is None:
            polling = "not polling"
        elif monitor.paused:
            polling = "paused (p resumes)"
        else:
            polling = f"polling every {fmt_interval(core.interval_s)}"
        text = Text(f"floe-tui · dashboard · env {core.env} · {polling}")
        if self._cpu_rss is not None:
            cpu, rss = self._cpu_rss
            text.append(f" · console CPU {cpu:.1f} % · RSS {fmt_bytes(rss)}")
        set_text(self.query_one("#dash-title", Static), text)

    def event_logged(self, line: LogLine) -> None:
        if self.is_mounted:
            self.query_one("#events", RichLog).write(self._log_text(line))

    def _log_text(self, line: LogLine) -> Text:
        return Text(f"{line.at:%H:%M:%S}  {line.source:<12} {line.kind:<10} {line.message}")

    # -- actions ---------------------------------------------------------------------------
    def action_toggle_pause(self) -> None:
        if self.core.toggle_pause() is not None:
            self._update_title()

    def action_faster(self) -> None:
        self._step_interval(-1)

    def action_slower(self) -> None:
        self._step_interval(+1)

    def _step_interval(self, direction: int) -> None:
        current = self.core.interval_s
        if direction < 0:
            smaller = [s for s in INTERVAL_STEPS if s < current - 1e-9]
            target = smaller[-1] if smaller else INTERVAL_STEPS[0]
        else:
            larger = [s for s in INTERVAL_STEPS if s > current + 1e-9]
            target = larger[0] if larger else INTERVAL_STEPS[-1]
        seconds = self.core.set_interval(target)
        self.core.events.log("dashboard", "monitor", f"interval {fmt_interval(seconds)}")
        self._update_title()

    def action_poll_now(self) -> None:
        self.core.poll_now()  # the explicit request that connects every target
