"""A plain-data picture of a compiled plan, made in a second process for the console's first paint.

Loading the governance compiler (pydantic models, YAML, the plugin registry) costs about as much
CPU as loading Textual, and in one process the two would take turns on the GIL. So `floe-tui`
starts ``python -m floe_tui.tui.snapshot PATH`` before it imports Textual: the manifests compile
on the other core while Textual starts, and the first tree is painted from this snapshot (JSON
on stdout). The real plan is compiled in the console right after the first paint and replaces
the snapshot; engines are only ever built from the real one.

The classes below carry the attribute names of `Plan`, `Level`, `TransformPlan` and `Diagnostic`
that the governance screen reads, nothing more. No Textual and no governance import here, so
reading a snapshot costs only `json`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXCERPT_CONTEXT = 3
TRANSFORM_FIELDS = ("domain", "product", "transform", "compute", "source", "environments", "file", "line")
DIAGNOSTIC_FIELDS = ("code", "message", "file", "line", "column", "hint")


@dataclass
class LightTransform:
    domain: str | None
    product: str
    transform: str
    compute: str | None
    source: str | None
    environments: dict[str, str | None]
    file: str
    line: int

    def output(self, environment: str) -> str | None:
        compute = self.environments.get(environment)
        return f"{environment}_{compute}" if compute else None


@dataclass
class LightLevel:
    scope: str
    name: str
    file: str
    path: Path
    line: int
    column: int
    approved: list[str]
    default: str | None
    default_declared_by: str | None
    owner: str | None = None
    parent: LightLevel | None = None
    children: list[LightLevel] = field(default_factory=list)
    transforms: list[LightTransform] = field(default_factory=list)

    @property
    def qualified_name(self) -> str:
        if self.scope == "product" and self.parent is not None and self.parent.scope == "domain":
            return f"{self.parent.name}/{self.name}"
        return self.name


@dataclass(frozen=True)
class LightDiagnostic:
    code: str
    severity: str
    message: str
    file: str
    line: int
    column: int
    hint: str
    meaning: str = ""
    excerpt: tuple[tuple[int, str], ...] = ()

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


@dataclass(frozen=True)
class TargetName:
    name: str


@dataclass
class LightPlan:
    """Enough of a `Plan` to paint the governance screen; `light` tells the app it is one."""

    root: Path
    environments: list[str]
    diagnostics: list[LightDiagnostic]
    enterprises: list[LightLevel]
    targets: dict[str, list[TargetName]]
    query_timeout_s: float
    floe_files: int
    light: bool = True

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    def levels(self, scope: str) -> list[LightLevel]:
        found: list[LightLevel] = []
        stack = list(self.enterprises)
        while stack:
            level = stack.pop(0)
            if level.scope == scope:
                found.append(level)
            stack.extend(level.children)
        return found

    def product(self, name: str) -> LightLevel | None:
        matches = [p for p in self.levels("product") if name in (p.name, p.qualified_name)]
        return matches[0] if len(matches) == 1 else None


# -- writing (in the helper process: imports the compiler) -------------------------------------
def dump(path: Path) -> dict[str, Any]:
    from floe_tui.governance import CATALOGUE, Compiler
    from floe_tui.governance.diagnostics import excerpt

    plan = Compiler().compile(path)
    base = plan.root if plan.root.is_dir() else plan.root.parent

    def level(node: Any) -> dict[str, Any]:
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
                "severity": str(getattr(d.severity, "value", d.severity)),
                "meaning": CATALOGUE.get(d.code, (None, ""))[1],
                "excerpt": excerpt(base / d.file, d.line, EXCERPT_CONTEXT),
            }
            for d in plan.diagnostics
        ],
        "enterprises": [level(e) for e in plan.enterprises],
        "targets": {env: [c.name for c in configs] for env, configs in plan.targets.items()},
        "query_timeout_s": plan.query_timeout_s,
        "floe_files": plan.floe_files,
    }


# -- reading (in the console: json only) -------------------------------------------------------
def load(data: dict[str, Any]) -> LightPlan:
    def level(item: dict[str, Any], parent: LightLevel | None) -> LightLevel:
        node = LightLevel(
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
        node.transforms = [LightTransform(**t) for t in item["transforms"]]
        node.children = [level(child, node) for child in item["children"]]
        return node

    return LightPlan(
        root=Path(data["root"]),
        environments=list(data["environments"]),
        diagnostics=[
            LightDiagnostic(**{**d, "excerpt": tuple((int(n), str(s)) for n, s in d["excerpt"])})
            for d in data["diagnostics"]
        ],
        enterprises=[level(e, None) for e in data["enterprises"]],
        targets={env: [TargetName(n) for n in names] for env, names in data["targets"].items()},
        query_timeout_s=float(data["query_timeout_s"]),
        floe_files=int(data["floe_files"]),
    )


def main() -> int:
    path = Path(sys.argv[1])
    if not path.exists():
        return 2  # the console reports it, in its own words
    json.dump(dump(path), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def is_light(plan: object) -> bool:
    """True for the snapshot painted first, False for a real Plan."""
    return bool(getattr(plan, "light", False))
