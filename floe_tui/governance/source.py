"""Safe YAML loading with a position for every key and value.

Uses libyaml's composer (no Python objects are constructed from tags, so nothing executes) and
keeps a compact table ``path -> (key line, key column, value line, value column)`` instead of
the node tree. Refuses files that are not regular files, over 10 MiB, not UTF-8 or holding
control characters; written tags (`!!python/...`, `!Ref`, `!!timestamp`...) and merge keys;
documents nested more than 200 levels, with more than 100 aliases or 10,000 nodes after alias
expansion: each is FLOE-E102, at the offending node where there is one.
"""

from __future__ import annotations

import errno
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from floe_tui.governance.diagnostics import Diagnostic

MAX_BYTES = 10 * 2**20
MAX_ALIASES = 100
MAX_NODES = 10_000
#: Manifests are a few levels deep; the limit keeps deep input from exhausting the stack.
MAX_DEPTH = 200

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_VALUE = "tag:yaml.org,2002:value"
_SCALARS = {_STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP, _VALUE}
_PLAIN = "floe:plain"  # an untagged plain scalar, typed later by _implicit_tag
_QUOTED = "floe:quoted"  # an untagged quoted or block scalar: text
_UNTAGGED = (_PLAIN, _QUOTED)
_IMPLICIT = yaml.resolver.Resolver.yaml_implicit_resolvers
#: Identifier-shaped words YAML 1.1 reads as booleans or null.
_SPECIAL_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "null"})


class _MarkingResolver(yaml.resolver.BaseResolver):
    """Marks untagged plain scalars instead of typing them in the composer: typing happens once,
    in `_implicit_tag`, and the composer's per-node path tracking (unused here) is skipped."""

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode:
            return _PLAIN if implicit[0] else _QUOTED
        return _SEQ if kind is yaml.SequenceNode else _MAP


class _PyLoader(
    yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer, _MarkingResolver
):
    """The pure-Python pipeline, for a PyYAML built without libyaml."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _MarkingResolver.__init__(self)


try:
    from yaml.cyaml import CParser  # type: ignore[attr-defined]

    class _Loader(CParser, _MarkingResolver):
        """libyaml's parser and composer: the fast path (PyPI's PyYAML wheels ship it)."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _MarkingResolver.__init__(self)

except ImportError:
    _Loader = _PyLoader  # type: ignore[misc, assignment]


