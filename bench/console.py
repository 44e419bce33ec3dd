"""The console, measured as a person meets it: in a real terminal (tmux, 120x40), side by side.

- ``console.startup``: launch -> the governance tree painted with the sample hierarchy, against
  Harlequin 2.17 (installed from PyPI in its own venv, ``.venv/harlequin``, on first use) to its
  first screen and a bare Textual app to its first paint; RSS of each right after.
- ``console.cancel``: escape -> ``cancelled`` on screen, for a DuckDB query that would run for
  minutes (the status line is read back through ``capture-pane``).
- ``console.idle``: CPU of the console left alone on the dashboard, polling 5 targets every 1 s,
  beside the same console paused, DuckDB's own memory readings at that cadence and a bare Textual
  app repainting what those polls change on screen (the two floors under the polls' cost).

Every figure is read from outside the process, through the terminal, as the user would see it.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil

from bench import Row, Skip, benchmark, measured, percentile

ROOT = Path(__file__).resolve().parent.parent
FLOE_TUI = Path(sys.executable).parent / "floe-tui"
HARLEQUIN_VENV = ROOT / ".venv" / "harlequin"
HARLEQUIN_VERSION = "2.17.0"
SIZE = ("120", "40")
STARTS = 7
CANCELS = 12
IDLE_WINDOW_S = 60.0  # CPU times tick in 10 ms: 60 s resolves 0.02% of a core
IDLE_TARGETS = 5
ENDLESS = "SELECT count(*) FROM range(10000000000) a"
BARE_APP = """\
from textual.app import App
from textual.widgets import Static


class Bare(App):
    def compose(self):
        yield Static("bare textual app ready")


Bare().run()
"""
BARE_ESCAPE_APP = """\
import os

os.environ.setdefault("ESCDELAY", "25")  # as floe-tui sets it

from textual.app import App
from textual.widgets import Static

from floe_tui.tui.driver import PromptEscapeDriver  # and its driver, which sees a lone escape at once


class BareEscape(App):
    BINDINGS = [("escape", "answer", "")]
    answers = 0

    def compose(self):
        yield Static("bare escape ready", id="status")

    def action_answer(self):
        self.answers += 1
        self.query_one("#status", Static).update(f"answer {self.answers} cancelled")


BareEscape(driver_class=PromptEscapeDriver).run()
"""
#: The dashboard's layout with nothing behind it: a title, a grid of 5 bordered cards drawn line
#: by line as floe-tui's are, the event log. Once a second it repaints what a poll of 5 targets
#: changes on the console's dashboard (the title, and each card's status and sparkline lines);
#: `p` pauses it. Textual's share of the polls' cost: no engine, no monitor, no messages.
BARE_REPAINT_APP = """\
import random

from rich.text import Text
from textual.app import App
from textual.containers import Container, Vertical, VerticalScroll
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Footer, RichLog, Static

from floe_tui.tui.driver import PromptEscapeDriver  # the console's driver, its input thread asleep

CHANGED_LINES = (0, 2)


class Card(Widget):
    def __init__(self, n):
        super().__init__(classes="card")
        self.border_title = f"duck_{n} · duckdb"
        self.lines = [Text(f"line {i} of a card " + "·" * 30) for i in range(11)]

    def get_content_height(self, container, viewport, width):
        return len(self.lines)

    def repaint(self):
        for y in CHANGED_LINES:
            latency = f"[OK] healthy  {random.uniform(1, 3):.1f} ms "
            self.lines[y] = Text(latency + "▁▃▅▇" * random.randint(1, 12))
            self.refresh(Region(0, y, self.size.width, 1))

    def render_line(self, y):
        if y >= len(self.lines):
            return Strip.blank(self.size.width)
        return Strip(self.lines[y].render(self.app.console))


class BareRepaint(App):
    CSS = \"\"\"
    #cards-scroll { height: 1fr; }
    #cards { layout: grid; grid-size: 2; grid-gutter: 0 1; height: auto; }
    .card { height: auto; border: round $primary 60%; padding: 0 1; }
    #log-pane { height: auto; }
    #events { height: 9; border: round $secondary 50%; }
    \"\"\"
    BINDINGS = [("p", "pause", "Pause")]
    paused = False

    def compose(self):
        yield Static("bare repaint ready", id="title")
        with VerticalScroll(id="cards-scroll"):
            with Container(id="cards"):
                for n in range(5):
                    yield Card(n)
        with Vertical(id="log-pane"):
            yield Static("Event log")
            yield RichLog(id="events")
        yield Footer()

    def on_mount(self):
        self.set_interval(1.0, self.repaint)

    def action_pause(self):
        self.paused = True
        self.query_one("#title", Static).update("bare repaint paused", layout=False)

    def repaint(self):
        if self.paused:
            return
        title = f"bare repaint ready · CPU {random.random():.1f} %"
        self.query_one("#title", Static).update(title, layout=False)
        for card in self.query(Card):
            card.repaint()


