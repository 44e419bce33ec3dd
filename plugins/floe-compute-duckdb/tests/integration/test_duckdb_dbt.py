"""Generated profiles against the real dbt-duckdb: `dbt debug` and `dbt run` as subprocesses.

dbt starts slowly, so one module fixture runs every command once and the tests read the results.
Three targets, each a database file: `plain` (engine settings), `lake` (extensions [iceberg]) and
`s3` (S3 credentials only). The models record what dbt's own DuckDB session saw.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import yaml

from floe_compute_duckdb import DuckDBComputePlugin
from floe_tui.compute import ComputeConfig
from floe_tui.compute.models import parse_byte_size

pytestmark = pytest.mark.slow

KEY_ID = "AKIA-FLOE-DBT-KEY-ID"
SECRET = "floe-dbt-secret-value-never-written"
S3_REFS = {"s3_key_id": {"env": "FLOE_DBT_KEY_ID"}, "s3_secret": {"env": "FLOE_DBT_SECRET"}}
MODELS = {
    "one": "select 1 as id",
    "loaded_extensions": "select extension_name from duckdb_extensions()\n"
    "where loaded and extension_name in ('avro', 'httpfs', 'iceberg')",
    "session_secrets": "select name, type from duckdb_secrets()",
    "session_settings": "select current_setting('memory_limit') as memory_limit,\n"
    "  current_setting('threads') as threads, current_setting('temp_directory') as temp_directory",
}


@dataclass
class DbtProject:
    root: Path
    homes: dict[str, Path]
    debug_plain: subprocess.CompletedProcess[str]
    runs: dict[str, subprocess.CompletedProcess[str]]

    def database(self, target: str) -> Path:
        return self.root / f"{target}.duckdb"

    def rows(self, target: str, sql: str) -> list[tuple[object, ...]]:
        """Rows from the file that `dbt run --target <target>` built (the run must have passed)."""
        run = self.runs[target]
        assert run.returncode == 0, run.stdout + run.stderr
        with duckdb.connect(str(self.database(target)), read_only=True) as database:
            return database.execute(sql).fetchall()


def _profile(connection: dict[str, object], **fields: object) -> dict[str, object]:
    config = ComputeConfig.from_mapping({"name": "duck", "connection": connection, **fields})
    return DuckDBComputePlugin().generate_dbt_profile(config, "dev")


@pytest.fixture(scope="module")
def dbt_project(tmp_path_factory: pytest.TempPathFactory) -> DbtProject:
    root = tmp_path_factory.mktemp("dbt")
    # dbt-duckdb copies extension files under ~/.duckdb: keep them here, one home per target.
    # The runs go at once, and duckdb_extensions() in one would read another's half-written
    # install (DuckDB locks its temporary file) if they shared the directory.
    homes = {target: root / f"home-{target}" for target in ("plain", "lake", "s3")}
    for home in homes.values():
        home.mkdir()
    spill = str(root / "it's spill")  # a quote, as a path may hold
    outputs = {
        "plain": _profile(
            {
                "path": str(root / "plain.duckdb"),
                "threads": 2,
                "memory_limit": "512MB",
                "temp_directory": spill,
            }
        ),
        "lake": _profile({"path": str(root / "lake.duckdb"), "extensions": ["iceberg"]}),
        "s3": _profile({"path": str(root / "s3.duckdb")}, credentials=S3_REFS),
    }
    (root / "profiles.yml").write_text(yaml.safe_dump({"floe": {"target": "plain", "outputs": outputs}}))
    project = {
        "name": "floe_probe",
        "version": "1.0",
        "config-version": 2,
        "profile": "floe",
        "models": {"floe_probe": {"+materialized": "table"}},
    }
    (root / "dbt_project.yml").write_text(yaml.safe_dump(project))
    (root / "models").mkdir()
    for name, sql in MODELS.items():
        (root / "models" / f"{name}.sql").write_text(sql + "\n")

    env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")}
    env |= {
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        "FLOE_DBT_KEY_ID": KEY_ID,
        "FLOE_DBT_SECRET": SECRET,
    }
    dbt = Path(sys.executable).with_name("dbt")

    def start(command: str, target: str) -> subprocess.Popen[str]:
        # Own target, log and home paths, so runs of different targets can go at once.
        paths = {
            "DBT_TARGET_PATH": f"target-{target}",
            "DBT_LOG_PATH": f"logs-{target}",
            "HOME": str(homes[target]),
        }
        where = ["--profiles-dir", str(root), "--project-dir", str(root), "--no-use-colors"]
        return subprocess.Popen(
            [str(dbt), command, "--target", target, *where],
            cwd=root,
            env=env | paths,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
        stdout, stderr = process.communicate(timeout=180)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    others = {target: start("run", target) for target in ("lake", "s3")}  # separate files: no lock clash
    try:
        debug_plain = finish(start("debug", "plain"))  # then run: both open plain.duckdb
        runs = {"plain": finish(start("run", "plain"))} | {t: finish(p) for t, p in others.items()}
    finally:
        for process in others.values():
            if process.poll() is None:  # only after a failure above: do not leave dbt running
                process.kill()
                process.wait(10)
    return DbtProject(root=root, homes=homes, debug_plain=debug_plain, runs=runs)


def test_dbt_debug_accepts_the_file_profile(dbt_project: DbtProject) -> None:
    result = dbt_project.debug_plain

    assert result.returncode == 0, result.stdout + result.stderr
    assert "All checks passed!" in result.stdout


def test_dbt_run_builds_the_model_into_the_database_file(dbt_project: DbtProject) -> None:
    dbt_project.rows("plain", "SELECT 1")  # the run passed
    target = ComputeConfig.from_mapping(
        {"name": "duck", "connection": {"path": str(dbt_project.database("plain")), "read_only": True}}
    )

    with DuckDBComputePlugin(target) as plugin:
        kind = plugin.execute("SELECT table_type FROM information_schema.tables WHERE table_name = 'one'")
        rows = plugin.execute("SELECT id FROM main.one", timeout=30)

        assert kind.fetch_all().to_pylist() == [{"table_type": "BASE TABLE"}]
        assert rows.fetch_all().to_pylist() == [{"id": 1}]


def test_dbt_session_uses_the_target_settings(dbt_project: DbtProject) -> None:
    [(memory_limit, threads, temp_directory)] = dbt_project.rows("plain", "SELECT * FROM session_settings")

    assert parse_byte_size(str(memory_limit)) == pytest.approx(512_000_000, rel=0.001)
    assert threads == 2
    assert temp_directory == str(dbt_project.root / "it's spill")


def test_plain_target_loads_no_extension_and_no_secret(dbt_project: DbtProject) -> None:
    assert dbt_project.rows("plain", "SELECT * FROM loaded_extensions") == []
    assert dbt_project.rows("plain", "SELECT * FROM session_secrets") == []


def test_dbt_loads_iceberg_and_its_needs_from_package_files(dbt_project: DbtProject) -> None:
    loaded = dbt_project.rows("lake", "SELECT extension_name FROM loaded_extensions ORDER BY 1")

    assert loaded == [("avro",), ("httpfs",), ("iceberg",)]


def test_dbt_copies_the_package_files_instead_of_downloading(dbt_project: DbtProject) -> None:
    dbt_project.rows("lake", "SELECT 1")  # the run passed

    # dbt-duckdb ran INSTALL '<package file>' (a local copy) before LOAD '<package file>'.
    installed = {
        p.name for p in (dbt_project.homes["lake"] / ".duckdb" / "extensions").rglob("*.duckdb_extension")
    }
    assert installed == {"avro.duckdb_extension", "httpfs.duckdb_extension", "iceberg.duckdb_extension"}


def test_dbt_creates_the_s3_secret_from_environment_variables(dbt_project: DbtProject) -> None:
    assert dbt_project.rows("s3", "SELECT type FROM session_secrets") == [("s3",)]


def test_s3_credentials_bring_httpfs_into_the_dbt_session(dbt_project: DbtProject) -> None:
    # S3 secrets are defined by httpfs; without it dbt-duckdb would try to download it.
    assert dbt_project.rows("s3", "SELECT extension_name FROM loaded_extensions") == [("httpfs",)]


def test_profiles_hold_env_var_references_never_values(dbt_project: DbtProject) -> None:
    text = (dbt_project.root / "profiles.yml").read_text()
    [secret] = yaml.safe_load(text)["floe"]["outputs"]["s3"]["secrets"]

    assert secret["key_id"] == "{{ env_var('FLOE_DBT_KEY_ID') }}"
    assert secret["secret"] == "{{ env_var('FLOE_DBT_SECRET') }}"
    assert KEY_ID not in text
    assert SECRET not in text


def test_secret_values_reach_neither_dbt_output_nor_the_database_file(dbt_project: DbtProject) -> None:
    dbt_project.rows("s3", "SELECT 1")  # the run passed, so dbt resolved and used the secret

    for result in (dbt_project.debug_plain, *dbt_project.runs.values()):
        assert SECRET not in result.stdout + result.stderr
        assert KEY_ID not in result.stdout + result.stderr
    assert SECRET.encode() not in dbt_project.database("s3").read_bytes()
