"""One forecast publication: the parcel warnings, the risk map and its manifest, in a dated folder.

A publication is built in a hidden staging folder beside the dated one and moved into place only
when complete; ``latest`` moves after it. A run that fails or is killed leaves the previous
publication as it was (and a staging folder that the next run removes). The manifest records the
inputs and the sha256 of every file and no time stamp, so the same inputs give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from pestcast.core.atomic import write_bytes_atomic, write_text_atomic
from pestcast.core.errors import DataError, PublishError
from pestcast.flows.config import PestcastConfig
from pestcast.flows.labels import CLASS_NAMES
from pestcast.flows.layout import RunLayout
from pestcast.flows.publish import write_geojson_rfc7946
from pestcast.flows.reasons import Reason, reasons_text
from pestcast.flows.scouting import ScoutingCapacity, scouting_list
from pestcast.models import (
    NOT_IN_CROP,
    RISK_CLASSES,
    RiskClassRule,
    TrainedRiskModel,
    classify_risk,
    in_crop_mask,
    predict_risk,
    risk_drivers,
    risk_interval,
)

__all__ = [
    "CLASS_NAMES_VI",
    "MANIFEST",
    "MAP_PAGE",
    "RISK_MAP",
    "class_counts",
    "has_usable_data",
    "iso_day",
    "latest_may_move",
    "parcel_warnings",
    "publication_manifest",
    "publish_folder",
    "risk_map_table",
    "sha256_of",
    "write_scouting_list",
]

CLASS_NAMES_VI = {name: vi for name, (_, vi) in CLASS_NAMES.items()}
Explain = Literal["all", "at_risk", "high", "none"]
EXPLAINED_CLASSES: dict[str, tuple[str, ...]] = {
    "all": RISK_CLASSES,
    "at_risk": ("medium", "high"),
    "high": ("high",),
    "none": (),
}
"""The classes whose parcels get reasons, by ``forecast.explain``."""
NO_REASON = Reason("", "")
MANIFEST = "manifest.json"
_STAGING = ".staging-"


def has_usable_data(rows: pd.DataFrame, pest: str, *, max_image_age_days: int) -> np.ndarray:
    """Parcels with a clear image in the last ``max_image_age_days`` or any survey of ``pest``."""
    recent_image = rows["days_since_clear_obs"].to_numpy(np.float64) <= max_image_age_days
    surveyed = rows[f"history_surveys_{pest}"].to_numpy(np.float64) > 0
    return np.asarray(recent_image | surveyed)


def parcel_warnings(
    rows: pd.DataFrame,
    models: Mapping[tuple[str, int], TrainedRiskModel],
    *,
    rule: RiskClassRule,
    max_image_age_days: int,
    explain: Explain = "at_risk",
) -> pd.DataFrame:
    """One row per parcel of one forecast date: risk, class and reasons per pest and horizon.

    Columns ``risk_<p>_h<h>`` with ``risk_low_…``/``risk_high_…`` (NaN without data or out of
    crop), ``class_<p>_h<h>``, ``class_vi_<p>_h<h>``, ``reasons_<p>_h<h>``, ``reasons_vi_<p>_h<h>``,
    after ``parcel_id``. Parcels the feature table marks out of crop (``in_crop`` 0: fallow,
    flooded off-season) are ``not_in_crop`` and take no part in the week's regional mean.
    Reasons are given to the parcels with data in the classes of ``explain``
    (:data:`EXPLAINED_CLASSES`); each reason is a sentence kept per row, so explaining every
    parcel of a province would add time and memory for rows nobody reads.
    """
    columns: dict[str, Any] = {"parcel_id": rows["parcel_id"].to_numpy()}
    in_crop = in_crop_mask(rows)
    for (pest, horizon), model in models.items():
        has_data = has_usable_data(rows, pest, max_image_age_days=max_image_age_days) & in_crop
        risk = predict_risk(model, rows)
        classes = classify_risk(risk, rule, has_data=has_data)
        classes[~in_crop] = NOT_IN_CROP
        explained = has_data & np.isin(classes, EXPLAINED_CLASSES[explain])
        said = _reasons(rows, model, explained)
        key = f"{pest}_h{horizon}"
        low, high = risk_interval(model, risk)
        columns[f"risk_{key}"] = np.where(has_data, np.round(risk, 4), np.nan)
        columns[f"risk_low_{key}"] = np.where(has_data, np.round(low, 3), np.nan)
        columns[f"risk_high_{key}"] = np.where(has_data, np.round(high, 3), np.nan)
        columns[f"class_{key}"] = classes
        columns[f"class_vi_{key}"] = [CLASS_NAMES_VI[name] for name in classes]
        columns[f"reasons_{key}"] = [reason.en for reason in said]
        columns[f"reasons_vi_{key}"] = [reason.vi for reason in said]
    return pd.DataFrame(columns)


def _reasons(rows: pd.DataFrame, model: TrainedRiskModel, explained: np.ndarray) -> list[Reason]:
    """Each row's top drivers in words; no words for the rows not ``explained``."""
    said = [NO_REASON] * len(rows)
    if not explained.any():
        return said
    subset = rows.loc[explained]
    drivers = risk_drivers(model, subset, top_k=3)
    # The drivers' own values only: a dict of every feature per row held 3 KB a row (1.3 GB for
    # the 440,000 explained rows of a province).
    features = list(model.spec.features)
    column = {name: j for j, name in enumerate(features)}
    values = subset[features].to_numpy(dtype=np.float64, na_value=np.nan)
    for position, found, row in zip(np.flatnonzero(explained), drivers, values, strict=True):
        said[position] = reasons_text(found, {name: row[column[name]] for name, _ in found})
    return said


