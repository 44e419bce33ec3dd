"""Find compute plugins through the entry-point group ``floe.computes``.

Loading a plugin imports only its module: plugins keep engine drivers (pyspark, cloud SDKs)
out of module scope, so discovery stays fast and needs none of them. A plugin is loaded when it
is first asked for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points

from floe_tui.compute.errors import ComputeError, PluginApiVersionError, PluginNotInstalledError
from floe_tui.compute.plugin import API_VERSION, ComputePlugin

GROUP = "floe.computes"
log = logging.getLogger("floe_tui.compute.discovery")


class Discovered:
    """The installed plugins by name, each imported on its first use: a check whose manifests
    name one engine imports that engine's plugin alone (loading all five was 35 ms of a start)."""

    def __init__(
        self,
        plugins: Mapping[str, type[ComputePlugin]] | None = None,
        entries: Iterable[EntryPoint] = (),
    ) -> None:
        self._plugins = dict(plugins or {})
        #: Entry points that exist but cannot be used, by name.
        self._problems: dict[str, ComputeError] = {}
        self._unloaded = {e.name: e for e in entries if e.name not in self._plugins}
        self._lock = threading.Lock()  # console workers may ask for the same plugin at once

    @property
    def plugins(self) -> dict[str, type[ComputePlugin]]:
        self._load_all()
        return self._plugins

    @property
    def problems(self) -> dict[str, ComputeError]:
        self._load_all()
        return self._problems

    def get(self, name: str) -> type[ComputePlugin]:
        with self._lock:
            self._load(name)
        if name in self._plugins:
            return self._plugins[name]
        if name in self._problems:
            raise self._problems[name]
        raise PluginNotInstalledError(
            f"no compute plugin named {name!r} is installed",
            f"pip install floe-compute-{name}",
        )

    def _load_all(self) -> None:
        with self._lock:
            for name in list(self._unloaded):
                self._load(name)

    def _load(self, name: str) -> None:
        entry = self._unloaded.pop(name, None)
        if entry is None:
            return
        try:
            self._plugins[name] = load_entry_point(entry)
        except ComputeError as exc:
            log.warning("%s", exc)
            self._problems[name] = exc


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
    return Discovered(entries=entry_points(group=GROUP))
