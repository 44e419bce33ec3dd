"""What each headless sub-command does; `cli` parses arguments and maps errors to exit codes."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from floe_tui.compute import (
    ComputeError,
    ComputePlugin,
    ComputeRegistry,
    HealthState,
    HealthStatus,
    QueryHandle,
    UnknownComputeError,
)
from floe_tui.exits import EXIT_CANCELLED, EXIT_OK, EXIT_PROBLEM, EXIT_TIMED_OUT, UsageError
from floe_tui.governance import Compiler, Diagnostic, Level, Plan, default_manifests

if TYPE_CHECKING:
    from collections.abc import Iterator

    from floe_tui.console.queries import Finished, Page, QueryRun

TABLE_ROWS = 1000
#: The transform fields of `validate --format json` (DESIGN section 4).
VALIDATE_FIELDS = ("domain", "product", "transform", "compute", "source", "environments")


# -- loading -------------------------------------------------------------------------------
def load_plan(args: argparse.Namespace, path: Path | None = None) -> Plan:
    target = path or args.manifests or default_manifests()
    if not target.exists():
        raise UsageError(f"{target}: no such file or directory", "pass -m with a manifest directory or file")
    compiler = Compiler()
    plan = compiler.compile(target)
    args.kept.append(compiler)  # its parsed files: freed with `args` (`cli.run` skips that)
    if plan.floe_files == 0:
        raise UsageError(f"no floe manifest under {target}", "point -m at a directory with floe manifests")
    return plan


def environment(args: argparse.Namespace, plan: Plan) -> str:
    env: str = args.env or os.environ.get("FLOE_ENV") or "dev"
    if plan.environments and env not in plan.environments:
        raise UsageError(f"unknown environment `{env}`", f"environments are: {', '.join(plan.environments)}")
    return env


def find_product(plan: Plan, name: str) -> Level:
    product = plan.product(name)
    if product is None:
        known = sorted(p.qualified_name for p in plan.levels("product"))
        raise UsageError(f"no single product named `{name}`", f"products: {', '.join(known) or 'none'}")
    return product


def print_diagnostics(diagnostics: list[Diagnostic], stream: Any = sys.stderr) -> None:
    for diagnostic in diagnostics:
        print(diagnostic.format(), file=stream)


def _summary(plan: Plan) -> str:
    errors = sum(d.is_error for d in plan.diagnostics)
    warnings = len(plan.diagnostics) - errors
    return f"{errors} error(s), {warnings} warning(s) in {plan.floe_files} file(s)"


# -- validate and plan ---------------------------------------------------------------------
def run_validate(args: argparse.Namespace) -> int:
    plan = load_plan(args, args.path)
    environment(args, plan)
    if args.format == "json":
        print(json.dumps(validation_document(plan), indent=2))
    elif args.format in ("github", "sarif", "junit"):
        from floe_tui.reports import ci_report

        sys.stdout.write(ci_report(plan, args.format))
    else:
        print_diagnostics(plan.diagnostics, sys.stdout)
        print(("ok: " if plan.ok else "failed: ") + _summary(plan))
    return EXIT_OK if plan.ok else EXIT_PROBLEM


def run_diff(args: argparse.Namespace) -> int:
    """`floe-tui diff BASE HEAD`: exit 0 when HEAD has no error diagnostic, 1 when it has."""
    from floe_tui.governance.diff import diff_plans, plan_environments
    from floe_tui.reports import diff_text

    for path in (args.base, args.head):
        if not path.exists():
            raise UsageError(
                f"{path}: no such file or directory", "pass BASE and HEAD as manifest directories or files"
            )
    base, head = load_plan(args, args.base), load_plan(args, args.head)
    known = plan_environments(base, head)
    if args.all_envs:
        environments = known
    else:
        env: str = args.env or os.environ.get("FLOE_ENV") or "dev"
        if known and env not in known:
            raise UsageError(f"unknown environment `{env}`", f"environments are: {', '.join(known)}")
        environments = [env]
    diff = diff_plans(base, head, environments, str(args.base), str(args.head))
    sys.stdout.write(diff.model_dump_json(indent=2) + "\n" if args.format == "json" else diff_text(diff))
    return EXIT_OK if diff.ok else EXIT_PROBLEM


def validation_document(plan: Plan) -> dict[str, Any]:
    return {
        "ok": plan.ok,
        "diagnostics": [d.model_dump(mode="json") for d in plan.diagnostics],
        "transforms": [
            {key: record[key] for key in VALIDATE_FIELDS} for record in (t.to_dict() for t in plan.transforms)
        ],
    }


def run_plan(args: argparse.Namespace) -> int:
    plan = load_plan(args)
    env = environment(args, plan)
    transforms = plan.transforms
    if args.product:
        product = find_product(plan, args.product)
        transforms = product.transforms
    if args.format == "json":
        documents = [{**t.to_dict(), "output": t.output(env)} for t in transforms]
        print(json.dumps({"ok": plan.ok, "environment": env, "transforms": documents}, indent=2))
    else:
        header = ("domain", "product", "transform", "compute", "source", "dbt output")
        rows = [
            (t.domain or "-", t.product, t.transform, t.compute or "?", t.source or "-", t.output(env) or "-")
            for t in transforms
        ]
        print(f"plan for {env}")
        print_columns(header, rows)
        print_diagnostics([d for d in plan.diagnostics if d.is_error])
    return EXIT_OK if plan.ok else EXIT_PROBLEM


# -- profiles ------------------------------------------------------------------------------
def run_profiles(args: argparse.Namespace) -> int:
    from floe_tui.profiles import build_profile, missing_secrets, write_profile

    plan = load_plan(args)
    env = environment(args, plan)
    product = find_product(plan, args.product)
    own_errors = [d for d in plan.diagnostics if d.is_error and d.file in _files_of(product)]
    if own_errors:
        print_diagnostics(own_errors)
        print(f"error: product `{product.name}` has errors; profiles.yml not written", file=sys.stderr)
        return EXIT_PROBLEM
    try:
        profile = build_profile(plan, product, env)
        path = write_profile(args.output_dir, product.name, profile)
    except ComputeError as exc:
        return _fail(exc)
    except OSError as exc:
        raise UsageError(
            f"cannot write to {args.output_dir}: {exc.strerror}", "pass -o with a writable directory"
        ) from None
    outputs = ", ".join(profile["outputs"])
    print(f"wrote profile `{product.name}` to {path} (target {profile['target']}; outputs {outputs})")
    for problem in missing_secrets(plan, product):
        print(f"warning: {problem}; dbt will need it (hint: export it where dbt runs)", file=sys.stderr)
    return EXIT_OK


def _files_of(level: Level) -> set[str]:
    files = set()
    node: Level | None = level
    while node is not None:
        files.add(node.file)
        node = node.parent
    return files


# -- health --------------------------------------------------------------------------------
def run_health(args: argparse.Namespace) -> int:
    plan = load_plan(args)
    env = environment(args, plan)
    try:
        registry, names = chosen_targets(plan, env, args.compute)
    except ComputeError as exc:
        return _fail(exc)
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as workers:
        results = list(workers.map(lambda name: (name, _health_round(registry.get(name))), names))
    registry.close()
    if args.format == "json":
        print(json.dumps({name: status.model_dump(mode="json") for name, status in results}, indent=2))
    else:
        for name, status in results:
            mark = {"healthy": "OK ", "degraded": "WARN", "unhealthy": "FAIL"}[status.status.value]
            latency = f"{status.latency_ms:.1f} ms" if status.latency_ms is not None else "-"
            print(f"[{mark}] {name:<16} {status.status.value:<10} {latency:>10}  {status.message}")
    healthy = all(status.status is HealthState.HEALTHY for _, status in results)
    return EXIT_OK if healthy else EXIT_PROBLEM


def _health_round(plugin: ComputePlugin) -> HealthStatus:
    """Connect within connect_timeout_s (a cold start is not a failed check), then one check."""
    try:
        plugin.connect()
    except ComputeError as exc:
        return HealthStatus(status=HealthState.UNHEALTHY, message=f"{exc.code}: {exc.message}")
    return plugin.health_check(timeout=10)


def chosen_targets(plan: Plan, env: str, compute: str | None) -> tuple[ComputeRegistry, list[str]]:
    """The registry of `env` and the targets `--compute` names (all approved ones without it)."""
    registry = plan.registry(env)
    return registry, [select_target(plan, registry, compute)] if compute else list(registry.names)


def select_target(plan: Plan, registry: ComputeRegistry, name: str | None) -> str:
    """The target to use, telling "not approved" apart from "approved but misconfigured"."""
    approved = {n for level in plan.enterprises for n in level.approved}
    if name is not None and name in approved and name not in registry:
        raise ComputeError(
            f"target `{name}` has configuration errors", "run `floe-tui validate` and fix them"
        )
    try:
        return registry.validate_selection(name)
    except UnknownComputeError as exc:  # a bad argument, not a problem of the manifests: exit 2
        raise UsageError(exc.message, exc.hint) from None


# -- query ---------------------------------------------------------------------------------
def run_query(args: argparse.Namespace) -> int:
    sql = sys.stdin.read() if args.sql == "-" else args.sql
    if not sql.strip():
        raise UsageError("no SQL given", "pass the SQL as an argument, or - to read it from stdin")
    plan = load_plan(args)
    env = environment(args, plan)
    product = find_product(plan, args.product) if args.product else None
    try:
        registry = plan.registry(env, product)
    except ComputeError as exc:
        return _fail(exc)
    try:
        target = select_target(plan, registry, args.compute)
        plugin = registry.get(target)
    except ComputeError as exc:
        registry.close()
        return _fail(exc)
    import time

    from floe_tui.console.queries import QueryRun, stream

    limit = args.limit if args.limit is not None else (TABLE_ROWS if args.format == "table" else None)
    # The console's query stream (connect, execute, growing pages, one outcome), printed.
    run = QueryRun(1, target, sql, limit, args.timeout or plan.query_timeout_s, started=time.monotonic())
    try:
        finished = _print_rows(run, stream(run, plugin), args.format)
    except KeyboardInterrupt:
        if run.handle is not None:
            run.handle.cancel()
            run.handle.wait(10)
        unconfirmed = _unconfirmed(run.handle) if run.handle is not None else ""
        print(f"error: query cancelled{unconfirmed}", file=sys.stderr)
        return EXIT_CANCELLED
    finally:
        registry.close()
    unconfirmed = _unconfirmed(run.handle) if run.handle is not None else ""
    if finished.outcome == "timed_out":
        print(f"error: {finished.message}{unconfirmed}", file=sys.stderr)
        return EXIT_TIMED_OUT
    if finished.outcome == "cancelled":
        print(f"error: query cancelled{unconfirmed}", file=sys.stderr)
        return EXIT_CANCELLED
    if finished.outcome != "completed":
        if finished.error is not None:
            return _fail(finished.error)
        print(f"error: {finished.message}", file=sys.stderr)  # an engine's own exception
        return EXIT_PROBLEM
    if finished.truncated:
        print(f"note: showing the first {finished.rows} rows of more (raise --limit)", file=sys.stderr)
    return EXIT_OK


def _unconfirmed(handle: QueryHandle) -> str:
    return " (the engine did not confirm it stopped)" if handle.stop_confirmed is False else ""


def _print_rows(run: QueryRun, items: Iterator[Page | Finished], form: str) -> Finished:
    """Print the pages of a query stream as they come (a table once all are in); its Finished."""
    from floe_tui.console.queries import Finished, stats_summary

    pages: list[Page] = []
    finished: Finished | None = None
    writer = csv.writer(sys.stdout)
    started = False  # csv: the header is out; json: the opening bracket is
    first_row = True
    for item in items:
        if isinstance(item, Finished):
            finished = item
        elif form == "table":
            pages.append(item)
        elif form == "csv":
            if not started:  # the columns are known once a page (or the end) is in
                writer.writerow([name for name, _ in item.columns])
                started = True
            writer.writerows(list(row.values()) for row in item.table.to_pylist())
        else:
            if not started:
                sys.stdout.write("[")
                started = True
            for row in item.table.to_pylist():
                sys.stdout.write(("" if first_row else ",") + "\n  " + json.dumps(row, default=str))
                first_row = False
    if finished is None:  # a stream always ends in its outcome
        raise RuntimeError("the query stream ended without an outcome")
    if finished.outcome != "completed":
        return finished  # rows already written stay; the caller says what went wrong
    if form == "table":
        rows = [
            tuple("NULL" if v is None else str(v) for v in row.values())
            for page in pages
            for row in page.table.to_pylist()
        ]
        print_columns(tuple(name for name, _ in finished.columns), rows)
        sys.stdout.flush()
        stats = run.handle.stats if run.handle is not None else None
        summary = stats_summary(stats)
        note = f" ({summary})" if summary else ""
        print(f"{finished.rows} row(s) in {finished.elapsed_s:.3f} s{note}", file=sys.stderr)
    elif form == "csv" and not started:
        writer.writerow([name for name, _ in finished.columns])
    elif form == "json":
        sys.stdout.write("" if started else "[")
        sys.stdout.write("\n]\n" if not first_row else "]\n")
    return finished


def print_columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Aligned plain-text columns: readable in a terminal, greppable in a pipe."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    for line in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _fail(exc: ComputeError) -> int:
    print(f"error: {exc.message} (hint: {exc.hint})", file=sys.stderr)
    return EXIT_PROBLEM


# -- monitor -------------------------------------------------------------------------------
def run_monitor(args: argparse.Namespace) -> int:
    """The dashboard's monitor without a screen: JSON lines on stdout until SIGTERM or SIGINT."""
    import signal
    import threading

    from floe_tui.console.engines import Engines
    from floe_tui.monitor import MonitorEvent

    plan = load_plan(args)
    env = environment(args, plan)
    try:
        registry, names = chosen_targets(plan, env, args.compute)
    except ComputeError as exc:
        return _fail(exc)
    registry.close()
    if not names:
        raise UsageError(f"no approved target to monitor in {env}", "approve a compute target")
    lock = threading.Lock()

    def emit(event: MonitorEvent) -> None:  # on monitor threads: one whole line at a time
        line = json.dumps(monitor_line(event))
        with lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    engines = Engines(
        plan, env, on_sample=lambda sample: None, on_event=emit, interval_s=args.interval, targets=names
    )
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if engines.ensure_monitor() is None:
            return _fail(ComputeError(engines.error or "no target can be monitored"))
        stop.wait()
    finally:
        engines.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


def monitor_line(event: Any) -> dict[str, Any]:
    """One event as `floe-tui monitor` prints it (DESIGN section 9)."""
    line: dict[str, Any] = {
        "at": event.at.isoformat(timespec="milliseconds"),
        "target": event.target,
        "kind": event.kind,
        "message": event.message,
    }
    if event.status is not None:
        line["status"] = event.status
    return line
