"""Load a manifest tree and link it: enterprise -> domain -> product, with cycle and scope checks.

Parsed files are cached by (mtime, size), so re-validating a large tree after one file changed
only reads that file again. A file read within its filesystem's timestamp granularity of its last
change could change again without a new mtime ("racy", as git calls it): such a parse is not
trusted the next time. A directory with many files to read is read on every core
(`floe_tui.governance.parallel`); the files are still checked here, in order, one by one.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from floe_tui.governance.diagnostics import Diagnostic
from floe_tui.governance.schema import (
    Document,
    DomainDoc,
    EnterpriseDoc,
    ProductDoc,
    is_floe_document,
    parse_document,
)
from floe_tui.governance.source import SourceFile, from_raw, load_source
from floe_tui.paths import manifest_files

if TYPE_CHECKING:
    from floe_tui.governance.parallel import Prefetch

#: A directory of fewer files is read in this process, without even importing `parallel`.
_PARALLEL_MIN_FILES = 32
_D = TypeVar("_D", EnterpriseDoc, DomainDoc, ProductDoc)
#: (mtime in ns, size), or None for a file that is missing or changed too recently to be trusted.
_StatKey = tuple[int, int] | None


@dataclass
class Parsed:
    """One file as loaded: its document if it is a usable floe document, and its own diagnostics."""

    stat_key: tuple[int, int] | None  # None: never reused
    source: SourceFile | None
    document: Document | None
    diagnostics: list[Diagnostic]
    is_floe: bool
    #: Where the document's `parent` / `platform.manifest` points (normalised), computed once.
    link: Path | None = None


@dataclass
class Tree:
    root: Path
    directory_mode: bool = True
    documents: dict[Path, Document] = field(default_factory=dict)
    #: child path -> parent path, for links that resolved to a usable document of the right scope.
    parent_of: dict[Path, Path] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    floe_files: int = 0
    #: Files that parsed but belong to another tool (their apiVersion is not floe.dev/...).
    foreign: set[Path] = field(default_factory=set)
    #: document path -> its link target, as parsed
    links: dict[Path, Path | None] = field(default_factory=dict)

    def of_kind(self, kind: type[_D]) -> list[_D]:
        return [d for d in self.documents.values() if isinstance(d, kind)]

    def parent(self, document: Document) -> Document | None:
        parent_path = self.parent_of.get(document.source.path)
        return self.documents.get(parent_path) if parent_path else None


class Loader:
    """Reads files through a cache keyed by path, modification time and size."""

    def __init__(self, workers: int | None = None) -> None:
        self._cache: dict[tuple[Path, str], Parsed] = {}
        #: Parse workers for the files a `load_tree` has to read: None, as many as the cores when
        #: the tree is big enough to pay for them and this process runs one thread
        #: (`parallel.usable_workers`); 0, none; N, N for any tree (on Linux).
        self._workers = workers

    def load_tree(self, argument: Path) -> Tree:
        argument = _identity(argument)
        root = argument if argument.is_dir() else argument.parent
        tree = Tree(root=root, directory_mode=argument.is_dir())
        # Paths from the walk and link targets are already normalised: they are their own identity.
        pending = deque(_yaml_files(argument) if argument.is_dir() else [argument])
        visited: set[Path] = set()
        prefix = f"{root}{os.sep}"
        stat_keys: dict[Path, _StatKey] = {}
        prefetch = self._prefetch(pending, root, prefix, stat_keys)
        try:
            while pending:
                key = pending.popleft()
                if key in visited:
                    continue
                visited.add(key)
                stat_key = stat_keys.pop(key) if key in stat_keys else _trustworthy_stat_key(key)
                parsed = self._parse(key, _display_in(key, root, prefix), stat_key, prefetch)
                tree.diagnostics.extend(parsed.diagnostics)
                tree.floe_files += parsed.is_floe or bool(parsed.diagnostics)
                if not parsed.is_floe:
                    tree.foreign.add(key)
                if parsed.document is None:
                    continue
                tree.documents[key] = parsed.document
                tree.links[key] = target = parsed.link
                if target is not None and target not in visited and target.is_file():
                    pending.append(target)  # follow links upward, also out of the argument directory
        finally:
            if prefetch is not None:
                prefetch.close()
        _link(tree)
        return tree

    def _prefetch(
        self, files: deque[Path], root: Path, prefix: str, stat_keys: dict[Path, _StatKey]
    ) -> Prefetch | None:
        """Workers reading the `files` that the cache cannot answer, when that pays; `stat_keys`
        gets the (mtime, size) of every file, taken before any worker reads it."""
        if self._workers == 0 or (self._workers is None and len(files) < _PARALLEL_MIN_FILES):
            return None
        from floe_tui.governance import parallel

        workers = parallel.usable_workers() if self._workers is None else self._workers * parallel.can_fork()
        if workers < 1:
            return None
        to_read: list[Path] = []
        size = 0
        for path in files:
            stat_keys[path] = stat_key = _trustworthy_stat_key(path)
            cached = self._cache.get((path, _display_in(path, root, prefix)))
            if cached is None or stat_key is None or cached.stat_key != stat_key:
                to_read.append(path)
                size += stat_key[1] if stat_key else 0
        if not to_read or (self._workers is None and size < parallel.MIN_BYTES):
            return None
        try:
            return parallel.Prefetch(to_read, workers)
        except OSError:  # no process could be started: read them here
            return None

    def parse(self, path: Path, display: str) -> Parsed:
        return self._parse(path, display, _trustworthy_stat_key(path), None)

    def _parse(self, path: Path, display: str, stat_key: _StatKey, prefetch: Prefetch | None) -> Parsed:
        cached = self._cache.get((path, display))
        if cached is not None and stat_key is not None and cached.stat_key == stat_key:
            return cached
        raw = prefetch.take(path) if prefetch is not None and path in prefetch else None
        loaded = load_source(path, display) if raw is None else from_raw(raw, path, display)
        if isinstance(loaded, Diagnostic):
            parsed = Parsed(stat_key, None, None, [loaded], True)
        elif not is_floe_document(loaded):
            parsed = Parsed(stat_key, loaded, None, [], False)
        else:
            document, diagnostics = parse_document(loaded)
            link = link_target(document) if document is not None else None
            parsed = Parsed(stat_key, loaded, document, diagnostics, True, link)
        self._cache[(path, display)] = parsed
        return parsed


#: How long after a change a file's mtime may stay the same: a kernel clock tick where timestamps
#: have sub-second digits, two seconds (FAT's step) where they are whole seconds.
_FINE_RACY_NS, _COARSE_RACY_NS = 20_000_000, 2_000_000_000


def _trustworthy_stat_key(path: Path) -> tuple[int, int] | None:
    """(mtime, size) if a later edit is sure to change it; None for a missing or racy file."""
    try:
        stat = path.stat()
    except OSError:
        return None
    mtime = stat.st_mtime_ns
    racy_ns = _COARSE_RACY_NS if mtime % 1_000_000_000 == 0 else _FINE_RACY_NS
    if time.time_ns() - mtime < racy_ns:
        return None
    return (mtime, stat.st_size)


def link_target(document: Document) -> Path | None:
    reference = _reference(document)
    if reference is None:
        return None
    # String operations, one Path: this runs once a product, 2,000s of times on a large tree.
    folder = os.path.dirname(document.source.path)
    return Path(os.path.normpath(os.path.join(folder, reference)))


def _reference(document: Document) -> str | None:
    if isinstance(document, ProductDoc):
        return document.spec.platform.manifest
    return document.manifest.parent


def _reference_key(document: Document) -> tuple[str, ...]:
    return ("platform", "manifest") if isinstance(document, ProductDoc) else ("parent",)


def _link(tree: Tree) -> None:
    for path, document in sorted(tree.documents.items()):
        source = document.source
        target = tree.links.get(path)
        if isinstance(document, EnterpriseDoc):
            if target is not None:
                tree.diagnostics.append(
                    source.diagnostic(
                        "FLOE-E202",
                        "an enterprise manifest has no parent",
                        "remove `parent`, or set metadata.scope: domain",
                        source.key_position(("parent",)),
                    )
                )
            continue
        if target is None:  # a domain without parent (products always have platform.manifest)
            tree.diagnostics.append(
                source.diagnostic(
                    "FLOE-E202",
                    "a domain manifest needs a `parent` (its enterprise manifest)",
                    "add parent: <path to the enterprise manifest>",
                    source.value_position(("metadata", "scope")),
                )
            )
            continue
        position = source.value_position(_reference_key(document))
        parent = tree.documents.get(target)
        if parent is None and not target.is_file():  # a loaded document is a file: no stat
            tree.diagnostics.append(
                source.diagnostic(
                    "FLOE-E200",
                    f"`{_reference(document)}` " + ("is not a file" if target.exists() else "not found"),
                    "fix the relative path (it is relative to this file)",
                    position,
                )
            )
            continue
        if parent is None and target in tree.foreign:
            tree.diagnostics.append(
                source.diagnostic(
                    "FLOE-E200",
                    f"`{_reference(document)}` is not a floe manifest (no apiVersion: floe.dev/v1)",
                    "point at the enterprise or domain manifest",
                    position,
                )
            )
            continue
        if parent is None:
            continue  # the target has its own diagnostics (unparsable, or a schema error)
        if isinstance(parent, ProductDoc):
            tree.diagnostics.append(
                source.diagnostic(
                    "FLOE-E202",
                    f"`{_reference(document)}` is a product, not a manifest",
                    "point at the domain (or enterprise) manifest",
                    position,
                )
            )
            continue
        if isinstance(document, DomainDoc) and isinstance(parent, DomainDoc):
            tree.parent_of[path] = target  # checked below: a cycle, else a scope error
            continue
        tree.parent_of[path] = target
    _check_domain_chains(tree)


def _check_domain_chains(tree: Tree) -> None:
    """Domain -> domain links are either part of a cycle (E201, once) or a scope error (E202)."""
    reported_cycles: set[frozenset[Path]] = set()
    for path, document in sorted(tree.documents.items()):
        if not isinstance(document, DomainDoc):
            continue
        parent = tree.documents.get(tree.parent_of.get(path, Path()))
        if not isinstance(parent, DomainDoc):
            continue
        chain = [path]
        current = tree.parent_of.get(path)
        while (
            current is not None
            and current not in chain
            and isinstance(tree.documents.get(current), DomainDoc)
        ):
            chain.append(current)
            current = tree.parent_of.get(current)
        if current is not None and current in chain:
            cycle = chain[chain.index(current) :]
            if frozenset(cycle) not in reported_cycles:
                reported_cycles.add(frozenset(cycle))
                first = min(cycle, key=lambda p: tree.documents[p].source.display)
                names = " -> ".join(tree.documents[p].source.display for p in _rotate(cycle, first))
                source = tree.documents[first].source
                tree.diagnostics.append(
                    source.diagnostic(
                        "FLOE-E201",
                        f"inheritance cycle: {names} -> {source.display}",
                        "break the cycle: a domain's parent is the enterprise manifest",
                        source.value_position(("parent",)),
                    )
                )
        elif not any(path in cycle for cycle in reported_cycles):
            source = document.source
            tree.diagnostics.append(
                source.diagnostic(
                    "FLOE-E202",
                    "a domain's parent must be the enterprise manifest, not another domain",
                    "point `parent` at the enterprise manifest",
                    source.value_position(("parent",)),
                )
            )
    for path in [p for p, d in tree.documents.items() if isinstance(d, DomainDoc)]:
        if isinstance(tree.documents.get(tree.parent_of.get(path, Path())), DomainDoc):
            del tree.parent_of[path]


def _rotate(cycle: list[Path], first: Path) -> list[Path]:
    index = cycle.index(first)
    return cycle[index:] + cycle[:index]


def _yaml_files(directory: Path) -> list[Path]:
    """The YAML files below `directory` (`paths.manifest_files`), in path order."""
    found = manifest_files(str(directory))
    return [Path(path) for path in sorted(found, key=lambda path: path.split(os.sep))]


def _identity(path: Path) -> Path:
    return Path(os.path.normpath(path.absolute()))


def _display(path: Path, root: Path) -> str:
    return os.path.relpath(path, root)


def _display_in(path: Path, root: Path, prefix: str) -> str:
    """`_display`, without a relpath for the usual case: a path below the root."""
    text = str(path)
    return text[len(prefix) :] if text.startswith(prefix) else _display(path, root)
