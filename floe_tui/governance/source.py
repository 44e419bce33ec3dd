"""Safe YAML loading with a position for every key and value.

Uses libyaml's composer (no Python objects are constructed from tags, so nothing executes) and
keeps a compact table ``path -> (key line, key column, value line, value column)`` instead of
the node tree. Refuses files that are not regular files, over 10 MiB, not UTF-8 or holding
control characters; written tags (`!!python/...`, `!Ref`, `!!timestamp`...) and merge keys;
documents nested more than 200 levels, with more than 100 aliases or 10,000 nodes after alias
expansion: each is FLOE-E102, at the offending node where there is one.

A document without `&` and `!` (no anchor, so no alias, and no written tag: nearly every
manifest) is turned into data by a builder that skips the alias and tag bookkeeping; anything
else, or a document near a limit, takes the general builder, so both give the same result.
`read_source` returns plain data, which parse workers (`parallel`) send back with `marshal`.
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
_ScalarNode, _SequenceNode, _MappingNode = yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode
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
        if kind is _ScalarNode:  # called for every node: module constants, no attribute lookups
            return _PLAIN if implicit[0] else _QUOTED
        return _SEQ if kind is _SequenceNode else _MAP


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
#: Its ASCII part: text of only these bytes cannot match it (deleting them is 7x quicker than the search).
_PRINTABLE_ASCII = bytes([0x09, 0x0A, 0x0D, *range(0x20, 0x7F)])

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


#: What `read_source` returns, in plain data only (so a parse worker can send it with `marshal`):
#: ``(True, data, positions, duplicate_keys)``, or ``(False, code, message, hint, (line, column))``.
RawSource = tuple[Any, ...]


def load_source(path: Path, display: str) -> SourceFile | Diagnostic:
    """Read and compose one YAML file, or say in one diagnostic why it cannot be used."""
    return from_raw(read_source(path), path, display)


def from_raw(raw: RawSource, path: Path, display: str) -> SourceFile | Diagnostic:
    """The file or the diagnostic that `raw` (from `read_source`) describes."""
    if raw[0]:
        return SourceFile(path, display, raw[1], raw[2], raw[3])
    _, code, message, hint, position = raw
    return Diagnostic.make(code, message, display, position, hint)


def read_source(path: Path) -> RawSource:
    """`load_source` without the display name, as plain data (see `RawSource`)."""

    def fail(code: str, message: str, hint: str, position: Position = (1, 1)) -> RawSource:
        return (False, code, message, hint, position)

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
    clean = text.isascii() and not raw.translate(None, _PRINTABLE_ASCII)
    bad = None if clean else _NOT_PRINTABLE.search(text)
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
        if problem == "exceeded maximum nesting depth":  # libyaml's own depth limit: refused, as ours
            return fail(
                "FLOE-E102", f"nested more than {MAX_DEPTH} levels deep", "flatten the document", position
            )
        return fail("FLOE-E100", f"YAML syntax error: {problem}", "fix the YAML at this position", position)
    except yaml.YAMLError as exc:
        return fail("FLOE-E100", f"YAML syntax error: {exc}", "fix the YAML")
    except RecursionError:
        return fail("FLOE-E102", "nesting too deep", "flatten the document")
    if root is None:
        return (True, None, {}, [])
    positions: dict[PathKey, tuple[int, int, int, int]] = {}
    # Without `&` there is no anchor, so no alias; without `!` no written tag: the fast builder's
    # case. It hands anything else it meets (a merge key, a key that is not a scalar, a number too
    # long, a document near the limits) back to the general builder, which decides as it always has.
    if FAST_BUILDER and "&" not in text and "!" not in text:
        fast = _FastBuilder(positions)
        try:
            return (True, fast.build(root), positions, fast.duplicate_keys)
        except _Fallback:
            positions.clear()
    builder = _Builder(positions)
    try:
        data = builder.build(root)
    except _Unsafe as exc:
        return fail("FLOE-E102", str(exc), exc.hint, exc.position)
    return (True, data, positions, builder.duplicate_keys)


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


#: Whether documents without anchors and tags take `_FastBuilder` (the equivalence tests turn it off
#: to compare it with the general builder).
FAST_BUILDER = True
#: Typed plain scalars that are not plain names (numbers, paths, versions), by their text: a tree
#: repeats few of them. Emptied when it grows past `_MEMO_SIZE`, so its memory stays bounded.
_PLAIN_MEMO: dict[str, Any] = {}
_MEMO_SIZE = 4096


class _Fallback(Exception):
    """The fast builder met something only the general builder decides."""


class _FastBuilder:
    """`_Builder` for a document without anchors (so without aliases: every node is met once) and
    without written tags: the same data, positions and duplicate keys, at about half the cost.

    Node counts are an upper bound of `_Builder`'s (a repeated key's value is counted too), so a
    document it takes is one that `_Builder` takes; near a limit it raises `_Fallback`.
    """

    def __init__(self, positions: dict[PathKey, tuple[int, int, int, int]]) -> None:
        self.positions = positions
        self.nodes = 1
        self.duplicate_keys: list[tuple[PathKey, Position]] = []

    def build(self, root: yaml.Node) -> Any:
        kind = type(root)
        if kind is _MappingNode:
            return self._mapping(root.value, ())
        if kind is _ScalarNode:
            return root.value if root.tag == _QUOTED else _plain(root.value)
        return self._sequence(root.value, ())

    def _mapping(self, items: list[tuple[yaml.Node, yaml.Node]], path: PathKey) -> dict[Any, Any]:
        self.nodes += 2 * len(items)
        if self.nodes > MAX_NODES or len(path) >= MAX_DEPTH:
            raise _Fallback
        positions = self.positions
        mapping: dict[Any, Any] = {}
        for key_node, value_node in items:
            if type(key_node) is not _ScalarNode:
                raise _Fallback
            key = key_node.value
            if key == "<<":
                raise _Fallback
            child = (*path, key)
            key_mark = key_node.start_mark
            if key in mapping:
                self.duplicate_keys.append((child, (key_mark.line + 1, key_mark.column + 1)))
                continue
            value_mark = value_node.start_mark
            positions[child] = (
                key_mark.line + 1,
                key_mark.column + 1,
                value_mark.line + 1,
                value_mark.column + 1,
            )
            kind = type(value_node)
            if kind is _ScalarNode:
                value = value_node.value
                mapping[key] = value if value_node.tag == _QUOTED else _plain(value)
            elif kind is _MappingNode:
                mapping[key] = self._mapping(value_node.value, child)
            else:
                mapping[key] = self._sequence(value_node.value, child)
        return mapping

    def _sequence(self, items: list[yaml.Node], path: PathKey) -> list[Any]:
        self.nodes += len(items)
        if self.nodes > MAX_NODES or len(path) >= MAX_DEPTH:
            raise _Fallback
        positions = self.positions
        sequence: list[Any] = []
        for index, item in enumerate(items):
            child = (*path, index)
            mark = item.start_mark
            line, column = mark.line + 1, mark.column + 1
            positions[child] = (line, column, line, column)
            kind = type(item)
            if kind is _ScalarNode:
                value = item.value
                sequence.append(value if item.tag == _QUOTED else _plain(value))
            elif kind is _MappingNode:
                sequence.append(self._mapping(item.value, child))
            else:
                sequence.append(self._sequence(item.value, child))
        return sequence


def _plain(value: str) -> Any:
    """`_scalar` of an untagged plain scalar; `_Fallback` where `_scalar` would raise."""
    if value.isidentifier() and (len(value) > 5 or value.lower() not in _SPECIAL_WORDS):
        return value  # a name: the common case
    typed = _PLAIN_MEMO.get(value, _PLAIN_MEMO)
    if typed is not _PLAIN_MEMO:
        return typed
    tag = _implicit_tag(value)
    if tag in (_STR, _TIMESTAMP, _VALUE):
        typed = value
    elif tag not in _SCALARS:
        raise _Fallback  # a merge key
    else:
        construct = yaml.constructor.SafeConstructor.yaml_constructors[tag]
        try:
            typed = construct(_CONSTRUCTOR, yaml.ScalarNode(tag, value))
        except ValueError:
            raise _Fallback from None
    if len(_PLAIN_MEMO) >= _MEMO_SIZE:
        _PLAIN_MEMO.clear()
    _PLAIN_MEMO[value] = typed
    return typed


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
