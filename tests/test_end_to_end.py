"""The whole chain on a small demo region, as real Prefect flows under a test harness."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import runpy
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyogrio
import pystac
import pytest
import yaml
from geojson_validator import configure_logging, validate_geometries, validate_structure
from prefect.testing.utilities import prefect_test_harness
from typer.testing import CliRunner

from pestcast.core.errors import DataError, ModelError, SourceError
from pestcast.flows.cli import app
from pestcast.flows.config import DEFAULT_CONFIG, PestcastConfig, load_config
from pestcast.flows.pipeline import features_flow, fetch_flow, forecast_flow, run_flow, train_flow
from pestcast.flows.publication import sha256_of
from pestcast.models import RISK_CLASSES
from tests.flows.stac_api_server import RecordedStacApi

pytestmark = pytest.mark.e2e
configure_logging(enabled=False)

N_PARCELS = 150
NOTEBOOKS = Path(__file__).parents[1] / "notebooks"


@pytest.fixture(scope="module")
def harness() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def small_config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("small-region")
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    data = root / "data"
    simulate = ["simulate", "--out", str(data), "--parcels", str(N_PARCELS), "--seed", "7"]
    result = CliRunner().invoke(app, [*simulate, "--start", "2023-06-01", "--end", "2024-09-30"])
    assert result.exit_code == 0, result.output
    raw["region"]["name"] = "small"
    raw["sources"]["stac"]["url"] = str(data / "stac" / "catalog.json")
    for name, file in (
        ("parcels", "parcels.gpkg"),
        ("weather", "weather.parquet"),
        ("weather_forecasts", "weather_forecasts.parquet"),
        ("surveys", "surveys.parquet"),
    ):
        raw["sources"][name]["path"] = str(data / file)
    raw["sources"]["feedback"]["path"] = str(root / "feedback.parquet")
    raw["sources"]["light_traps"] = {
        "path": str(data / "light_traps.parquet"),
        "stations": str(data / "light_trap_stations.csv"),
    }
    raw["imagery"].update(start="2023-06-01", end="2024-09-30")
    raw["model"]["num_boost_round"] = 150
    raw["model"]["backtest"]["bootstrap_replicates"] = 20
    raw["paths"] = {
        "work_dir": str(root / "work"),
        "output_dir": str(root / "outputs"),
        "model_registry": str(root / "registry"),
    }
    path = root / "small.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def small_config(small_config_path: Path) -> PestcastConfig:
    return load_config(small_config_path)


@pytest.fixture(scope="module")
def demo_run(harness: None, small_config: PestcastConfig) -> dict[str, Any]:
    return run_flow(small_config)


def test_risk_map_is_published_under_latest(
    demo_run: dict[str, Any], small_config: PestcastConfig
) -> None:
    published = Path(demo_run["forecast"]["risk_map"])
    latest = small_config.paths.output_dir / "latest" / "risk_map.geojson"
    forecast_date = dt.date.fromisoformat(published.parent.name)  # a YYYY-MM-DD folder
    assert forecast_date.weekday() == small_config.features.forecast_weekday
    manifest = json.loads((published.parent / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["forecast_date"] == forecast_date.isoformat()
    assert manifest["files"]["risk_map.geojson"] == sha256_of(published)
    assert manifest["inputs"]["scenes"]
    assert manifest["inputs"]["parcels"]["sha256"] == sha256_of(small_config.sources.parcels.path)
    assert manifest["counts"]["parcels"] == N_PARCELS
    assert latest.resolve() == published.resolve()


def test_risk_map_is_rfc7946_with_the_promised_properties(demo_run: dict[str, Any]) -> None:
    collection = json.loads(Path(demo_run["forecast"]["risk_map"]).read_text(encoding="utf-8"))
    assert validate_structure(collection, check_crs=True) == {}
    checked = validate_geometries(
        collection,
        criteria_problematic=[
            "self_intersection",
            "excessive_coordinate_precision",
            "outside_lat_lon_boundaries",
            "crosses_antimeridian",
        ],
    )
    assert checked["invalid"] == {}
    assert checked["problematic"] == {}
    assert collection["type"] == "FeatureCollection"
    assert "crs" not in collection
    features = collection["features"]
    assert len(features) == N_PARCELS  # each parcel's geometry once
    for feature in features[:50]:
        properties = feature["properties"]
        for key in (
            "parcel_id",
            "commune",
            "district",
            "area_ha",
            "forecast_date",
            "model_version",
            "last_clear_obs_date",
            "n_valid_px",
        ):
            assert key in properties, key
        for pest, horizon in itertools.product(("bph", "blast"), (7, 14, 28)):
            key = f"{pest}_h{horizon}"
            assert properties[f"class_{key}"] in set(RISK_CLASSES)
            if properties[f"class_{key}"] in {"no_data", "not_in_crop"}:
                assert properties[f"risk_{key}"] is None
            else:
                assert 0.0 <= properties[f"risk_{key}"] <= 1.0
            assert isinstance(properties[f"reasons_vi_{key}"], str)
        ring = feature["geometry"]["coordinates"][0]
        assert _signed_area(ring) > 0, "outer rings must be counter-clockwise"
        lon, lat = ring[0]
        assert 104 < lon < 107
        assert 9 < lat < 12
        assert all(len(str(v).split(".")[-1]) <= 6 for point in ring for v in point)


def test_models_learn_a_real_signal_in_the_backtest(demo_run: dict[str, Any]) -> None:
    """Planthopper only: the 150-parcel region's blast labels hold some 60 positive survey rows
    over five seasons, too few for a backtest to say anything (the demo region's figures are in
    the README)."""
    for horizon in (7, 14, 28):
        result = demo_run["train"]["metrics"][f"bph_h{horizon}"]
        model, persistence = result["model"]["roc_auc"], result["persistence"]["roc_auc"]
        assert model["value"] > 0.6, (horizon, model)
        assert model["value"] > persistence["value"] + 0.05, (horizon, model, persistence)


def test_summary_reports_scenes_used_and_skipped(demo_run: dict[str, Any]) -> None:
    fetch = demo_run["fetch"]
    assert fetch["parcels"] == N_PARCELS
    assert fetch["scenes_used"] > 20
    assert fetch["scenes_used"] + sum(fetch["scenes_skipped"].values()) == fetch["solar_days_found"]


def test_second_fetch_reads_every_scene_from_cache_whatever_the_feature_settings(
    demo_run: dict[str, Any], small_config: PestcastConfig
) -> None:
    """The feature-time clear-observation rule is not the fetch-time pixel rule."""
    stricter = small_config.model_copy(
        update={"features": small_config.features.model_copy(update={"min_clear_px": 9})}
    )
    again = fetch_flow(stricter)
    assert again["scenes_read_from_cache"] == demo_run["fetch"]["solar_days_found"]


def _signed_area(ring: list[list[float]]) -> float:
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring)) / 2


def test_review_notebook_runs_on_the_published_outputs(
    demo_run: dict[str, Any], small_config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PESTCAST_CONFIG", str(small_config_path))
    namespace = runpy.run_path(str(NOTEBOOKS / "review_risk_map.py"), run_name="__main__")
    assert len(namespace["skill"]) == 2 * 3 * 4  # pests × horizons × (model, raw, 2 baselines)


def test_backtest_notebook_runs_on_the_published_backtest(
    demo_run: dict[str, Any],
    small_config_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PESTCAST_CONFIG", str(small_config_path))
    monkeypatch.setenv("FIGURES", str(tmp_path))
    namespace = runpy.run_path(str(NOTEBOOKS / "backtest.py"), run_name="__main__")
    assert len(namespace["skill"]) == 2 * 3 * 4  # pests × horizons × (model, raw, 2 baselines)
    assert not namespace["shap"].isna().any().any()
    for figure in ("skill_per_season.png", "reliability_all.png", "week_vs_surveys.png"):
        assert (tmp_path / figure).stat().st_size > 10_000, figure


def test_a_missing_parcel_file_fails_the_flow_with_a_clear_error(
    harness: None, small_config: PestcastConfig, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.gpkg"
    sources = small_config.sources.model_copy(
        update={"parcels": small_config.sources.parcels.model_copy(update={"path": missing})}
    )
    broken = small_config.model_copy(update={"sources": sources})
    with pytest.raises(SourceError, match=r"nowhere\.gpkg.*sources\.parcels\.path"):
        fetch_flow(broken)


def test_the_same_scenes_through_a_stac_api_give_the_same_observations(
    demo_run: dict[str, Any], small_config: PestcastConfig, tmp_path: Path
) -> None:
    """A static catalog is just another source: serve the demo's items as a STAC API
    (pystac-client, paging, POST /search on 127.0.0.1) and their COGs over HTTP with range
    requests, as an object store does, and fetch again into a fresh work dir."""
    root = Path(small_config.sources.stac.url).parent.resolve()
    catalog = pystac.Catalog.from_file(str(small_config.sources.stac.url))
    api = RecordedStacApi([], page_size=50, files=root)
    for item in catalog.get_items(recursive=True):
        item.make_asset_hrefs_absolute()
        served = item.to_dict(include_self_link=False)
        served["links"] = []  # the catalog's relative links mean nothing behind an API
        for asset in served["assets"].values():
            relative = Path(asset["href"]).resolve().relative_to(root).as_posix()
            asset["href"] = f"{api.url}/files/{relative}"  # remote items: http(s) hrefs only
        api.items.append(served)
    with api:
        stac = small_config.sources.stac.model_copy(update={"url": api.url})
        via_api = small_config.model_copy(
            update={
                "sources": small_config.sources.model_copy(update={"stac": stac}),
                "paths": small_config.paths.model_copy(update={"work_dir": tmp_path / "work"}),
            }
        )
        summary = fetch_flow(via_api)
        assert api.requests["/search"] >= 2  # paged
        assert api.requests["/files"] > 0  # the COGs came over HTTP
    assert summary["solar_days_found"] == demo_run["fetch"]["solar_days_found"]
    assert summary["scenes_read_from_cache"] == 0
    static = pd.read_parquet(small_config.paths.work_dir / "parcel_observations.parquet")
    served = pd.read_parquet(tmp_path / "work" / "parcel_observations.parquet")
    pd.testing.assert_frame_equal(
        served.sort_values(["scene_id", "parcel_id"]).reset_index(drop=True),
        static.sort_values(["scene_id", "parcel_id"]).reset_index(drop=True),
    )


def test_training_again_with_other_risk_classes_reuses_the_models(
    demo_run: dict[str, Any], small_config: PestcastConfig
) -> None:
    """Publishing thresholds are not part of a model's identity."""
    model_dir = Path(demo_run["train"]["model_dir"])
    written = {path.name: path.stat().st_mtime_ns for path in model_dir.iterdir()}
    classes = {"medium_lift": 1.2, "high_lift": 5.0, "min_risk": 0.0}
    forecast = small_config.forecast.model_validate({"risk_classes": classes})
    again = train_flow(small_config.model_copy(update={"forecast": forecast}))
    assert again["model_version"] == demo_run["train"]["model_version"]
    assert {path.name: path.stat().st_mtime_ns for path in model_dir.iterdir()} == written


