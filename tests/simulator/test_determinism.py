"""Same seed → same bytes, whatever the number of worker processes; another seed differs."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import replace
from pathlib import Path

import pandas as pd

from pestcast.simulator import DemoSettings, generate_demo_region

TINY = DemoSettings(seed=5, n_parcels=30, start=dt.date(2022, 1, 10), end=dt.date(2022, 2, 20))


def _digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_same_seed_gives_the_same_bytes_with_any_worker_count(tmp_path: Path) -> None:
    generate_demo_region(tmp_path / "one", TINY, max_workers=1)
    generate_demo_region(tmp_path / "two", TINY, max_workers=2)
    first, second = _digests(tmp_path / "one"), _digests(tmp_path / "two")
    assert len(first) > 50
    assert first == second


def test_another_seed_gives_another_region(tmp_path: Path) -> None:
    generate_demo_region(tmp_path / "a", TINY, max_workers=1)
    generate_demo_region(tmp_path / "b", replace(TINY, seed=6), max_workers=1)
    for name in ("weather.parquet", "surveys.parquet", "truth.parquet"):
        left = pd.read_parquet(tmp_path / "a" / name)
        right = pd.read_parquet(tmp_path / "b" / name)
        assert not left.equals(right), name
