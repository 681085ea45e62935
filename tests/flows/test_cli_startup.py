"""``pestcast --help``, ``--version``, a command's ``--help`` and a config error load none of the
heavy libraries: the modules a fresh ``python -X importtime -m pestcast.flows.cli`` imports are
checked, not the wall time (``bench/startup.py`` measures that)."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pestcast.flows.cli import LAZY_COMMANDS, app
from pestcast.flows.default_paths import DEFAULT_CONFIG

HEAVY = frozenset({"prefect", "lightgbm", "geopandas", "rasterio", "sklearn"})
"""Each takes from a tenth of a second to seconds to import; a command needs them only to run."""
TABLES = frozenset({"pandas", "pyarrow", "xarray", "scipy"})
"""Together half a second: checking a config needs none of them (numpy and pyproj it does)."""
COMMANDS = [
    command.name or command.callback.__name__.replace("_", "-")
    for command in app.registered_commands
    if command.callback is not None
]


def imported(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``pestcast *args`` in a fresh interpreter; the top-level names of what it imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pestcast.flows.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=120,
        check=False,
    )
    modules = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "imported package" not in line
    }
    return done, modules


def test_the_importtime_output_is_read() -> None:
    """The check below would pass vacuously if the module names were not found."""
    _, modules = imported("--version", cwd=Path.cwd())
    assert {"typer", "pestcast"} <= modules


@pytest.mark.parametrize(
    "args",
    [("--help",), ("--version",), *((name, "--help") for name in COMMANDS)],
    ids=" ".join,
)
def test_help_and_version_import_no_heavy_library(tmp_path: Path, args: tuple[str, ...]) -> None:
    done, modules = imported(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not modules & HEAVY


def test_a_config_error_imports_no_heavy_library(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["imagery"]["cloud_mask"] = [8, 9]
    config = tmp_path / "typo.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    done, modules = imported("features", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 2
    assert "key 'imagery.cloud_mask': unknown key" in done.stderr
    assert not modules & (HEAVY | TABLES)


def test_commands_of_other_modules_are_listed_with_their_own_summary() -> None:
    listing = CliRunner().invoke(app, ["--help"], env={"NO_COLOR": "1", "COLUMNS": "200"})
    for name, (load, summary) in LAZY_COMMANDS.items():
        assert summary == (inspect.getdoc(load()) or "").split("\n\n")[0].replace("\n", " ")
        assert re.search(rf"\b{name}\s+{re.escape(summary[:40])}", listing.output), listing.output


def test_a_command_of_another_module_shows_its_own_help_and_runs(tmp_path: Path) -> None:
    shown = CliRunner().invoke(app, ["zonal", "--help"], env={"NO_COLOR": "1"})
    assert shown.exit_code == 0, shown.output
    assert "--block-size" in shown.output
    raster, parcels = tmp_path / "no.tif", tmp_path / "no.gpkg"
    ran = CliRunner().invoke(
        app, ["zonal", str(raster), str(parcels), "--out", str(tmp_path / "x")]
    )
    assert ran.exit_code == 2
    assert f"pestcast zonal: raster {raster} does not exist" in ran.output
