"""The weekly flow's rules without a Prefect server: which date, what counts as new imagery,
when publishing is refused; and the runner settings."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import yaml
from prefect.task_runners import ThreadPoolTaskRunner
from shapely.geometry import box

from pestcast.core.errors import ConfigError
from pestcast.flows.config import DEFAULT_CONFIG, PestcastConfig, load_config
from pestcast.flows.layout import RunLayout
from pestcast.flows.map_page import commune_slugs
from pestcast.flows.runners import LOCAL_THREADS, api_problem, check_cluster, task_runner_for
from pestcast.flows.weekly import (
    NoNewImageryError,
    PreviousForecast,
    _communes,
    confirm_new_imagery,
    forecast_day,
    new_imagery,
    previous_forecast,
    refusal,
    week_config,
)
from tests.flows.test_prefect_env import free_port

MONDAY = dt.date(2024, 9, 23)


@pytest.fixture
def config(tmp_path: Path) -> PestcastConfig:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["imagery"].update(start="2024-01-01", end="2024-12-31")
    raw["paths"] = {
        "work_dir": str(tmp_path / "work"),
        "output_dir": str(tmp_path / "outputs"),
        "model_registry": str(tmp_path / "registry"),
    }
    return PestcastConfig.model_validate(raw)


def outcome(day: str, items: list[str], *, clear: int = 5, status: str = "read") -> dict[str, Any]:
    """A record of ``scenes.json`` (as ``flows.tasks`` writes it)."""
    return {
        "solar_day": day,
        "items": items,
        "status": status,
        "parcels_with_clear_pixels": clear,
        "reason": "",
    }


OUTCOMES = [
    outcome("2024-09-10", ["a"]),
    outcome("2024-09-15", ["b"]),
    outcome("2024-09-20", ["c1", "c2"], clear=0),
    outcome("2024-09-22", ["d"], status="skipped", clear=0),
    outcome("2024-09-25", ["e"]),  # after the forecast date: not known on Monday
]


def test_every_clear_day_is_new_for_the_first_publication() -> None:
    news = new_imagery(OUTCOMES, MONDAY, None)
    assert news.new_clear_days == ("2024-09-10", "2024-09-15")
    assert news.newest_clear_day == "2024-09-15"
    assert refusal(news, Path("scenes.json")) is None


def test_a_clear_day_unused_by_the_last_publication_is_new() -> None:
    previous = PreviousForecast(dt.date(2024, 9, 16), frozenset({"a"}))
    news = new_imagery(OUTCOMES, MONDAY, previous)
    assert news.new_clear_days == ("2024-09-15",)
    assert refusal(news, Path("scenes.json")) is None


def test_only_cloudy_or_unreadable_new_days_are_refused_and_said_so() -> None:
    previous = PreviousForecast(dt.date(2024, 9, 16), frozenset({"a", "b"}))
    news = new_imagery(OUTCOMES, MONDAY, previous)
    assert news.new_clear_days == ()
    assert (news.new_cloudy_days, news.unreadable_days) == (1, 1)
    message = refusal(news, Path("work/scenes.json"))
    assert message is not None
    assert message.startswith("no new imagery since the forecast of 2024-09-16")
    assert "newest clear scene: 2024-09-15" in message
    assert "1 new solar day(s) without a clear pixel" in message
    assert "1 that could not be read, see work/scenes.json" in message
    assert "nothing published for 2024-09-23" in message
    assert "--allow-stale" in message


def test_a_rerun_of_a_published_week_finds_nothing_new() -> None:
    everything = frozenset(item for o in OUTCOMES for item in o["items"])
    news = new_imagery(OUTCOMES, MONDAY, PreviousForecast(MONDAY, everything))
    assert refusal(news, Path("scenes.json")) is not None


def test_without_any_clear_scene_the_first_week_is_refused() -> None:
    cloudy = [outcome("2024-09-10", ["a"], clear=0)]
    message = refusal(new_imagery(cloudy, MONDAY, None), Path("scenes.json"))
    assert message is not None
    assert message.startswith("no new imagery up to 2024-09-23 (newest clear scene: none")


def publish(output_dir: Path, day: str, scenes: list[str]) -> None:
    folder = output_dir / day
    folder.mkdir(parents=True)
    manifest = {"forecast_date": day, "inputs": {"scenes": scenes}}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_the_previous_forecast_is_the_newest_publication_up_to_the_date(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path / "work", tmp_path / "outputs", tmp_path / "registry")
    assert previous_forecast(layout, MONDAY) is None
    publish(layout.output_dir, "2024-09-09", ["a"])
    publish(layout.output_dir, "2024-09-16", ["a", "b"])
    publish(layout.output_dir, "2024-09-30", ["a", "b", "e"])  # later than the week
    (layout.output_dir / "2024-09-20").mkdir()  # no manifest: not a publication
    (layout.output_dir / "latest").symlink_to(layout.output_dir / "2024-09-30")
    assert previous_forecast(layout, MONDAY) == PreviousForecast(
        dt.date(2024, 9, 16), frozenset({"a", "b"})
    )


def test_the_week_stops_before_the_features_without_new_imagery(
    config: PestcastConfig,
) -> None:
    week = week_config(config, MONDAY)
    layout = RunLayout.from_config(week)
    layout.work_dir.mkdir(parents=True)
    layout.scene_log.write_text(json.dumps(OUTCOMES), encoding="utf-8")
    publish(layout.output_dir, "2024-09-16", ["a", "b"])
    with pytest.raises(NoNewImageryError, match="no new imagery since the forecast of 2024-09-16"):
        confirm_new_imagery.fn(week, allow_stale=False)


def test_the_default_date_is_the_last_forecast_weekday_up_to_today(
    config: PestcastConfig,
) -> None:
    assert forecast_day(config, None, today=dt.date(2024, 9, 26)) == MONDAY
    assert forecast_day(config, None, today=MONDAY) == MONDAY
    assert forecast_day(config, None, today=dt.date(2026, 1, 1)) == dt.date(2024, 12, 30)
    assert forecast_day(config, dt.date(2024, 6, 3), today=MONDAY) == dt.date(2024, 6, 3)


@pytest.mark.parametrize(
    ("day", "problem"),
    [
        (dt.date(2024, 9, 24), "forecast date 2024-09-24: forecast.date 2024-09-24 is a Tuesday"),
        (dt.date(2025, 1, 6), "is outside the imagery window 2024-01-01 – 2024-12-31"),
    ],
)
def test_a_date_the_config_cannot_forecast_is_refused(
    config: PestcastConfig, day: dt.date, problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem):
        week_config(config, day)


def test_each_commune_gets_a_file_name_of_its_own(config: PestcastConfig, tmp_path: Path) -> None:
    names = [("Thoại Sơn", "Phú Hòa"), ("Thoại Sơn", "Phu Hoa"), ("Châu Thành", "Phú Hòa")]
    parcels = gpd.GeoDataFrame(
        {
            "parcel_id": ["p1", "p2", "p3"],
            "district": [district for district, _ in names],
            "commune": [commune for _, commune in names],
        },
        geometry=[
            box(560_000 + 100 * i, 1_150_000, 560_050 + 100 * i, 1_150_050) for i in range(3)
        ],
        crs="EPSG:32648",
    )
    parcels.to_file(tmp_path / "parcels.gpkg", layer="parcels")
    source = config.sources.parcels.model_copy(update={"path": tmp_path / "parcels.gpkg"})
    sources = config.sources.model_copy(update={"parcels": source})
    stems = _communes(config.model_copy(update={"sources": sources}))
    assert stems == {
        ("Châu Thành", "Phú Hòa"): "chau-thanh--phu-hoa",
        ("Thoại Sơn", "Phu Hoa"): "thoai-son--phu-hoa",
        ("Thoại Sơn", "Phú Hòa"): "thoai-son--phu-hoa-2",
    }


def test_commune_files_get_ascii_names() -> None:
    slugs = commune_slugs([("Phú Hòa", "Định Thành"), ("Vĩnh Trạch / 2", "…")])
    assert slugs == {
        ("Phú Hòa", "Định Thành"): "phu-hoa--dinh-thanh",
        ("Vĩnh Trạch / 2", "…"): "vinh-trach-2--unnamed",
    }


def test_the_local_runner_is_a_bounded_thread_pool(config: PestcastConfig) -> None:
    runner = task_runner_for(config)
    assert isinstance(runner, ThreadPoolTaskRunner)
    assert runner._max_workers == LOCAL_THREADS


@pytest.mark.parametrize(
    ("address", "api_url", "problem"),
    [
        (None, None, None),
        ("tcp://127.0.0.1:8786", None, None),
        ("tcp://10.0.0.5:8786", "http://10.0.0.2:4200/api", None),
        ("tcp://10.0.0.5:8786", None, "no PREFECT_API_URL is set"),
        ("tcp://10.0.0.5:8786", "http://127.0.0.1:4200/api", "loopback address"),
        ("tcp://scheduler:8786", "http://localhost:4200/api", "loopback address"),
    ],
)
def test_workers_on_other_machines_need_a_server_they_can_reach(
    address: str | None, api_url: str | None, problem: str | None
) -> None:
    found = api_problem(api_url, address)
    assert found is None if problem is None else problem in (found or "")


def test_a_scheduler_that_does_not_answer_is_named(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError, match=rf"dask.address {address}: no Dask scheduler answers"):
        check_cluster(address, tmp_path, timeout_s=1)


@pytest.mark.parametrize(
    ("dask", "key"),
    [
        ({"address": "10.0.0.5:8786"}, "dask.address"),
        ({"memory_limit": "4 gigs"}, "dask.memory_limit"),
        ({"n_workers": 0}, "dask.n_workers"),
        ({"workers": 2}, "dask.workers"),
    ],
)
def test_a_wrong_dask_setting_names_its_key(tmp_path: Path, dask: dict[str, Any], key: str) -> None:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw.update(runner="dask", dask=dask)
    path = tmp_path / "dask.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"key '{key}'"):
        load_config(path, check_paths=False)
