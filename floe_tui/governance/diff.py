"""What a change to the manifests does to the plan: `floe-tui diff BASE HEAD` and the console's
`--diff BASE` share this (issue 15). Textual-free; compares two compiled plans, reads no file.

Levels and transforms are matched by name (an enterprise by position when each tree has one, so two
trees with different enterprise names still diff). A transform that changed names the level whose
own change caused it: the topmost level on its chain whose manifest (not an inherited value)
changed in a way that matters to it, or the transform's own entry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict

from floe_tui.governance import Diagnostic, Level, Plan, TransformPlan
from floe_tui.planmodel import enterprise_part

NodeKey = tuple[str, ...]
Provenance = Literal["explicit", "product-default", "domain-default", "enterprise-default"]
Scope = Literal["enterprise", "domain", "product"]
Status = Literal["added", "removed", "changed"]
CauseScope = Literal["enterprise", "domain", "product", "transform"]
#: The level a provenance names (the one that declared the default a transform fell back to).
PROVENANCE_SCOPE: dict[str, Scope] = {
    "product-default": "product",
    "domain-default": "domain",
    "enterprise-default": "enterprise",
}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Resolution(_Model):
    """A transform's compute, dbt output and provenance in one environment (None: unresolved)."""

    compute: str | None
    output: str | None
    source: Provenance | None


class EnvironmentChange(_Model):
    environment: str
    old: Resolution
    new: Resolution


class Cause(_Model):
    """The level (or the transform's own entry) whose change moved a transform."""

    scope: CauseScope
    #: a level's qualified name (`sales/orders` for a product), or the transform's name
    name: str
    #: the node as the console keys it, e.g. ["enterprise:acme", "domain:sales"]
    path: list[str]
    #: the file that changed, as HEAD names it (BASE's for a level that is gone)
    file: str
    reason: str


class TransformRef(_Model):
    """An added (HEAD's values) or removed (BASE's values) transform."""

    path: list[str]
    domain: str | None
    product: str
    transform: str
    compute: str | None
    source: Provenance | None
    environments: dict[str, str | None]
    file: str
    line: int


class TransformChange(_Model):
    path: list[str]
    domain: str | None
    product: str
    transform: str
    #: HEAD's file and line of the transform's name
    file: str
    line: int
    #: one entry per compared environment where compute, dbt output or provenance differ
    changes: list[EnvironmentChange]
    cause: Cause
    #: every reason on the way, then what it means, e.g. "domain sales no longer approves spark;
    #: fct_orders falls back to the domain default (duckdb)"
    explanation: str


class ApprovedChange(_Model):
    old: list[str]
    new: list[str]
    added: list[str]
    removed: list[str]


class DefaultChange(_Model):
    old: str | None
    new: str | None
    old_declared_by: Scope | None
    new_declared_by: Scope | None


class LevelChange(_Model):
    path: list[str]
    scope: Scope
    name: str
    status: Status
    file: str
    #: None: unchanged
    approved: ApprovedChange | None
    default: DefaultChange | None
    #: every change here comes from a level above (this level's own manifest did not cause it)
    inherited: bool


class TransformChanges(_Model):
    added: list[TransformRef]
    removed: list[TransformRef]
    changed: list[TransformChange]


class DiagnosticEntry(_Model):
    """A diagnostic as `validate --format json` prints it."""

    code: str
    severity: Literal["error", "warning"]
    message: str
    file: str
    line: int
    column: int
    hint: str

    @classmethod
    def of(cls, d: Diagnostic) -> DiagnosticEntry:
        severity: Literal["error", "warning"] = "error" if d.is_error else "warning"
        return cls(
            code=d.code,
            severity=severity,
            message=d.message,
            file=d.file,
            line=d.line,
            column=d.column,
            hint=d.hint,
        )

    def format(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.code} {self.severity}: {self.message} (hint: {self.hint})"


