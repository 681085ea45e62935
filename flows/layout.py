"""Where each stage reads and writes: the on-disk layout of one configured region."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from pestcast.flows.config import PestcastConfig

__all__ = ["RunLayout"]


@dataclass(frozen=True)
class RunLayout:
    """Paths of the work and output folders of one region."""

    work_dir: Path
    """Intermediate artefacts (observations, features, models); safe to delete."""
    output_dir: Path
    """Published results, one folder per forecast date plus ``latest``."""
    model_registry: Path
    """Model versions, ``current`` (in service) and ``latest`` (last trained)."""

    @classmethod
    def from_config(cls, config: PestcastConfig) -> RunLayout:
        paths = config.paths
        return cls(
            work_dir=paths.work_dir,
            output_dir=paths.output_dir,
            model_registry=paths.model_registry,
        )

    @property
    def observation_dir(self) -> Path:
        """One Parquet file per solar day of imagery: per-parcel index statistics."""
        return self.work_dir / "observations"

    @property
    def pixel_dir(self) -> Path:
        """``pestcast fetch --keep-pixels``: one folder per solar day of COGs and a STAC item."""
        return self.work_dir / "pixels"

    @property
    def failed_scenes(self) -> Path:
        """Solar days that failed to read for a permanent reason; skipped until retried."""
        return self.work_dir / "failed_scenes.json"

    @property
    def observations(self) -> Path:
        return self.work_dir / "parcel_observations.parquet"

    @property
    def sar_observation_dir(self) -> Path:
        """One Parquet file per solar day of Sentinel-1 RTC: per-parcel backscatter."""
        return self.work_dir / "sar_observations"

    @property
    def sar_observations(self) -> Path:
        """Per-parcel Sentinel-1 backscatter of every solar day (``sources.sentinel1``)."""
        return self.work_dir / "sar_observations.parquet"

    @property
    def scene_log(self) -> Path:
        """Scenes used and skipped (with the reason) by the last fetch."""
        return self.work_dir / "scenes.json"

    @property
    def feature_table(self) -> Path:
        return self.work_dir / "features.parquet"

    @property
    def latest_feature_table(self) -> Path:
        """The newest forecast date's rows only (``pestcast features --latest``)."""
        return self.work_dir / "features_latest.parquet"

    def model_dir(self, model_version: str) -> Path:
        return self.model_registry / model_version

    @property
    def current_model(self) -> Path:
        """The model version in service: the last one promoted."""
        return self.model_registry / "current"

    @property
    def latest_model(self) -> Path:
        """The model version trained last, promoted or not."""
        return self.model_registry / "latest"

    @property
    def backtest_dir(self) -> Path:
        """The backtest of the last training or ``pestcast backtest``: forecasts and scores."""
        return self.output_dir / "backtest"

    def forecast_dir(self, forecast_date: dt.date) -> Path:
        return self.output_dir / forecast_date.isoformat()

    @property
    def latest_forecast(self) -> Path:
        return self.output_dir / "latest"
