"""The ``pestcast`` command: one command per stage, ``run`` for all of them, and the demo.

``simulate`` and ``demo`` are the only commands that know the simulator: ``demo`` writes the
simulated region, then runs the ordinary stages on a config that points at its files like any
real source.

``pestcast --help``, ``--version`` and a config error answer in a fraction of a second: Prefect,
LightGBM and the geospatial stack are imported inside the commands that use them, never at the
top of this module (``tests/flows/test_cli_startup.py`` keeps it so).
"""

from __future__ import annotations

import datetime as dt
import signal
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from pestcast.core.atomic import remove_stale_temporaries
from pestcast.core.errors import ConfigError, PestcastError
from pestcast.flows.default_paths import DEFAULT_CONFIG
from pestcast.flows.openmp import apply_openmp_defaults
from pestcast.flows.ownership import claim_folder, region_lock
from pestcast.flows.prefect_env import (
    apply_prefect_defaults,
    route_prefect_logs,
    use_running_prefect_server,
)
from pestcast.flows.summary import render_summary

if TYPE_CHECKING:
    from typer._click import Context  # Typer 0.29 vendors click: its commands use this Context

    from pestcast.flows.config import PestcastConfig

__all__ = ["app"]

DEFAULT_DEMO_DATA = Path("data/demo")
"""Where ``pestcast demo`` simulates the region that ``config/demo.yaml`` reads."""
LOG_FILE = Path("logs") / "pestcast.log"
"""Prefect's run logs with their tracebacks, under the configured ``paths.work_dir``."""
CHAINS = frozenset({"weekly", "retrain"})
"""Commands whose flow runs several stages: their summary is shown stage by stage."""


@dataclass
class _Session:
    """What one invocation of the command has chosen and shown so far."""

    verbose: bool = False
    log_file: Path | None = None
    """Set once a flow runs: where its full log (tracebacks included) goes."""
    warned: set[str] = field(default_factory=set)

    def start(self, *, verbose: bool) -> None:
        self.verbose, self.log_file = verbose, None
        self.warned.clear()


_SESSION = _Session()


def _zonal_command() -> Callable[..., None]:
    from pestcast.flows.zonal_command import zonal

    return zonal


LAZY_COMMANDS: dict[str, tuple[Callable[[], Callable[..., None]], str]] = {
    "zonal": (
        _zonal_command,
        "Per-parcel statistics of every band of a raster (one row per parcel) to Parquet.",
    ),
}
"""Commands kept in other modules: name → (loader of the command function, the first line of
its docstring). Their modules load only when the command runs or shows its own help."""


class _LazyCommand(TyperCommand):
    """Stands for a command of :data:`LAZY_COMMANDS` in ``pestcast --help``; hands over to the
    real command, built by Typer, once it is invoked."""

    def __init__(self, name: str, load: Callable[[], Callable[..., None]], summary: str) -> None:
        super().__init__(name, help=summary, short_help=summary)
        self.load = load

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Context | None = None,
        **extra: Any,
    ) -> Context:
        single = typer.Typer(add_completion=False)
        single.command(self.name)(self.load())
        real = typer.main.get_command(single)
        return real.make_context(info_name, args, parent=parent, **extra)


