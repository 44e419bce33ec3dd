"""Load a manifest tree and link it: enterprise -> domain -> product, with cycle and scope checks.

Parsed files are cached by (mtime, size), so re-validating a large tree after one file changed
only reads that file again. A file read within its filesystem's timestamp granularity of its last
change could change again without a new mtime ("racy", as git calls it): such a parse is not
trusted the next time.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from floe_tui.governance.diagnostics import Diagnostic
from floe_tui.governance.schema import (
    Document,
    DomainDoc,
    EnterpriseDoc,
    ProductDoc,
    is_floe_document,
    parse_document,
)
from floe_tui.governance.source import SourceFile, load_source

YAML_SUFFIXES = (".yaml", ".yml")
_D = TypeVar("_D", EnterpriseDoc, DomainDoc, ProductDoc)


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

    def __init__(self) -> None:
        self._cache: dict[tuple[Path, str], Parsed] = {}

    def load_tree(self, argument: Path) -> Tree:
        argument = _identity(argument)
        root = argument if argument.is_dir() else argument.parent
        tree = Tree(root=root, directory_mode=argument.is_dir())
        # Paths from the walk and link targets are already normalised: they are their own identity.
        pending = deque(sorted(_yaml_files(argument)) if argument.is_dir() else [argument])
        visited: set[Path] = set()
        prefix = f"{root}{os.sep}"
        while pending:
            key = pending.popleft()
            if key in visited:
                continue
            visited.add(key)
            text = str(key)
            display = text[len(prefix) :] if text.startswith(prefix) else _display(key, root)
            parsed = self.parse(key, display)
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
        _link(tree)
        return tree

    def parse(self, path: Path, display: str) -> Parsed:
        stat_key = _trustworthy_stat_key(path)
        cached = self._cache.get((path, display))
        if cached is not None and stat_key is not None and cached.stat_key == stat_key:
            return cached
        loaded = load_source(path, display)
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
    return Path(os.path.normpath(document.source.path.parent / reference))


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
        if not target.is_file():
            tree.diagnostics.append(
                source.diagnostic(
                    "FLOE-E200",
                    f"`{_reference(document)}` " + ("is not a file" if target.exists() else "not found"),
                    "fix the relative path (it is relative to this file)",
                    position,
                )
            )
            continue
        parent = tree.documents.get(target)
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
    found: list[Path] = []
    for folder, subfolders, names in os.walk(directory, followlinks=False):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        found.extend(Path(folder) / n for n in names if n.endswith(YAML_SUFFIXES) and not n.startswith("."))
    return found


def _identity(path: Path) -> Path:
    return Path(os.path.normpath(path.absolute()))


def _display(path: Path, root: Path) -> str:
    return os.path.relpath(path, root)