def _compose(text: str) -> yaml.Node | None:
    loader = _Loader(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
        return node
    finally:
        loader.dispose()


_CONSTRUCTOR = yaml.constructor.SafeConstructor()
#: Characters YAML does not allow in a stream (the set PyYAML's reader rejects).
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

PathKey = tuple[str | int, ...]
Position = tuple[int, int]


@dataclass
class SourceFile:
    path: Path
    #: The path shown in diagnostics: relative to the argument directory.
    display: str
    data: Any
    positions: dict[PathKey, tuple[int, int, int, int]]
    #: Keys repeated in one mapping, with the position of the repeat.
    duplicate_keys: list[tuple[PathKey, Position]]

    def diagnostic(self, code: str, message: str, hint: str, position: Position) -> Diagnostic:
        """A diagnostic about this file at `position` (the one factory every check uses)."""
        return Diagnostic.make(code, message, self.display, position, hint)

    def key_position(self, path: PathKey) -> Position:
        """Where the key of `path` is (for unknown or forbidden keys); else its nearest parent."""
        while path:
            if path in self.positions:
                line, column, _, _ = self.positions[path]
                return line, column
            path = path[:-1]
        return 1, 1

    def value_position(self, path: PathKey) -> Position:
        while path:
            if path in self.positions:
                _, _, line, column = self.positions[path]
                return line, column
            path = path[:-1]
        return 1, 1

    def get(self, path: PathKey, default: Any = None) -> Any:
        node = self.data
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return default
        return node


class _Unsafe(Exception):
    def __init__(
        self, message: str, position: Position, hint: str = "use plain YAML: no tags, at most 100 aliases"
    ) -> None:
        super().__init__(message)
        self.position = position
        self.hint = hint


def _text_position(text: str, index: int) -> Position:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _byte_position(raw: bytes, index: int) -> Position:
    """Line and column of the byte at `index`, where the bytes before it are valid UTF-8."""
    before = raw[:index].decode("utf-8")
    return _text_position(before, len(before))


def load_source(path: Path, display: str) -> SourceFile | Diagnostic:
    """Read and compose one YAML file, or say in one diagnostic why it cannot be used."""

    def fail(code: str, message: str, hint: str, position: Position = (1, 1)) -> Diagnostic:
        return Diagnostic.make(code, message, display, position, hint)

    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block the read forever
            return fail("FLOE-E102", "not a regular file", "replace it with a plain YAML file")
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1) if info.st_size <= MAX_BYTES else b""
        if info.st_size > MAX_BYTES or len(raw) > MAX_BYTES:  # checked again: it may have grown
            size = max(info.st_size, len(raw))
            return fail(
                "FLOE-E102", f"file is {size / 2**20:.1f} MiB, over the 10 MiB limit", "split the manifest"
            )
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return fail("FLOE-E102", "symbolic link loop", "point the link at a real file")
        return fail(
            "FLOE-E102", f"cannot read the file ({exc.strerror or type(exc).__name__})", "check permissions"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        position = _byte_position(raw, exc.start)
        return fail("FLOE-E102", f"not UTF-8 (byte {exc.start})", "save the file as UTF-8", position)
    bad = _NOT_PRINTABLE.search(text)
    if bad:
        return fail(
            "FLOE-E102",
            f"control character U+{ord(bad.group()):04X} is not allowed in YAML",
            "save the file as UTF-8 text without control characters",
            _text_position(text, bad.start()),
        )
    try:
        root = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        position = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        return fail("FLOE-E100", f"YAML syntax error: {problem}", "fix the YAML at this position", position)
    except yaml.YAMLError as exc:
        return fail("FLOE-E100", f"YAML syntax error: {exc}", "fix the YAML")
    except RecursionError:
        return fail("FLOE-E102", "nesting too deep", "flatten the document")
    if root is None:
        return SourceFile(path, display, None, {}, [])
    positions: dict[PathKey, tuple[int, int, int, int]] = {}
    builder = _Builder(positions)
    try:
        data = builder.build(root)
    except _Unsafe as exc:
        return fail("FLOE-E102", str(exc), exc.hint, exc.position)
    return SourceFile(path, display, data, positions, builder.duplicate_keys)


class _Builder:
    """Turns composed nodes into plain data, recording positions and enforcing the limits."""

    def __init__(self, positions: dict[PathKey, tuple[int, int, int, int]]) -> None:
        self.positions = positions
        self.nodes = 0
        self.aliases = 0
        self.seen: set[int] = set()
        self.duplicate_keys: list[tuple[PathKey, Position]] = []

    def build(self, root: yaml.Node) -> Any:
        return self._value(root, (), expanding=False)

    def _count(self, node: yaml.Node, depth: int, expanding: bool) -> bool:
        """Count `node` against the limits; whether it is an alias (the composer hands out the
        anchored node again for each alias, so a node met twice outside an expansion is one)."""
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Unsafe(f"more than {MAX_NODES} nodes after alias expansion", _pos(node))
        if depth > MAX_DEPTH:
            raise _Unsafe(f"nested more than {MAX_DEPTH} levels deep", _pos(node), "flatten the document")
        if id(node) not in self.seen:
            self.seen.add(id(node))
            return False
        if not expanding:
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _Unsafe(f"more than {MAX_ALIASES} aliases", _pos(node))
        return True

    def _value(self, node: yaml.Node, path: PathKey, expanding: bool) -> Any:
        """Plain data for `node`; `expanding` while inside an alias (its nodes are no new aliases)."""
        expanding = self._count(node, len(path), expanding) or expanding
        kind = type(node)
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node)
        if kind is yaml.SequenceNode:
            _check_tag(node, _SEQ)
            items = []
            for index, item in enumerate(node.value):
                child = (*path, index)
                mark = item.start_mark
                self.positions[child] = (mark.line + 1, mark.column + 1, mark.line + 1, mark.column + 1)
                items.append(self._child(item, child, expanding))
            return items
        if kind is yaml.MappingNode:
            _check_tag(node, _MAP)
            mapping: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if type(key_node) is not yaml.ScalarNode:
                    raise _Unsafe("mapping keys must be plain scalars", _pos(key_node), "use text keys")
                if key_node.tag in _UNTAGGED and id(key_node) not in self.seen and key_node.value != "<<":
                    self.nodes += 1  # inlined, the hot path: a plain key met once
                    self.seen.add(id(key_node))
                else:  # a tag, an alias or a merge key: the general path counts it and raises
                    self._child(key_node, path, expanding)
                key = key_node.value  # the text as written: `on:` stays "on", not True
                child = (*path, key)
                key_mark = key_node.start_mark
                if key in mapping:  # keep the first value; the schema check reports the repeat
                    self.duplicate_keys.append((child, (key_mark.line + 1, key_mark.column + 1)))
                    continue
                value_mark = value_node.start_mark
                self.positions[child] = (
                    key_mark.line + 1,
                    key_mark.column + 1,
                    value_mark.line + 1,
                    value_mark.column + 1,
                )
                mapping[key] = self._child(value_node, child, expanding)
            return mapping
        raise _Unsafe("unsupported YAML node", _pos(node))

    def _child(self, node: yaml.Node, path: PathKey, expanding: bool) -> Any:
        """Fast path for the common case, a scalar met for the first time (most nodes are)."""
        if type(node) is not yaml.ScalarNode or id(node) in self.seen or len(path) > MAX_DEPTH:
            return self._value(node, path, expanding)
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Unsafe(f"more than {MAX_NODES} nodes after alias expansion", _pos(node))
        self.seen.add(id(node))
        return _scalar(node)


