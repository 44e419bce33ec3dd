"""Diagnostics and their code catalogue: a stable public contract (DESIGN section 3)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from floe_tui.compute.models import SECRET_KEY_NAMES

# The diagnostic and its catalogue are plain data in a leaf module, so the console's first paint
# can show diagnostics without loading the compiler; they are governance's names all the same.
from floe_tui.planmodel import CATALOGUE, Diagnostic, Severity, sort_key

__all__ = [
    "CATALOGUE", "MASK", "Diagnostic", "Severity", "excerpt", "mask_secrets", "mask_source", "sort_key",
]  # fmt: skip


MASK = "****"
#: `key: rest` at the start of a line (after any `- `); a flow mapping's `{` is not a key.
_KEY_LINE = re.compile(
    r"""^(?P<lead>\s*(?:-\s+)?["']?(?P<key>[^\s:#"'{}\[\],]+)["']?\s*:)(?P<rest>(?:\s.*)?)$"""
)
#: A secret reference, or nothing (a nested mapping follows): shown inside `credentials`.
_SAFE_CREDENTIAL = re.compile(r"^\s*(?:\{\s*(?:env|file)\s*:[^{},]*\})?\s*(?:#.*)?$")
_SECRET_KEY = "|".join(sorted(SECRET_KEY_NAMES | {"credentials"}))
#: A secret-named key (or `credentials`) anywhere on a line, e.g. inside a flow mapping.
_INLINE_SECRET = re.compile(rf"""(?<![\w-])(?:{_SECRET_KEY})["']?\s*:""", re.IGNORECASE)


@dataclass
class _MaskState:
    #: Lines indented deeper than this column belong to a hidden value (a multi-line secret).
    hidden_below: int | None = None
    #: Lines indented deeper than this column are inside a block `credentials:` mapping.
    credentials_below: int | None = None


def mask_source(lines: list[str]) -> list[str]:
    """The lines of a manifest with every secret value replaced by ``****``.

    Hidden: the value of a secret-named key (multi-line values included), every value inside
    `credentials` that is not an `{env:}`/`{file:}` reference, and on any line the rest of it
    after a secret-named key in a flow mapping (a quoted value may hold commas or braces).
    """
    state = _MaskState()
    return [_mask_line(line, state) for line in lines]


def mask_secrets(line: str) -> str:
    """One source line with secret values hidden (no context: see `mask_source`)."""
    return mask_source([line])[0]


def _mask_line(line: str, state: _MaskState) -> str:
    stripped = line.strip()
    indent = len(line) - len(line.lstrip())
    if state.hidden_below is not None and stripped:
        if indent > state.hidden_below:
            return line[:indent] + MASK
        state.hidden_below = None
    comment = stripped.startswith("#")
    if state.credentials_below is not None and stripped and not comment and indent <= state.credentials_below:
        state.credentials_below = None
    match = _KEY_LINE.match(line)
    if match is None:
        if state.credentials_below is not None and stripped and not comment:
            return line[:indent] + MASK
        return _mask_inline(line)
    key, rest, column = match.group("key").lower(), match.group("rest"), match.start("key")
    hide_value = key in SECRET_KEY_NAMES or (
        state.credentials_below is not None
        and key not in ("env", "file")
        and not _SAFE_CREDENTIAL.match(rest)
    )
    if key == "credentials" and not hide_value:
        if _SAFE_CREDENTIAL.match(rest) and "{" not in rest:
            state.credentials_below = column  # a block mapping follows
            return line
        hide_value = True
    if hide_value:
        state.hidden_below = column
        return match.group("lead") + (f" {MASK}" if rest.strip() else "")
    return match.group("lead") + _mask_inline(rest)


def _mask_inline(text: str) -> str:
    found = _INLINE_SECRET.search(text)
    return text if found is None else text[: found.end()] + f" {MASK}"


def excerpt(path: Path, line: int, context: int = 2) -> list[tuple[int, str]]:
    """Numbered source lines around `line`, secrets masked; empty if the file cannot be read."""
    try:
        lines = mask_source(path.read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return []
    first, last = max(1, line - context), min(len(lines), line + context)
    return [(number, lines[number - 1]) for number in range(first, last + 1)]
