"""Output formats CI tools read (`validate --format github|sarif|junit`) and the text of
`floe-tui diff`. Diagnostics never hold a secret value (the compiler sees to that), so every
format here shows them as they are.

Paths: GitHub and code scanning place an annotation by its path from the repository root, so
these formats name files relative to the git repository that holds the manifests, when there is
one; otherwise relative to the manifest directory, as the text format does.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from floe_tui import __version__
from floe_tui.governance import CATALOGUE, Diagnostic, Plan
from floe_tui.governance.diff import PlanDiff, TransformChange, TransformRef, level_lines

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_BASE_ID = "SRCROOT"
#: Characters XML 1.0 does not allow, even escaped.
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# -- paths ---------------------------------------------------------------------------------------
def repository_root(start: Path) -> Path | None:
    """The git work tree holding `start` (a `.git` folder or a worktree's `.git` file), if any."""
    folder = Path(os.path.abspath(start))
    for candidate in (folder, *folder.parents):
        marker = candidate / ".git"
        if marker.is_file() or (marker / "HEAD").is_file():
            return candidate
    return None


def path_mapper(plan: Plan) -> tuple[Path, Callable[[str], str]]:
    """The base folder the CI formats name files from, and `file -> path from that base`."""
    root = Path(os.path.abspath(plan.root))
    base = repository_root(root) or root

    def relative(file: str) -> str:
        if base == root:
            return Path(file).as_posix()
        return Path(os.path.relpath(os.path.normpath(root / file), base)).as_posix()

    return base, relative


# -- GitHub workflow commands --------------------------------------------------------------------
def escape_data(text: str) -> str:
    """GitHub's escaping of a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """GitHub's escaping of a workflow command's property value (`:` and `,` delimit them)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(plan: Plan) -> list[str]:
    """One `::error file=F,line=L,col=C,title=CODE::message (hint: ...)` line per diagnostic."""
    _, relative = path_mapper(plan)
    lines: list[str] = []
    for d in plan.diagnostics:
        command = "error" if d.is_error else "warning"
        properties = ",".join(
            f"{key}={escape_property(str(value))}"
            for key, value in (
                ("file", relative(d.file)),
                ("line", d.line),
                ("col", d.column),
                ("title", d.code),
            )
        )
        lines.append(f"::{command} {properties}::{escape_data(f'{d.message} (hint: {d.hint})')}")
    return lines


# -- SARIF 2.1.0 ---------------------------------------------------------------------------------
def sarif_document(plan: Plan) -> dict[str, Any]:
    """A SARIF 2.1.0 log: one rule per catalogue code, one result per diagnostic."""
    base, relative = path_mapper(plan)
    codes = sorted(CATALOGUE)
    rules = [
        {
            "id": code,
            "shortDescription": {"text": CATALOGUE[code][1]},
            "defaultConfiguration": {"level": CATALOGUE[code][0].value},
        }
        for code in codes
    ]
    results = [
        {
            "ruleId": d.code,
            **({"ruleIndex": codes.index(d.code)} if d.code in CATALOGUE else {}),
            "level": d.severity.value,
            "message": {"text": f"{d.message} (hint: {d.hint})"},
            "locations": [
                {
                    "physicalLocation": {
                        # A file name that is not UTF-8 holds surrogate escapes: its bytes, %-encoded.
                        "artifactLocation": {
                            "uri": quote(relative(d.file), errors="surrogateescape"),
                            "uriBaseId": SARIF_BASE_ID,
                        },
                        "region": {"startLine": max(1, d.line), "startColumn": max(1, d.column)},
                    }
                }
            ],
        }
        for d in plan.diagnostics
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "floe-tui",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {SARIF_BASE_ID: {"uri": base.as_uri().rstrip("/") + "/"}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


# -- JUnit XML -----------------------------------------------------------------------------------
def junit_document(plan: Plan) -> str:
    """One test case per manifest file; a failure lists that file's errors (warnings go to
    system-out: JUnit has no warnings)."""
    _, relative = path_mapper(plan)
    by_file: dict[str, list[Diagnostic]] = {}
    for d in plan.diagnostics:
        by_file.setdefault(d.file, []).append(d)
    files = sorted(manifest_files(plan) | set(by_file))
    failures = sum(any(d.is_error for d in by_file.get(f, [])) for f in files)
    counts = {"tests": str(len(files)), "failures": str(failures), "errors": "0", "skipped": "0"}
    suites = ET.Element("testsuites", {"name": "floe-tui validate", **counts})
    suite = ET.SubElement(suites, "testsuite", {"name": "floe-tui validate", **counts})
    for file in files:
        path = relative(file)
        case = ET.SubElement(
            suite, "testcase", {"classname": "floe-tui.validate", "name": path, "file": path}
        )
        errors = [d for d in by_file.get(file, []) if d.is_error]
        warnings = [d for d in by_file.get(file, []) if not d.is_error]
        if errors:
            failure = ET.SubElement(
                case,
                "failure",
                {"message": _xml(f"{len(errors)} error(s): {errors[0].message}"), "type": errors[0].code},
            )
            failure.text = _xml("\n".join(_located(d, path) for d in errors))
        if warnings:
            out = ET.SubElement(case, "system-out")
            out.text = _xml("\n".join(_located(d, path) for d in warnings))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def manifest_files(plan: Plan) -> set[str]:
    """Every file of the plan: each level's, and each file a diagnostic is about (unparsable ones)."""
    files = {d.file for d in plan.diagnostics}
    stack = list(plan.enterprises)
    while stack:
        level = stack.pop()
        files.add(level.file)
        stack.extend(level.children)
    return files


def _located(d: Diagnostic, path: str) -> str:
    return f"{path}:{d.line}:{d.column}: {d.code} {d.severity}: {d.message} (hint: {d.hint})"


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


# -- the text of `floe-tui diff` -----------------------------------------------------------------
def diff_text(diff: PlanDiff) -> str:
    """What a reviewer reads: notes, transforms added/removed/changed with the cause, levels,
    diagnostics introduced and fixed, then a one-line summary."""
    out = [f"plan diff {diff.base} -> {diff.head} ({', '.join(diff.environments) or 'no environment'})"]
    out += [f"note: {note}" for note in diff.notes]
    t = diff.transforms
    if t.added:
        out += _heading("transforms added", t.added) + [_ref_line("+", r) for r in t.added]
    if t.removed:
        out += _heading("transforms removed", t.removed) + [_ref_line("-", r) for r in t.removed]
    if t.changed:
        out += _heading("transforms changed", t.changed)
        for change in t.changed:
            out += _change_lines(change)
    if diff.levels:
        out += _heading("levels changed", diff.levels)
        for level in diff.levels:
            mark = {"added": "+", "removed": "-", "changed": "~"}[level.status]
            detail = "; ".join(level_lines(level))
            what = "" if level.status == "changed" else f"{level.status}: "
            inherited = " (inherited)" if level.inherited else ""
            out.append(f"  {mark} {level.scope} {level.name} ({level.file}): {what}{detail}{inherited}")
    d = diff.diagnostics
    if d.introduced:
        out += _heading("diagnostics introduced", d.introduced, ", at HEAD's positions")
        out += [f"  + {x.format()}" for x in d.introduced]
    if d.fixed:
        out += _heading("diagnostics fixed", d.fixed, ", at BASE's positions")
        out += [f"  - {x.format()}" for x in d.fixed]
    if diff.empty:
        out.append("no change to the plan or its diagnostics")
    out.append(
        f"{'ok' if diff.ok else 'failed'}: {len(t.changed)} changed, {len(t.added)} added, "
        f"{len(t.removed)} removed transform(s); {len(diff.levels)} level(s) changed; "
        f"{len(d.introduced)} diagnostic(s) introduced, {len(d.fixed)} fixed"
    )
    return "\n".join(out) + "\n"


def _heading(title: str, items: Sequence[Any], where: str = "") -> list[str]:
    return ["", f"{title} ({len(items)}{where}):"]


def _qualified(domain: str | None, product: str, transform: str) -> str:
    return "/".join(part for part in (domain, product, transform) if part)


def _ref_line(mark: str, ref: TransformRef) -> str:
    what = "no compute" if ref.compute is None else f"{ref.compute} ({ref.source})"
    return f"  {mark} {_qualified(ref.domain, ref.product, ref.transform)}  {what}  {ref.file}:{ref.line}"


def _change_lines(change: TransformChange) -> list[str]:
    lines = [
        f"  ~ {_qualified(change.domain, change.product, change.transform)}  {change.file}:{change.line}"
    ]
    width = max(len(c.environment) for c in change.changes)
    for c in change.changes:
        parts = [f"{c.old.compute or 'none'} -> {c.new.compute or 'none'}"]
        if c.old.output != c.new.output:
            parts.append(f"output {c.old.output or 'none'} -> {c.new.output or 'none'}")
        if c.old.source != c.new.source:
            parts.append(f"{c.old.source or 'unresolved'} -> {c.new.source or 'unresolved'}")
        if c.old.compute == c.new.compute:
            parts[0] = f"{c.new.compute or 'none'} (same compute)"
        lines.append(f"      {c.environment:<{width}}  " + ", ".join(parts))
    cause = change.cause
    lines.append(f"      cause: {cause.scope} {cause.name} ({cause.file})")
    lines.append(f"      why: {change.explanation}")
    return lines


def ci_report(plan: Plan, form: str) -> str:
    """`validate --format github|sarif|junit`, as printed."""
    if form == "github":
        return "".join(line + "\n" for line in github_annotations(plan))
    if form == "sarif":
        return json.dumps(sarif_document(plan), indent=2) + "\n"
    return junit_document(plan)
