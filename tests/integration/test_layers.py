"""The layer rules of DESIGN section 1 are code: `make lint` runs them with import-linter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:  # a copy of the tree, found before the editable install
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layers_hold_on_this_tree() -> None:
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "0 broken" in run.stdout


def test_textual_imported_from_compute_breaks_the_build(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "floe_tui", tmp_path / "floe_tui", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "floe_tui" / "compute" / "_breach.py").write_text("import textual\n")
    run = lint_imports(tmp_path, pythonpath=tmp_path)
    assert run.returncode != 0
    assert "nothing outside floe_tui.tui imports Textual BROKEN" in run.stdout
    assert "floe_tui.compute._breach -> textual" in run.stdout
