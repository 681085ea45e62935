"""The week's run and the retraining, as Prefect flows that can be served on a schedule.

``weekly_flow`` runs fetch → features → forecast (publish) → exports → bulletin for one region
and forecast date (by default the last forecast weekday up to today). It publishes only on new
imagery: when the fetch found no clear solar day that the last publication did not already
use, it stops with :class:`NoNewImageryError` before the features, so the run ends *Failed*
and says so. ``retrain_flow`` runs fetch → features → train (backtest and promotion happen
inside the training).

Deployments take a config file, not a config object: ``scheduled_weekly`` and
``scheduled_retrain`` load ``config_path`` and run the same steps under the region's lock.
``pestcast serve`` serves both from one process on :data:`WEEKLY_CRON` and :data:`RETRAIN_CRON`
in the region's time zone; ``prefect.yaml`` declares the same for ``prefect deploy``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import tempfile
import warnings
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import ValidationError

from pestcast.core.atomic import remove_stale_temporaries
from pestcast.core.errors import ConfigError, DataError, PestcastError, PublishError
from pestcast.flows.bulletin import CHROMIUM, render_pdf, write_bulletin
from pestcast.flows.config import PestcastConfig, load_config
from pestcast.flows.export import export_warnings
from pestcast.flows.layout import RunLayout
from pestcast.flows.map_page import commune_slugs
from pestcast.flows.ownership import claim_folder, region_lock
from pestcast.flows.pipeline import features_flow, fetch_flow, forecast_flow, train_flow
from pestcast.flows.publish import write_geojson_rfc7946
from pestcast.flows.runners import with_task_runner
from pestcast.flows.tables import read_parcels
from pestcast.flows.tasks import configured_surveys, scored_risk_map

__all__ = [
    "RETRAIN_CRON",
    "WEEKLY_CRON",
    "NewImagery",
    "NoNewImageryError",
    "PreviousForecast",
    "earlier_risk_maps",
    "forecast_day",
    "new_imagery",
    "publication_bulletin",
    "retrain_flow",
    "scheduled_retrain",
    "scheduled_weekly",
    "serve_deployments",
    "weekly_flow",
]

WEEKLY_CRON = "0 6 * * 1"
"""Mondays 06:00 in the region's time zone: Sunday's weather is in, the officers' week starts."""
RETRAIN_CRON = "0 2 1 * *"
"""The 1st of each month, 02:00: a month of new survey labels."""
EXPORTS = "exports"
"""Folder of the week's exports under ``paths.output_dir``, one subfolder per forecast date."""
COMMUNE_MIN_CLASS = "medium"
"""Each commune's file lists the warnings worth a visit: medium and high."""
STALE_ADVICE = (
    "rerun after the next scene, or pass --allow-stale (deployment parameter allow_stale: "
    "true) to publish on the old imagery"
)


class NoNewImageryError(DataError):
    """The fetch found no clear imagery that the last publication did not already use."""


# --- which date, and is there anything new ----------------------------------------------------


def forecast_day(
    config: PestcastConfig, forecast_date: dt.date | None, *, today: dt.date | None = None
) -> dt.date:
    """The week's forecast date: ``forecast_date``, else ``forecast.date``, else the last
    forecast weekday on or before today (in the region's time zone) and ``imagery.end``."""
    chosen = forecast_date or config.forecast.date
    if chosen is not None:
        return chosen
    today = today or dt.datetime.now(zoneinfo.ZoneInfo(config.region.timezone)).date()
    last = min(today, config.imagery.end)
    return last - dt.timedelta(days=(last.weekday() - config.features.forecast_weekday) % 7)


def week_config(config: PestcastConfig, day: dt.date) -> PestcastConfig:
    """``config`` forecasting ``day``, checked like a config file (weekday, imagery window)."""
    raw = config.model_dump()
    raw["forecast"]["date"] = day
    try:
        return PestcastConfig.model_validate(raw)
    except ValidationError as error:
        reasons = "; ".join(
            problem["msg"].removeprefix("Value error, ") for problem in error.errors()
        )
        raise ConfigError(f"forecast date {day}: {reasons}") from None