BareRepaint(driver_class=PromptEscapeDriver).run()
"""
THREE_TARGETS = """\
apiVersion: floe.dev/v1
kind: Manifest
metadata: {name: bench, scope: enterprise}
compute:
  approved:
    - {name: duck_a, plugin: duckdb, connection: {path: ":memory:", threads: 1}}
    - {name: duck_b, plugin: duckdb, connection: {path: ":memory:", threads: 1}}
    - {name: duck_c, plugin: duckdb, connection: {path: ":memory:", threads: 1}}
  default: duck_a
"""


#: Between two reads of the screen. Read back to back, the `tmux capture-pane` processes kept a
#: core busy: a terminal nobody reads did not have, and the one a first launch's snapshot helper
#: runs on (its launch measured 0.56 s so, 0.41 s with this pause; the others within 10 ms).
POLL_S = 0.005


class Terminal:
    """A tmux server of our own with one 120x40 window running one command."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.socket = f"floe-bench-{os.getpid()}-{time.monotonic_ns()}"
        self.command = command
        self.env = env
        self.pid = 0
        self.socket_path = ""

    def tmux(self, *args: str) -> str:
        run = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args], capture_output=True, text=True, timeout=10
        )
        return run.stdout

    def start(self) -> float:
        """Start the command; returns the perf_counter just before the launch."""
        started = time.perf_counter()
        subprocess.run(
            [
                "tmux",
                "-L",
                self.socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "b",
                "-x",
                SIZE[0],
                "-y",
                SIZE[1],
                f"exec {self.command}",
            ],
            env=self.env,
            check=True,
            timeout=10,
        )
        self.tmux("set-option", "-g", "escape-time", "0")
        self.pid = int(self.tmux("display-message", "-p", "-t", "b", "#{pane_pid}").strip() or 0)
        self.socket_path = self.tmux("display-message", "-p", "#{socket_path}").strip()
        return started

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "b")

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "b", *(["-l"] if literal else []), *keys)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float, what: str) -> float:
        """When the screen first satisfies `predicate`, read every `POLL_S` or so."""
        deadline = time.perf_counter() + timeout
        while True:
            if predicate(self.screen()):
                return time.perf_counter()
            if time.perf_counter() > deadline:
                raise RuntimeError(f"timed out waiting for {what}:\n{self.screen()}")
            time.sleep(POLL_S)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)
        if self.socket_path:
            Path(self.socket_path).unlink(missing_ok=True)
        if self.pid:
            with suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
                psutil.Process(self.pid).wait(5)


@contextmanager
def terminal(command: str, data_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[Terminal]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOE_", "TMUX", "NO_COLOR"))}
    env.update({"XDG_DATA_HOME": str(data_dir), "TERM": "xterm-256color", **(extra_env or {})})
    term = Terminal(command, env)
    try:
        yield term
    finally:
        term.close()


def _need_tmux() -> None:
    if not shutil.which("tmux"):
        raise Skip("tmux is not installed")
    if not FLOE_TUI.exists():
        raise Skip(f"{FLOE_TUI} is not installed (make install)")


def harlequin() -> Path:
    """Harlequin 2.17 from PyPI in a venv of its own (created once, kept in .venv/harlequin)."""
    binary = HARLEQUIN_VENV / "bin" / "harlequin"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(HARLEQUIN_VENV)], check=True, timeout=120)
        subprocess.run(
            [str(HARLEQUIN_VENV / "bin" / "pip"), "install", "--quiet", f"harlequin=={HARLEQUIN_VERSION}"],
            check=True,
            timeout=900,
        )
    return binary


def rss_mb(pid: int) -> float:
    process = psutil.Process(pid)
    return process.memory_info().rss / 2**20


def cores_used(pid: int, window_s: float) -> float:
    process = psutil.Process(pid)
    before, started = process.cpu_times(), time.perf_counter()
    time.sleep(window_s)
    after, ended = process.cpu_times(), time.perf_counter()
    return ((after.user - before.user) + (after.system - before.system)) / (ended - started)