class _Commands(TyperGroup):
    """The commands of this module, then those of :data:`LAZY_COMMANDS`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, (load, summary) in LAZY_COMMANDS.items():
            self.add_command(_LazyCommand(name, load, summary))


app = typer.Typer(
    cls=_Commands,
    help="Per-parcel rice pest risk forecasts from Sentinel-2, weather and surveys.",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="YAML run configuration.", show_default=True)
]
# Simulator options default to None: the simulator's own defaults (seed 42, 2,000 parcels,
# July 2021 – December 2024, 15 % surveyed a week) then apply.
SeedOption = Annotated[int | None, typer.Option("--seed", help="Seed of every random draw.")]
ParcelsOption = Annotated[
    int | None, typer.Option("--parcels", min=10, max=500_000, help="Number of rice parcels.")
]
StartOption = Annotated[
    dt.datetime | None, typer.Option("--start", formats=["%Y-%m-%d"], help="First day.")
]
EndOption = Annotated[
    dt.datetime | None, typer.Option("--end", formats=["%Y-%m-%d"], help="Last day.")
]
SurveyOption = Annotated[
    float | None,
    typer.Option("--survey-fraction", min=0.01, max=1.0, help="Share of parcels surveyed weekly."),
]


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"pestcast {version('pestcast')}")
        raise typer.Exit


@app.callback()
def main(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Also show tracebacks on the terminal (flow runs always log them to "
            "<paths.work_dir>/logs/pestcast.log).",
        ),
    ] = False,
) -> None:
    """Per-parcel rice pest risk forecasts from Sentinel-2, weather and surveys."""
    apply_openmp_defaults()  # before any command imports LightGBM
    _SESSION.start(verbose=verbose)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)


def _stop_on_sigterm(signum: int, _frame: object) -> None:
    """Unwind like Ctrl-C, so the temporary Prefect server and the region lock are released
    (Python's default SIGTERM ends the process at once and leaves the server running)."""
    raise SystemExit(128 + signum)


def _fail(command: str, error: PestcastError) -> typer.Exit:
    """Print the error's one clear line (after its traceback with --verbose); exit code 2."""
    if _SESSION.verbose and _SESSION.log_file is None:  # a flow run has printed its own
        typer.echo("".join(traceback.format_exception(error)).rstrip(), err=True)
    typer.secho(f"pestcast {command}: {error}", fg=typer.colors.RED, err=True)
    if _SESSION.log_file is not None and not _SESSION.verbose:
        typer.echo(f"(full log: {_SESSION.log_file}; add --verbose to see it here)", err=True)
    return typer.Exit(code=2)


def _load(config_path: Path) -> PestcastConfig:
    """:func:`load_config`, printing each of its :class:`PestcastWarning` once, in yellow."""
    from pestcast.flows.config import PestcastWarning, load_config

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PestcastWarning)
        config = load_config(config_path)
    for warning in caught:
        message = str(warning.message)
        if not issubclass(warning.category, PestcastWarning):
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
        elif message not in _SESSION.warned:
            _SESSION.warned.add(message)
            typer.secho(f"warning: {message}", fg=typer.colors.YELLOW, err=True)
    return config