class DiagnosticChanges(_Model):
    #: in HEAD, not in BASE (HEAD's positions)
    introduced: list[DiagnosticEntry]
    #: in BASE, not in HEAD (BASE's positions: they are gone from HEAD)
    fixed: list[DiagnosticEntry]


class Enterprises(_Model):
    base: list[str]
    head: list[str]


class PlanDiff(_Model):
    """`floe-tui diff --format json`: a stable shape (README, "Reviewing a change")."""

    base: str
    head: str
    environments: list[str]
    #: HEAD has no error diagnostic
    ok: bool
    enterprises: Enterprises
    #: things a reviewer must know before reading on (different enterprises, a HEAD with no plan)
    notes: list[str]
    transforms: TransformChanges
    levels: list[LevelChange]
    diagnostics: DiagnosticChanges

    @property
    def empty(self) -> bool:
        t, d = self.transforms, self.diagnostics
        return not (t.added or t.removed or t.changed or self.levels or d.introduced or d.fixed)


# -- indexing both plans -------------------------------------------------------------------------
@dataclass(eq=False)
class _Node:
    key: NodeKey  # the match key (the enterprise part is blank when each tree has one enterprise)
    path: NodeKey  # the console's key
    level: Level
    parent: _Node | None

    @property
    def chain(self) -> list[_Node]:
        """This node and its ancestors, the enterprise first."""
        nodes: list[_Node] = []
        node: _Node | None = self
        while node is not None:
            nodes.append(node)
            node = node.parent
        return nodes[::-1]


@dataclass
class _Index:
    levels: dict[NodeKey, _Node] = field(default_factory=dict)
    transforms: dict[NodeKey, tuple[TransformPlan, _Node]] = field(default_factory=dict)


def _index(plan: Plan, single: bool) -> _Index:
    index = _Index()
    for enterprise in plan.enterprises:
        part = enterprise_part(plan, enterprise)
        root = _Node(("enterprise",) if single else (part,), (part,), enterprise, None)
        stack = [root]
        while stack:
            node = stack.pop()
            index.levels.setdefault(node.key, node)  # a duplicate (E203) keeps the first
            for transform in node.level.transforms:
                name = f"transform:{transform.transform}"
                index.transforms.setdefault((*node.key, name), (transform, node))
            for child in reversed(node.level.children):
                part = f"{child.scope}:{child.name}"
                stack.append(_Node((*node.key, part), (*node.path, part), child, node))
    return index


# -- level deltas --------------------------------------------------------------------------------
@dataclass
class _Delta:
    base: Level
    head: Level
    added: list[str]
    removed: list[str]
    default_changed: bool
    own_added: list[str]
    own_removed: list[str]
    own_default: bool

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.default_changed)

    @property
    def inherited(self) -> bool:
        return self.changed and not (self.own_added or self.own_removed or self.own_default)


def _delta(base: Level, head: Level, parent: _Delta | None) -> _Delta:
    added = [name for name in head.approved if name not in base.approved]
    removed = [name for name in base.approved if name not in head.approved]
    default_changed = (base.default, base.default_declared_by) != (head.default, head.default_declared_by)
    declared_before = base.default_declared_by == base.scope
    declared_now = head.default_declared_by == head.scope
    if not default_changed or (not declared_before and not declared_now):
        own_default = False  # unchanged, or inherited both times: the parent's or the approvals' doing
    elif declared_before and head.default is None and parent is not None and base.default in parent.removed:
        own_default = False  # still declared, but the parent stopped approving it
    else:
        own_default = True
    return _Delta(
        base,
        head,
        added,
        removed,
        default_changed,
        [n for n in added if parent is None or n not in parent.added],
        [n for n in removed if parent is None or n not in parent.removed],
        own_default,
    )


def _deltas(base: _Index, head: _Index) -> dict[NodeKey, _Delta]:
    deltas: dict[NodeKey, _Delta] = {}
    for key in sorted(head.levels, key=len):  # parents before children
        old = base.levels.get(key)
        if old is None:
            continue
        parent = deltas.get(key[:-1]) if len(key) > 1 else None
        deltas[key] = _delta(old.level, head.levels[key].level, parent)
    return deltas


