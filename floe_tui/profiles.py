"""dbt profiles.yml per product: one output per environment and compute its transforms use."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from floe_tui.compute import ComputeError, unresolved_credentials
from floe_tui.governance import Level, Plan


def build_profile(plan: Plan, product: Level, target_environment: str) -> dict[str, Any]:
    """The profile of `product`: outputs `<env>_<compute>`, target `<env>_<product default>`."""
    used = sorted({t.compute for t in product.transforms if t.compute})
    outputs: dict[str, Any] = {}
    for env in plan.environments:
        configs = {c.name: c for c in plan.targets.get(env, [])}
        for compute in used:
            config = configs.get(compute)
            if config is None:
                raise ComputeError(
                    f"target `{compute}` has no usable configuration in {env}",
                    "run `floe-tui validate` and fix its errors",
                )
            plugin = plan.plugins.get(config.plugin)()
            outputs[f"{env}_{compute}"] = plugin.generate_dbt_profile(config, env)
    default = product.default if product.default in used else (used[0] if used else None)
    if default is None:
        raise ComputeError(f"product `{product.name}` has no transform with a compute", "fix its transforms")
    return {"target": f"{target_environment}_{default}", "outputs": outputs}


def missing_secrets(plan: Plan, product: Level) -> list[str]:
    """What the profile's `env_var` references need and this machine lacks (CI often has no secrets).

    The profile is still written: dbt reads the variables when it runs, perhaps elsewhere.
    """
    used = {t.compute for t in product.transforms if t.compute}
    missing: dict[str, None] = {}
    for env in plan.environments:
        for config in plan.targets.get(env, []):
            if config.name in used:
                for problem in unresolved_credentials(config):
                    missing[f"target `{config.name}` {problem}"] = None
    return list(missing)


def write_profile(directory: Path, name: str, profile: dict[str, Any]) -> Path:
    """Write `name` into directory/profiles.yml atomically, keeping the file's other profiles."""
    path = directory / "profiles.yml"
    existing: dict[str, Any] = {}
    if path.exists():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(loaded, dict):
            raise ComputeError(f"{path} is not a profiles.yml mapping", "move it aside or fix it")
        existing = loaded
    existing[name] = profile
    directory.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".profiles.", suffix=".yml")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            yaml.safe_dump(existing, out, sort_keys=False)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
