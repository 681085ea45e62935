"""One small simulated region shared by the demo-simulator tests (generated once per session)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pystac
import pytest

from pestcast.simulator import DemoSettings, DemoWorld, generate_demo_region, simulate_world

SMALL = DemoSettings(
    seed=11,
    n_parcels=150,
    start=dt.date(2021, 11, 1),
    end=dt.date(2022, 12, 31),
    survey_fraction=0.4,
)
"""14 months straddling the 2022-01-25 processing-baseline change; 40 % surveyed for tight waves."""


@dataclass(frozen=True)
class Region:
    root: Path
    settings: DemoSettings
    progress: list[str]

    @property
    def manifest(self) -> dict[str, object]:
        return json.loads((self.root / "MANIFEST.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]

    def items(self) -> list[pystac.Item]:
        catalog = pystac.Catalog.from_file(str(self.root / "stac" / "catalog.json"))
        collection = catalog.get_child("sentinel-2-l2a")
        assert collection is not None
        return sorted(collection.get_items(), key=lambda item: str(item.datetime))


@pytest.fixture(scope="session")
def small_region(tmp_path_factory: pytest.TempPathFactory) -> Region:
    root = tmp_path_factory.mktemp("demo-region")
    messages: list[str] = []
    generate_demo_region(root, SMALL, progress=messages.append, max_workers=2)
    return Region(root, SMALL, messages)


@pytest.fixture(scope="session")
def small_world() -> DemoWorld:
    """The same region in memory (the simulation is deterministic): hazards, states, calendars."""
    return simulate_world(SMALL)