def class_counts(warnings: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``<pest>_h<h>`` → class → parcels, every class listed."""
    return {
        column.removeprefix("class_"): {
            name: int((warnings[column] == name).sum()) for name in RISK_CLASSES
        }
        for column in warnings.columns
        if column.startswith("class_") and not column.startswith("class_vi_")
    }


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def publish_folder(
    target: Path, write: Callable[[Path], Mapping[str, Any]], *, order: Sequence[str] = ()
) -> bool:
    """Build a publication with ``write(staging)`` and move it to ``target`` when complete.

    ``write`` fills the staging folder and returns the manifest's content; the sha256 of every
    file is added (sub-folders too, keyed by relative path such as ``map/x.html``) and the
    manifest written last. If ``target`` already holds the same manifest, nothing is replaced
    and False is returned. ``order`` lists manifest keys to put first.
    """
    _remove_stale_staging(target)
    with _staging_folder(target) as staging:
        content = dict(write(staging))
        files = sorted(path.relative_to(staging).as_posix() for path in staging.rglob("*"))
        content["files"] = {
            name: sha256_of(staging / name) for name in files if (staging / name).is_file()
        }
        text = json.dumps(_ordered(content, order), indent=1, ensure_ascii=False) + "\n"
        write_text_atomic(staging / MANIFEST, text)
        if _same_manifest(target, text):
            return False
        _swap_into_place(staging, target)
    return True


@contextmanager
def _staging_folder(target: Path) -> Iterator[Path]:
    staging = target.with_name(f"{_STAGING}{target.name}-{uuid.uuid4().hex[:8]}")
    try:
        staging.mkdir(parents=True)
    except OSError as error:
        raise PublishError(
            f"cannot create {staging} to publish {target}: {error}; check the output folder"
        ) from error
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _same_manifest(target: Path, text: str) -> bool:
    try:
        return (target / MANIFEST).read_text(encoding="utf-8") == text
    except OSError:
        return False


def _swap_into_place(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; an older ``target`` is moved aside and removed after."""
    aside = target.with_name(f"{_STAGING}{target.name}-replaced-{uuid.uuid4().hex[:8]}")
    try:
        if target.exists():
            target.rename(aside)
        staging.rename(target)
    except OSError as error:
        if aside.exists() and not target.exists():
            aside.rename(target)
        raise PublishError(
            f"cannot move the new publication into {target}: {error}; the previous one is kept"
        ) from error
    shutil.rmtree(aside, ignore_errors=True)


def _remove_stale_staging(target: Path) -> None:
    """Staging folders a killed run left behind; a replaced folder whose swap was cut short
    is put back first."""
    if not target.parent.is_dir():
        return
    for leftover in sorted(target.parent.glob(f"{_STAGING}{target.name}-*")):
        if "-replaced-" in leftover.name and not target.exists():
            leftover.rename(target)
        else:
            shutil.rmtree(leftover, ignore_errors=True)


def _ordered(content: dict[str, Any], order: Sequence[str]) -> dict[str, Any]:
    first = {key: content[key] for key in order if key in content}
    return first | {key: value for key, value in content.items() if key not in first}


def iso_day(value: dt.date | pd.Timestamp) -> str:
    """``YYYY-MM-DD`` of a date or timestamp."""
    return pd.Timestamp(value).date().isoformat()


RISK_MAP = "risk_map.geojson"
MAP_PAGE = "map.html"
SCOUTING_GEOJSON = "scouting.geojson"
SCOUTING_CSV = "scouting.csv"
SCOUTING_COLUMNS = (
    "rank",
    "commune",
    "route_order",
    "parcel_id",
    "district",
    "lat",
    "lon",
    "area_ha",
    "visit_worth_ha",
    "last_clear_obs_date",
)


def risk_map_table(
    parcels: gpd.GeoDataFrame,
    rows: pd.DataFrame,
    warnings: pd.DataFrame,
    models: dict[tuple[str, int], TrainedRiskModel],
) -> gpd.GeoDataFrame:
    """The published table: each parcel's geometry once, its facts, then its warnings."""
    forecast_date = pd.Timestamp(rows["forecast_date"].iloc[0])
    image_age = pd.to_timedelta(rows["days_since_clear_obs"], unit="D")
    facts = pd.DataFrame(
        {
            "parcel_id": rows["parcel_id"],
            "forecast_date": iso_day(forecast_date),
            "model_version": next(iter(models.values())).model_version,
            "last_clear_obs_date": (forecast_date - image_age).dt.strftime("%Y-%m-%d"),
            "n_valid_px": rows["last_obs_valid_px"].astype("Int64"),
        }
    )
    table = parcels[["parcel_id", "commune", "district", "geometry"]].copy()
    table.insert(3, "area_ha", (table.geometry.area / 10_000).round(2))
    table = table.merge(facts, on="parcel_id").merge(warnings, on="parcel_id")
    return gpd.GeoDataFrame(table, geometry="geometry", crs=parcels.crs)


def write_scouting_list(risk_map: gpd.GeoDataFrame, config: PestcastConfig, folder: Path) -> None:
    """``scouting.geojson`` and ``scouting.csv`` (point lat/lon, UTF-8 for Excel), at the
    shortest horizon."""
    scouting, horizon = config.scouting, min(config.model.horizons_days)
    listed = scouting_list(
        risk_map,
        pests=config.model.pests,
        horizon_days=horizon,
        capacity=ScoutingCapacity(scouting.parcels_per_commune, scouting.hectares_per_commune),
    )
    points = listed.geometry.representative_point().to_crs("EPSG:4326")
    listed = listed.assign(lat=points.y.round(6), lon=points.x.round(6))
    columns = [*SCOUTING_COLUMNS] + [
        f"{field}_{pest}_h{horizon}"
        for pest in config.model.pests
        for field in ("risk", "class", "class_vi", "reasons", "reasons_vi")
    ]
    write_geojson_rfc7946(listed[[*columns, "geometry"]], folder / SCOUTING_GEOJSON)
    csv = pd.DataFrame(listed[columns]).to_csv(index=False)
    write_bytes_atomic(folder / SCOUTING_CSV, csv.encode("utf-8-sig"))


def publication_manifest(
    config: PestcastConfig,
    layout: RunLayout,
    forecast_date: dt.date,
    models: dict[tuple[str, int], TrainedRiskModel],
    warnings: pd.DataFrame,
) -> dict[str, Any]:
    """What the publication was made from: inputs with their hashes, models, counts."""
    sources = config.sources
    longest_window = max(config.features.weather_windows_days)
    return {
        "region": config.region.name,
        "forecast_date": forecast_date.isoformat(),
        "inputs": {
            "scenes": _scenes_known_by(layout, forecast_date),
            "parcels": _file_entry(sources.parcels.path),
            "weather": _file_entry(sources.weather.path)
            | {
                "first_day": iso_day(forecast_date - dt.timedelta(days=longest_window)),
                "last_day": iso_day(forecast_date - dt.timedelta(days=1)),
            },
            "surveys": _file_entry(sources.surveys.path)
            | {"reported_on_or_before": forecast_date.isoformat()},
        },
        "models": {f"{p}_h{h}": model.model_version for (p, h), model in models.items()},
        "risk_classes": config.forecast.risk_classes.model_dump()
        | {"no_data_after_days": config.forecast.no_data_after_days},
        "counts": {"parcels": len(warnings), "classes": class_counts(warnings)},
    }


def _file_entry(path: Path) -> dict[str, str]:
    return {"path": str(path), "sha256": sha256_of(path)}


def _scenes_known_by(layout: RunLayout, forecast_date: dt.date) -> list[str]:
    """Items of the solar days read by the last fetch, up to the forecast date."""
    if not layout.scene_log.is_file():
        raise DataError(f"{layout.scene_log} does not exist yet; run `pestcast fetch` first")
    outcomes = json.loads(layout.scene_log.read_text("utf-8"))
    return sorted(
        item
        for outcome in outcomes
        if outcome["status"] != "skipped" and outcome["solar_day"] <= forecast_date.isoformat()
        for item in outcome["items"]
    )


def latest_may_move(layout: RunLayout, forecast_date: dt.date) -> bool:
    """Whether ``latest`` should move here: never back to an older forecast date."""
    current = layout.latest_forecast
    if not current.is_symlink():
        return True
    try:
        return forecast_date >= dt.date.fromisoformat(current.resolve().name)
    except ValueError:
        return True
