"""The distribution installs one top-level name, ``pestcast``, and its console script works."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

from typer.testing import CliRunner

from pestcast.flows.cli import app

ROOT = Path(__file__).parents[1]
PACKAGE_FOLDERS = ("core", "features", "models", "flows", "simulator")


def _build_wheel(source: Path, out: Path) -> Path:
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip_wheel, "--quiet", "--wheel-dir", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("pestcast-*.whl")
    return wheel


def test_the_wheel_installs_nothing_at_top_level_but_pestcast(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in PACKAGE_FOLDERS:
        shutil.copytree(
            ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    wheel = _build_wheel(source, tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top_level = {name.split("/", 1)[0] for name in names}
    assert top_level == {"pestcast", f"pestcast-{version('pestcast')}.dist-info"}
    for folder in PACKAGE_FOLDERS:
        assert f"pestcast/{folder}/__init__.py" in names
        assert f"pestcast/{folder}/py.typed" in names
    assert "pestcast/__init__.py" not in names  # a namespace: the folders are its only parts
    for vendored in ("leaflet.js", "leaflet.css", "LICENSE"):  # the offline map page needs them
        assert f"pestcast/flows/web/leaflet/{vendored}" in names


def test_version_is_printed() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"pestcast {version('pestcast')}"


def test_simulate_refuses_a_folder_of_someone_elses_files(tmp_path: Path) -> None:
    (tmp_path / "parcels.gpkg").write_text("the user's own parcels", encoding="utf-8")
    result = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path), "--parcels", "20"])
    assert result.exit_code == 2
    assert "did not write" in result.output
    assert [path.name for path in tmp_path.iterdir()] == ["parcels.gpkg"]
    assert (tmp_path / "parcels.gpkg").read_text(encoding="utf-8") == "the user's own parcels"