def _level_name(level: Level) -> str:
    return f"{level.scope} {level.qualified_name}"


def _default_reason(delta: _Delta) -> str:
    old, new, name = delta.base.default, delta.head.default, _level_name(delta.head)
    declared_before = delta.base.default_declared_by == delta.base.scope
    declared_now = delta.head.default_declared_by == delta.head.scope
    if declared_before and declared_now:
        return f"{name} changes its default {old} -> {new}"
    if declared_before and new is None:
        return f"{name} has no valid default any more (was {old})"
    if declared_before:
        return f"{name} no longer declares a default (was {old}; inherits {new})"
    if declared_now:
        return f"{name} now declares default {new}" + (f" (was {old}, inherited)" if old else "")
    return f"{name}'s default changes {old or 'none'} -> {new or 'none'}"


def _level_changes(base: _Index, head: _Index, deltas: dict[NodeKey, _Delta]) -> list[LevelChange]:
    changes: list[LevelChange] = []
    for key, node in head.levels.items():
        delta = deltas.get(key)
        if delta is None:
            changes.append(_whole_level(node, "added"))
        elif delta.changed:
            approved = None
            if delta.added or delta.removed:
                approved = ApprovedChange(
                    old=list(delta.base.approved),
                    new=list(delta.head.approved),
                    added=delta.added,
                    removed=delta.removed,
                )
            default = None
            if delta.default_changed:
                default = DefaultChange(
                    old=delta.base.default,
                    new=delta.head.default,
                    old_declared_by=delta.base.default_declared_by,
                    new_declared_by=delta.head.default_declared_by,
                )
            level = node.level
            changes.append(
                LevelChange(
                    path=list(node.path),
                    scope=level.scope,
                    name=level.qualified_name,
                    status="changed",
                    file=level.file,
                    approved=approved,
                    default=default,
                    inherited=delta.inherited,
                )
            )
    changes.extend(
        _whole_level(node, "removed") for key, node in base.levels.items() if key not in head.levels
    )
    return sorted(changes, key=lambda c: (c.path, c.status))


def _whole_level(node: _Node, status: Status) -> LevelChange:
    level = node.level
    there, gone = (list(level.approved), []) if status == "added" else ([], list(level.approved))
    default, declared = level.default, level.default_declared_by
    return LevelChange(
        path=list(node.path),
        scope=level.scope,
        name=level.qualified_name,
        status=status,
        file=level.file,
        approved=ApprovedChange(old=gone, new=there, added=there if status == "added" else [], removed=gone),
        default=DefaultChange(
            old=None if status == "added" else default,
            new=default if status == "added" else None,
            old_declared_by=None if status == "added" else declared,
            new_declared_by=declared if status == "added" else None,
        ),
        inherited=False,
    )


# -- transforms ----------------------------------------------------------------------------------
def _resolved(transform: TransformPlan, environment: str) -> tuple[str | None, str | None]:
    """(compute, provenance) in `environment`: the dbt output follows from the compute."""
    compute = transform.environments.get(environment)
    return compute, transform.source if environment in transform.environments else None


def _change(old: TransformPlan, new: TransformPlan, environment: str) -> EnvironmentChange:
    return _environment_change(environment, _resolved(old, environment), _resolved(new, environment))


@lru_cache(maxsize=4096)
def _environment_change(
    environment: str, old: tuple[str | None, str | None], new: tuple[str | None, str | None]
) -> EnvironmentChange:
    """Shared between transforms (frozen models; a change moves many transforms the same way)."""
    return EnvironmentChange(
        environment=environment, old=_resolution(environment, *old), new=_resolution(environment, *new)
    )


