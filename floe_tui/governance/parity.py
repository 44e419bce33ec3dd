"""Environment parity: a transform keeps its compute in dev, staging and prod."""

from __future__ import annotations

from floe_tui.governance.diagnostics import Diagnostic
from floe_tui.governance.schema import ProductDoc


def parity_breaks(
    product: ProductDoc, computes: dict[str, str | None], environments: list[str]
) -> list[Diagnostic]:
    """One FLOE-E400 per transform whose environment overrides name a different compute.

    The message names the compute of every environment. Overrides of unknown environments
    (FLOE-E402) and of transforms without a valid compute (already an error) are not parity breaks.
    """
    source = product.source
    found = []
    for transform, by_env in sorted(product.override_computes.items()):
        base = computes.get(transform)
        if base is None:
            continue  # an unknown transform, or one whose own compute is already reported
        known = {env: compute for env, compute in by_env.items() if env in environments}
        differing = [env for env in environments if env in known and known[env] != base]
        if not differing:
            continue
        positions = [
            source.key_position(("environments", env, "transforms", transform, "compute"))
            for env in differing
        ]
        detail = ", ".join(f"{env}: {known.get(env, base)}" for env in environments)
        found.append(
            source.diagnostic(
                "FLOE-E400",
                f"transform `{transform}` changes compute between environments ({detail})",
                f"a transform keeps one compute in every environment: remove `compute` from the "
                f"overrides of {', '.join(differing)}",
                min(positions),
            )
        )
    return found