def _run(
    stage: str,
    config_path: Path,
    *,
    command: str | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    started = time.monotonic()
    try:
        config = _load(config_path)
        claim_folder(config.paths.work_dir, key="paths.work_dir")
        claim_folder(config.paths.output_dir, key="paths.output_dir")
        claim_folder(config.paths.model_registry, key="paths.model_registry")
        with region_lock(config.paths.work_dir, command=command or stage):
            paths = config.paths
            for folder in (paths.work_dir, paths.output_dir, paths.model_registry):
                remove_stale_temporaries(folder)  # what a killed run was writing
            summary = _flow(stage, config)(config, **(options or {}))
    except PestcastError as error:
        raise _fail(command or stage, error) from None
    title = f"\npestcast {command or stage} · region {config.region.name}"
    shown = "run" if stage in CHAINS else stage
    typer.echo(render_summary(shown, f"{title} · {time.monotonic() - started:.0f} s", summary))
    return summary


def _flow(stage: str, config: PestcastConfig) -> Callable[..., dict[str, Any]]:
    """The flow of ``stage``, reporting to a running Prefect server if there is one (else to a
    temporary one), with Prefect's logs going to the log file of ``config``."""
    apply_prefect_defaults()
    use_running_prefect_server()
    from pestcast.flows import pipeline, weekly
    from pestcast.flows.runners import with_task_runner

    log_file = config.paths.work_dir / LOG_FILE
    _SESSION.log_file = route_prefect_logs(log_file, verbose=_SESSION.verbose)

    flows: dict[str, Callable[..., dict[str, Any]]] = {
        "run": pipeline.run_flow,
        "fetch": pipeline.fetch_flow,
        "features": pipeline.features_flow,
        "train": pipeline.train_flow,
        "backtest": pipeline.backtest_flow,
        "forecast": pipeline.forecast_flow,
        "weekly": weekly.weekly_flow,
        "retrain": weekly.retrain_flow,
    }
    if stage == "fetch":
        return with_task_runner(pipeline.fetch_flow, config)
    return flows[stage]


def _simulate(out: Path, **overrides: Any) -> None:
    """Write the simulated region into ``out`` unless an identical one is there already.

    ``overrides`` that are None keep the simulator's defaults.
    """
    from pestcast.simulator import DemoSettings, demo_region_is_current, generate_demo_region

    demo = DemoSettings(**{key: value for key, value in overrides.items() if value is not None})
    if demo_region_is_current(out, demo):
        typer.echo(f"demo region in {out} is current; reusing it")
        return
    generate_demo_region(out, demo, progress=typer.echo)


@app.command()
def simulate(
    *,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the region into.")],
    parcels: ParcelsOption = None,
    seed: SeedOption = None,
    start: StartOption = None,
    end: EndOption = None,
    survey_fraction: SurveyOption = None,
) -> None:
    """Simulate a rice region (parcels, Sentinel-2 STAC catalog, weather, surveys, truth)."""
    try:
        _simulate(
            out,
            n_parcels=parcels,
            seed=seed,
            start=start and start.date(),
            end=end and end.date(),
            survey_fraction=survey_fraction,
        )
    except PestcastError as error:
        raise _fail("simulate", error) from None


@app.command()
def demo(
    config: ConfigOption = DEFAULT_CONFIG,
    data: Annotated[
        Path, typer.Option("--data", help="Folder of the simulated region the config reads.")
    ] = DEFAULT_DEMO_DATA,
    parcels: ParcelsOption = None,
    seed: SeedOption = None,
) -> None:
    """Simulate the demo region if needed, run every stage, then the week's bulletin and the
    escape sowing windows."""
    try:
        _simulate(data, n_parcels=parcels, seed=seed)
    except PestcastError as error:
        raise _fail("demo", error) from None
    _run("run", config, command="demo")
    bulletin(config=config, date=None)
    sowing_windows(config=config, as_of=None)


@app.command()
def export(
    *,
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    fmt: Annotated[
        str, typer.Option("--format", help="gpkg, geojson, csv, kml, shp (a .zip) or xlsx.")
    ],
    config: ConfigOption = DEFAULT_CONFIG,
    date: Annotated[
        dt.datetime | None,
        typer.Option("--date", formats=["%Y-%m-%d"], help="Forecast date; default: latest."),
    ] = None,
    pest: Annotated[list[str] | None, typer.Option("--pest", help="bph or blast.")] = None,
    horizon: Annotated[list[int] | None, typer.Option("--horizon", help="Days.")] = None,
    min_class: Annotated[
        str | None, typer.Option("--min-class", help="low, medium or high.")
    ] = None,
    commune: Annotated[list[str] | None, typer.Option("--commune")] = None,
    district: Annotated[list[str] | None, typer.Option("--district")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out.")] = False,
) -> None:
    """Export the parcel warnings of a publication (one row per parcel, pest and horizon)."""
    from pestcast.flows.export import export_warnings
    from pestcast.flows.layout import RunLayout

    try:
        _require_folder_of(out, option="--out")
        layout = RunLayout.from_config(_load(config))
        folder = layout.forecast_dir(date.date()) if date else layout.latest_forecast
        summary = export_warnings(
            folder / "risk_map.geojson",
            out,
            fmt=fmt,
            pests=pest,
            horizons=horizon,
            min_class=min_class,
            communes=commune,
            districts=district,
            overwrite=overwrite,
        )
    except PestcastError as error:
        raise _fail("export", error) from None
    typer.echo(f"{summary.rows:,} warnings of {summary.parcels:,} parcels → {summary.path}")


def _require_folder_of(out: Path, *, option: str) -> None:
    """Refuse an output file whose folder is missing: a typo should not create folders."""
    folder = out.parent
    if folder.is_dir():
        return
    state = "is a file" if folder.exists() else "does not exist"
    raise ConfigError(
        f"{option} {out}: the folder {folder} {state}; create the folder first or choose "
        "another path"
    )


@app.command()
def feedback(
    file: Annotated[Path, typer.Argument(help="Officers' checks: CSV or Parquet.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Add officers' field checks (parcel, date, pest, severity) to the survey records."""
    from pestcast.flows.feedback import import_feedback, read_feedback
    from pestcast.flows.tables import read_parcels

    try:
        settings = _load(config)
        if settings.sources.feedback is None:
            raise ConfigError(
                f"{config} has no sources.feedback.path: set it to the file pestcast keeps "
                "officers' checks in (it is created on the first import)"
            )
        parcels = settings.sources.parcels
        known = read_parcels(parcels.path, layer=parcels.layer, crs=settings.region.crs)
        records = read_feedback(
            file,
            known_parcels=known["parcel_id"],
            pests=settings.model.pests,
            today=dt.date.today(),
        )
        done = import_feedback(records, settings.sources.feedback.path)
    except PestcastError as error:
        raise _fail("feedback", error) from None
    typer.echo(
        f"{done.added} checks added to {done.store} ({done.already_there} were there already, "
        f"{done.contradicting} contradict an earlier check and are kept beside it); "
        "they count from the next `pestcast features` and `pestcast train`"
    )


@app.command()
def bulletin(
    config: ConfigOption = DEFAULT_CONFIG,
    date: Annotated[
        dt.datetime | None,
        typer.Option("--date", formats=["%Y-%m-%d"], help="Forecast date; default: latest."),
    ] = None,
) -> None:
    """The weekly bulletin of a publication: tables (CSV, XLSX), printable HTML and PDF."""
    from pestcast.flows.bulletin import render_pdf
    from pestcast.flows.layout import RunLayout
    from pestcast.flows.weekly import publication_bulletin

    try:
        settings = _load(config)
        layout = RunLayout.from_config(settings)
        folder = layout.forecast_dir(date.date()) if date else layout.latest_forecast.resolve()
        written = publication_bulletin(settings, folder / "risk_map.geojson")
    except (PestcastError, ValueError) as error:
        raise _fail("bulletin", PestcastError(str(error))) from None
    typer.echo("\n".join(str(path) for path in written))
    try:
        typer.echo(render_pdf(written[-1], written[-1].with_name("bulletin.pdf")))
    except PestcastError as error:
        typer.secho(f"PDF not written: {error}", fg=typer.colors.YELLOW, err=True)


@app.command(name="sowing-windows")
def sowing_windows(
    config: ConfigOption = DEFAULT_CONFIG,
    as_of: Annotated[
        dt.datetime | None,
        typer.Option("--as-of", formats=["%Y-%m-%d"], help="Default: the last trap night."),
    ] = None,
) -> None:
    """Propose per district the sowing window that escapes the next planthopper flights."""
    from pestcast.flows.layout import RunLayout
    from pestcast.flows.light_traps import read_light_traps
    from pestcast.flows.sowing import write_sowing_windows
    from pestcast.flows.tables import read_parcels

    try:
        settings = _load(config)
        traps = settings.sources.light_traps
        if traps is None:
            raise ConfigError(f"{config} has no sources.light_traps; add the light-trap counts")
        parcels = settings.sources.parcels
        districts = read_parcels(parcels.path, layer=parcels.layer, crs=settings.region.crs)
        counts = read_light_traps(
            traps.path, stations=traps.stations, known_districts=districts["district"]
        )
        day = as_of.date() if as_of else counts["date"].max().date()
        out = RunLayout.from_config(settings).output_dir / "sowing-windows" / day.isoformat()
        written = write_sowing_windows(counts, out, as_of=day)
    except PestcastError as error:
        raise _fail("sowing-windows", error) from None
    typer.echo("\n".join(str(path) for path in written))


@app.command()
def run(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Every stage in order: fetch, features, train, forecast."""
    _run("run", config)


@app.command()
def fetch(
    config: ConfigOption = DEFAULT_CONFIG,
    keep_pixels: Annotated[
        bool,
        typer.Option(
            "--keep-pixels",
            help="Also keep each solar day's reflectance bands and SCL as COGs with a STAC "
            "item, in <paths.work_dir>/pixels/<solar day>/.",
        ),
    ] = False,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="Read again the days recorded as unreadable in "
            "<paths.work_dir>/failed_scenes.json (skipped otherwise).",
        ),
    ] = False,
) -> None:
    """Search STAC and reduce every scene to per-parcel index statistics; days already cached
    are not read again."""
    _run("fetch", config, options={"keep_pixels": keep_pixels, "retry_failed": retry_failed})


LatestOption = Annotated[
    bool,
    typer.Option(
        "--latest",
        help="Only the newest forecast date (a weekly forecast); training needs the full table.",
    ),
]


@app.command()
def features(config: ConfigOption = DEFAULT_CONFIG, latest: LatestOption = False) -> None:
    """Build the parcel × forecast-date feature table."""
    _run("features", config, options={"latest_only": latest})


@app.command()
def train(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Backtest every season, train the risk models, put them in service if not worse."""
    _run("train", config)


@app.command()
def backtest(
    config: ConfigOption = DEFAULT_CONFIG,
    seasons: Annotated[
        str | None,
        typer.Option(
            "--seasons", help="Comma-separated seasons to forecast, e.g. 2023-WS,2024-AW."
        ),
    ] = None,
    past_only: Annotated[
        bool | None,
        typer.Option(
            "--past-only/--all-seasons",
            help="Train each season's model on earlier seasons only (default: model.backtest).",
        ),
    ] = None,
) -> None:
    """Forecast every labelled season out of fold and score model and baselines with intervals."""
    chosen = [part.strip() for part in seasons.split(",") if part.strip()] if seasons else None
    _run("backtest", config, options={"seasons": chosen, "past_only": past_only})


@app.command()
def forecast(config: ConfigOption = DEFAULT_CONFIG, latest: LatestOption = False) -> None:
    """Score the newest forecast date and publish the GeoJSON risk map."""
    _run("forecast", config, options={"latest_only": latest})


@app.command()
def weekly(
    config: ConfigOption = DEFAULT_CONFIG,
    date: Annotated[
        dt.datetime | None,
        typer.Option(
            "--date",
            formats=["%Y-%m-%d"],
            help="Forecast date (a forecast weekday); default: the last one up to today.",
        ),
    ] = None,
    allow_stale: Annotated[
        bool,
        typer.Option(
            "--allow-stale", help="Publish even if no new clear imagery came in since the last."
        ),
    ] = False,
) -> None:
    """The week: fetch, features, forecast, exports and bulletin; publishes only on new imagery."""
    options = {"forecast_date": date and date.date(), "allow_stale": allow_stale}
    summary = _run("weekly", config, options=options)
    news, exports, bulletin_files = summary["new_imagery"], summary["exports"], summary["bulletin"]
    since = news["previous_forecast"] or "the first scene"
    new_days = len(news["new_clear_solar_days"])
    typer.echo(f"  new imagery     {new_days} clear solar days since {since}")
    typer.echo(f"  exports         {exports['folder']} ({exports['files']} files)")
    pdf = "with" if bulletin_files["pdf"] else "without"
    typer.echo(f"  bulletin        {bulletin_files['folder']} ({pdf} PDF)")


@app.command()
def retrain(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Fetch, rebuild the features and train: new models go into service if not worse."""
    _run("retrain", config)


@app.command()
def serve(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Serve the weekly and retrain deployments on their schedules (needs a Prefect server)."""
    try:
        settings = _load(config)
        apply_prefect_defaults()
        if use_running_prefect_server().url is None:
            raise ConfigError(
                "pestcast serve needs a Prefect server to keep the deployments and their "
                "schedules: start one with `prefect server start` (its UI is then at "
                "http://127.0.0.1:4200), or set PREFECT_API_URL to a running one"
            )
        from pestcast.flows.weekly import RETRAIN_CRON, WEEKLY_CRON, serve_deployments

        region, timezone = settings.region.name, settings.region.timezone
        typer.echo(
            f"serving pestcast-weekly/{region} ({WEEKLY_CRON}) and pestcast-retrain/{region} "
            f"({RETRAIN_CRON}), cron in {timezone}; Ctrl-C stops"
        )
        serve_deployments(config, settings)
    except PestcastError as error:
        raise _fail("serve", error) from None


if __name__ == "__main__":
    sys.exit(app())
