"""ComputeRegistry: the approved compute targets of one level, and its default.

A child level (domain, product) gets ``restricted(subset, default)``: the same configured plugin
instances, so one target keeps one pool however many levels look at it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from floe_tui.compute.discovery import Discovered, discover_plugins
from floe_tui.compute.errors import RegistryError, UnknownComputeError
from floe_tui.compute.models import ComputeConfig
from floe_tui.compute.plugin import ComputePlugin


class ComputeRegistry:
    def __init__(
        self,
        approved: Sequence[ComputeConfig],
        default: str,
        plugins: Discovered | Mapping[str, type[ComputePlugin]] | None = None,
        *,
        _instances: dict[str, ComputePlugin] | None = None,
    ) -> None:
        if not approved:
            raise RegistryError(
                "no compute target is approved", "approve at least one target under compute.approved"
            )
        self._configs: dict[str, ComputeConfig] = {}
        for config in approved:
            if config.name in self._configs:
                raise RegistryError(
                    f"compute target {config.name!r} is approved twice", "give each target a unique name"
                )
            self._configs[config.name] = config
        self._discovered = _as_discovered(plugins)
        for config in approved:
            self._discovered.get(config.plugin)  # raises PluginNotInstalledError with the pip hint
        if default not in self._configs:
            raise RegistryError(
                f"default compute {default!r} is not approved here",
                f"choose one of: {', '.join(self._configs)}",
            )
        self.default = default
        self._instances = {} if _instances is None else _instances

    @property
    def names(self) -> list[str]:
        return list(self._configs)

    def __contains__(self, name: object) -> bool:
        return name in self._configs

    def config(self, name: str) -> ComputeConfig:
        return self._configs[self.validate_selection(name)]

    def validate_selection(self, name: str | None) -> str:
        """The target to use for `name` (None: the default); raise if it is not approved."""
        if name is None:
            return self.default
        if name not in self._configs:
            raise UnknownComputeError(
                f"compute {name!r} is not approved here",
                f"choose one of: {', '.join(self._configs)}",
            )
        return name

    def plugin_class(self, name: str) -> type[ComputePlugin]:
        return self._discovered.get(self.config(name).plugin)

    def get(self, name: str | None = None) -> ComputePlugin:
        """The configured plugin instance of a target (not yet connected)."""
        target = self.validate_selection(name)
        if target not in self._instances:
            self._instances[target] = self.plugin_class(target)(self._configs[target])
        return self._instances[target]

    def restricted(self, subset: Iterable[str], default: str | None = None) -> ComputeRegistry:
        names = list(subset)
        for name in names:
            self.validate_selection(name)
        child_default = default if default is not None else self.default
        return ComputeRegistry(
            [self._configs[n] for n in names], child_default, self._discovered, _instances=self._instances
        )

    def close(self) -> None:
        """Disconnect every instance this registry (or a child) created."""
        for plugin in list(self._instances.values()):
            plugin.disconnect()


def _as_discovered(plugins: Discovered | Mapping[str, type[ComputePlugin]] | None) -> Discovered:
    if plugins is None:
        return discover_plugins()
    if isinstance(plugins, Discovered):
        return plugins
    return Discovered(plugins=dict(plugins))
