"""Manifest and FloeSpec models, and their validation into diagnostics with positions.

A few faults get a more specific code than "schema error" and are taken out before the models
see them, so that one fault gives one diagnostic: a literal secret is FLOE-E305 and a `plugin`
under an environment override is FLOE-E401, never also FLOE-E101.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from floe_tui.compute.models import SECRET_KEY_NAMES, TARGET_NAME, PoolConfig, SecretRef
from floe_tui.governance.diagnostics import Diagnostic
from floe_tui.governance.source import PathKey, SourceFile

API_VERSION = "floe.dev/v1"
LEVEL_NAME = r"^[a-z0-9][a-z0-9-]*$"
TRANSFORM_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
DEFAULT_ENVIRONMENTS = ["dev", "staging", "prod"]
_M = TypeVar("_M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Metadata(_Strict):
    name: str = Field(pattern=LEVEL_NAME)
    scope: Literal["enterprise", "domain"]
    owner: str | None = None


class ProductMetadata(_Strict):
    name: str = Field(pattern=LEVEL_NAME)
    owner: str | None = None


class TargetOverride(_Strict):
    connection: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, SecretRef] = Field(default_factory=dict)
    pool: PoolConfig | None = None


class ApprovedTarget(_Strict):
    name: str = Field(pattern=TARGET_NAME)
    plugin: str | None = Field(default=None, pattern=TARGET_NAME)
    connection: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, SecretRef] = Field(default_factory=dict)
    pool: PoolConfig = Field(default_factory=PoolConfig)
    environments: dict[str, TargetOverride] = Field(default_factory=dict)

    @property
    def plugin_name(self) -> str:
        return self.plugin or self.name


class EnterpriseCompute(_Strict):
    approved: list[ApprovedTarget] = Field(min_length=1)
    default: str = Field(pattern=TARGET_NAME)
    query_timeout_s: float = Field(default=300.0, gt=0)


class ChildCompute(_Strict):
    approved: list[str] | None = None
    default: str | None = Field(default=None, pattern=TARGET_NAME)
    query_timeout_s: float | None = Field(default=None, gt=0)


class Manifest(_Strict):
    apiVersion: Literal["floe.dev/v1"]
    kind: Literal["Manifest"]
    metadata: Metadata
    parent: str | None = None
    environments: list[str] | None = None
    compute: dict[str, Any] | None = None


class Transform(_Strict):
    name: str = Field(pattern=TRANSFORM_NAME)
    compute: str | None = Field(default=None, pattern=TARGET_NAME)
    description: str | None = None


class ProductEnvironment(_Strict):
    transforms: dict[str, dict[str, Any]] = Field(default_factory=dict)


class Platform(_Strict):
    manifest: str


class FloeSpec(_Strict):
    apiVersion: Literal["floe.dev/v1"]
    kind: Literal["FloeSpec"]
    metadata: ProductMetadata
    platform: Platform
    compute: ChildCompute | None = None
    transforms: list[Transform] = Field(min_length=1)
    environments: dict[str, ProductEnvironment] = Field(default_factory=dict)


@dataclass
class EnterpriseDoc:
    source: SourceFile
    manifest: Manifest
    compute: EnterpriseCompute

    @property
    def environments(self) -> list[str]:
        return self.manifest.environments or list(DEFAULT_ENVIRONMENTS)


@dataclass
class DomainDoc:
    source: SourceFile
    manifest: Manifest
    compute: ChildCompute


@dataclass
class ProductDoc:
    source: SourceFile
    spec: FloeSpec
    #: transform -> {environment: compute named by an override}: parity breaks, checked later.
    override_computes: dict[str, dict[str, str]] = field(default_factory=dict)


Document = EnterpriseDoc | DomainDoc | ProductDoc


def is_floe_document(source: SourceFile) -> bool:
    """Files whose apiVersion is not floe.dev/... belong to other tools and are ignored."""
    data = source.data
    return isinstance(data, dict) and str(data.get("apiVersion", "")).startswith("floe.dev/")


def parse_document(source: SourceFile) -> tuple[Document | None, list[Diagnostic]]:
    """Validate one floe document; a document with any schema error is not used further."""
    diagnostics = [
        source.diagnostic("FLOE-E101", f"duplicate key `{path[-1]}`", "remove the repeated key", position)
        for path, position in source.duplicate_keys
    ]
    data: dict[str, Any] = dict(source.data)
    if data.get("apiVersion") != API_VERSION:
        diagnostics.append(
            source.diagnostic(
                "FLOE-E101",
                f"unsupported apiVersion `{data.get('apiVersion')}`",
                f"use apiVersion: {API_VERSION}",
                source.value_position(("apiVersion",)),
            )
        )
        return None, diagnostics
    kind = data.get("kind")
    if kind == "FloeSpec":
        return _parse_product(source, data, diagnostics)
    if kind == "Manifest":
        return _parse_manifest(source, data, diagnostics)
    position = source.value_position(("kind",)) if "kind" in data else (1, 1)
    diagnostics.append(
        source.diagnostic("FLOE-E101", f"unknown kind `{kind}`", "use kind: Manifest or FloeSpec", position)
    )
    return None, diagnostics


def _parse_manifest(
    source: SourceFile, data: dict[str, Any], diagnostics: list[Diagnostic]
) -> tuple[Document | None, list[Diagnostic]]:
    manifest = _validate(Manifest, data, (), source, diagnostics)
    if manifest is None:
        return None, diagnostics
    compute_data = manifest.compute
    if manifest.metadata.scope == "enterprise":
        if compute_data is None:
            diagnostics.append(
                source.diagnostic(
                    "FLOE-E101",
                    "an enterprise manifest needs `compute` with `approved` and `default`",
                    "add compute.approved and compute.default",
                    source.key_position(("metadata",)),
                )
            )
            return None, diagnostics
        compute_data = _take_out_secrets_and_plugin_overrides(source, compute_data, diagnostics)
        enterprise = _validate(EnterpriseCompute, compute_data, ("compute",), source, diagnostics)
        if enterprise is None or diagnostics:
            return None, diagnostics
        return EnterpriseDoc(source, manifest, enterprise), diagnostics
    child = _validate(ChildCompute, compute_data or {}, ("compute",), source, diagnostics)
    if child is None or diagnostics:
        return None, diagnostics
    return DomainDoc(source, manifest, child), diagnostics


def _parse_product(
    source: SourceFile, data: dict[str, Any], diagnostics: list[Diagnostic]
) -> tuple[Document | None, list[Diagnostic]]:
    data, override_computes = _take_out_override_computes(data)
    spec = _validate(FloeSpec, data, (), source, diagnostics)
    if spec is None or diagnostics:
        return None, diagnostics
    return ProductDoc(source, spec, override_computes), diagnostics


def _take_out_override_computes(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """A `compute` under a product's environment override is a parity question, not a schema one."""
    environments = data.get("environments")
    found: dict[str, dict[str, str]] = {}
    if not isinstance(environments, dict):
        return data, found
    cleaned: dict[str, Any] = {}
    for env, override in environments.items():
        transforms = override.get("transforms") if isinstance(override, dict) else None
        if not isinstance(transforms, dict):
            cleaned[env] = override
            continue
        kept = {}
        for name, tuning in transforms.items():
            if isinstance(tuning, dict) and "compute" in tuning:
                found.setdefault(str(name), {})[str(env)] = str(tuning["compute"])
                tuning = {k: v for k, v in tuning.items() if k != "compute"}
            kept[name] = tuning
        cleaned[env] = {**override, "transforms": kept}
    return {**data, "environments": cleaned}, found