def _resolution(environment: str, compute: str | None, source: str | None) -> Resolution:
    output = f"{environment}_{compute}" if compute else None  # TransformPlan.output's rule
    return Resolution.model_validate({"compute": compute, "output": output, "source": source})


def _ref(transform: TransformPlan, node: _Node) -> TransformRef:
    return TransformRef(
        path=[*node.path, f"transform:{transform.transform}"],
        domain=transform.domain,
        product=transform.product,
        transform=transform.transform,
        compute=transform.compute,
        source=transform.source,
        environments=dict(transform.environments),
        file=transform.file,
        line=transform.line,
    )


def _e300_about(plan: Plan, product: Level, transform: TransformPlan) -> bool:
    """Whether the plan reports the transform's own compute as not approved (FLOE-E300)."""
    later = [t.line for t in product.transforms if t.line > transform.line]
    end = min(later) if later else None
    return any(
        d.code == "FLOE-E300"
        and d.file == product.file
        and d.line >= transform.line
        and (end is None or d.line < end)
        for d in plan.diagnostics
    )


@dataclass
class _Explainer:
    base: Plan
    head: Plan
    base_index: _Index
    deltas: dict[NodeKey, _Delta]

    def explain(self, old: TransformPlan, new: TransformPlan, node: _Node) -> tuple[Cause, str]:
        name = new.transform
        c0, c1, s0, s1 = old.compute, new.compute, old.source, new.source
        provenance_scopes = {PROVENANCE_SCOPE.get(s or "") for s in (s0, s1)}
        reasons: list[tuple[_Node | None, str]] = []  # (level, reason); None: the transform's entry
        for level_node in node.chain:
            delta = self.deltas.get(level_node.key)
            if delta is None:
                continue
            label = _level_name(delta.head)
            if c0 is not None and c0 in delta.own_removed:
                reasons.append((level_node, f"{label} no longer approves {c0}"))
            if c1 is not None and c1 in delta.own_added:
                reasons.append((level_node, f"{label} now approves {c1}"))
            unresolved = (c0 is None or c1 is None) and delta.head.scope == "product"
            if delta.own_default and (delta.head.scope in provenance_scopes or unresolved):
                reasons.append((level_node, _default_reason(delta)))
        own = self._own_reason(old, new, node, bool(reasons))
        if own:
            reasons.append((None, own))
        consequence = self._consequence(name, c1, s0, s1, own is not None)
        explanation = "; ".join([reason for _, reason in reasons] + ([consequence] if consequence else []))
        if reasons:
            cause_node, reason = reasons[0]
        else:  # an ancestor changed in a way the rules above do not name: point at the topmost
            changed = [n for n in node.chain if (d := self.deltas.get(n.key)) is not None and d.changed]
            cause_node = changed[0] if changed else None
            reason = f"{_level_name(cause_node.level)} changed" if cause_node else f"{name}'s entry changed"
            explanation = f"{reason}; {explanation}" if explanation else reason
        if cause_node is None:
            cause = Cause(
                scope="transform",
                name=name,
                path=[*node.path, f"transform:{name}"],
                file=new.file,
                reason=reason,
            )
        else:
            level = cause_node.level
            cause = Cause(
                scope=level.scope,
                name=level.qualified_name,
                path=list(cause_node.path),
                file=level.file,
                reason=reason,
            )
        return cause, explanation

    def _own_reason(
        self, old: TransformPlan, new: TransformPlan, node: _Node, levels_explain: bool
    ) -> str | None:
        """What the transform's own entry did, when that (and not a level) moved it."""
        name, c0, c1, s0, s1 = new.transform, old.compute, new.compute, old.source, new.source
        if s0 == "explicit" and s1 == "explicit":
            return f"{name} changes its compute {c0} -> {c1}" if c0 != c1 else None
        if s1 == "explicit":
            return None if levels_explain and s0 is None else f"{name} now declares compute {c1}"
        if s0 == "explicit" and s1 is not None:
            return f"{name} no longer declares a compute (was {c0})"
        if s1 is None and not levels_explain:
            if _e300_about(self.head, node.level, new):
                return f"{name} declares a compute its product does not approve (FLOE-E300)"
            if s0 == "explicit":
                return f"{name} no longer declares a compute and has no default to fall back to"
            return f"{name} has no default compute to fall back to"
        before = self.base_index.levels.get(node.key)
        if (
            s0 is None
            and s1 is not None
            and not levels_explain
            and before is not None
            and _e300_about(self.base, before.level, old)
        ):
            return f"{name} no longer declares a compute its product does not approve"
        return None

    @staticmethod
    def _consequence(name: str, c1: str | None, s0: str | None, s1: str | None, own: bool) -> str | None:
        if c1 is None:
            return f"{name} has no compute"
        if s1 == "explicit":
            return None if own else f"{name} runs on its own compute {c1}"
        scope = PROVENANCE_SCOPE.get(s1 or "", "product")
        verb = "follows" if s0 == s1 else "falls back to"
        return f"{name} {verb} the {scope} default ({c1})"