def test_training_registers_a_checked_version_and_publishes_the_backtest(
    demo_run: dict[str, Any], small_config: PestcastConfig
) -> None:
    trained = demo_run["train"]
    registry = small_config.paths.model_registry
    assert trained["promoted"] is True
    assert (registry / "current").resolve().name == trained["model_version"]
    version = registry / trained["model_version"]
    listed = (version / "SHA256SUMS").read_text(encoding="utf-8")
    for pest, horizon in itertools.product(("bph", "blast"), (7, 14, 28)):
        for suffix in (".txt", ".card.json", ".backtest.parquet", ".reliability.png"):
            assert f"  {pest}_h{horizon}{suffix}\n" in listed
    forecasts = pd.read_parquet(Path(trained["backtest_dir"]) / "forecasts.parquet")
    assert set(forecasts.columns) >= {
        "parcel_id",
        "forecast_date",
        "pest",
        "horizon_days",
        "risk",
        "risk_class",
        "season",
        "in_crop",
    }
    assert set(forecasts["horizon_days"]) == {7, 14, 28}
    assert forecasts.loc[~forecasts["in_crop"], "risk"].isna().all()
    assert set(forecasts.loc[~forecasts["in_crop"], "risk_class"]) <= {"not_in_crop"}
    scores = pd.read_csv(Path(trained["backtest_dir"]) / "scores.csv")
    pooled = scores[(scores["season"] == "all") & (scores["score"] == "within_date_roc_auc")]
    assert set(pooled["forecaster"]) == {
        "model",
        "model_uncalibrated",
        "persistence",
        "climatology",
    }


