"""Plan loading and watching: the first-paint snapshot, then the compiled plan, then reloads.

`load()` blocks (a worker thread calls it): the first call gives the snapshot a `PlanPrefetch`
made before Textual was imported, if it has one; every later call compiles (the compiler keeps
parsed files, so a reload re-reads only what changed). `apply()` takes a result in on the
owner's thread and says what changed. `watch()` polls the manifests' modification times on a
thread of its own (cheap, portable) and calls back when they change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from floe_tui.console.prefetch import Signature, manifest_signature

if TYPE_CHECKING:
    from floe_tui.compute.discovery import Discovered
    from floe_tui.console.prefetch import PlanPrefetch
    from floe_tui.governance import Compiler, Plan
    from floe_tui.governance.diff import NodeChange
    from floe_tui.planmodel import Level, PlanModel

WATCH_INTERVAL_S = 1.0
WATCH_CPU_SHARE = 0.01
#: A cached snapshot up to this long is loaded on the UI thread before the first paint (5 ms at
#: most, measured); a longer one (a tree of more than about 1,000 transforms) on a worker thread.
SNAPSHOT_NOW_MAX_CHARS = 256 << 10


@dataclass(frozen=True)
class Loaded:
    """What one `load()` gave: a snapshot or a compiled plan, or None and why."""

    plan: PlanModel | None
    #: The compiled plan (the same object as `plan`), None for a snapshot or a failure.
    compiled: Plan | None
    error: str | None
    seconds: float
    #: With `--diff BASE`: every tree node that differs from BASE (governance.diff.node_changes).
    changes: dict[tuple[str, ...], NodeChange] | None = None


@dataclass(frozen=True)
class Applied:
    """What `apply()` changed, for the host to act on."""

    #: The snapshot is shown: compile the real plan next.
    compile_next: bool
    #: The first load after the snapshot (or without one), even a failed one: start watching now.
    first: bool
    #: A compiled plan replaced an earlier one: a reload.
    reloaded: bool
    #: The environment asked for is not in the manifests: the one used instead, and why.
    env_notice: str | None


class Plans:
    """The manifests at `manifests` as the console shows them (owner's thread, except `load`)."""

    def __init__(
        self,
        manifests: Path,
        env: str,
        *,
        plugins: Discovered | None = None,
        prefetch: PlanPrefetch | None = None,
        diff_base: Path | None = None,
    ) -> None:
        self.manifests = manifests
        #: `--diff BASE`: the tree shown marks what differs from the manifests at BASE.
        self.diff_base = diff_base
        self._base: Plan | None = None
        #: The node changes of the plan shown (empty without `--diff`).
        self.changes: dict[tuple[str, ...], NodeChange] = {}
        self.env = env
        self._plugins = plugins
        self._prefetch = prefetch if plugins is None else None
        self._compiler: Compiler | None = None
        self._compile_lock = threading.Lock()
        self._stop = threading.Event()
        self._loaded_for_real = False
        self._awaiting_compile = False
        #: What the screens show: the snapshot first, then the compiled plan.
        self.model: PlanModel | None = None
        #: The compiled plan (engines are built from it only); None while the snapshot is shown.
        self.compiled: Plan | None = None
        self.error: str | None = None
        self.seconds = 0.0
        #: Bumped on every plan taken in (a screen rebuilt for an older one rebuilds).
        self.generation = 0
        #: The product selected in the governance tree; the query pane narrows to its targets.
        self.selected_product: Level | None = None

    @property
    def compiling(self) -> bool:
        """True while the snapshot is shown and the real plan is being compiled.

        A compile that fails after the snapshot ends this too: the snapshot stays on screen, and
        `error` says why no engine can be built.
        """
        return self._awaiting_compile

    # -- loading (a worker thread) -----------------------------------------------------------
    def cached_snapshot(self) -> Loaded | None:
        """The snapshot at once, without blocking, if the cache had a small one (the first paint
        can then show the tree); None: `load()` it on a worker thread as usual."""
        prefetch = self._prefetch
        snapshot = prefetch.cached_now(SNAPSHOT_NOW_MAX_CHARS) if prefetch is not None else None
        if snapshot is None:
            return None
        self._prefetch = None
        return Loaded(snapshot, None, self._empty(snapshot), 0.0)

    def load(self) -> Loaded:
        """The snapshot on the first call if one was prefetched, else a compile. Blocks."""
        started = time.perf_counter()
        try:
            prefetch, self._prefetch = self._prefetch, None
            if prefetch is not None:
                snapshot = prefetch.result()
                if snapshot is not None:  # paint it now; the real plan is compiled right after
                    return Loaded(snapshot, None, self._empty(snapshot), time.perf_counter() - started)
            if not self.manifests.exists():
                error = f"{self.manifests}: no such file or directory"
                return Loaded(None, None, error, time.perf_counter() - started)
            with self._compile_lock:  # one compile at a time: the compiler's caches are not shared
                if self._compiler is None:
                    from floe_tui.governance import Compiler

                    self._compiler = Compiler(self._plugins)
                plan = self._compiler.compile(self.manifests)
                changes = self._changes(plan) if self.diff_base is not None else None
            return Loaded(plan, plan, self._empty(plan), time.perf_counter() - started, changes)
        except Exception as exc:  # a compiler bug must not take the console down: show it
            message = f"cannot load the manifests: {type(exc).__name__}: {exc}"
            return Loaded(None, None, message, time.perf_counter() - started)

    def _empty(self, plan: PlanModel) -> str | None:
        """The problem with a plan (or snapshot) of no floe manifest at all, else None."""
        return None if plan.floe_files else f"no floe manifest under {self.manifests}"

    def _changes(self, plan: Plan) -> dict[tuple[str, ...], NodeChange]:
        """What differs from BASE (compiled once: it is the other checkout, not the one edited)."""
        from floe_tui.governance import Compiler
        from floe_tui.governance.diff import diff_plans, node_changes

        assert self.diff_base is not None
        if self._base is None:
            self._base = Compiler(self._plugins).compile(self.diff_base)
        diff = diff_plans(self._base, plan, [self.env], str(self.diff_base), str(self.manifests))
        return node_changes(diff)

    # -- taking a result in (the owner's thread) ---------------------------------------------
    def apply(self, loaded: Loaded) -> Applied:
        """Take a `load()` result in; a failed load keeps the plan shown before (and its engines)."""
        snapshot = loaded.plan is not None and loaded.compiled is None
        first = not snapshot and not self._loaded_for_real
        self.error = loaded.error
        self.seconds = loaded.seconds
        if loaded.plan is not None:
            self.model = loaded.plan
            self.compiled = loaded.compiled
            if loaded.changes is not None:
                self.changes = loaded.changes
        self.generation += 1
        notice = None
        plan = self.model
        if plan is not None and plan.environments and self.env not in plan.environments:
            fallback = plan.environments[0]
            notice = (
                f"unknown environment `{self.env}`; showing `{fallback}` "
                f"(environments: {', '.join(plan.environments)})"
            )
            self.env = fallback
        if plan is not None and self.selected_product is not None:
            self.selected_product = plan.product(self.selected_product.qualified_name)
        self._awaiting_compile = snapshot
        if not snapshot:
            self._loaded_for_real = True
        reloaded = not first and not snapshot
        return Applied(compile_next=snapshot, first=first, reloaded=reloaded, env_notice=notice)

    def select_product(self, product: Level | None) -> None:
        self.selected_product = product

    # -- watching ----------------------------------------------------------------------------
    def watch(self, on_change: Callable[[], None], interval_s: float = WATCH_INTERVAL_S) -> threading.Thread:
        """Poll the manifests' files on a thread; `on_change` is called there when they change."""
        last = self.signature()  # taken here: a change made right after this call is seen
        thread = threading.Thread(
            target=self._watch, args=(on_change, interval_s, last), name="floe-watch", daemon=True
        )
        thread.start()
        return thread

    def _watch(self, on_change: Callable[[], None], interval_s: float, last: Signature) -> None:
        wait_s = interval_s
        while not self._stop.wait(wait_s):
            started = time.thread_time()
            current = self.signature()
            # On a tree so big that a check is costly, checks are spaced out to stay within
            # WATCH_CPU_SHARE of a core (2,000 products: every 2 s).
            wait_s = max(interval_s, (time.thread_time() - started) / WATCH_CPU_SHARE)
            if current != last:
                last = current
                on_change()

    def signature(self) -> Signature:
        model = self.model
        return manifest_signature(self.manifests, model.level_files() if model is not None else ())

    def stop(self) -> None:
        """Stop watching, and the snapshot helper if it still runs."""
        self._stop.set()
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None:
            prefetch.cancel()
