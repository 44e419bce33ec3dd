"""The first-paint snapshot: a compiled plan as JSON, made in a second process, read back cheaply.

Loading the governance compiler (pydantic models, YAML, the plugin registry) costs about as much
CPU as loading Textual, and in one process the two would take turns on the GIL. So `floe-tui`
starts ``python -m floe_tui.console.snapshot PATH`` before it imports Textual: the manifests
compile on the other core while Textual starts, and the first tree is painted from this snapshot
(JSON on stdout). The real plan is compiled in the console right after the first paint and
replaces the snapshot; engines are only ever built from the real one.

A snapshot reads back into the plan's own classes (`floe_tui.planmodel`, plain data), with the
diagnostics' source lines read ahead (secrets masked) in `PlanModel.excerpts`. Reading one
costs `json` and that leaf module: no compiler, no pydantic, no Textual.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from floe_tui.planmodel import Diagnostic, Level, PlanModel, Severity, TransformPlan

EXCERPT_CONTEXT = 3
TRANSFORM_FIELDS = ("domain", "product", "transform", "compute", "source", "environments", "file", "line")
DIAGNOSTIC_FIELDS = ("code", "message", "file", "line", "column", "hint")


# -- writing (in the helper process: imports the compiler) -------------------------------------
def dump(path: Path) -> dict[str, Any]:
    """Compile the manifests at `path` and return the snapshot's JSON document."""
    from floe_tui.governance import Compiler
    from floe_tui.governance.diagnostics import excerpt

    plan = Compiler().compile(path)
    base = plan.root if plan.root.is_dir() else plan.root.parent
    excerpts = {d: tuple(excerpt(base / d.file, d.line, EXCERPT_CONTEXT)) for d in plan.diagnostics}
    return to_document(plan, excerpts)


def to_document(plan: PlanModel, excerpts: dict[Diagnostic, tuple[tuple[int, str], ...]]) -> dict[str, Any]:
    def level(node: Level) -> dict[str, Any]:
        return {
            "scope": node.scope,
            "name": node.name,
            "file": node.file,
            "path": str(node.path),
            "line": node.line,
            "column": node.column,
            "approved": list(node.approved),
            "default": node.default,
            "default_declared_by": node.default_declared_by,
            "owner": node.owner,
            "children": [level(child) for child in node.children],
            "transforms": [{name: getattr(t, name) for name in TRANSFORM_FIELDS} for t in node.transforms],
        }

    return {
        "root": str(plan.root),
        "environments": list(plan.environments),
        "diagnostics": [
            {
                **{name: getattr(d, name) for name in DIAGNOSTIC_FIELDS},
                "severity": str(d.severity),
                "excerpt": [list(line) for line in excerpts.get(d, ())],
            }
            for d in plan.diagnostics
        ],
        "enterprises": [level(e) for e in plan.enterprises],
        "targets": {env: list(names) for env, names in plan.target_names.items()},
        "query_timeout_s": plan.query_timeout_s,
        "floe_files": plan.floe_files,
    }


# -- reading (in the console: json and plain data only) ----------------------------------------
def load(data: dict[str, Any]) -> PlanModel:
    """The snapshot as a `PlanModel`; raises ValueError, KeyError or TypeError on a bad document."""
    transforms: list[TransformPlan] = []

    def level(item: dict[str, Any], parent: Level | None) -> Level:
        node = Level(
            scope=item["scope"],
            name=item["name"],
            file=item["file"],
            path=Path(item["path"]),
            line=item["line"],
            column=item["column"],
            approved=list(item["approved"]),
            default=item["default"],
            default_declared_by=item["default_declared_by"],
            owner=item["owner"],
            parent=parent,
        )
        node.transforms = [TransformPlan(**t) for t in item["transforms"]]
        transforms.extend(node.transforms)
        node.children = [level(child, node) for child in item["children"]]
        return node

    diagnostics: list[Diagnostic] = []
    excerpts: dict[Diagnostic, tuple[tuple[int, str], ...]] = {}
    for item in data["diagnostics"]:
        diagnostic = Diagnostic(
            **{name: item[name] for name in DIAGNOSTIC_FIELDS}, severity=Severity(item["severity"])
        )
        diagnostics.append(diagnostic)
        excerpts[diagnostic] = tuple((int(number), str(text)) for number, text in item["excerpt"])
    enterprises = [level(e, None) for e in data["enterprises"]]
    return PlanModel(
        root=Path(data["root"]),
        environments=list(data["environments"]),
        diagnostics=diagnostics,
        enterprises=enterprises,
        transforms=transforms,
        target_names={str(env): [str(n) for n in names] for env, names in data["targets"].items()},
        query_timeout_s=float(data["query_timeout_s"]),
        floe_files=int(data["floe_files"]),
        excerpts=excerpts,
    )


def main() -> int:
    path = Path(sys.argv[1])
    if not path.exists():
        return 2  # the console reports it, in its own words
    # This process only prints a snapshot; the console compiles the real plan itself. Looking for
    # pydantic plugins (reading every installed package's entry points) was 3% of its work.
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    json.dump(dump(path), sys.stdout)
    return 0


if __name__ == "__main__":
    from floe_tui.exits import exit_now

    exit_now(main())  # the console waits for this process to end: no teardown
