"""Credential references as plugins hand them on: to dbt profiles, and to warnings about them.

A profile never holds a secret: an ``{env: NAME}`` reference becomes ``{{ env_var('NAME') }}``,
which dbt reads when it runs. A ``{file: PATH}`` reference has no such form; adapters that read
secrets from files take the path itself under a key of their own (``private_key_path``,
``keyfile``), which the plugin writes from ``config.credentials[name].file``.
"""

from __future__ import annotations

import os

from floe_tui.compute.errors import ConfigError
from floe_tui.compute.models import ComputeConfig


def dbt_env_var(config: ComputeConfig, name: str) -> str:
    """The dbt template that reads credential `name` of `config` from its environment variable."""
    ref = config.credentials.get(name)
    if ref is None:
        raise ConfigError(f"target {config.name!r} has no credential {name!r}", f"add credentials.{name}")
    if ref.env is None:
        raise ConfigError(
            f"credential {name!r} is a file reference; dbt profiles read secrets from environment variables",
            "reference the secret as {env: NAME} for targets used by dbt",
        )
    return "{{ env_var('" + ref.env + "') }}"


def unresolved_credentials(config: ComputeConfig) -> list[str]:
    """What the target's credential references need but this machine lacks, named, never valued."""
    missing: list[str] = []
    for name, ref in sorted(config.credentials.items()):
        if ref.env is not None:
            if ref.env not in os.environ:
                missing.append(f"credentials.{name}: environment variable {ref.env} is not set")
        elif ref.file is not None and not ref.file.expanduser().is_file():
            missing.append(f"credentials.{name}: file {ref.file} does not exist")
    return missing
