"""`floe-tui query` as a user runs it: the installed command, the sample's DuckDB target."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from floe_tui.testing import EngineCpu

FLOE = str(Path(sys.executable).with_name("floe-tui"))
LONG = "SELECT count(*) FROM range(100000000000) t(i) WHERE hash(i) % 7 = 3"


def floe(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FLOE, *args], capture_output=True, text=True, timeout=120, input=stdin)


def test_query_prints_rows_of_the_sample_tables_as_csv() -> None:
    run = floe(
        "query", "--compute", "duckdb", "--format", "csv", "SELECT n_name FROM nation ORDER BY 1 LIMIT 3"
    )
    assert run.returncode == 0, run.stderr
    assert list(csv.reader(io.StringIO(run.stdout))) == [["n_name"], ["ALGERIA"], ["ARGENTINA"], ["BRAZIL"]]


def test_query_reads_sql_from_stdin_and_prints_json() -> None:
    run = floe("query", "--format", "json", "-", stdin="SELECT 1 AS one, 'x' AS two")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [{"one": 1, "two": "x"}]


def test_limit_is_hard_and_says_there_was_more() -> None:
    run = floe("query", "--limit", "5", "--format", "csv", "SELECT * FROM range(1000000) t(i)")
    assert run.returncode == 0, run.stderr
    assert len(run.stdout.splitlines()) == 6
    assert "first 5 rows" in run.stderr


def test_sql_error_is_one_line_and_exit_1() -> None:
    run = floe("query", "SELEC 1")
    assert run.returncode == 1
    assert run.stderr.startswith("error: ") and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_timeout_exits_4_with_timed_out_on_stderr() -> None:
    started = time.monotonic()
    run = floe("query", "--timeout", "1", LONG)
    assert run.returncode == 4
    assert run.stderr.strip() == "error: query timed out after 1 s"
    assert time.monotonic() - started < 30


def test_unknown_compute_is_exit_2_with_the_approved_choices() -> None:
    run = floe("query", "--compute", "teradata", "SELECT 1")
    assert run.returncode == 2  # a bad argument (DESIGN section 9), not a problem of the manifests
    assert "teradata" in run.stderr and "duckdb" in run.stderr


def test_ctrl_c_cancels_a_streaming_query_and_exits_3() -> None:
    query = subprocess.Popen(
        [FLOE, "query", "--format", "csv", "SELECT * FROM range(100000000000) t(i)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a shell that started this run in the background (`make test &`)
        # hands its children SIGINT ignored, and ctrl+c would then never reach the command.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert query.stdout is not None
        assert query.stdout.readline().strip() == "i"  # rows are streaming: the query is running
        query.send_signal(signal.SIGINT)
        query.stdout.read()
        stderr = query.stderr.read() if query.stderr else ""
        assert query.wait(timeout=30) == 3
    finally:
        query.kill()
    assert stderr.strip() == "error: query cancelled"


def test_engine_cpu_measure_sees_a_busy_child() -> None:
    """The CPU probe used above and by the compliance suite counts child processes."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nend=time.time()+3\nwhile time.time()<end: pass"]
    )
    try:
        assert EngineCpu().wait_until_above(0.5, deadline_s=3) >= 0.5
    finally:
        child.kill()
        child.wait()
