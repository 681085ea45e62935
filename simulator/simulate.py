"""Generate the demo region: the entry point of the simulator.

Order of simulation: landscape → crop calendars → weather → BPH immigration waves → epidemics
(day by day) → surveys, truth and light-trap catches (the same immigration waves) → imagery
(clouds linked to that day's weather, burnt patches from the epidemic). Every random draw comes
from a named stream seeded by ``(seed, stream)``, and each scene has its own stream, so the
output does not depend on how scenes are spread over worker processes. The immigration waves
are the first draw of the ``epidemic`` stream; the light traps and the damage patches have
streams of their own, so adding them changed no other draw. So have the weather forecasts
(``weather_forecasts.parquet``, from the realised weather; nothing else reads them).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pystac
import shapely

from pestcast.core.atomic import write_text_atomic
from pestcast.core.errors import ConfigError
from pestcast.simulator.clouds import plan_clouds, scene_cloud_fraction
from pestcast.simulator.crop_calendar import CropCalendar, CropState, crop_state, draw_crop_calendar
from pestcast.simulator.epidemic import (
    LAG_DAYS,
    PESTS,
    ParcelTraits,
    PestOutcome,
    burnt_share,
    light_trap_waves,
    simulate_epidemics,
)
from pestcast.simulator.geometry import COMMUNES, RegionLayout, build_region_layout
from pestcast.simulator.imagery import SceneResult, SceneSpec, render_context, write_scenes
from pestcast.simulator.light_traps import simulate_light_traps, trap_stations
from pestcast.simulator.sar import (
    COLLECTION_ID as SAR_COLLECTION_ID,
    plan_sar_scenes,
    sar_acquisitions,
    sar_collection,
    sar_context,
    write_sar_scenes,
)
from pestcast.simulator.settings import SIMULATOR_VERSION, SPINUP_DAYS, DemoSettings
from pestcast.simulator.stac_catalog import (
    COLLECTION_ID,
    ItemFacts,
    build_item,
    item_id,
    processing_baseline,
    write_catalog,
)
from pestcast.simulator.surface import FieldConditions, flood_level, scene_surface
from pestcast.simulator.surveys import simulate_surveys
from pestcast.simulator.weather import DailyWeather, simulate_weather
from pestcast.simulator.weather_forecasts import simulate_weather_forecasts
from pestcast.simulator.writers import write_geopackage, write_parquet, write_parquet_table

__all__ = [
    "HORIZONS_DAYS",
    "MANIFEST_NAME",
    "DemoWorld",
    "demo_region_is_current",
    "generate_demo_region",
    "light_trap_tables",
    "simulate_world",
    "survey_shares",
    "truth_table",
    "weather_forecast_table",
]

MANIFEST_NAME = "MANIFEST.json"
OWNER_MARKER = ".pestcast-simulator"
"""Written first into a folder the simulator generates into: the folder is its own."""
HORIZONS_DAYS = (7, 14)
REGION_FILES = {
    "parcels": "parcels.gpkg",
    "stac": "stac/catalog.json",
    "weather": "weather.parquet",
    "weather_forecasts": "weather_forecasts.parquet",
    "surveys": "surveys.parquet",
    "truth": "truth.parquet",
    "light_traps": "light_traps.parquet",
    "light_trap_stations": "light_trap_stations.csv",
}
_STREAMS = {
    "geometry": 1,
    "calendar": 2,
    "weather": 3,
    "vigour": 4,
    "epidemic": 5,
    "surveys": 6,
    "texture": 7,
    "scene_plans": 8,
    "scene_pixels": 9,
    "light_traps": 10,
    "damage_patches": 11,
    "sar_plans": 12,
    "sar_pixels": 13,
    "weather_forecasts": 14,
}
ACQUISITION_TIME_UTC = dt.time(3, 26, 1)


def _stream(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAMS[name]])


@dataclass(frozen=True)
class DemoWorld:
    """The simulated region in memory, before any file is written."""

    settings: DemoSettings
    layout: RegionLayout
    calendar: CropCalendar
    weather: DailyWeather
    vigour: npt.NDArray[np.float64]
    """Vigour of every rendered field (registered parcels first)."""
    parcel_state: CropState
    """Crop stage of the registered parcels on every simulated day."""
    epidemics: dict[str, PestOutcome]
    immigration: npt.NDArray[np.float64]
    """Daily BPH immigration series 0–1 (light-trap waves) shared by the epidemic and the traps."""
    burnt: npt.NDArray[np.float32]
    """(day, parcel) share 0–1 of the parcel's area in burnt patches (pest damage)."""

    @property
    def first_day(self) -> dt.date:
        return self.calendar.first_day

    def day_index(self, day: dt.date) -> int:
        return (day - self.first_day).days