def test_a_tampered_model_in_the_registry_is_refused(
    demo_run: dict[str, Any], small_config: PestcastConfig, tmp_path: Path
) -> None:
    registry = tmp_path / "registry"
    shutil.copytree(small_config.paths.model_registry, registry, symlinks=True)
    model_file = registry / "current" / "bph_h7.txt"
    text = model_file.read_text(encoding="utf-8")
    model_file.write_text(text.replace("shrinkage=", "shrinkage=1", 1), encoding="utf-8")
    paths = small_config.paths.model_copy(
        update={"model_registry": registry, "output_dir": tmp_path / "outputs"}
    )
    tampered = small_config.model_copy(update={"paths": paths})
    with pytest.raises(ModelError, match=r"bph_h7\.txt was changed after training.*SHA256SUMS"):
        forecast_flow(tampered)


def test_an_earlier_forecast_date_does_not_move_latest_back(
    demo_run: dict[str, Any], small_config: PestcastConfig
) -> None:
    latest = small_config.paths.output_dir / "latest"
    newest = latest.resolve()
    earlier = small_config.model_copy(
        update={"forecast": small_config.forecast.model_copy(update={"date": dt.date(2024, 9, 2)})}
    )
    published = Path(forecast_flow(earlier)["risk_map"])
    assert published.parent.name == "2024-09-02"
    assert latest.resolve() == newest