def _pos(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _check_tag(node: yaml.Node, expected: str) -> None:
    if node.tag != expected:
        raise _tag_error(str(node.tag), node)


def _tag_error(tag: str, node: yaml.Node) -> _Unsafe:
    if tag == _MERGE:
        return _Unsafe("merge keys (`<<`) are not supported", _pos(node), "write the keys out in full")
    return _Unsafe(f"YAML tag {tag.replace('tag:yaml.org,2002:', '!!')} is not allowed", _pos(node))


def _scalar(node: yaml.ScalarNode) -> Any:
    """A scalar's value; the constructors are called directly so no node is cached or kept alive."""
    if node.tag == _QUOTED:
        return node.value
    if node.tag != _PLAIN:
        raise _tag_error(str(node.tag), node)  # a written tag: !!str 5, !!timestamp x, !Ref
    tag = _implicit_tag(node.value)
    if tag in (_STR, _TIMESTAMP, _VALUE):
        return node.value  # dates stay text: manifests have no date fields; `=` is text too
    if tag not in _SCALARS:
        raise _tag_error(tag, node)  # a merge key
    construct = yaml.constructor.SafeConstructor.yaml_constructors[tag]
    try:
        return construct(_CONSTRUCTOR, yaml.ScalarNode(tag, node.value, node.start_mark, node.end_mark))
    except ValueError:  # e.g. an integer of more digits than Python converts
        raise _Unsafe("number too long", _pos(node), "write a shorter number") from None


def _implicit_tag(value: str) -> str:
    """The tag YAML 1.1 (PyYAML's SafeLoader) gives an untagged plain scalar."""
    if value.isidentifier() and value.lower() not in _SPECIAL_WORDS:
        return _STR  # the common case (names): no pattern can match, skip them
    for tag, pattern in _IMPLICIT.get(value[:1] or None, ()):
        if pattern.match(value):
            return str(tag)
    return _STR