def simulate_world(settings: DemoSettings) -> DemoWorld:
    """Landscape, calendars, weather and epidemics from ``settings.start − 120 d`` to end + 14 d."""
    seed = settings.seed
    layout = build_region_layout(settings.n_parcels, _stream(seed, "geometry"))
    first_day = settings.start - dt.timedelta(days=SPINUP_DAYS)
    n_days = (settings.end - first_day).days + LAG_DAYS + 2
    last_day = first_day + dt.timedelta(days=n_days - 1)
    calendar = draw_crop_calendar(
        first_day,
        last_day,
        layout.field_block,
        layout.field_compartment,
        _stream(seed, "calendar"),
    )
    weather = simulate_weather(first_day, n_days, len(COMMUNES), _stream(seed, "weather"))
    vigour = np.clip(_stream(seed, "vigour").normal(1.0, 0.07, layout.n_fields), 0.82, 1.18)
    parcels = slice(0, layout.n_parcels)
    state = crop_state(calendar, np.arange(n_days), fields=parcels)
    traits = ParcelTraits(
        vigour=vigour[parcels],
        commune=layout.parcel_commune,
        centroids=shapely.get_coordinates(shapely.centroid(layout.parcels.geometry.to_numpy())),
    )
    epidemic_rng = _stream(seed, "epidemic")
    immigration = light_trap_waves(n_days, epidemic_rng)
    epidemics = simulate_epidemics(state, weather, traits, epidemic_rng, immigration=immigration)
    return DemoWorld(
        settings=settings,
        layout=layout,
        calendar=calendar,
        weather=weather,
        vigour=vigour,
        parcel_state=state,
        epidemics=epidemics,
        immigration=immigration,
        burnt=burnt_share(epidemics, state.days_since_sowing),
    )


def generate_demo_region(
    out_dir: Path,
    settings: DemoSettings,
    *,
    progress: Callable[[str], None] | None = None,
    max_workers: int = 2,
    sentinel1: bool = True,
) -> Path:
    """Simulate the region into ``out_dir`` and return the path of its ``MANIFEST.json``.

    Any previous region in ``out_dir`` is removed first (manifest first, so an interrupted run
    leaves no manifest and is regenerated next time). Scenes are rendered in ``max_workers``
    processes; the bytes written do not depend on it. ``sentinel1`` adds the Sentinel-1 RTC
    collection (:mod:`simulator.sar`, own random streams: every other file is the same bytes
    without it, except ``stac/catalog.json`` and the manifest, which list it).
    """
    report = progress or _ignore
    out_dir = Path(out_dir)
    _claim_folder(out_dir)
    _remove_previous_region(out_dir)
    report(f"demo region: simulating {settings.n_parcels} parcels {settings.start}→{settings.end}")
    world = simulate_world(settings)
    write_geopackage(out_dir / REGION_FILES["parcels"], world.layout.parcels, layer="parcels")
    communes = [name for name, _ in COMMUNES]
    write_parquet(out_dir / REGION_FILES["weather"], world.weather.table(communes, settings.end))
    write_parquet(out_dir / REGION_FILES["weather_forecasts"], weather_forecast_table(world))
    surveys = _surveys(world)
    write_parquet(out_dir / REGION_FILES["surveys"], surveys)
    write_parquet_table(
        out_dir / REGION_FILES["truth"], truth_table(world), float_columns=("p_true",)
    )
    traps = _write_light_traps(out_dir, world)
    report("demo region: parcels, weather, surveys, truth and light traps written")
    facts, radar = _write_imagery(
        out_dir, world, max_workers=max_workers, progress=report, sentinel1=sentinel1
    )
    manifest = _manifest(world, surveys, facts, traps)
    if radar:
        manifest["counts"]["sentinel1_scenes"] = radar
    path = out_dir / MANIFEST_NAME
    write_text_atomic(path, json.dumps(manifest, indent=2, ensure_ascii=False))
    report(f"demo region: complete in {out_dir}")
    return path