# -- startup and memory ------------------------------------------------------------------------
@benchmark("console.startup")
def startup() -> list[Row]:
    """Launch -> first useful paint in tmux 120x40 (floe-tui tree, Harlequin, bare Textual); RSS after.

    floe-tui is measured twice: as it usually starts (the first-paint snapshot cached by an earlier
    launch on the same manifests) and as it starts the first time, or after the manifests changed
    (an empty cache directory each round: the snapshot is compiled in a helper process).
    """
    _need_tmux()
    harlequin_bin = harlequin()
    with tempfile.TemporaryDirectory() as scratch:
        bare = Path(scratch) / "bare.py"
        bare.write_text(BARE_APP)
        tree_painted = lambda s: "sales" in s and "marketing" in s and "finance" in s  # noqa: E731
        contenders: dict[str, tuple[str, Callable[[str], bool]]] = {
            "floe-tui": (str(FLOE_TUI), tree_painted),
            "floe-tui first launch": (str(FLOE_TUI), tree_painted),
            "harlequin": (f"{harlequin_bin}", lambda s: "Query Editor" in s),
            "bare Textual app": (f"{sys.executable} {bare}", lambda s: "bare textual app ready" in s),
        }
        warm_cache = Path(scratch) / "cache-warm"
        with terminal(
            str(FLOE_TUI), Path(scratch) / "data-prime", {"XDG_CACHE_HOME": str(warm_cache)}
        ) as term:
            term.start()  # an untimed launch that leaves the snapshot in the cache
            term.wait_for(tree_painted, 30, "the first launch's tree")
            deadline = time.perf_counter() + 30
            while not any(warm_cache.rglob("*.json")) and time.perf_counter() < deadline:
                time.sleep(0.05)
        times: dict[str, list[float]] = {name: [] for name in contenders}
        rss: dict[str, list[float]] = {name: [] for name in contenders}
        for round_ in range(STARTS):
            for name, (command, painted) in contenders.items():
                data = Path(scratch) / f"data-{round_}-{name.replace(' ', '-')}"
                cache = (
                    warm_cache
                    if name == "floe-tui"
                    else Path(scratch) / f"cache-{round_}-{name.replace(' ', '-')}"
                )
                with terminal(command, data, {"XDG_CACHE_HOME": str(cache)}) as term:
                    started = term.start()
                    shown = term.wait_for(painted, 30, f"{name}'s first screen")
                    times[name].append(shown - started)
                    time.sleep(1.0)  # let start-up work that follows the first paint settle
                    rss[name].append(rss_mb(term.pid))
    floe, first, harl, bare_s = (statistics.median(times[n]) for n in contenders)
    return [
        measured(
            f"floe-tui: launch -> governance tree painted, snapshot cached earlier (median of {STARTS})",
            floe,
            "s",
        ),
        measured(
            "floe-tui, snapshot cached: first paint / a bare Textual app's, same run",
            floe / bare_s,
            "x",
            below=1.3,
        ),
        measured(
            f"floe-tui: the same on its first launch or after the manifests changed (median of {STARTS})",
            first,
            "s",
        ),
        measured(
            "floe-tui, first launch: first paint / a bare Textual app's, same run",
            first / bare_s,
            "x",
            below=2.0,
        ),
        measured(f"Harlequin {HARLEQUIN_VERSION}: launch -> first screen (median of {STARTS})", harl, "s"),
        measured(f"bare Textual app: launch -> first paint (median of {STARTS})", bare_s, "s"),
        measured(
            "floe-tui: RSS 1 s after the tree is painted (median)",
            statistics.median(rss["floe-tui"]),
            "MB",
            below=170,
            digits=0,
        ),
        measured(
            f"Harlequin {HARLEQUIN_VERSION}: RSS 1 s after its first screen (median)",
            statistics.median(rss["harlequin"]),
            "MB",
            digits=0,
        ),
        measured(
            "bare Textual app: RSS 1 s after its first paint (median)",
            statistics.median(rss["bare Textual app"]),
            "MB",
            digits=0,
        ),
    ]


# -- cancel ------------------------------------------------------------------------------------
def _status(screen: str) -> str:
    return next((line.strip() for line in screen.splitlines() if line.lstrip().startswith("run ")), "")