@dataclass(frozen=True)
class PreviousForecast:
    """The newest publication up to the week's date, and the scenes it was made from."""

    forecast_date: dt.date
    items: frozenset[str]
    """STAC item ids of its manifest's ``inputs.scenes``."""


@dataclass(frozen=True)
class NewImagery:
    """What the week's fetch brought that the previous publication did not use."""

    forecast_date: dt.date
    previous_forecast: dt.date | None
    new_clear_days: tuple[str, ...]
    """Solar days (ISO) up to the forecast date with a clear pixel over a parcel, new."""
    new_cloudy_days: int
    """New solar days without a clear pixel over any parcel."""
    unreadable_days: int
    """Solar days after the previous forecast that could not be read."""
    newest_clear_day: str | None
    """The newest clear solar day up to the forecast date, new or not."""

    def summary(self, *, stale: bool) -> dict[str, Any]:
        return {
            "forecast_date": self.forecast_date.isoformat(),
            "previous_forecast": self.previous_forecast and self.previous_forecast.isoformat(),
            "new_clear_solar_days": list(self.new_clear_days),
            "new_cloudy_solar_days": self.new_cloudy_days,
            "unreadable_solar_days": self.unreadable_days,
            "newest_clear_solar_day": self.newest_clear_day,
            "published_on_stale_imagery": stale,
        }


def new_imagery(
    outcomes: Sequence[Mapping[str, Any]], day: dt.date, previous: PreviousForecast | None
) -> NewImagery:
    """Compare the fetch's outcomes (``scenes.json`` records) up to ``day`` with ``previous``.

    A solar day is new when none of its items is among the previous publication's inputs;
    clear when the fetch found a clear pixel over at least one parcel on it.
    """
    known = previous.items if previous else frozenset()
    up_to_day = [o for o in outcomes if str(o.get("solar_day", "")) <= day.isoformat()]
    read = [o for o in up_to_day if o.get("status") != "skipped"]
    clear = sorted(str(o["solar_day"]) for o in read if o.get("parcels_with_clear_pixels", 0) > 0)
    fresh = [o for o in read if known.isdisjoint(o.get("items", ()))]
    after = previous.forecast_date.isoformat() if previous else ""
    return NewImagery(
        forecast_date=day,
        previous_forecast=previous.forecast_date if previous else None,
        new_clear_days=tuple(
            sorted(str(o["solar_day"]) for o in fresh if o.get("parcels_with_clear_pixels", 0) > 0)
        ),
        new_cloudy_days=sum(o.get("parcels_with_clear_pixels", 0) == 0 for o in fresh),
        unreadable_days=sum(
            o.get("status") == "skipped" and str(o["solar_day"]) > after for o in up_to_day
        ),
        newest_clear_day=clear[-1] if clear else None,
    )


def refusal(news: NewImagery, scene_log: Path) -> str | None:
    """Why the week must not be published on ``news``; None when there is new clear imagery."""
    if news.new_clear_days:
        return None
    since = (
        f"since the forecast of {news.previous_forecast}"
        if news.previous_forecast
        else f"up to {news.forecast_date}"
    )
    return (
        f"no new imagery {since} (newest clear scene: {news.newest_clear_day or 'none'}; "
        f"{news.new_cloudy_days} new solar day(s) without a clear pixel over any parcel, "
        f"{news.unreadable_days} that could not be read, see {scene_log}); nothing published "
        f"for {news.forecast_date}; {STALE_ADVICE}"
    )


