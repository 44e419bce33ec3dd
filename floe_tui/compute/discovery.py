"""Find compute plugins through the entry-point group ``floe.computes``.

Loading a plugin imports only its module: plugins keep engine drivers (pyspark, cloud SDKs)
out of module scope, so discovery stays fast and needs none of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points

from floe_tui.compute.errors import ComputeError, PluginApiVersionError, PluginNotInstalledError
from floe_tui.compute.plugin import API_VERSION, ComputePlugin

GROUP = "floe.computes"
log = logging.getLogger("floe_tui.compute.discovery")


@dataclass(frozen=True)
class Discovered:
    plugins: dict[str, type[ComputePlugin]] = field(default_factory=dict)
    #: Entry points that exist but cannot be used, by name.
    problems: dict[str, ComputeError] = field(default_factory=dict)

    def get(self, name: str) -> type[ComputePlugin]:
        if name in self.plugins:
            return self.plugins[name]
        if name in self.problems:
            raise self.problems[name]
        raise PluginNotInstalledError(
            f"no compute plugin named {name!r} is installed",
            f"pip install floe-compute-{name}",
        )


def check_api_version(plugin: type[ComputePlugin]) -> None:
    ours, theirs = API_VERSION.split(".")[0], str(plugin.api_version).split(".")[0]
    if ours != theirs:
        raise PluginApiVersionError(
            f"plugin {plugin.name!r} implements plugin API {plugin.api_version}, "
            f"this floe-tui has {API_VERSION}",
            f"install a release of the plugin built for API {ours}.x",
        )


def load_entry_point(entry: EntryPoint) -> type[ComputePlugin]:
    try:
        plugin = entry.load()
    except Exception as exc:  # a broken plugin must not take the others down
        raise PluginNotInstalledError(
            f"compute plugin {entry.name!r} failed to import ({type(exc).__name__}: {exc})",
            f"reinstall it: pip install --force-reinstall floe-compute-{entry.name}",
        ) from None
    if not (isinstance(plugin, type) and issubclass(plugin, ComputePlugin)):
        raise PluginNotInstalledError(
            f"entry point {entry.name!r} in {GROUP} is not a ComputePlugin class",
            "point the entry point at a ComputePlugin subclass",
        )
    check_api_version(plugin)
    return plugin


@lru_cache(maxsize=1)
def discover_plugins() -> Discovered:
    found = Discovered()
    for entry in entry_points(group=GROUP):
        try:
            found.plugins[entry.name] = load_entry_point(entry)
        except ComputeError as exc:
            log.warning("%s", exc)
            found.problems[entry.name] = exc
    return found
