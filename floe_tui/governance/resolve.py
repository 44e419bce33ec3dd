"""Resolve a linked tree into a plan: effective approved sets and defaults per level, each
transform's compute with provenance, per-environment target configurations, and diagnostics."""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from floe_tui.compute.discovery import Discovered, discover_plugins
from floe_tui.compute.errors import ComputeError
from floe_tui.compute.models import ComputeConfig
from floe_tui.compute.registry import ComputeRegistry
from floe_tui.governance.diagnostics import Diagnostic, sort_key
from floe_tui.governance.hierarchy import Tree
from floe_tui.governance.parity import parity_breaks
from floe_tui.governance.schema import (
    ApprovedTarget,
    ChildCompute,
    DomainDoc,
    EnterpriseDoc,
    ProductDoc,
)
from floe_tui.governance.source import PathKey, SourceFile
from floe_tui.planmodel import Level, PlanModel, Provenance, Scope, TransformPlan

# Level, TransformPlan and the literals are plain data of the leaf `floe_tui.planmodel` (the console
# paints a snapshot of them without loading this compiler); they remain governance's names.
__all__ = ["Level", "Plan", "ProductCache", "Provenance", "Scope", "TransformPlan", "resolve"]

#: How a transform without its own compute got the default, by the level that declared it.
_DEFAULT_PROVENANCE: dict[Scope | None, Provenance] = {
    "product": "product-default",
    "domain": "domain-default",
    "enterprise": "enterprise-default",
}

#: `scheme:` at the start of a connection path (md:, s3://, https://): not a local file.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


@dataclass(kw_only=True)
class Plan(PlanModel):
    """A compiled plan: the plain model (`floe_tui.planmodel`) and what only the compiler knows."""

    #: environment -> the approved targets' configurations for it (overrides merged, paths resolved)
    targets: dict[str, list[ComputeConfig]]
    plugins: Discovered

    def registry(self, environment: str, product: Level | None = None) -> ComputeRegistry:
        """The approved targets of `environment` (narrowed to a product's set) as a ComputeRegistry."""
        configs = self.targets.get(environment, [])
        if not configs or not self.enterprises:
            raise ComputeError(
                "no usable compute target is approved", "run `floe-tui validate` and fix its errors"
            )
        default = self.enterprises[0].default or configs[0].name
        registry = ComputeRegistry(
            configs, default if default in {c.name for c in configs} else configs[0].name, self.plugins
        )
        if product is None:
            return registry
        usable = [name for name in product.approved if name in registry]
        return registry.restricted(usable, product.default if product.default in usable else None)


def resolve(tree: Tree, plugins: Discovered | None = None, product_cache: ProductCache | None = None) -> Plan:
    """`product_cache` (kept by a Compiler between runs) lets unchanged products skip resolution."""
    plugins = plugins or discover_plugins()
    product_cache = {} if product_cache is None else product_cache
    diagnostics = list(tree.diagnostics)
    enterprises: list[Level] = []
    transforms: list[TransformPlan] = []
    targets: dict[str, list[ComputeConfig]] = {}
    environments: list[str] = []
    query_timeout_s = 300.0
    children_of: dict[Path, list[Any]] = {}
    for path, document in sorted(tree.documents.items()):
        parent_path = tree.parent_of.get(path)
        if parent_path is not None:
            children_of.setdefault(parent_path, []).append(document)
    for enterprise_doc in tree.of_kind(EnterpriseDoc):
        report_unused = tree.directory_mode and not _failed_below(tree, enterprise_doc.source.path.parent)
        resolver = _EnterpriseResolver(enterprise_doc, plugins, children_of, report_unused, product_cache)
        enterprise = resolver.run()
        enterprises.append(enterprise)
        diagnostics.extend(resolver.diagnostics)
        transforms.extend(resolver.transforms)
        if not environments:
            environments = enterprise_doc.environments
            targets = resolver.targets
            query_timeout_s = enterprise_doc.compute.query_timeout_s
    diagnostics = sorted(set(diagnostics), key=sort_key)
    return Plan(
        root=tree.root,
        environments=environments,
        diagnostics=diagnostics,
        enterprises=enterprises,
        transforms=transforms,
        target_names={env: [config.name for config in configs] for env, configs in targets.items()},
        targets=targets,
        query_timeout_s=query_timeout_s,
        floe_files=tree.floe_files,
        plugins=plugins,
    )