def previous_forecast(layout: RunLayout, day: dt.date) -> PreviousForecast | None:
    """The newest publication in ``paths.output_dir`` dated ``day`` or earlier, if any."""
    dated = sorted(
        (dt.date.fromisoformat(folder.name), folder)
        for folder in (layout.output_dir.iterdir() if layout.output_dir.is_dir() else ())
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", folder.name) and (folder / "manifest.json").is_file()
    )
    earlier = [(date, folder) for date, folder in dated if date <= day]
    if not earlier:
        return None
    date, folder = earlier[-1]
    manifest = _read_json(folder / "manifest.json")
    scenes = manifest.get("inputs", {}).get("scenes", []) if isinstance(manifest, dict) else []
    return PreviousForecast(date, frozenset(str(item) for item in scenes))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(
            f"{path} cannot be read ({error}); rerun `pestcast fetch` (scenes.json) or "
            "`pestcast forecast` (a manifest)"
        ) from error


@task(cache_policy=NO_CACHE)
def confirm_new_imagery(config: PestcastConfig, *, allow_stale: bool) -> dict[str, Any]:
    """Refuse to go on (:class:`NoNewImageryError`) unless the fetch found new clear imagery."""
    layout = RunLayout.from_config(config)
    day = forecast_day(config, None)
    outcomes = _read_json(layout.scene_log)
    news = new_imagery(outcomes, day, previous_forecast(layout, day))
    problem = refusal(news, layout.scene_log)
    if problem is not None and not allow_stale:
        raise NoNewImageryError(problem)
    if problem is not None:
        get_run_logger().warning("publishing anyway (allow_stale): %s", problem)
    return news.summary(stale=problem is not None)


# --- what officers get besides the map --------------------------------------------------------


@task(cache_policy=NO_CACHE)
def export_week(config: PestcastConfig, risk_map: Path) -> dict[str, Any]:
    """The week's warnings for officers: every parcel (GeoPackage, XLSX) and, per commune, an
    XLSX of its medium and high warnings; in ``<output_dir>/exports/<date>/``."""
    out = RunLayout.from_config(config).output_dir / EXPORTS / risk_map.parent.name
    (out / "communes").mkdir(parents=True, exist_ok=True)
    region = [
        export_warnings(risk_map, out / f"warnings.{fmt}", fmt=fmt, overwrite=True)
        for fmt in ("gpkg", "xlsx")
    ]
    communes = _communes(config)
    per_commune = [
        export_warnings(
            risk_map,
            out / "communes" / f"{stem}.xlsx",
            fmt="xlsx",
            districts=[district],
            communes=[commune],
            min_class=COMMUNE_MIN_CLASS,
            overwrite=True,
        )
        for (district, commune), stem in communes.items()
    ]
    return {
        "folder": str(out),
        "files": len(region) + len(per_commune),
        "warnings": region[0].rows,
        "communes_with_medium_or_high": sum(summary.rows > 0 for summary in per_commune),
    }


def _communes(config: PestcastConfig) -> dict[tuple[str, str], str]:
    """(district, commune) → a file name of ASCII letters, digits and dashes, unique (the map
    pages' names for the same communes)."""
    source = config.sources.parcels
    parcels = read_parcels(source.path, layer=source.layer, crs=config.region.crs)
    places = parcels[["district", "commune"]].astype(str).itertuples(index=False, name=None)
    return commune_slugs(places)


@task(cache_policy=NO_CACHE)
def write_week_bulletin(config: PestcastConfig, risk_map: Path) -> dict[str, Any]:
    """The week's bulletin (CSV, XLSX, HTML) in ``<output_dir>/bulletins/<date>/``; the PDF too
    when Chromium is installed."""
    written = publication_bulletin(config, risk_map)
    out = written[0].parent
    return {"folder": str(out), "files": [path.name for path in written], "pdf": _pdf(written[-1])}


