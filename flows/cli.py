"""The ``pestcast`` command: ``demo`` runs the whole chain, the others run one stage each."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from features.errors import PestcastError
from flows.config import DEFAULT_CONFIG, PestcastConfig, load_config
from flows.prefect_env import apply_prefect_defaults
from flows.summary import render_summary

__all__ = ["app"]

app = typer.Typer(
    help="Per-parcel rice pest risk forecasts from Sentinel-2, weather and surveys.",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="YAML run configuration.", show_default=True)
]


def _run(stage: str, config_path: Path) -> None:
    started = time.monotonic()
    try:
        config = load_config(config_path)
        summary = _flow(stage)(config)
    except PestcastError as error:
        typer.secho(f"pestcast {stage}: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from None
    typer.echo(_render_summary(stage, config, summary, time.monotonic() - started))


def _flow(stage: str) -> Callable[[PestcastConfig], dict[str, Any]]:
    apply_prefect_defaults()
    from flows import pipeline

    flows: dict[str, Callable[[PestcastConfig], dict[str, Any]]] = {
        "demo": pipeline.demo_flow,
        "fetch": pipeline.fetch_flow,
        "features": pipeline.features_flow,
        "train": pipeline.train_flow,
        "forecast": pipeline.forecast_flow,
    }
    return flows[stage]


def _render_summary(
    stage: str, config: PestcastConfig, summary: dict[str, Any], seconds: float
) -> str:
    title = f"\npestcast {stage} · region {config.region.name} · {seconds:.0f} s"
    return render_summary(stage, title, summary)


@app.command()
def demo(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Generate the demo region if needed, then fetch, build features, train and forecast."""
    _run("demo", config)


@app.command()
def fetch(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Search STAC and reduce every scene to per-parcel index statistics."""
    _run("fetch", config)


@app.command()
def features(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Build the parcel × forecast-date feature table."""
    _run("features", config)


@app.command()
def train(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Train and validate the risk models on whole held-out seasons."""
    _run("train", config)


@app.command()
def forecast(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Score the newest forecast date and publish the GeoJSON risk map."""
    _run("forecast", config)


if __name__ == "__main__":
    sys.exit(app())
