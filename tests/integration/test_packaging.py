"""The wheel as a new user gets it (issue 8, point 11): every sample manifest and theme file inside,
at its package path, a build that prints no warning, and a wheel install that finds its samples and
themes without the checkout.

The build runs on a copy of the checkout, so that it neither writes `build/` into the checkout nor
races another build there, and with build isolation (pip fetches `setuptools` from the package
index, as `make install` does; the venv's own setuptools may be too old to build a wheel)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
#: checkout folder -> the package it installs as (pyproject.toml's `package-dir`)
DATA_PACKAGES = {"sample_manifests": "floe_tui_samples", "themes": "floe_tui_themes"}
DATA_SUFFIXES = {"sample_manifests": (".yaml", ".yml"), "themes": (".toml",)}
#: top-level entries of the checkout that are not part of the distribution
NOT_SHIPPED = {"plugins", "tests", "bench", "build", "dist"}
#: a warning in pip's or the build backend's output: `BuildBackendWarning: ...`,
#: distutils' `warning: ...`, pip's `WARNING: ...` (not a module named `warnings.py`)
WARNING = re.compile(r"warning:|Warning\b|\bWARNING\b")
#: the build could not fetch its build dependencies: no package index (skip, not fail)
NO_INDEX = re.compile(r"No matching distribution found for setuptools|Could not find a version")


@dataclass(frozen=True)
class Build:
    source: Path  # the copy of the checkout the wheel was built from
    wheel: Path
    output: str


def _ignore(folder: str, names: list[str]) -> set[str]:
    top = Path(folder) == ROOT
    return {
        name
        for name in names
        if name == "__pycache__"
        or name.endswith(".egg-info")
        or (top and (name.startswith(".") or name in NOT_SHIPPED))
    }


def _environment(**extra: str) -> dict[str, str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        # this image sets PYTHONDONTWRITEBYTECODE, which makes distutils print "warning: byte-compiling
        # is disabled"; a user's machine does not
        if not k.startswith("FLOE_") and k not in {"PYTHONDONTWRITEBYTECODE", "PYTHONWARNINGS"}
    }
    return {**environ, **extra}


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    base = tmp_path_factory.mktemp("packaging")
    source, dist = base / "source", base / "dist"
    shutil.copytree(ROOT, source, ignore=_ignore)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=base,
        env=_environment(),
    )
    output = result.stdout + result.stderr
    if result.returncode != 0 and NO_INDEX.search(output):
        pytest.skip("the build dependencies (setuptools) cannot be fetched: no package index")
    assert result.returncode == 0, output
    (wheel,) = dist.glob("floe_tui-*.whl")
    return Build(source, wheel, output)


def _data_files(source: Path) -> dict[str, str]:
    """Every sample manifest and theme file of the checkout: its wheel path -> its checkout path."""
    files = {}
    for folder, package in DATA_PACKAGES.items():
        for path in sorted((source / folder).rglob("*")):
            if path.is_file() and path.suffix in DATA_SUFFIXES[folder]:
                relative = path.relative_to(source / folder).as_posix()
                files[f"{package}/{relative}"] = f"{folder}/{relative}"
    return files


def test_every_sample_manifest_and_theme_file_is_in_the_wheel(build: Build) -> None:
    expected = _data_files(build.source)
    # the samples this repository is known to have, so that an empty glob cannot pass
    assert "floe_tui_samples/acme/enterprise.yaml" in expected
    assert any(name.startswith("floe_tui_samples/broken/") for name in expected)
    assert "floe_tui_themes/dark.toml" in expected
    with zipfile.ZipFile(build.wheel) as wheel:
        names = set(wheel.namelist())
        missing = sorted(path for name, path in expected.items() if name not in names)
        assert not missing, f"not in the wheel: {missing}"
        for name, path in expected.items():
            assert wheel.read(name) == (build.source / path).read_bytes(), name
    # the two data folders install as regular packages, with the console's stylesheet
    packages = {
        "floe_tui_samples/__init__.py",
        "floe_tui_themes/__init__.py",
        "floe_tui/tui/styles.tcss",
        "floe_tui/tui/dashboard.tcss",
        "floe_tui/tui/query.tcss",
    }
    assert packages <= names


def test_every_module_of_floe_tui_is_in_the_wheel(build: Build) -> None:
    """`packages` lists the floe_tui packages by hand: a new subpackage must be listed to ship."""
    expected = {p.relative_to(build.source).as_posix() for p in (build.source / "floe_tui").rglob("*.py")}
    with zipfile.ZipFile(build.wheel) as wheel:
        missing = sorted(expected - set(wheel.namelist()))
    assert not missing, f"not in the wheel (add the package to pyproject.toml's `packages`): {missing}"


def test_the_build_prints_no_warning(build: Build) -> None:
    warnings = [line.strip() for line in build.output.splitlines() if WARNING.search(line)]
    assert not warnings, "\n".join(warnings)


PROBE = textwrap.dedent(
    """
    import sys
    from importlib import resources
    from pathlib import Path

    import floe_tui, floe_tui_samples, floe_tui_themes
    from floe_tui.governance import compile_manifests
    from floe_tui.paths import default_manifests
    from floe_tui.tui.app import load_themes
    from floe_tui.tui.governance_screen import display_path

    site = Path(sys.argv[1]).resolve()
    for module in (floe_tui, floe_tui_samples, floe_tui_themes):
        assert site in Path(module.__file__).resolve().parents, module.__file__
    samples = default_manifests()
    assert site in samples.resolve().parents, samples
    assert display_path(samples) == "<sample>/acme", display_path(samples)
    themes, problems = load_themes()
    assert not problems, problems
    files = sorted(f.name for f in resources.files("floe_tui_themes").iterdir() if f.name.endswith(".toml"))
    plan = compile_manifests(samples)
    print(plan.floe_files, len(themes), " ".join(files))
    """
)


def test_a_wheel_install_finds_its_samples_and_themes(build: Build, tmp_path: Path) -> None:
    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), build.wheel],
        capture_output=True,
        text=True,
        timeout=120,
        env=_environment(),
    )
    assert install.returncode == 0, install.stdout + install.stderr
    # the wheel's copy comes first on the path, before the editable install of the checkout
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(site)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=_environment(PYTHONPATH=str(site)),
    )
    assert probe.returncode == 0, probe.stderr
    acme = [p for p in (build.source / "sample_manifests/acme").rglob("*") if p.suffix in {".yaml", ".yml"}]
    themes = sorted(p.name for p in (build.source / "themes").glob("*.toml"))
    assert probe.stdout.rstrip("\n").split(maxsplit=2) == [str(len(acme)), str(len(themes)), " ".join(themes)]