def publication_bulletin(config: PestcastConfig, risk_map: Path) -> list[Path]:
    """The bulletin's tables and HTML (the HTML last) of the published ``risk_map`` in
    ``<output_dir>/bulletins/<date>/``, with the maps of a week and of one and two years before."""
    layout = RunLayout.from_config(config)
    day = dt.date.fromisoformat(risk_map.parent.name)
    source = config.sources.parcels
    parcels = read_parcels(source.path, layer=source.layer, crs=config.region.crs)
    out = layout.output_dir / "bulletins" / day.isoformat()
    with tempfile.TemporaryDirectory() as scratch:
        return write_bulletin(
            risk_map,
            out,
            surveys=configured_surveys(config, parcels["parcel_id"]),
            parcels=parcels,
            previous=earlier_risk_maps(config, day, weeks=(1,), scratch=Path(scratch)),
            same_week_earlier=earlier_risk_maps(
                config, day, weeks=(52, 104), scratch=Path(scratch)
            ),
            region_name=config.region.name,
        )


def _pdf(html: Path) -> str | None:
    """Print the bulletin's HTML to PDF if Chromium is there; None (and a warning) if not."""
    if not CHROMIUM.exists():
        get_run_logger().warning("no PDF of the bulletin: %s is not installed", CHROMIUM)
        return None
    try:
        return str(render_pdf(html, html.with_name("bulletin.pdf")))
    except PublishError as error:
        get_run_logger().warning("no PDF of the bulletin: %s", error)
        return None


def earlier_risk_maps(
    config: PestcastConfig, day: dt.date, *, weeks: tuple[int, ...], scratch: Path
) -> list[Path]:
    """Risk maps ``weeks`` weeks before ``day``: the published one, else the feature table's
    rows of that date scored with the current models (written into ``scratch``)."""
    layout = RunLayout.from_config(config)
    table = pd.read_parquet(layout.feature_table) if layout.feature_table.is_file() else None
    maps = []
    for earlier in (day - dt.timedelta(weeks=n) for n in weeks):
        published = layout.forecast_dir(earlier) / "risk_map.geojson"
        if published.is_file():
            maps.append(published)
        elif table is not None and (table["forecast_date"] == pd.Timestamp(earlier)).any():
            scored = scored_risk_map(config, layout, table, pd.Timestamp(earlier))
            maps.append(write_geojson_rfc7946(scored.risk_map, scratch / f"{earlier}.geojson"))
    return maps


# --- the flows ----------------------------------------------------------------------------------


def _parameters() -> dict[str, Any]:
    from prefect.runtime import flow_run

    return dict(flow_run.parameters)


def _date_parameter(value: Any) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(str(value)[:10])


def _weekly_run_name() -> str:
    """``weekly-<region>-<forecast date>``."""
    parameters = _parameters()
    config = parameters["config"]
    day = forecast_day(config, _date_parameter(parameters.get("forecast_date")))
    return f"weekly-{config.region.name}-{day}"


@flow(name="pestcast-weekly", flow_run_name=_weekly_run_name)
def weekly_flow(
    config: PestcastConfig, forecast_date: dt.date | None = None, allow_stale: bool = False
) -> dict[str, Any]:
    """The week of one region: fetch → features → forecast (publish) → exports → bulletin.

    Stops before the features when the fetch brought no new clear imagery, unless
    ``allow_stale``.
    """
    week = week_config(config, forecast_day(config, forecast_date))
    fetched = with_task_runner(fetch_flow, week)(week)
    news = confirm_new_imagery(week, allow_stale=allow_stale)
    features = features_flow(week, latest_only=True)  # training's table is left as it is
    forecast = forecast_flow(week, latest_only=True)
    risk_map = Path(forecast["risk_map"])
    return {
        "fetch": fetched,
        "new_imagery": news,
        "features": features,
        "forecast": forecast,
        "exports": export_week(week, risk_map),
        "bulletin": write_week_bulletin(week, risk_map),
    }


def _retrain_run_name() -> str:
    config = _parameters()["config"]
    return f"retrain-{config.region.name}-{dt.date.today()}"