def test_a_weekly_forecast_builds_only_the_newest_date_and_publishes_the_same_map(
    demo_run: dict[str, Any], small_config: PestcastConfig
) -> None:
    work = small_config.paths.work_dir
    full = pd.read_parquet(work / "features.parquet")
    assert full["vh_db_last"].notna().mean() > 0.8  # Sentinel-1 (sources.sentinel1 of demo.yaml)
    newest = full[full["forecast_date"] == full["forecast_date"].max()].reset_index(drop=True)
    features_flow(small_config, latest_only=True)
    latest = pd.read_parquet(work / "features_latest.parquet")
    pd.testing.assert_frame_equal(latest, newest)
    published = Path(demo_run["forecast"]["risk_map"])
    before = sha256_of(published)
    assert forecast_flow(small_config, latest_only=True)["risk_map"] == str(published)
    assert sha256_of(published) == before


def test_a_cut_short_feature_table_says_which_stage_to_rerun(
    demo_run: dict[str, Any], small_config: PestcastConfig, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    whole = (small_config.paths.work_dir / "features.parquet").read_bytes()
    (work / "features.parquet").write_bytes(whole[: len(whole) // 2])
    cut = small_config.model_copy(
        update={"paths": small_config.paths.model_copy(update={"work_dir": work})}
    )
    with pytest.raises(DataError, match=r"features\.parquet cannot be read .*pestcast features"):
        train_flow(cut)


def test_weather_ending_early_is_said_not_hidden(
    demo_run: dict[str, Any], small_config: PestcastConfig, tmp_path: Path
) -> None:
    weather = pd.read_parquet(small_config.sources.weather.path)
    short = tmp_path / "weather.parquet"
    weather[weather["date"] < "2024-09-01"].to_parquet(short)
    sources = small_config.sources.model_copy(
        update={"weather": small_config.sources.weather.model_copy(update={"path": short})}
    )
    early = small_config.model_copy(
        update={
            "sources": sources,
            "paths": small_config.paths.model_copy(update={"work_dir": tmp_path / "work"}),
        }
    )
    (tmp_path / "work").mkdir()
    for name in ("parcel_observations.parquet", "sar_observations.parquet", "scenes.json"):
        (tmp_path / "work" / name).write_bytes((small_config.paths.work_dir / name).read_bytes())
    summary = features_flow(early)
    assert summary["last_forecast_date"] == "2024-08-26"  # the Monday weather still covers
    assert "an input ends early" in summary["stale_inputs"]


def test_a_stage_run_before_its_inputs_exist_says_which_to_run(
    harness: None, small_config: PestcastConfig, tmp_path: Path
) -> None:
    empty = small_config.model_copy(
        update={"paths": small_config.paths.model_copy(update={"work_dir": tmp_path / "work"})}
    )
    with pytest.raises(DataError, match="pestcast fetch"):
        features_flow(empty)


@pytest.mark.parametrize("fmt", ["gpkg", "kml", "xlsx"])
def test_officers_export_the_published_warnings(
    demo_run: dict[str, Any], small_config_path: Path, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"warnings.{fmt}"
    command = ["export", "--config", str(small_config_path), "--format", fmt, "--out", str(out)]
    result = CliRunner().invoke(app, [*command, "--min-class", "medium"])
    assert result.exit_code == 0, result.output
    rows = int(result.output.split(" warnings")[0].replace(",", ""))
    assert rows > 0
    if fmt == "gpkg":  # GDAL reads it back, every row (KML splits rows into per-pest folders)
        assert pyogrio.read_info(out, layer="warnings")["features"] == rows
    elif fmt == "kml":
        assert (
            sum(
                pyogrio.read_info(out, layer=name)["features"]
                for name, _ in pyogrio.list_layers(out)
            )
            == rows
        )


def test_the_publication_holds_a_scouting_list_per_commune(
    demo_run: dict[str, Any], small_config: PestcastConfig
) -> None:
    folder = Path(demo_run["forecast"]["risk_map"]).parent
    scouting = pd.read_csv(folder / "scouting.csv", encoding="utf-8-sig")
    per_commune = scouting.groupby("commune")["route_order"].agg(["min", "max", "count"])
    assert (per_commune["count"] <= small_config.scouting.parcels_per_commune).all()
    assert (per_commune["min"] == 1).all()
    assert (per_commune["max"] == per_commune["count"]).all()
    assert pyogrio.read_info(folder / "scouting.geojson")["features"] == len(scouting)


def test_the_weekly_bulletin_is_written_and_printed(
    demo_run: dict[str, Any], small_config_path: Path
) -> None:
    result = CliRunner().invoke(app, ["bulletin", "--config", str(small_config_path)])
    assert result.exit_code == 0, result.output
    pdf = Path(result.output.splitlines()[-1])
    assert pdf.name == "bulletin.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    tables = pd.read_csv(pdf.parent / "bulletin_bph.csv", encoding="utf-8-sig")
    assert tables.iloc[-1, 0].startswith("Tổng cộng")


def test_sowing_windows_are_proposed_per_district(
    small_config_path: Path, small_config: PestcastConfig
) -> None:
    result = CliRunner().invoke(app, ["sowing-windows", "--config", str(small_config_path)])
    assert result.exit_code == 0, result.output
    csv_path = Path(result.output.splitlines()[0])
    windows = pd.read_csv(csv_path, encoding="utf-8-sig")
    assert len(windows) == 2  # the simulated region's two districts
    assert windows.iloc[:, 2].notna().all()  # a window start for each


def test_officers_checks_count_in_the_next_feature_table(
    demo_run: dict[str, Any], small_config_path: Path, small_config: PestcastConfig, tmp_path: Path
) -> None:
    """Kept last: it changes the region's feature table for any test after it."""
    table = pd.read_parquet(small_config.paths.work_dir / "features.parquet")
    last = table["forecast_date"].max()
    parcel = str(table.loc[table["forecast_date"] == last, "parcel_id"].iloc[0])
    visit = (last - pd.Timedelta(days=1)).date().isoformat()
    checks = tmp_path / "checks.csv"
    checks.write_text(
        f"parcel_id,date,pest,severity\n{parcel},{visit},bph,heavy\n", encoding="utf-8"
    )
    result = CliRunner().invoke(app, ["feedback", str(checks), "--config", str(small_config_path)])
    assert result.exit_code == 0, result.output
    assert "1 checks added" in result.output
    features_flow(small_config)
    table = pd.read_parquet(small_config.paths.work_dir / "features.parquet")
    row = table[(table["forecast_date"] == last) & (table["parcel_id"] == parcel)]
    assert row["last_severity_bph"].iloc[0] == 3.0


def test_sigterm_stops_the_temporary_prefect_server(
    demo_run: dict[str, Any], small_config_path: Path
) -> None:
    """An orchestrator's SIGTERM must not leave Prefect's temporary server running."""
    command = [str(Path(sys.executable).with_name("pestcast")), "features"]
    run = subprocess.Popen(
        [*command, "--config", str(small_config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert run.stdout is not None
    started = ""
    for line in run.stdout:
        if "Starting temporary server on http://" in line:
            started = line
            break
    assert started, "the run never started its temporary server"
    port = int(started.rsplit(":", 1)[1].strip().split()[0])
    time.sleep(2)
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=60) == 128 + signal.SIGTERM
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 2):
        pass