def demo_region_is_current(out_dir: Path, settings: DemoSettings) -> bool:
    """True when ``out_dir`` holds a complete region made by this simulator with ``settings``."""
    path = Path(out_dir) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(manifest, dict)
        and manifest.get("simulator_version") == SIMULATOR_VERSION
        and manifest.get("settings") == settings.to_json()
        and all((Path(out_dir) / name).exists() for name in REGION_FILES.values())
    )


def _claim_folder(out_dir: Path) -> None:
    """Make ``out_dir`` the simulator's, refusing a folder that holds anyone else's files.

    The simulator deletes and rewrites its own files; it must never touch a user's.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir} is a file; pass a folder for the demo region")
    ours = (out_dir / OWNER_MARKER).is_file() or _has_manifest(out_dir)
    if out_dir.is_dir() and any(out_dir.iterdir()) and not ours:
        raise ConfigError(
            f"{out_dir} already holds files the simulator did not write, and it never "
            "overwrites those; pass an empty or new folder"
        )
    write_text_atomic(out_dir / OWNER_MARKER, "Written by pestcast.simulator; may be replaced.\n")


def _has_manifest(out_dir: Path) -> bool:
    try:
        manifest = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "simulator" in manifest


def _ignore(_message: str) -> None:
    """Progress sink when the caller passes none."""


def _remove_previous_region(out_dir: Path) -> None:
    """Delete the files this simulator writes (manifest first); nothing else in ``out_dir``."""
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
    for name in REGION_FILES.values():
        (out_dir / name).unlink(missing_ok=True)
    shutil.rmtree(out_dir / "stac", ignore_errors=True)


def _surveys(world: DemoWorld) -> pd.DataFrame:
    settings = world.settings
    first = world.day_index(settings.start)
    days = np.arange(first, world.day_index(settings.end) + 1)
    weekdays = np.array([(world.first_day + dt.timedelta(days=int(d))).weekday() for d in days])
    return simulate_surveys(
        {pest: outcome.severity for pest, outcome in world.epidemics.items()},
        world.parcel_state.in_crop,
        first_day=world.first_day,
        survey_days=days[weekdays == settings.survey_weekday],
        parcel_ids=list(world.layout.parcels["parcel_id"]),
        survey_fraction=settings.survey_fraction,
        rng=_stream(settings.seed, "surveys"),
    )


def weather_forecast_table(world: DemoWorld) -> pd.DataFrame:
    """The forecast run issued each day from the spin-up's first day to ``settings.end``
    (:mod:`simulator.weather_forecasts`), drawn from a random stream of its own."""
    return simulate_weather_forecasts(
        world.weather,
        [name for name, _ in COMMUNES],
        last_issue=world.settings.end,
        rng=_stream(world.settings.seed, "weather_forecasts"),
    )


def light_trap_tables(world: DemoWorld) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(stations, nightly catches) from the spin-up's first day to ``settings.end``."""
    stations = trap_stations(world.layout)
    catches = simulate_light_traps(
        stations,
        world.immigration,
        world.weather,
        world.settings.end,
        _stream(world.settings.seed, "light_traps"),
    )
    return stations, catches


def _write_light_traps(out_dir: Path, world: DemoWorld) -> pd.DataFrame:
    stations, catches = light_trap_tables(world)
    write_parquet(out_dir / REGION_FILES["light_traps"], catches)
    csv = stations.to_csv(index=False, lineterminator="\n")
    write_text_atomic(out_dir / REGION_FILES["light_trap_stations"], csv)
    return catches