def _take_out_secrets_and_plugin_overrides(
    source: SourceFile, compute: dict[str, Any], diagnostics: list[Diagnostic]
) -> dict[str, Any]:
    approved = compute.get("approved")
    if not isinstance(approved, list):
        return compute
    cleaned_targets = []
    for index, target in enumerate(approved):
        if not isinstance(target, dict):
            cleaned_targets.append(target)
            continue
        base: PathKey = ("compute", "approved", index)
        target = _clean_secrets(source, target, base, diagnostics)
        overrides = target.get("environments")
        if isinstance(overrides, dict):
            cleaned_overrides = {}
            for env, override in overrides.items():
                if isinstance(override, dict):
                    where = (*base, "environments", env)
                    if "plugin" in override:
                        diagnostics.append(
                            source.diagnostic(
                                "FLOE-E401",
                                f"environment `{env}` changes the plugin of target `{target.get('name')}`",
                                "a target keeps its plugin in every environment; "
                                "approve a separate target instead",
                                source.key_position((*where, "plugin")),
                            )
                        )
                        override = {k: v for k, v in override.items() if k != "plugin"}
                    override = _clean_secrets(source, override, where, diagnostics)
                cleaned_overrides[env] = override
            target = {**target, "environments": cleaned_overrides}
        cleaned_targets.append(target)
    return {**compute, "approved": cleaned_targets}