# -- diagnostics ---------------------------------------------------------------------------------
def _identity(diagnostic: Diagnostic) -> tuple[str, str, str]:
    """Code, file and message: a diagnostic that only moved lines is the same diagnostic."""
    return (diagnostic.code, diagnostic.file, diagnostic.message)


def _only_in(these: Sequence[Diagnostic], others: Sequence[Diagnostic]) -> list[DiagnosticEntry]:
    remaining = Counter(_identity(d) for d in others)
    found: list[DiagnosticEntry] = []
    for diagnostic in these:
        key = _identity(diagnostic)
        if remaining[key]:
            remaining[key] -= 1
        else:
            found.append(DiagnosticEntry.of(diagnostic))
    return found


# -- the diff ------------------------------------------------------------------------------------
def plan_environments(base: Plan, head: Plan) -> list[str]:
    """Every environment of either tree, HEAD's order first."""
    return list(dict.fromkeys([*head.environments, *base.environments]))


def diff_plans(
    base: Plan, head: Plan, environments: Sequence[str], base_label: str = "BASE", head_label: str = "HEAD"
) -> PlanDiff:
    """What changes from `base` to `head` in `environments` (labels: how the report names them)."""
    single = len(base.enterprises) == 1 and len(head.enterprises) == 1
    base_index, head_index = _index(base, single), _index(head, single)
    deltas = _deltas(base_index, head_index)
    explainer = _Explainer(base, head, base_index, deltas)
    added: list[TransformRef] = []
    changed: list[TransformChange] = []
    for key, (new, node) in head_index.transforms.items():
        found = base_index.transforms.get(key)
        if found is None:
            added.append(_ref(new, node))
            continue
        old = found[0]
        if old.source == new.source and old.environments == new.environments:
            continue  # the common case, without building a model (a plan holds 100,000s)
        changes = [
            _change(old, new, env) for env in environments if _resolved(old, env) != _resolved(new, env)
        ]
        if not changes:
            continue
        cause, explanation = explainer.explain(old, new, node)
        changed.append(
            TransformChange(
                path=[*node.path, f"transform:{new.transform}"],
                domain=new.domain,
                product=new.product,
                transform=new.transform,
                file=new.file,
                line=new.line,
                changes=changes,
                cause=cause,
                explanation=explanation,
            )
        )
    removed = [
        _ref(old, node)
        for key, (old, node) in base_index.transforms.items()
        if key not in head_index.transforms
    ]
    names = Enterprises(base=[e.name for e in base.enterprises], head=[e.name for e in head.enterprises])
    return PlanDiff(
        base=base_label,
        head=head_label,
        environments=list(environments),
        ok=head.ok,
        enterprises=names,
        notes=_notes(names, base_label, head_label),
        transforms=TransformChanges(
            added=sorted(added, key=lambda t: t.path),
            removed=sorted(removed, key=lambda t: t.path),
            changed=sorted(changed, key=lambda t: t.path),
        ),
        levels=_level_changes(base_index, head_index, deltas),
        diagnostics=DiagnosticChanges(
            introduced=_only_in(head.diagnostics, base.diagnostics),
            fixed=_only_in(base.diagnostics, head.diagnostics),
        ),
    )