@flow(name="pestcast-retrain", flow_run_name=_retrain_run_name)
def retrain_flow(config: PestcastConfig) -> dict[str, Any]:
    """Retrain on every label so far: fetch → features → train (backtest, then promotion)."""
    return {
        "fetch": with_task_runner(fetch_flow, config)(config),
        "features": features_flow(config),
        "train": train_flow(config),
    }


def _config_of_run(config_path: str) -> PestcastConfig:
    """The config a deployment names; its warnings go to the run's log."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = load_config(Path(config_path))
    for warning in caught:
        get_run_logger().warning("%s", warning.message)
    return config


def _name_of_run(job: str, config_path: str, day: dt.date | None) -> str:
    """``<job>-<region>-<date>``; a config that does not load is named by its file (the run
    itself then fails saying why)."""
    try:
        config = load_config(Path(config_path), check_paths=False)
    except PestcastError:
        return f"{job}-{Path(config_path).stem}-{day or 'latest'}"
    if job == "weekly":
        day = forecast_day(config, day)
    return f"{job}-{config.region.name}-{day}"


@contextlib.contextmanager
def region_run(config: PestcastConfig, *, command: str) -> Iterator[None]:
    """Claim the region's folders and hold its lock, as the ``pestcast`` command does."""
    paths = config.paths
    folders = {
        "paths.work_dir": paths.work_dir,
        "paths.output_dir": paths.output_dir,
        "paths.model_registry": paths.model_registry,
    }
    for key, folder in folders.items():
        claim_folder(folder, key=key)
    with region_lock(paths.work_dir, command=command):
        for folder in folders.values():
            remove_stale_temporaries(folder)  # what a killed run was writing
        yield


def _scheduled_weekly_name() -> str:
    parameters = _parameters()
    day = _date_parameter(parameters.get("forecast_date"))
    return _name_of_run("weekly", str(parameters["config_path"]), day)


@flow(name="pestcast-weekly", flow_run_name=_scheduled_weekly_name)
def scheduled_weekly(
    config_path: str, forecast_date: dt.date | None = None, allow_stale: bool = False
) -> dict[str, Any]:
    """The week of the region of ``config_path`` (see ``weekly_flow``), under its lock."""
    config = _config_of_run(config_path)
    with region_run(config, command="weekly (deployment)"):
        return weekly_flow.fn(config, forecast_date, allow_stale)


def _scheduled_retrain_name() -> str:
    return _name_of_run("retrain", str(_parameters()["config_path"]), dt.date.today())


@flow(name="pestcast-retrain", flow_run_name=_scheduled_retrain_name)
def scheduled_retrain(config_path: str) -> dict[str, Any]:
    """Retrain the models of the region of ``config_path`` (see ``retrain_flow``)."""
    config = _config_of_run(config_path)
    with region_run(config, command="retrain (deployment)"):
        return retrain_flow.fn(config)


def serve_deployments(config_path: Path, config: PestcastConfig) -> None:
    """Serve the weekly and retrain deployments of ``config``'s region from this process.

    Deployments are named after the region (``pestcast-weekly/<region>``,
    ``pestcast-retrain/<region>``), so several regions can be served side by side. Schedules
    stay active when serving stops: runs due meanwhile start late once it is back. Blocks
    until interrupted; needs a Prefect server (``PREFECT_API_URL``).
    """
    from prefect import serve
    from prefect.deployments.runner import RunnerDeployment
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    timezone = config.region.timezone
    common: dict[str, Any] = {
        "name": config.region.name,
        "parameters": {"config_path": str(config_path.resolve())},
        "entrypoint_type": EntrypointType.MODULE_PATH,
        "tags": ["pestcast", config.region.name],
    }
    serve(
        RunnerDeployment.from_flow(
            scheduled_weekly, schedule=Cron(WEEKLY_CRON, timezone=timezone), **common
        ),
        RunnerDeployment.from_flow(
            scheduled_retrain, schedule=Cron(RETRAIN_CRON, timezone=timezone), **common
        ),
        pause_on_shutdown=False,
    )