def _clean_secrets(
    source: SourceFile, holder: dict[str, Any], where: PathKey, diagnostics: list[Diagnostic]
) -> dict[str, Any]:
    hint = "move it under `credentials` as {env: NAME} or {file: PATH}"
    connection = holder.get("connection")
    if isinstance(connection, dict):
        for key in [k for k in connection if str(k).lower() in SECRET_KEY_NAMES]:
            diagnostics.append(
                source.diagnostic(
                    "FLOE-E305",
                    f"literal secret `{key}` in connection",
                    hint,
                    source.key_position((*where, "connection", key)),
                )
            )
        holder = {
            **holder,
            "connection": {k: v for k, v in connection.items() if str(k).lower() not in SECRET_KEY_NAMES},
        }
    credentials = holder.get("credentials")
    if isinstance(credentials, dict):
        for key in [k for k, v in credentials.items() if not isinstance(v, dict)]:
            diagnostics.append(
                source.diagnostic(
                    "FLOE-E305",
                    f"credential `{key}` is a literal value, not a reference",
                    "write it as {env: NAME} or {file: PATH}",
                    source.value_position((*where, "credentials", key)),
                )
            )
        holder = {**holder, "credentials": {k: v for k, v in credentials.items() if isinstance(v, dict)}}
    return holder


def _validate(
    model: type[_M], data: Any, prefix: PathKey, source: SourceFile, diagnostics: list[Diagnostic]
) -> _M | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        seen: set[tuple[Any, ...]] = set()
        for error in exc.errors(include_url=False, include_context=False, include_input=False):
            loc = (*prefix, *error["loc"])
            if loc in seen:
                continue
            seen.add(loc)
            diagnostics.append(_schema_diagnostic(source, loc, error["type"], error["msg"]))
        return None


def _schema_diagnostic(source: SourceFile, loc: tuple[Any, ...], kind: str, message: str) -> Diagnostic:
    dotted = ".".join(str(part) for part in loc)
    if kind == "extra_forbidden":
        return source.diagnostic(
            "FLOE-E101",
            f"unknown key `{dotted}`",
            "remove it or check its spelling",
            source.key_position(loc),
        )
    if kind == "missing":
        parent = loc[:-1]
        position = source.key_position(parent) if parent else (1, 1)
        return source.diagnostic(
            "FLOE-E101", f"missing required field `{dotted}`", f"add `{loc[-1]}`", position
        )
    if kind == "string_pattern_mismatch":
        value = source.get(loc)
        rules = _NAME_RULES.get(str(loc[-1]), _name_rule(loc))
        return source.diagnostic(
            "FLOE-E101",
            f"`{dotted}`: `{value}` is not a valid name",
            f"names match {rules}",
            source.value_position(loc),
        )
    if kind == "literal_error" and loc[-1] == "scope":
        return source.diagnostic(
            "FLOE-E101",
            f"`{dotted}` must be `enterprise` or `domain`",
            "set metadata.scope: enterprise or domain",
            source.value_position(loc),
        )
    return source.diagnostic(
        "FLOE-E101",
        f"`{dotted}`: {message.removeprefix('Value error, ').rstrip('.')}",
        "fix the value's type",
        source.value_position(loc),
    )


_NAME_RULES = {"compute": TARGET_NAME, "default": TARGET_NAME, "plugin": TARGET_NAME}


def _name_rule(loc: tuple[Any, ...]) -> str:
    if "transforms" in loc:
        return TRANSFORM_NAME
    if "approved" in loc:
        return TARGET_NAME
    return LEVEL_NAME