def _notes(names: Enterprises, base_label: str, head_label: str) -> list[str]:
    notes: list[str] = []
    for label, found in ((base_label, names.base), (head_label, names.head)):
        if not found:
            notes.append(
                f"{label} has no enterprise manifest that loads: it has no plan (see the diagnostics)"
            )
    if names.base and names.head and sorted(names.base) != sorted(names.head):
        notes.append(
            f"different enterprises: {base_label} is {', '.join(names.base)}, {head_label} is "
            f"{', '.join(names.head)}; are they two versions of one tree? (diffed all the same)"
        )
    return notes


# -- the console's view --------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeChange:
    """How one console tree node differs from BASE: a text mark for the tree (never colour alone)
    and the old -> new lines for the detail pane."""

    status: Status
    mark: str
    lines: tuple[str, ...]


MARKS: dict[Status, str] = {"added": "+", "removed": "-", "changed": "~"}


def resolution_text(resolution: Resolution) -> str:
    if resolution.compute is None:
        return "no compute"
    return f"{resolution.compute} ({resolution.source}, output {resolution.output})"


def change_lines(change: TransformChange) -> list[str]:
    """`dev: spark (product-default, output dev_spark) -> duckdb (...)` per environment, then why."""
    lines = [f"{c.environment}: {resolution_text(c.old)} -> {resolution_text(c.new)}" for c in change.changes]
    return [*lines, f"because {change.explanation}"]


def level_lines(change: LevelChange) -> list[str]:
    """`approved: duckdb, spark -> duckdb` and `default: spark (from product) -> duckdb (from domain)`."""
    lines: list[str] = []
    if change.approved is not None:
        old, new = ", ".join(change.approved.old) or "none", ", ".join(change.approved.new) or "none"
        lines.append(f"approved: {old} -> {new}")
    if change.default is not None:
        d = change.default
        lines.append(
            f"default: {_declared(d.old, d.old_declared_by)} -> {_declared(d.new, d.new_declared_by)}"
        )
    return lines


def _declared(default: str | None, by: Scope | None) -> str:
    return "none" if default is None else f"{default} (from {by})"


def _transform_ref_lines(ref: TransformRef, status: Status) -> list[str]:
    what = "no compute" if ref.compute is None else f"{ref.compute} ({ref.source})"
    return [f"{'new in HEAD' if status == 'added' else 'gone from HEAD'}: {what}"]


def node_changes(diff: PlanDiff) -> dict[NodeKey, NodeChange]:
    """Every console node (transforms and levels, keyed as the governance screen keys them) that
    differs from BASE. Removed nodes carry BASE's keys: the console shows them on their parent."""
    found: dict[NodeKey, NodeChange] = {}
    for change in diff.transforms.changed:
        found[tuple(change.path)] = NodeChange("changed", MARKS["changed"], tuple(change_lines(change)))
    for status, refs in (("added", diff.transforms.added), ("removed", diff.transforms.removed)):
        for ref in refs:
            state: Status = "added" if status == "added" else "removed"
            found[tuple(ref.path)] = NodeChange(state, MARKS[state], tuple(_transform_ref_lines(ref, state)))
    for level in diff.levels:
        lines = [*level_lines(level), *(["(inherited from a level above)"] if level.inherited else [])]
        found[tuple(level.path)] = NodeChange(level.status, MARKS[level.status], tuple(lines))
    return found


def changed_below(changes: dict[NodeKey, NodeChange], key: NodeKey) -> bool:
    """Whether a node or anything below it changed (a collapsed node still shows a mark)."""
    return any(where[: len(key)] == key for where in changes)