@benchmark("console.cancel")
def cancel_latency() -> list[Row]:
    """escape -> `cancelled` in the status line, read through tmux, on a query that would run for minutes."""
    _need_tmux()
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        manifests = Path(scratch) / "m"
        manifests.mkdir()
        (manifests / "enterprise.yaml").write_text(THREE_TARGETS)
        with terminal(f"{FLOE_TUI} -m {manifests}", Path(scratch) / "data") as term:
            term.start()
            term.wait_for(lambda s: "duck_a" in s, 30, "the tree")
            term.keys("3")
            term.wait_for(lambda s: "ready" in s, 10, "the query screen")
            term.keys(ENDLESS, literal=True)
            term.wait_for(lambda s: "range(10000000000)" in s, 10, "the query typed")
            for run in range(1, CANCELS + 1):
                term.keys("F5")
                running = f"run {run} ·"
                term.wait_for(lambda s, r=running: _status(s).startswith(r) and "running" in s, 30, "running")
                time.sleep(0.3)  # the engine is busy with it
                pressed = time.perf_counter()
                term.keys("Escape")
                shown = term.wait_for(
                    lambda s: _status(s).startswith(f"run {run} ·") and _status(s).endswith("cancelled"),  # noqa: B023
                    10,
                    "cancelled",
                )
                latencies.append((shown - pressed) * 1000)
            busy_after = cores_used(term.pid, 1.0)
        bare = Path(scratch) / "bare_escape.py"
        bare.write_text(BARE_ESCAPE_APP)
        floor: list[float] = []
        with terminal(f"{sys.executable} {bare}", Path(scratch) / "data-bare") as term:
            term.start()
            term.wait_for(lambda s: "bare escape ready" in s, 30, "the bare app")
            for answer in range(1, CANCELS + 1):
                time.sleep(0.3)
                pressed = time.perf_counter()
                term.keys("Escape")
                shown = term.wait_for(lambda s, a=answer: f"answer {a} cancelled" in s, 10, "the answer")
                floor.append((shown - pressed) * 1000)
    return [
        measured(
            f"floe-tui: escape -> `cancelled` on screen, p50 of {CANCELS}",
            percentile(latencies, 0.5),
            "ms",
            below=60,
            digits=0,
        ),
        measured(
            f"floe-tui: escape -> `cancelled` on screen, worst of {CANCELS}", max(latencies), "ms", digits=0
        ),
        measured(
            f"bare Textual app (floe-tui's driver and ESCDELAY): escape -> a text on screen, p50 of "
            f"{CANCELS}: the floor of key delay, repaint and tmux",
            percentile(floor, 0.5),
            "ms",
            digits=0,
        ),
        measured(
            "floe-tui: what cancelling adds to that floor (p50 minus the bare app's p50)",
            percentile(latencies, 0.5) - percentile(floor, 0.5),
            "ms",
            digits=0,
        ),
        measured(
            "floe-tui: console CPU in the second after the last cancel",
            busy_after * 100,
            "% of a core",
            digits=1,
        ),
    ]


# -- idle --------------------------------------------------------------------------------------
def targets_manifest(count: int) -> str:
    """An enterprise manifest approving `count` in-memory DuckDB targets."""
    names = [f"duck_{chr(ord('a') + n)}" for n in range(count)]
    rows = "".join(
        f'    - {{name: {n}, plugin: duckdb, connection: {{path: ":memory:", threads: 1}}}}\n' for n in names
    )
    return (
        "apiVersion: floe.dev/v1\nkind: Manifest\nmetadata: {name: bench, scope: enterprise}\n"
        f"compute:\n  approved:\n{rows}  default: {names[0]}\n"
    )


