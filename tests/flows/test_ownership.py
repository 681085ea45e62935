"""Folders pestcast may write into, and one run at a time per region."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from pestcast.core.errors import ConfigError, PestcastError
from pestcast.flows.label_cache import LABEL_CACHE_DIR
from pestcast.flows.layout import RunLayout
from pestcast.flows.ownership import _OWN_NAMES, MARKER, claim_folder, region_lock
from pestcast.flows.weekly import EXPORTS


def test_a_new_or_empty_folder_becomes_pestcasts(tmp_path: Path) -> None:
    claim_folder(tmp_path / "new", key="paths.work_dir")
    assert (tmp_path / "new" / MARKER).is_file()
    (tmp_path / "empty").mkdir()
    claim_folder(tmp_path / "empty", key="paths.work_dir")
    assert (tmp_path / "empty" / MARKER).is_file()


def test_a_folder_written_before_markers_existed_is_recognised(tmp_path: Path) -> None:
    for name in ("models", "latest", "2024-12-30", "bulletins", "features.parquet"):
        (tmp_path / name).mkdir()
    claim_folder(tmp_path, key="paths.output_dir")
    assert (tmp_path / MARKER).is_file()


def test_a_folder_of_someone_elses_files_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "thesis.docx").write_text("mine", encoding="utf-8")
    refused = r"paths\.output_dir .*\(thesis\.docx\).*never overwrites"
    with pytest.raises(ConfigError, match=refused):
        claim_folder(tmp_path, key="paths.output_dir")
    assert [p.name for p in tmp_path.iterdir()] == ["thesis.docx"]


HOLDER = """
import sys, time
from pathlib import Path
from pestcast.flows.ownership import region_lock
with region_lock(Path(sys.argv[1]), command="train"):
    print("holding", flush=True)
    time.sleep(60)
"""


def test_a_second_run_of_the_region_fails_at_once_naming_the_first(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        with (
            pytest.raises(PestcastError, match=rf"pestcast train, process {holder.pid}"),
            region_lock(tmp_path, command="features"),
        ):
            pass
    finally:
        holder.kill()
        holder.wait(timeout=30)
    with region_lock(tmp_path, command="features"):  # free again once the first has ended
        assert "pestcast features" in (tmp_path / ".pestcast.lock").read_text(encoding="utf-8")


def test_every_name_the_layout_gives_is_pestcast_s_own(tmp_path: Path) -> None:
    layout = RunLayout(
        work_dir=tmp_path / "work", output_dir=tmp_path / "out", model_registry=tmp_path / "reg"
    )
    names = {
        getattr(layout, name).name
        for name, value in vars(RunLayout).items()
        if isinstance(value, property)
    } | {LABEL_CACHE_DIR, EXPORTS, layout.forecast_dir(dt.date(2024, 12, 30)).name}
    strangers = sorted(name for name in names if not _OWN_NAMES.match(name))
    assert not strangers
