"""The console core stays light: the first paint imports it before Textual, and no compiler."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from floe_tui.console.snapshot import dump

HEAVY = ("textual", "pydantic", "yaml", "duckdb", "pyarrow", "psutil")


def modules_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(run.stdout.splitlines()[-1]))


def test_the_core_and_a_snapshot_read_back_load_no_compiler_pydantic_or_textual(
    tree: Path, tmp_path: Path
) -> None:
    document = tmp_path / "snapshot.json"
    document.write_text(json.dumps(dump(tree)))
    loaded = modules_after(
        "import floe_tui.console.core, floe_tui.console.prefetch\n"
        "from floe_tui.console.snapshot import load\n"
        f"plan = load(json.loads(open({str(document)!r}).read()))\n"
        "print(plan.enterprises[0].name)"
    )
    assert {"floe_tui.console.core", "floe_tui.console.snapshot", "floe_tui.planmodel"} <= loaded
    assert not {name for name in loaded if name.split(".")[0] in HEAVY}
    assert not {name for name in loaded if name.startswith(("floe_tui.governance", "floe_tui.compute"))}