def truth_table(world: DemoWorld) -> pa.Table:
    """Every parcel × day in [start, end] × pest × horizon: latent severity and exact ``p_true``.

    Rows are ordered by pest, horizon, parcel and date; ``parcel_id`` and ``pest`` are
    dictionary-encoded.
    """
    settings = world.settings
    days = np.arange(world.day_index(settings.start), world.day_index(settings.end) + 1)
    n_parcels = world.layout.n_parcels
    dates = pd.date_range(settings.start, settings.end, freq="D").to_numpy("datetime64[ns]")
    blocks = [(pest, h) for pest in PESTS for h in HORIZONS_DAYS]
    severity, p_true = [], []
    for pest, horizon in blocks:
        outcome = world.epidemics[pest]
        severity.append(outcome.severity[days].T.ravel())
        p_true.append(outcome.p_true(world.parcel_state.in_crop, days, horizon).T.ravel())
    block_rows = n_parcels * len(days)
    parcel_codes = np.tile(np.repeat(np.arange(n_parcels, dtype=np.int32), len(days)), len(blocks))
    pest_codes = np.repeat(np.array([PESTS.index(p) for p, _ in blocks], np.int8), block_rows)
    return pa.table(
        {
            "parcel_id": pa.DictionaryArray.from_arrays(
                parcel_codes, pa.array(list(world.layout.parcels["parcel_id"]))
            ),
            "date": pa.array(np.tile(dates, n_parcels * len(blocks)), pa.timestamp("ns")),
            "pest": pa.DictionaryArray.from_arrays(pest_codes, pa.array(list(PESTS))),
            "horizon_days": np.repeat(np.array([h for _, h in blocks], np.int8), block_rows),
            "severity": np.concatenate(severity).astype(np.int8),
            "p_true": np.concatenate(p_true).astype(np.float32),
        }
    )


def scene_dates(settings: DemoSettings) -> list[dt.date]:
    """Acquisition dates every ``revisit_days`` from ``start`` to ``end``."""
    n_scenes = (settings.end - settings.start).days // settings.revisit_days + 1
    return [settings.start + dt.timedelta(days=k * settings.revisit_days) for k in range(n_scenes)]


def _write_imagery(
    out_dir: Path,
    world: DemoWorld,
    *,
    max_workers: int,
    progress: Callable[[str], None],
    sentinel1: bool,
) -> tuple[list[ItemFacts], int]:
    """Sentinel-2 scenes (and Sentinel-1 RTC scenes), the catalog; (S2 facts, S1 scene count)."""
    stac_dir = out_dir / "stac"
    seed = world.settings.seed
    context = render_context(
        world.layout,
        stac_dir / COLLECTION_ID,
        _stream(seed, "texture"),
        patch_rng=_stream(seed, "damage_patches"),
    )
    facts, specs = _plan_scenes(world)
    results = write_scenes(context, specs, max_workers=max_workers, progress=progress)
    facts = _with_cloud_cover(facts, results)
    radar = _write_radar(stac_dir, world) if sentinel1 else []
    if radar:
        progress(f"demo region: {len(radar)} Sentinel-1 scenes written")
    extra = [sar_collection(radar)] if radar else []
    items = [build_item(f, world.layout.grid) for f in facts]
    write_catalog(stac_dir, items, extra_collections=extra)
    return facts, len(radar)


def _write_radar(stac_dir: Path, world: DemoWorld) -> list[pystac.Item]:
    """Sentinel-1 RTC scenes over the region (see :mod:`simulator.sar`); their items."""
    acquisitions = sar_acquisitions(world.settings.start, world.settings.end)
    days = np.array([world.day_index(day) for day, _ in acquisitions], dtype=np.int64)
    state = crop_state(world.calendar, days)
    seed = world.settings.seed
    scenes = plan_sar_scenes(
        acquisitions,
        lambda k, _day: _conditions(world, state, k, int(days[k])),
        _stream(seed, "sar_plans"),
        (seed, _STREAMS["sar_pixels"]),
    )
    context = sar_context(world.layout, stac_dir / SAR_COLLECTION_ID)
    return write_sar_scenes(context, scenes)


def _plan_scenes(world: DemoWorld) -> tuple[list[ItemFacts], list[SceneSpec]]:
    """Item facts (cloud cover still unknown) and render specs of every scene."""
    rng = _stream(world.settings.seed, "scene_plans")
    dates = scene_dates(world.settings)
    days = np.array([world.day_index(d) for d in dates])
    state = crop_state(world.calendar, days)
    facts, specs = [], []
    for k, (day, date) in enumerate(zip(days, dates, strict=True)):
        acquired = dt.datetime.combine(date, ACQUISITION_TIME_UTC, dt.UTC) + dt.timedelta(
            seconds=int(rng.integers(0, 20))
        )
        available = acquired + dt.timedelta(hours=float(rng.uniform(20.0, 30.0)))
        platform = "sentinel-2a" if k % 2 == 0 else "sentinel-2b"
        identifier = item_id(platform, acquired, available)
        baseline = processing_baseline(date)
        plan = plan_clouds(acquired, _cloud_fraction(world.weather, int(day), rng), rng)
        tables = scene_surface(_conditions(world, state, k, int(day)))
        seed = (world.settings.seed, _STREAMS["scene_pixels"], k)
        specs.append(SceneSpec(k, identifier, baseline, tables, plan, seed))
        facts.append(ItemFacts(identifier, acquired, available, platform, baseline, 0.0))
    return facts, specs