@benchmark("console.idle")
def idle_cpu() -> list[Row]:
    """CPU of the console left alone on the dashboard polling 5 DuckDB targets every 1 s, beside paused."""
    _need_tmux()
    with tempfile.TemporaryDirectory() as scratch:
        manifests = Path(scratch) / "m"
        manifests.mkdir()
        (manifests / "enterprise.yaml").write_text(targets_manifest(IDLE_TARGETS))
        with terminal(f"{FLOE_TUI} -m {manifests}", Path(scratch) / "data") as term:
            term.start()
            term.wait_for(lambda s: "duck_a" in s, 30, "the tree")
            time.sleep(2.0)
            tree_idle = cores_used(term.pid, 5.0)
            term.keys("2")
            term.wait_for(lambda s: s.count("[OK] healthy") == IDLE_TARGETS, 30, "every card healthy")
            time.sleep(3.0)
            polling = cores_used(term.pid, IDLE_WINDOW_S)
            rss = rss_mb(term.pid)
            term.keys("p")  # the same console, polling paused: the floor of the polls' own cost
            term.wait_for(lambda s: "paused" in s, 10, "the paused title")
            time.sleep(2.0)
            paused = cores_used(term.pid, IDLE_WINDOW_S)
        repaint = bare_repaint_cpu(Path(scratch))
    engine = engine_readings_cpu(IDLE_TARGETS, IDLE_WINDOW_S / 2)
    window = f"{IDLE_WINDOW_S:g} s window"
    return [
        measured(
            f"floe-tui: idle CPU on the dashboard, {IDLE_TARGETS} targets polled every 1 s ({window})",
            polling * 100,
            "% of a core",
            below=1,
            digits=2,
        ),
        measured(
            f"floe-tui: the same console with polling paused ({window}): the floor",
            paused * 100,
            "% of a core",
            digits=2,
        ),
        measured(
            f"floe-tui: what the polls of {IDLE_TARGETS} targets cost above that floor",
            (polling - paused) * 100,
            "% of a core",
            below=0.5,
            digits=2,
        ),
        measured(
            f"DuckDB alone: the memory readings those polls take, {IDLE_TARGETS} targets every 1 s, "
            "no console (the engine's share of the polls' cost)",
            engine * 100,
            "% of a core",
            digits=2,
        ),
        measured(
            "bare Textual app in the dashboard's layout, repainting once a second what a poll of "
            f"{IDLE_TARGETS} targets changes there (the title, two lines a card), above itself paused: "
            "Textual's share of the polls' cost",
            repaint * 100,
            "% of a core",
            digits=2,
        ),
        measured(
            "the floor of the polls' cost: DuckDB's readings plus Textual's repaint (the two rows above)",
            (engine + repaint) * 100,
            "% of a core",
            digits=2,
        ),
        measured(
            "floe-tui: idle CPU on the governance screen (no engine connected)",
            tree_idle * 100,
            "% of a core",
            digits=2,
        ),
        measured(
            f"floe-tui: RSS with {IDLE_TARGETS} DuckDB targets connected and polled", rss, "MB", digits=0
        ),
    ]


def bare_repaint_cpu(scratch: Path) -> float:
    """Cores `BARE_REPAINT_APP` uses repainting, minus what it uses paused (half windows each)."""
    app = scratch / "bare_repaint.py"
    app.write_text(BARE_REPAINT_APP)
    with terminal(f"{sys.executable} {app}", scratch / "data-bare-repaint") as term:
        term.start()
        term.wait_for(lambda s: "bare repaint ready" in s, 30, "the bare dashboard")
        time.sleep(2.0)
        repainting = cores_used(term.pid, IDLE_WINDOW_S / 2)
        term.keys("p")
        term.wait_for(lambda s: "bare repaint paused" in s, 10, "the bare dashboard paused")
        time.sleep(1.0)
        paused = cores_used(term.pid, IDLE_WINDOW_S / 2)
    return max(0.0, repainting - paused)


def engine_readings_cpu(targets: int, window_s: float) -> float:
    """Cores used by DuckDB's memory readings alone, at the dashboard's cadence (a child process)."""
    output = subprocess.run(
        [sys.executable, "-m", "bench._memory_readings_child", str(targets), str(window_s)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=window_s + 60,
    )
    return float(output.stdout.strip())


@benchmark("console.idle_clouds")
def idle_cpu_clouds() -> list[Row]:
    """The dashboard on the clouds sample (its own poll intervals: cloud targets at most once a minute)."""
    _need_tmux()
    launchers = [
        ROOT / "plugins/floe-compute-snowflake/tests/servers/fakesnow_demo.py",
        ROOT / "plugins/floe-compute-bigquery/tests/servers/crucible_demo.py",
    ]
    if not all(launcher.exists() for launcher in launchers) or not (ROOT / ".venv-servers").is_dir():
        raise Skip("the clouds sample needs the local servers (make servers)")
    python = sys.executable
    command = " -- ".join(
        [*(f"{python} {launcher}" for launcher in launchers), f"{FLOE_TUI} -m {ROOT}/sample_manifests/clouds"]
    )
    with tempfile.TemporaryDirectory() as scratch, terminal(command, Path(scratch) / "data") as term:
        term.start()
        term.wait_for(lambda s: "clouds" in s, 90, "the tree")
        term.keys("2")
        term.wait_for(lambda s: s.count("[OK] healthy") >= 2, 120, "the local engines healthy")
        time.sleep(3.0)
        console = _console_pid(term.pid)
        used = cores_used(console, IDLE_WINDOW_S)
    return [
        measured(
            f"floe-tui: idle CPU on the clouds sample's dashboard ({IDLE_WINDOW_S:g} s window)",
            used * 100,
            "% of a core",
            digits=2,
        )
    ]


def _console_pid(root: int) -> int:
    """The floe-tui process below the server launchers (the console is the last in the chain)."""
    process = psutil.Process(root)
    for child in [process, *process.children(recursive=True)]:
        if any(part.endswith("floe-tui") for part in child.cmdline()[:2]):
            return child.pid
    return root