class _EnterpriseResolver:
    def __init__(
        self,
        document: EnterpriseDoc,
        plugins: Discovered,
        children_of: dict[Path, list[Any]],
        report_unused: bool,
        product_cache: ProductCache,
    ) -> None:
        self.document = document
        self.product_cache = product_cache
        self._environment_maps: dict[str | None, dict[str, str | None]] = {}
        self.plugins = plugins
        self.children_of = children_of
        self.report_unused = report_unused
        self.environments = document.environments
        self.diagnostics: list[Diagnostic] = []
        self.transforms: list[TransformPlan] = []
        self.targets: dict[str, list[ComputeConfig]] = {env: [] for env in self.environments}
        self.usage: Counter[str] = Counter()
        #: Transforms without a compute (their own error): below them no target is "unused".
        self.unresolved = 0

    def run(self) -> Level:
        doc = self.document
        source = doc.source
        unique = self._unique_targets(doc)
        names = [target.name for _, target in unique]
        default: str | None = doc.compute.default
        declared: Scope | None = "enterprise"
        if default not in names:
            self._report(
                source,
                "FLOE-E302",
                f"default compute `{default}` is not approved here",
                f"choose one of: {', '.join(names)}",
                source.value_position(("compute", "default")),
            )
            default, declared = None, None
        for index, target in unique:
            self._check_target(index, target)
        enterprise = self._level(
            "enterprise",
            source,
            doc.manifest.metadata.name,
            names,
            default,
            declared,
            doc.manifest.metadata.owner,
        )
        for child in self.children_of.get(source.path, []):
            if isinstance(child, DomainDoc):
                enterprise.children.append(self._domain(child, enterprise))
            elif isinstance(child, ProductDoc):
                enterprise.children.append(self._product(child, enterprise, None))
        self._check_duplicates(enterprise.children)
        if self.report_unused and not self.unresolved:
            for index, target in unique:
                if not self.usage[target.name]:
                    self._unused(source, target.name, ("compute", "approved", index, "name"))
        return enterprise

    # -- enterprise targets --------------------------------------------------------------------
    def _unique_targets(self, doc: EnterpriseDoc) -> list[tuple[int, ApprovedTarget]]:
        """The approved targets with their index, each name once (a repeat is E203 and not checked)."""
        unique: list[tuple[int, ApprovedTarget]] = []
        for index, target in enumerate(doc.compute.approved):
            if any(target.name == seen.name for _, seen in unique):
                self._report(
                    doc.source,
                    "FLOE-E203",
                    f"compute target `{target.name}` is approved twice",
                    "give each target a unique name",
                    doc.source.value_position(("compute", "approved", index, "name")),
                )
                continue
            unique.append((index, target))
        return unique

    def _check_target(self, index: int, target: ApprovedTarget) -> None:
        source = self.document.source
        where: PathKey = ("compute", "approved", index)
        for env in target.environments:
            if env not in self.environments:
                self._report(
                    source,
                    "FLOE-E402",
                    f"unknown environment `{env}` in target `{target.name}`",
                    f"environments are: {', '.join(self.environments)}",
                    source.key_position((*where, "environments", env)),
                )
        try:
            plugin_class = self.plugins.get(target.plugin_name)
        except ComputeError as exc:
            at = (*where, "plugin") if target.plugin else (*where, "name")
            self._report(
                source,
                "FLOE-E303",
                f"plugin `{target.plugin_name}` of target `{target.name}` is not installed",
                exc.hint,
                source.value_position(at),
            )
            return
        model = plugin_class.config_model
        base_error = self._connection_error(model, target.connection, source, (*where, "connection"), target)
        for env in self.environments:
            override = target.environments.get(env)
            connection = _deep_merge(target.connection, override.connection if override else {})
            if override and override.connection and not base_error:
                if self._connection_error(
                    model, connection, source, (*where, "environments", env, "connection"), target, env
                ):
                    continue
            elif base_error:
                continue
            self.targets[env].append(self._config(target, connection, override, model.path_fields))

    def _connection_error(
        self,
        model: Any,
        connection: dict[str, Any],
        source: SourceFile,
        where: PathKey,
        target: ApprovedTarget,
        env: str | None = None,
    ) -> bool:
        try:
            model.model_validate(connection)
            return False
        except ValidationError as exc:
            error = exc.errors(include_url=False, include_input=False, include_context=False)[0]
            loc = (*where, *error["loc"])
            position = (
                source.key_position(loc) if error["type"] == "extra_forbidden" else source.value_position(loc)
            )
            if (*where, *error["loc"][:1]) not in source.positions:
                position = source.key_position(where)
            field_name = ".".join(str(p) for p in error["loc"]) or "connection"
            scope = f" in {env}" if env else ""
            self._report(
                source,
                "FLOE-E304",
                f"connection of target `{target.name}`{scope}: `{field_name}`: {_reason(error['msg'])}",
                f"see the {target.plugin_name} plugin's connection settings",
                position,
            )
            return True

    def _config(
        self, target: ApprovedTarget, connection: dict[str, Any], override: Any, path_fields: tuple[str, ...]
    ) -> ComputeConfig:
        base_dir = self.document.source.path.parent
        resolved = dict(connection)
        for name in path_fields:
            value = resolved.get(name)
            if _is_local_path(value):
                resolved[name] = os.path.normpath(base_dir / os.path.expanduser(str(value)))
        credentials = {**target.credentials, **(override.credentials if override else {})}
        return ComputeConfig(
            name=target.name,
            plugin=target.plugin_name,
            connection=resolved,
            credentials=credentials,
            pool=(override.pool if override and override.pool else target.pool),
            query_timeout_s=self.document.compute.query_timeout_s,
        )

    # -- domains and products ------------------------------------------------------------------
    def _domain(self, doc: DomainDoc, enterprise: Level) -> Level:
        source = doc.source
        for index, env in enumerate(doc.manifest.environments or []):
            if env not in self.environments:
                self._report(
                    source,
                    "FLOE-E402",
                    f"unknown environment `{env}`",
                    f"environments are: {', '.join(self.environments)}",
                    source.value_position(("environments", index)),
                )
        approved, default, declared = self._narrow(source, doc.compute, enterprise, "domain")
        level = self._level(
            "domain",
            source,
            doc.manifest.metadata.name,
            approved,
            default,
            declared,
            doc.manifest.metadata.owner,
            parent=enterprise,
        )
        before, unresolved_before = self.usage.copy(), self.unresolved
        for child in self.children_of.get(source.path, []):
            if isinstance(child, ProductDoc):
                level.children.append(self._product(child, enterprise, level))
        self._check_duplicates(level.children)
        if self.report_unused and self.unresolved == unresolved_before:
            used = self.usage - before
            for index, name in enumerate(doc.compute.approved or []):
                if name in approved and not used[name]:
                    self._unused(source, name, ("compute", "approved", index))
        return level

    def _product(self, doc: ProductDoc, enterprise: Level, domain: Level | None) -> Level:
        parent = domain or enterprise
        signature = (
            doc,
            parent.scope,
            parent.name,
            tuple(parent.approved),
            parent.default,
            parent.default_declared_by,
            tuple(self.environments),
            self.report_unused,
        )
        cached = self.product_cache.get(doc.source.path)
        if cached is None or cached.signature != signature:
            first_diagnostic = len(self.diagnostics)
            level, used, unresolved = self._resolve_product(doc, enterprise, domain)
            cached = _ResolvedProduct(signature, level, self.diagnostics[first_diagnostic:], used, unresolved)
            self.product_cache[doc.source.path] = cached
        else:
            self.diagnostics.extend(cached.diagnostics)
        cached.level.parent = parent
        self.transforms.extend(cached.level.transforms)
        self.usage.update(cached.used)
        self.unresolved += cached.unresolved
        return cached.level

    def _resolve_product(
        self, doc: ProductDoc, enterprise: Level, domain: Level | None
    ) -> tuple[Level, Counter[str], int]:
        source = doc.source
        parent = domain or enterprise
        approved, default, declared = self._narrow(
            source, doc.spec.compute or ChildCompute(), parent, "product"
        )
        level = self._level(
            "product",
            source,
            doc.spec.metadata.name,
            approved,
            default,
            declared,
            doc.spec.metadata.owner,
            parent=parent,
        )
        computes: dict[str, str | None] = {}
        unresolved = 0
        # Per transform only what differs: this loop runs 100,000 times on a large tree.
        domain_name, file, positions = domain.name if domain else None, source.display, source.positions
        default_provenance = _DEFAULT_PROVENANCE.get(declared) if default is not None else None
        maps = self._environment_maps
        for index, transform in enumerate(doc.spec.transforms):
            name = transform.name
            name_at: PathKey = ("transforms", index, "name")
            if name in computes:
                unresolved += 1
                self._report(
                    source,
                    "FLOE-E203",
                    f"transform `{name}` is defined twice",
                    "give each transform a unique name",
                    source.value_position(name_at),
                )
                continue
            explicit = transform.compute
            if explicit is None:
                compute, provenance = (default, default_provenance) if default_provenance else (None, None)
            elif explicit in approved:
                compute, provenance = explicit, "explicit"
            else:
                compute, provenance = None, None
                self._report(
                    source,
                    "FLOE-E300",
                    f"compute `{explicit}` is not approved for this product",
                    f"choose one of: {', '.join(approved) or '(none approved)'}",
                    source.value_position(("transforms", index, "compute")),
                )
            computes[name] = compute
            unresolved += compute is None
            environments = maps[compute] if compute in maps else self._environments_on(compute)
            level.transforms.append(
                TransformPlan(
                    domain_name,
                    level.name,
                    name,
                    compute,
                    provenance,
                    environments,
                    file,
                    positions[name_at][2],  # the name's line (the name always has a position)
                )
            )
        used = Counter(compute for compute in computes.values() if compute)
        self._check_product_overrides(doc, computes)
        self.diagnostics.extend(parity_breaks(doc, computes, self.environments))
        if self.report_unused and not unresolved and doc.spec.compute and doc.spec.compute.approved:
            for index, name in enumerate(doc.spec.compute.approved):
                if name in approved and not used[name]:
                    self._unused(source, name, ("compute", "approved", index))
        return level, used, unresolved

    def _environments_on(self, compute: str | None) -> dict[str, str | None]:
        """{env: compute}, shared between transforms (parity makes it the same for all of them)."""
        if compute not in self._environment_maps:
            self._environment_maps[compute] = dict.fromkeys(self.environments, compute)
        return self._environment_maps[compute]

    def _narrow(
        self, source: SourceFile, compute: ChildCompute, parent: Level, scope: Scope
    ) -> tuple[list[str], str | None, Scope | None]:
        """A child level's effective approved set and default, reporting E301 and E302."""
        if compute.approved is None:
            approved = list(parent.approved)
        else:
            approved = []
            for index, name in enumerate(compute.approved):
                if name not in parent.approved:
                    self._report(
                        source,
                        "FLOE-E301",
                        f"compute `{name}` is not approved by {parent.scope} `{parent.name}`",
                        f"approved there: {', '.join(parent.approved)}",
                        source.value_position(("compute", "approved", index)),
                    )
                elif name not in approved:
                    approved.append(name)
        if compute.default is not None:
            if compute.default in approved:
                return approved, compute.default, scope
            self._report(
                source,
                "FLOE-E302",
                f"default compute `{compute.default}` is not approved here",
                f"choose one of: {', '.join(approved) or '(none approved)'}",
                source.value_position(("compute", "default")),
            )
            return approved, None, None
        if parent.default is not None and parent.default in approved:
            return approved, parent.default, parent.default_declared_by
        if parent.default is not None:
            self._report(
                source,
                "FLOE-E302",
                f"no default compute: the inherited default `{parent.default}` is not approved here",
                "declare compute.default from this level's approved set",
                source.key_position(("compute", "approved")),
            )
        return approved, None, None

    def _check_product_overrides(self, doc: ProductDoc, computes: dict[str, str | None]) -> None:
        source = doc.source
        for env, override in doc.spec.environments.items():
            if env not in self.environments:
                self._report(
                    source,
                    "FLOE-E402",
                    f"unknown environment `{env}`",
                    f"environments are: {', '.join(self.environments)}",
                    source.key_position(("environments", env)),
                )
                continue
            for name in override.transforms:
                if name not in computes:
                    self._report(
                        source,
                        "FLOE-E101",
                        f"override for unknown transform `{name}` in {env}",
                        "name a transform of this product",
                        source.key_position(("environments", env, "transforms", name)),
                    )

    def _check_duplicates(self, children: list[Level]) -> None:
        seen: set[tuple[str, str]] = set()
        for child in sorted(children, key=lambda c: c.file):
            key = (child.scope, child.name)
            if key in seen:
                what = "domain" if child.scope == "domain" else "product"
                self.diagnostics.append(
                    Diagnostic.make(
                        "FLOE-E203",
                        f"{what} `{child.name}` is defined twice",
                        child.file,
                        (child.line, child.column),
                        f"rename one of the {what}s",
                    )
                )
            seen.add(key)

    # -- helpers -------------------------------------------------------------------------------
    def _level(
        self,
        scope: Scope,
        source: SourceFile,
        name: str,
        approved: list[str],
        default: str | None,
        declared: Scope | None,
        owner: str | None,
        parent: Level | None = None,
    ) -> Level:
        line, column = source.value_position(("metadata", "name"))
        return Level(
            scope, name, source.display, source.path, line, column, approved, default, declared, owner, parent
        )

    def _unused(self, source: SourceFile, name: str, at: PathKey) -> None:
        self._report(
            source,
            "FLOE-W500",
            f"approved compute `{name}` is used by no transform below it",
            "remove it from the approved list, or use it",
            source.value_position(at),
        )

    def _report(
        self, source: SourceFile, code: str, message: str, hint: str, position: tuple[int, int]
    ) -> None:
        self.diagnostics.append(source.diagnostic(code, message, hint, position))


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _failed_below(tree: Tree, folder: Path) -> bool:
    """Whether a file in `folder` (or below it) did not load or link.

    Such a file may hold the transforms that use a target of the enterprise manifest in `folder`,
    so "unused" (FLOE-W500) would mislead; as it would when loading one file, whose tree holds
    only that file's ancestors.
    """
    failed = {Path(os.path.normpath(tree.root / d.file)) for d in tree.diagnostics if d.is_error}
    return any(path.is_relative_to(folder) for path in failed)


def _reason(message: str) -> str:
    """A validation message without pydantic's "Value error, " prefix and final full stop."""
    return message.removeprefix("Value error, ").rstrip(".")


def _is_local_path(value: Any) -> bool:
    """A connection path naming a local file: not `:memory:` or a URL such as md: or s3://.

    A relative one resolves against the declaring manifest's folder, `~` against the home folder.
    """
    return isinstance(value, str) and bool(value) and not value.startswith(":") and not _URL.match(value)


@dataclass
class _ResolvedProduct:
    """A product's resolution, reused while neither its file nor its parent's outcome changed."""

    signature: tuple[Any, ...]
    level: Level
    diagnostics: list[Diagnostic]
    used: Counter[str]
    unresolved: int


ProductCache = dict[Path, _ResolvedProduct]