def _cloud_fraction(weather: DailyWeather, day: int, rng: np.random.Generator) -> float:
    rain = weather.rain_mm.mean(axis=1)
    return scene_cloud_fraction(
        weather.first_day + dt.timedelta(days=day),
        float(rain[day]),
        float(rain[day - 1]),
        float(weather.humidity_anomaly_pct[day]),
        rng,
    )


def _conditions(world: DemoWorld, state: CropState, scene: int, day: int) -> FieldConditions:
    burnt = np.zeros(world.layout.n_fields, dtype=np.float32)
    burnt[: world.layout.n_parcels] = world.burnt[day]
    recent_rain = float(world.weather.rain_mm[day - 2 : day + 1].mean(axis=1).sum())
    return FieldConditions(
        days_since_sowing=state.days_since_sowing[scene],
        days_since_harvest=state.days_since_harvest[scene],
        days_to_sowing=state.days_to_sowing[scene],
        vigour=world.vigour,
        burnt=burnt,
        three_crops=world.calendar.three_crops,
        flood=flood_level(world.first_day + dt.timedelta(days=day)),
        soil_wetness=float(np.clip(0.15 + 0.6 * recent_rain / 20.0, 0.0, 0.9)),
    )


def _with_cloud_cover(facts: list[ItemFacts], results: list[SceneResult]) -> list[ItemFacts]:
    cover = {result.index: result.cloud_cover_pct for result in results}
    return [
        ItemFacts(f.item_id, f.acquired_utc, f.available_utc, f.platform, f.processing_baseline,
                  cover[k])
        for k, f in enumerate(facts)
    ]  # fmt: skip


def survey_shares(surveys: pd.DataFrame) -> pd.DataFrame:
    """Weekly share of surveyed parcels observed at ≥ light, one column per pest."""
    flagged = surveys.assign(infested=surveys["severity"] != "none")
    return pd.pivot_table(
        flagged, index="survey_date", columns="pest", values="infested", aggfunc="mean"
    )


def _manifest(
    world: DemoWorld, surveys: pd.DataFrame, facts: list[ItemFacts], traps: pd.DataFrame
) -> dict[str, Any]:
    shares = survey_shares(surveys)
    cloud = pd.Series(
        [f.cloud_cover_pct / 100.0 for f in facts],
        index=pd.DatetimeIndex([f.acquired_utc.date() for f in facts]),
    )
    months = pd.DatetimeIndex(cloud.index).month
    grid = world.layout.grid
    return {
        "simulator": "pestcast.simulator",
        "simulator_version": SIMULATOR_VERSION,
        "settings": world.settings.to_json(),
        "files": REGION_FILES,
        "counts": {
            "parcels": world.layout.n_parcels,
            "fields_rendered": world.layout.n_fields,
            "scenes": len(facts),
            "survey_rows": len(surveys),
            "light_trap_stations": int(traps["station_id"].nunique()),
            "light_trap_rows": len(traps),
        },
        "grid": {
            "crs": "EPSG:32648",
            "transform_10m": list(grid.transform(10)),
            "shape_10m": list(grid.shape(10)),
        },
        "summary": {
            "mean_cloud_fraction_wet_may_oct": _rounded(cloud[months.isin(range(5, 11))].mean()),
            "mean_cloud_fraction_dry_dec_apr": _rounded(
                cloud[months.isin([12, 1, 2, 3, 4])].mean()
            ),
            "peak_weekly_survey_share": {p: _rounded(shares[p].max()) for p in shares},
            "trough_weekly_survey_share": {p: _rounded(shares[p].min()) for p in shares},
        },
    }


def _rounded(value: float) -> float | None:
    """JSON-safe rounded value (None for NaN)."""
    return None if np.isnan(value) else round(float(value), 3)
