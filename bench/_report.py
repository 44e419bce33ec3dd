"""The results as a Markdown table, the machine they were measured on, and the README block."""

from __future__ import annotations

import datetime as dt
import os
import platform
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import psutil

from bench import Row

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"
MET = {True: "yes", False: "**no**", None: "-"}


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| benchmark | figure | target | met? |", "|---|---|---|---|"]
    for row in rows:
        cells = (row.benchmark, row.figure, row.target, MET[row.met])
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def machine_line(load_before: float | None = None) -> str:
    """Where the figures come from; `load_before` is the 1-minute load average before the run."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ram = psutil.virtual_memory().total / 2**30
    try:
        duckdb = metadata.version("duckdb")
    except metadata.PackageNotFoundError:
        duckdb = "not installed"
    return (
        f"Measured on {cores} cores ({cpu_model()}), {ram:.1f} GiB RAM, {platform.system()} "
        f"{platform.machine()}; Python {platform.python_version()}, duckdb {duckdb}; "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
        + ("." if load_before is None else f"; 1-minute load average before the run {load_before:.2f}.")
    )


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def rewrite_readme(readme: Path, block: str) -> None:
    """Replace what lies between the markers, atomically; nothing else in the file changes."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(START), text.find(END)
    if start < 0 or end < 0 or end < start or text.count(START) != 1 or text.count(END) != 1:
        raise ValueError(f"{readme} needs exactly one {START} ... {END} block")
    head = text[: start + len(START)]
    updated = f"{head}\n{block.strip()}\n{text[end:]}"
    fd, temp = tempfile.mkstemp(dir=readme.parent, prefix=f".{readme.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(updated)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, readme.stat().st_mode & 0o7777)
        os.replace(temp, readme)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
