"""The plan's plain data: diagnostics, levels, transforms. Stdlib only, imports nothing of floe_tui.

One model for two sources. The compiler (`floe_tui.governance`) fills these classes, and so does
the console's first-paint snapshot (`floe_tui.console.snapshot`), which must not load the
compiler, pydantic or YAML: the snapshot is painted while the compiler is still being imported.
So the governance screen reads one type whatever its source, and this module stays a leaf.

`floe_tui.governance` re-exports every name here; `governance.Plan` extends `PlanModel` with what
only a compiled plan has (the targets' configurations, the plugins, `registry()`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

Provenance = Literal["explicit", "product-default", "domain-default", "enterprise-default"]
Scope = Literal["enterprise", "domain", "product"]
#: A diagnostic's numbered source lines, as the console shows them (secrets already masked).
Excerpt = tuple[tuple[int, str], ...]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


#: code -> (severity, what it means). Codes never change meaning; new ones are added.
CATALOGUE: dict[str, tuple[Severity, str]] = {
    "FLOE-E100": (Severity.ERROR, "YAML syntax error"),
    "FLOE-E101": (Severity.ERROR, "schema error"),
    "FLOE-E102": (Severity.ERROR, "file unreadable or unsafe"),
    "FLOE-E200": (Severity.ERROR, "parent or platform manifest not found"),
    "FLOE-E201": (Severity.ERROR, "inheritance cycle"),
    "FLOE-E202": (Severity.ERROR, "scope mismatch"),
    "FLOE-E203": (Severity.ERROR, "duplicate name"),
    "FLOE-E300": (Severity.ERROR, "transform compute not approved for its product"),
    "FLOE-E301": (Severity.ERROR, "compute outside the parent's approved set"),
    "FLOE-E302": (Severity.ERROR, "default compute not approved at this level"),
    "FLOE-E303": (Severity.ERROR, "compute plugin not installed"),
    "FLOE-E304": (Severity.ERROR, "connection invalid for the plugin"),
    "FLOE-E305": (Severity.ERROR, "literal secret in a manifest"),
    "FLOE-E400": (Severity.ERROR, "environment parity broken"),
    "FLOE-E401": (Severity.ERROR, "environment override changes a plugin"),
    "FLOE-E402": (Severity.ERROR, "unknown environment"),
    "FLOE-W500": (Severity.WARNING, "approved compute used by no transform"),
}

DIAGNOSTIC_FIELDS = ("code", "severity", "message", "file", "line", "column", "hint")


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem in the manifests (DESIGN section 3): a stable public contract."""

    code: str
    severity: Severity
    message: str
    file: str
    line: int
    column: int
    hint: str

    @classmethod
    def make(cls, code: str, message: str, file: str, position: tuple[int, int], hint: str) -> Diagnostic:
        """The severity comes from the catalogue; an unknown code raises KeyError."""
        return cls(code, CATALOGUE[code][0], message, file, position[0], position[1], hint)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def meaning(self) -> str:
        """What the code means, from the catalogue."""
        return CATALOGUE.get(self.code, (None, ""))[1]

    def format(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.code} {self.severity}: {self.message} (hint: {self.hint})"

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in DIAGNOSTIC_FIELDS} | {"severity": str(self.severity)}

    # The names of the pydantic model a Diagnostic was before it became plain data: kept, so that
    # callers of `model_dump()` and `model_dump_json()` keep working.
    def model_dump(self, mode: str = "python") -> dict[str, Any]:
        data = self.to_dict()
        if mode != "json":
            data["severity"] = self.severity
        return data

    def model_dump_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))


def sort_key(diagnostic: Diagnostic) -> tuple[str, int, int, str]:
    return (diagnostic.file, diagnostic.line, diagnostic.column, diagnostic.code)


@dataclass(slots=True)
class TransformPlan:
    """One transform's resolved compute: a plain slotted record, as a plan holds 100,000s of them
    (not frozen: a frozen dataclass's `__init__` sets each field through `object.__setattr__`,
    which made building them a tenth of a 100,000-transform validation)."""

    domain: str | None
    product: str
    transform: str
    compute: str | None
    source: Provenance | None
    environments: dict[str, str | None]
    file: str
    line: int

    def output(self, environment: str) -> str | None:
        """The dbt output this transform runs on in `environment`."""
        compute = self.environments.get(environment)
        return f"{environment}_{compute}" if compute else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "product": self.product,
            "transform": self.transform,
            "compute": self.compute,
            "source": self.source,
            "environments": dict(self.environments),
            "file": self.file,
            "line": self.line,
        }


@dataclass
class Level:
    """One node of the governance tree, as the console and `plan` show it."""

    scope: Scope
    name: str
    file: str
    path: Path
    #: Position of `metadata.name`, where the console jumps and duplicates are reported.
    line: int
    column: int
    approved: list[str]
    default: str | None
    default_declared_by: Scope | None
    owner: str | None = None
    parent: Level | None = None
    children: list[Level] = field(default_factory=list)
    transforms: list[TransformPlan] = field(default_factory=list)

    @property
    def qualified_name(self) -> str:
        if self.scope == "product" and self.parent is not None and self.parent.scope == "domain":
            return f"{self.parent.name}/{self.name}"
        return self.name


@dataclass(kw_only=True)
class PlanModel:
    """What the console shows of a plan; a compiled `governance.Plan` is one, and so is a snapshot."""

    root: Path
    environments: list[str]
    diagnostics: list[Diagnostic]
    enterprises: list[Level]
    transforms: list[TransformPlan]
    #: environment -> the names of the approved targets usable there.
    target_names: dict[str, list[str]]
    query_timeout_s: float
    floe_files: int
    #: The source lines around each diagnostic, where they were read ahead (a snapshot reads them
    #: in its helper process); otherwise the console reads them when it shows the diagnostic.
    excerpts: dict[Diagnostic, Excerpt] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    def levels(self, scope: Scope) -> list[Level]:
        found: list[Level] = []
        stack = list(self.enterprises)
        while stack:
            level = stack.pop(0)
            if level.scope == scope:
                found.append(level)
            stack.extend(level.children)
        return found

    def product(self, name: str) -> Level | None:
        """A product by name, or `domain/product` where names repeat across domains."""
        matches = [p for p in self.levels("product") if name in (p.name, p.qualified_name)]
        return matches[0] if len(matches) == 1 else None

    def level_files(self) -> set[Path]:
        """The file of every level (parents may live outside the root)."""
        found: set[Path] = set()
        stack = list(self.enterprises)
        while stack:
            level = stack.pop()
            found.add(Path(level.path))
            stack.extend(level.children)
        return found


def enterprise_part(plan: PlanModel, enterprise: Level) -> str:
    """An enterprise's node key part: its name, or name@file where several trees share one (broken/).

    One definition for the console's tree and the plan diff, whose node keys must be the same.
    """
    twins = sum(e.name == enterprise.name for e in plan.enterprises)
    part = f"enterprise:{enterprise.name}"
    return part if twins == 1 else f"{part}@{enterprise.file}"
