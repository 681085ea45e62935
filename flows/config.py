"""Run configuration: YAML files in ``config/`` validated by pydantic before any work starts.

A wrong key or value fails with a :class:`ConfigError` naming the file, the key and the allowed
values. Relative paths in a config file are resolved against the working directory (the project
root when run through ``make``).
"""

from __future__ import annotations

import datetime as dt
import warnings
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from pestcast.core.errors import ConfigError, DataError, ModelError
from pestcast.features.cloud_mask import (
    DEFAULT_SCL_MASK_CLASSES,
    SCL_CLASS_NAMES,
    validate_scl_mask_classes,
)
from pestcast.features.index_catalog import DEFAULT_PARCEL_INDICES, validate_parcel_indices
from pestcast.features.settings import DEFAULT_FEATURE_SETTINGS, FeatureSettings
from pestcast.flows.crs import check_projected_crs
from pestcast.flows.default_paths import DEFAULT_CONFIG
from pestcast.flows.providers import (
    DEFAULT_CONCURRENT_READS,
    AssetAccess,
    AssetSigning,
    BoaOffsetRule,
    apply_stac_profile,
)
from pestcast.models.settings import (
    DEFAULT_RISK_CLASS_RULE,
    SCORES,
    BacktestSettings,
    PromotionPolicy,
    RiskClassRule,
    check_lightgbm_params,
)

__all__ = [
    "DEFAULT_CONFIG",
    "DaskConfig",
    "FeatureConfig",
    "ImageryConfig",
    "ModelConfig",
    "PestcastConfig",
    "PestcastWarning",
    "RiskClassConfig",
    "SarSourceConfig",
    "ScoutingConfig",
    "check_config_paths",
    "load_config",
]

CLOUD_CLASSES = frozenset({8, 9})
CANOPY_CLASSES = frozenset({4, 5})
"""SCL vegetation and bare soil: a rice parcel is one or the other most of the season."""
DATASET_FOLDER_SUFFIXES = frozenset({".gdb", ".parquet"})
"""Sources that may be folders: an Esri file geodatabase, a partitioned Parquet dataset."""
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"
LOGICAL_BANDS = ("blue", "green", "red", "rededge1", "nir", "nir08", "swir16", "swir22", "scl")
SAR_BANDS = ("vv", "vh")
"""Polarisations of ``sources.sentinel1``, each a linear gamma0 asset."""
Pest = Literal["bph", "blast"]
PESTS: tuple[Pest, ...] = ("bph", "blast")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegionConfig(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    """Region slug; names the work and output folders."""
    crs: str = "EPSG:32648"
    """Projected CRS (metres) for parcel geometry and the analysis grid."""
    timezone: str = "Asia/Ho_Chi_Minh"
    """Local time zone: turns acquisition and availability times into calendar days."""

    @field_validator("crs")
    @classmethod
    def _projected_in_metres(cls, crs: str) -> str:
        try:
            check_projected_crs(crs, what="CRS")
        except ConfigError as error:
            raise ValueError(str(error)) from error
        return crs

    @field_validator("timezone")
    @classmethod
    def _known_time_zone(cls, timezone: str) -> str:
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"{timezone!r} is not an IANA time zone name") from error
        return timezone


class StacSourceConfig(_Strict):
    profile: str | None = None
    """Provider profile that fills in the keys not given here: a name in
    ``config/stac_profiles/`` (``earth-search-c1``, ``earth-search-l2a``,
    ``planetary-computer``) or the path of a profile YAML file (see ``flows.providers``)."""
    url: str
    """STAC API URL (http/https) or path/URL of a static catalog.json."""
    collection: str = "sentinel-2-l2a"
    asset_keys: dict[str, str]
    """Logical band name → the source's asset key (Planetary Computer B02…, Earth Search blue…)."""
    boa_offset: BoaOffsetRule = "earthsearch-flag"
    """How the BOA offset is decided per item: ``baseline`` (raw DN: Planetary Computer, Earth
    Search ``sentinel-2-c1-l2a``) or ``earthsearch-flag`` (Earth Search ``sentinel-2-l2a``:
    ``earthsearch:boa_offset_applied: true`` first, else the baseline)."""
    signing: AssetSigning = AssetSigning()
    """Signing of asset hrefs before each read: ``{method: planetary-computer}`` for Planetary
    Computer (SAS tokens per collection, renewed before they expire)."""
    max_concurrent_reads: Annotated[int, Field(ge=1, le=32)] = DEFAULT_CONCURRENT_READS
    """Assets (bands) of one scene read at once; 1 reads them one after another."""
    max_cloud_cover: Annotated[float, Field(ge=0, le=100)] | None = None
    default_processing_baseline: Annotated[str, Field(pattern=r"^\d{2}\.\d{2}$")] | None = None
    """Only for sources whose items lack ``s2:processing_baseline`` (e.g. ``"05.10"``)."""
    allow_hrefs_outside_catalog: bool = False
    """Let a local static catalog's items point at files outside its folder (off: a catalog
    cannot make pestcast open arbitrary local files). Remote APIs may only give http(s)."""

    @model_validator(mode="before")
    @classmethod
    def _fill_from_profile(cls, raw: Any) -> Any:
        return apply_stac_profile(raw, allowed_keys=set(cls.model_fields) - {"profile"})

    def access(self) -> AssetAccess:
        """How scenes of this source are read (signing, concurrency)."""
        return AssetAccess(signing=self.signing, max_concurrent_reads=self.max_concurrent_reads)

    @field_validator("asset_keys")
    @classmethod
    def _all_bands_mapped(cls, keys: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(keys) - set(LOGICAL_BANDS))
        missing = sorted(set(LOGICAL_BANDS) - set(keys))
        if unknown or missing:
            raise ValueError(
                f"asset_keys must map exactly {', '.join(LOGICAL_BANDS)}; "
                f"unknown: {unknown or 'none'}, missing: {missing or 'none'}"
            )
        return keys


class SarSourceConfig(_Strict):
    """Sentinel-1 RTC backscatter (``sources.sentinel1``): an optional second imagery source
    that sees through clouds (see ``flows.sar_observations``).

    Without ``url`` (from the config or its profile) the collection is searched in the same
    STAC source as ``sources.stac``, read with its signing unless ``signing`` is given: the demo
    catalog and Planetary Computer hold both collections.
    """

    profile: str | None = None
    """Provider profile filling in the keys not given here, e.g. ``planetary-computer-s1-rtc``
    (``config/stac_profiles/``) or the path of a profile YAML file."""
    url: str | None = None
    """STAC API URL or static catalog.json; default: ``sources.stac.url``."""
    collection: str = "sentinel-1-rtc"
    asset_keys: dict[str, str] = Field(default_factory=lambda: {band: band for band in SAR_BANDS})
    """Polarisation (``vv``, ``vh``) → the source's asset key of its linear gamma0 COG."""
    signing: AssetSigning = AssetSigning()
    """As ``sources.stac.signing``; default: that of ``sources.stac`` when ``url`` is theirs."""
    max_concurrent_reads: Annotated[int, Field(ge=1, le=32)] = DEFAULT_CONCURRENT_READS
    allow_hrefs_outside_catalog: bool = False

    @model_validator(mode="before")
    @classmethod
    def _fill_from_profile(cls, raw: Any) -> Any:
        return apply_stac_profile(raw, allowed_keys=set(cls.model_fields) - {"profile"})

    @field_validator("asset_keys")
    @classmethod
    def _both_polarisations(cls, keys: dict[str, str]) -> dict[str, str]:
        if set(keys) != set(SAR_BANDS):
            raise ValueError(
                f"asset_keys must map exactly {', '.join(SAR_BANDS)} (linear gamma0 COGs); "
                f"got {sorted(keys)}"
            )
        return keys

    def access(self) -> AssetAccess:
        """How scenes of this source are read (signing, concurrency)."""
        return AssetAccess(signing=self.signing, max_concurrent_reads=self.max_concurrent_reads)

    def search_url(self) -> str:
        """The source's URL (filled from ``sources.stac`` when the config gave none)."""
        if self.url is None:
            raise ConfigError("sources.sentinel1.url is not set; give url: or a profile")
        return self.url


class TableSourceConfig(_Strict):
    path: Path
    layer: str | None = None


WeatherProviderName = Literal["open-meteo", "nasa-power"]
"""Weather APIs pestcast can download daily weather from (see ``flows.weather_sources``)."""


class WeatherApiSourceConfig(_Strict):
    """Daily weather downloaded from a weather API per commune and kept in a local cache.

    Written ``{provider: open-meteo, cache: data/weather_cache.parquet}``; the pipeline reads the
    cache like a weather file, after downloading only the days it lacks.
    """

    provider: WeatherProviderName
    cache: Path
    """Parquet file holding every day downloaded so far (created if missing); a rerun that
    needs no new day makes no request."""
    stations: Path | None = None
    """Optional CSV/Parquet of the points to ask for: ``commune``, ``latitude``, ``longitude``
    (WGS84 degrees), optional ``station_id``. Without it: each commune's parcel centroid."""
    base_url: str | None = None
    """Replaces the provider's endpoint URL (a mirror, a paid host, a test server)."""
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 60.0
    """Seconds to wait for one answer."""
    max_retries: Annotated[int, Field(ge=0, le=10)] = 4
    """Retries of a request answered 429 or 5xx (or cut off), with exponential backoff."""
    retry_backoff_s: Annotated[float, Field(ge=0, le=60)] = 2.0
    """First backoff in seconds; doubled on each retry (a Retry-After header wins)."""

    @property
    def path(self) -> Path:
        """The weather table the pipeline reads: the cache."""
        return self.cache

    @field_validator("cache")
    @classmethod
    def _parquet_cache(cls, cache: Path) -> Path:
        if cache.suffix.lower() != ".parquet":
            raise ValueError(f"the cache must be a .parquet file, got {str(cache)!r}")
        return cache

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        parts = urlparse(url) if url is not None else None
        if parts is not None and (parts.scheme not in {"http", "https"} or not parts.netloc):
            raise ValueError(f"base_url must be an http(s) URL, got {url!r}")
        return url


def _weather_source_kind(value: Any) -> type[TableSourceConfig | WeatherApiSourceConfig] | None:
    """The config class the mapping ``value`` is written for; None for a config object."""
    if isinstance(value, TableSourceConfig | WeatherApiSourceConfig):
        return None
    if not isinstance(value, dict):
        raise ValueError(
            f"must be a mapping, {{path: FILE}} or {{provider: NAME, cache: FILE.parquet}}; "
            f"got {value!r}"
        )
    if "provider" in value:
        return WeatherApiSourceConfig
    if "path" in value:
        return TableSourceConfig
    raise ValueError(
        "give either path: FILE (a local weather table, CSV or Parquet) or provider: "
        "open-meteo | nasa-power with cache: FILE.parquet"
    )


def _unknown_weather_keys(kind: type[BaseModel], unknown: list[str]) -> str:
    allowed = f"allowed: {', '.join(sorted(kind.model_fields))}"
    if kind is WeatherApiSourceConfig:
        hint = "; a provider takes cache:, not path:" if "path" in unknown else ""
        return f"unknown key(s) {', '.join(unknown)} for a weather provider ({allowed}){hint}"
    api_keys = sorted(set(unknown) & set(WeatherApiSourceConfig.model_fields))
    hint = f"; {', '.join(api_keys)}: only with provider: NAME" if api_keys else ""
    return f"unknown key(s) {', '.join(unknown)} for a weather file ({allowed}){hint}"


class LightTrapSourceConfig(_Strict):
    path: Path
    """Daily BPH light-trap counts: ``station_id``, ``district``, ``date``, ``bph_count``."""
    stations: Path | None = None
    """Optional station table (``station_id``, ``district``…): makes station ids checkable."""


class SourcesConfig(_Strict):
    stac: StacSourceConfig
    parcels: TableSourceConfig
    weather: TableSourceConfig | WeatherApiSourceConfig
    """A local weather table (``{path: …}``) or a weather API with a local cache
    (``{provider: …, cache: …}``); either way ``weather.path`` is the table the pipeline reads."""
    surveys: TableSourceConfig
    feedback: TableSourceConfig | None = None
    """Store of officers' field checks (``pestcast feedback``), read with the surveys."""
    light_traps: LightTrapSourceConfig | None = None
    """Light-trap counts for the escape sowing windows (``pestcast sowing-windows``)."""
    weather_forecasts: TableSourceConfig | None = None
    """Past weather forecast runs per commune (``issued``, ``valid_date``, ``lead_days``…; see
    ``flows.weather_forecasts``) for the ``fcst_`` features; without it those are NaN."""
    sentinel1: SarSourceConfig | None = None
    """Sentinel-1 RTC backscatter per parcel (optional); without it nothing changes."""

    @field_validator("sentinel1")
    @classmethod
    def _sentinel1_beside_stac(
        cls, radar: SarSourceConfig | None, info: ValidationInfo
    ) -> SarSourceConfig | None:
        """A radar source without url is searched where the optical one is, signed alike."""
        stac = info.data.get("stac")
        if radar is None or radar.url is not None or not isinstance(stac, StacSourceConfig):
            return radar
        update: dict[str, Any] = {"url": stac.url}
        if "signing" not in radar.model_fields_set:
            update["signing"] = stac.signing
        return radar.model_copy(update=update)

    @field_validator("weather", mode="wrap")
    @classmethod
    def _one_weather_kind(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Validate against the one kind the mapping is written for, so errors name its keys."""
        kind = _weather_source_kind(value)
        if kind is None:
            return handler(value)
        unknown = sorted(set(value) - set(kind.model_fields))
        if unknown:
            raise ValueError(_unknown_weather_keys(kind, unknown))
        return kind.model_validate(value)


class ImageryConfig(_Strict):
    start: dt.date
    end: dt.date
    resolution_m: Annotated[float, Field(gt=0)] = 10.0
    scl_mask_classes: tuple[int, ...] = tuple(sorted(DEFAULT_SCL_MASK_CLASSES))
    inward_buffer_m: Annotated[float, Field(ge=0)] = 5.0
    min_parcel_px: Annotated[int, Field(ge=1)] = 3
    """Pixels a parcel must keep after the inward buffer; with fewer its whole outline is read.
    Fixed at fetch time (changing it re-reads every scene); the feature-time rule for a clear
    observation is ``features.min_clear_px``."""
    on_read_error: Literal["skip", "raise"] = "skip"
    indices: tuple[str, ...] = DEFAULT_PARCEL_INDICES
    """Indices whose parcel ``<index>_mean`` and ``_std`` go into the observations (names of
    ``features.index_catalog.INDEX_NAMES``); at least those the feature table reads. Fixed at fetch
    time: changing the list re-reads every scene (it is part of the observation cache key)."""
    max_memory_gb: Annotated[float, Field(gt=0)] | None = None
    """Memory the fetch may fill with solar days in flight, in GB (10⁹ bytes); null: half of
    the memory available when the fetch starts. At least one day is always read."""

    @field_validator("indices")
    @classmethod
    def _known_indices(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return validate_parcel_indices(names)
        except DataError as error:
            raise ValueError(str(error)) from error

    @field_validator("scl_mask_classes")
    @classmethod
    def _rice_safe_mask(cls, classes: tuple[int, ...]) -> tuple[int, ...]:
        try:
            chosen = validate_scl_mask_classes(classes)
        except DataError as error:
            raise ValueError(str(error)) from error
        if not chosen >= CLOUD_CLASSES:
            raise ValueError(
                f"the mask must include the cloud classes {sorted(CLOUD_CLASSES)}, "
                f"got {sorted(chosen)}"
            )
        return tuple(sorted(chosen))

    @model_validator(mode="after")
    def _ordered(self) -> ImageryConfig:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must come after start ({self.start})")
        return self


class FeatureConfig(_Strict):
    """The weekday of forecasts and :class:`FeatureSettings` (each field's reason is there)."""

    forecast_weekday: Annotated[int, Field(ge=0, le=6)] = 0
    """Weekday of the weekly forecast dates (0 = Monday)."""
    block_parcels: Annotated[int, Field(ge=1_000)] = 50_000
    """Parcels per block when the table is built in blocks of whole communes (each with a halo
    of neighbours, ``features.blocks``): the features stage's memory follows the block, not the
    province. The rows are the same whatever the block size."""
    neighbour_radius_m: float = DEFAULT_FEATURE_SETTINGS.neighbour_radius_m
    survey_window_days: int = DEFAULT_FEATURE_SETTINGS.survey_window_days
    imagery_lookback_days: int = DEFAULT_FEATURE_SETTINGS.imagery_lookback_days
    min_clear_px: int = DEFAULT_FEATURE_SETTINGS.min_clear_px
    ndvi_change_lags_days: tuple[int, ...] = DEFAULT_FEATURE_SETTINGS.ndvi_change_lags_days
    recent_flooding_days: int = DEFAULT_FEATURE_SETTINGS.recent_flooding_days
    weather_windows_days: tuple[int, ...] = DEFAULT_FEATURE_SETTINGS.weather_windows_days
    damage_trend_days: int = DEFAULT_FEATURE_SETTINGS.damage_trend_days
    nbr_crop_age_tolerance_days: int = DEFAULT_FEATURE_SETTINGS.nbr_crop_age_tolerance_days
    nbr_contrast_min_parcels: int = DEFAULT_FEATURE_SETTINGS.nbr_contrast_min_parcels
    survey_kernel_bandwidth_m: float = DEFAULT_FEATURE_SETTINGS.survey_kernel_bandwidth_m
    survey_half_life_days: float = DEFAULT_FEATURE_SETTINGS.survey_half_life_days
    light_trap_window_days: int = DEFAULT_FEATURE_SETTINGS.light_trap_window_days
    crop_duration_days: int = DEFAULT_FEATURE_SETTINGS.crop_duration_days
    crop_establishment_days: int = DEFAULT_FEATURE_SETTINGS.crop_establishment_days
    sar_change_lag_days: int = DEFAULT_FEATURE_SETTINGS.sar_change_lag_days
    sar_min_valid_px: int = DEFAULT_FEATURE_SETTINGS.sar_min_valid_px
    forecast_weather_windows_days: tuple[int, ...] = (
        DEFAULT_FEATURE_SETTINGS.forecast_weather_windows_days
    )

    @model_validator(mode="after")
    def _valid_settings(self) -> FeatureConfig:
        try:
            self.settings()
        except DataError as error:
            raise ValueError(str(error)) from error
        return self

    def settings(self) -> FeatureSettings:
        """The feature settings these values describe."""
        return FeatureSettings(**self.model_dump(exclude={"forecast_weekday", "block_parcels"}))


SeasonLabel = Annotated[str, Field(pattern=r"^\d{4}-(WS|SA|AW)$")]


class BacktestConfig(_Strict):
    """The leave-one-season-out backtest behind every model (see ``pestcast.models.backtest``)."""

    seasons: tuple[SeasonLabel, ...] | None = None
    """Seasons to forecast out of fold; default every labelled season with both classes."""
    past_only: bool = False
    """Train each season's model on earlier seasons only."""
    gap_days: Annotated[int, Field(ge=1, le=365)] | None = None
    """Days dropped from training either side of the held-out season; default the horizon."""
    bootstrap_replicates: Annotated[int, Field(ge=20, le=10_000)] = 200
    interval_level: Annotated[float, Field(gt=0.5, lt=1)] = 0.95
    """Level of the bootstrap intervals of the scores."""
    risk_band_level: Annotated[float, Field(gt=0.5, lt=1)] = 0.8
    """Nominal coverage of each parcel's risk interval."""

    def settings(self, seed: int) -> BacktestSettings:
        return BacktestSettings(
            seasons=self.seasons,
            past_only=self.past_only,
            gap_days=self.gap_days,
            replicates=self.bootstrap_replicates,
            interval_level=self.interval_level,
            band_level=self.risk_band_level,
            seed=seed,
        )


class PromotionConfig(_Strict):
    """A newly trained model set goes into service only if it is not worse than the current
    one on the same backtest rows, for every pest and horizon."""

    score: str = "within_date_roc_auc"
    tolerance: Annotated[float, Field(ge=0, le=0.5)] = 0.0
    """How much worse the score may be (in its own units) and still count as not worse."""

    @field_validator("score")
    @classmethod
    def _known_score(cls, score: str) -> str:
        if score not in SCORES:
            raise ValueError(f"{score!r} is not a backtest score; choose one of {list(SCORES)}")
        return score

    def policy(self) -> PromotionPolicy:
        return PromotionPolicy(score=self.score, tolerance=self.tolerance)


class ModelConfig(_Strict):
    pests: tuple[Pest, ...] = PESTS
    horizons_days: tuple[Annotated[int, Field(ge=1, le=42)], ...] = (7, 14, 28)
    num_boost_round: Annotated[int, Field(ge=10, le=5000)] = 500
    params: dict[str, Any] = Field(
        default_factory=lambda: {
            "learning_rate": 0.02,
            "num_leaves": 15,
            "min_data_in_leaf": 100,
            "feature_fraction": 0.7,
            "lambda_l2": 5.0,
        }
    )
    backtest: BacktestConfig = BacktestConfig()
    promotion: PromotionConfig = PromotionConfig()
    seed: int = 0
    quality_columns_as_features: bool = False
    """Also feed the data-quality columns (observation ages, valid-pixel and survey counts) to
    the models. Off by default: they describe cloud seasons and survey sampling, not the pest."""

    @field_validator("pests", "horizons_days")
    @classmethod
    def _unique_and_not_empty(cls, values: tuple[Any, ...]) -> tuple[Any, ...]:
        if not values or len(set(values)) != len(values):
            raise ValueError(f"give one or more distinct values, got {list(values)}")
        return values

    @field_validator("params")
    @classmethod
    def _probability_preserving(cls, params: dict[str, Any]) -> dict[str, Any]:
        try:
            check_lightgbm_params(params, "model.params")
        except ModelError as error:
            raise ValueError(str(error)) from error
        return params


class RiskClassConfig(_Strict):
    """Risk classes relative to the week's regional mean risk (see ``RiskClassRule``)."""

    medium_lift: Annotated[float, Field(ge=1)] = DEFAULT_RISK_CLASS_RULE.medium_lift
    high_lift: Annotated[float, Field(gt=1)] = DEFAULT_RISK_CLASS_RULE.high_lift
    min_risk: Annotated[float, Field(ge=0, lt=1)] = DEFAULT_RISK_CLASS_RULE.min_risk
    high_risk: Annotated[float, Field(gt=0, le=1)] = DEFAULT_RISK_CLASS_RULE.high_risk

    @model_validator(mode="after")
    def _valid_rule(self) -> RiskClassConfig:
        self.rule()
        return self

    def rule(self) -> RiskClassRule:
        """The classification rule these values describe."""
        try:
            return RiskClassRule(**self.model_dump())
        except ConfigError as error:
            raise ValueError(str(error)) from error


class ForecastConfig(_Strict):
    date: dt.date | None = None
    """Forecast date; default: the newest date the inputs cover."""
    risk_classes: RiskClassConfig = RiskClassConfig()
    no_data_after_days: Annotated[int, Field(ge=7, le=365)] = 42
    """A parcel with no clear image for longer than this and never surveyed for a pest is
    ``no_data`` for it: six weeks is six weekly forecasts without any new information."""
    explain: Literal["all", "at_risk", "high", "none"] = "at_risk"
    """Which parcels get reasons (TreeSHAP drivers): every parcel with data, those in a warning
    class (medium, high), the high ones, or none. Explaining costs ~50 predictions a parcel:
    most of a province's weekly run (``bench/results/scale.md``)."""
    map_page_max_parcels: Annotated[int, Field(ge=1)] = 50_000
    """Parcels in one map page: a map with more is split into a page per commune under an
    index page (``flows.map_page``). One page of 100,000 parcels measured 179 MB, so 50,000 make
    about 90 MB; a commune's page is about 2 MB."""


class ScoutingConfig(_Strict):
    """The weekly scouting list: visits per commune and week."""

    parcels_per_commune: Annotated[int, Field(ge=1, le=10_000)] = 10
    hectares_per_commune: Annotated[float, Field(gt=0)] | None = None


class PathsConfig(_Strict):
    work_dir: Path
    output_dir: Path
    model_registry: Path
    """Trained model versions and the one in service (``current``); kept apart from the
    published outputs, which can be deleted and rebuilt."""


class DaskConfig(_Strict):
    """The Dask cluster of ``runner: dask`` (see ``flows.runners``)."""

    address: Annotated[str, Field(pattern=r"^(tcp|tls)://[^\s/]+:\d+$")] | None = None
    """Scheduler of a running cluster (``dask scheduler``), e.g. ``tcp://10.0.0.5:8786``;
    null: start a local cluster with the settings below for the run (they are ignored
    otherwise)."""
    n_workers: Annotated[int, Field(ge=1, le=256)] = 2
    """Worker processes of the local cluster."""
    threads_per_worker: Annotated[int, Field(ge=1, le=64)] = 1
    memory_limit: Annotated[str, Field(pattern=r"^\d+(\.\d+)?\s*([kMGT]i?B)$")] = "4GiB"
    """Memory of each local worker, e.g. ``4GiB``; Dask pauses a worker, then restarts it,
    when it holds more."""


class PestcastConfig(_Strict):
    """One run of pestcast: where data comes from, how it is processed, where results go."""

    region: RegionConfig
    sources: SourcesConfig
    imagery: ImageryConfig
    features: FeatureConfig = FeatureConfig()
    model: ModelConfig = ModelConfig()
    forecast: ForecastConfig = ForecastConfig()
    scouting: ScoutingConfig = ScoutingConfig()
    paths: PathsConfig
    runner: Literal["local", "dask"] = "local"
    """Where the fetch's tasks (blocks of solar days) run: threads of this process, or the
    workers of the Dask cluster of ``dask``."""
    dask: DaskConfig = DaskConfig()

    @model_validator(mode="after")
    def _forecast_date_is_a_forecast_day(self) -> PestcastConfig:
        day = self.forecast.date
        if day is None:
            return self
        if day.weekday() != self.features.forecast_weekday:
            raise ValueError(
                f"forecast.date {day} is a {day:%A}; forecasts are made on weekday "
                f"{self.features.forecast_weekday} (features.forecast_weekday, 0 = Monday)"
            )
        if not self.imagery.start < day <= self.imagery.end:
            raise ValueError(
                f"forecast.date {day} is outside the imagery window "
                f"{self.imagery.start} – {self.imagery.end}"
            )
        return self


def load_config(path: Path, *, check_paths: bool = True) -> PestcastConfig:
    """Read and validate a YAML config; a :class:`ConfigError` names the file and key at fault.

    With ``check_paths`` (the default) every path in it is checked too (see
    :func:`check_config_paths`); tests that build a config before its data exist pass False.
    Suspicious but legal settings emit a :class:`PestcastWarning`.
    """
    raw = _read_yaml(path)
    try:
        config = PestcastConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe_errors(path, error)) from None
    if check_paths:
        check_config_paths(config, path)
    _warn_about_suspicious_settings(config, path)
    return config


def check_config_paths(config: PestcastConfig, path: Path) -> None:
    """Refuse, all at once, paths of ``config`` (read from ``path``) that a stage would trip on.

    Sources must exist and be files (or ``.gdb``/``.parquet`` dataset folders); the STAC URL
    too when it is a local catalog. The work, output and feedback folders may not exist yet,
    but neither they nor any folder above them may be a file.
    """
    problems = [
        f"  key '{key}': {problem}"
        for key, problem in _path_problems(config)
        if problem is not None
    ]
    if not problems:
        return
    header = (
        f"{path}: {len(problems)} path(s) to fix (relative paths are resolved against the "
        f"working directory {Path.cwd()})"
    )
    if path.resolve() == DEFAULT_CONFIG.resolve():
        problems.append("  (the demo region's files are written by `pestcast demo`)")
    raise ConfigError("\n".join([header, *problems]))


class PestcastWarning(UserWarning):
    """A setting or input that is legal but probably not what the user meant."""


class _ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses duplicate keys and leaves dates to pydantic.

    ``safe_load`` keeps the last of two equal keys silently, and its timestamp constructor
    fails on ``2024-13-01`` with a bare ``ValueError`` that names no key; as a string the date
    reaches pydantic, whose error names the key.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        _refuse_duplicate_keys(node, ())
        return super().construct_document(node)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as error:  # an explicit `!!timestamp 2024-13-01`
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"{node.value!r} is not a date ({error}); write YYYY-MM-DD",
                node.start_mark,
            ) from error


_ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ConfigLoader.add_constructor(_TIMESTAMP_TAG, _ConfigLoader.construct_yaml_timestamp)


def _read_yaml(path: Path) -> dict[str, Any]:
    """The top-level mapping of the YAML file ``path``; every failure is a ConfigError."""
    text = _read_text(path)
    loader = _ConfigLoader(text)
    loader.name = str(path)  # marks in PyYAML's messages then name the file
    try:
        raw = loader.get_single_data()
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    finally:
        loader.dispose()
    if raw is None:
        raise ConfigError(
            f"{path} holds no settings; start from a copy of {DEFAULT_CONFIG} and edit it"
        )
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, got {type(raw).__name__}")
    return raw


def _read_text(path: Path) -> str:
    if path.is_dir():
        raise ConfigError(
            f"config path {path} is a folder; give the YAML file, e.g. {DEFAULT_CONFIG}"
        )
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise ConfigError(f"config file {path} does not exist; pass --config FILE") from error
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from error
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ConfigError(
            f"{path} is not UTF-8 text: byte 0x{data[error.start]:02x} at byte position "
            f"{error.start} (line {line}) cannot be decoded; save the file as UTF-8"
        ) from None


def _refuse_duplicate_keys(node: yaml.Node, where: tuple[str, ...]) -> None:
    """Walk the composed YAML tree; two equal keys in one mapping are an error naming both lines."""
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _refuse_duplicate_keys(item, (*where, str(index)))
    if not isinstance(node, yaml.MappingNode):
        return
    seen: dict[str, int] = {}
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
            continue
        key, line = str(key_node.value), key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(
                f"{key_node.start_mark.name}: key '{'.'.join((*where, key))}' is given twice, "
                f"on line {seen[key]} and line {line}; YAML would silently keep only the last, "
                "so delete one of them"
            )
        seen[key] = line
        _refuse_duplicate_keys(value_node, (*where, key))


def _path_problems(config: PestcastConfig) -> list[tuple[str, str | None]]:
    """(key, problem or None) for every path in ``config``."""
    sources = config.sources
    checks = [
        ("sources.parcels.path", _source_problem(sources.parcels.path)),
        *_weather_path_problems(sources.weather),
        ("sources.surveys.path", _source_problem(sources.surveys.path)),
        ("paths.work_dir", _folder_problem(config.paths.work_dir)),
        ("paths.output_dir", _folder_problem(config.paths.output_dir)),
        ("paths.model_registry", _folder_problem(config.paths.model_registry)),
    ]
    catalog = _local_catalog(sources.stac.url)
    if catalog is not None:
        checks.append(("sources.stac.url", _source_problem(catalog, folders_allowed=False)))
    radar = None if sources.sentinel1 is None else sources.sentinel1.url
    radar_catalog = None if radar in {None, sources.stac.url} else _local_catalog(str(radar))
    if radar_catalog is not None:
        problem = _source_problem(radar_catalog, folders_allowed=False)
        checks.append(("sources.sentinel1.url", problem))
    if sources.light_traps is not None:
        checks.append(("sources.light_traps.path", _source_problem(sources.light_traps.path)))
        if sources.light_traps.stations is not None:
            stations = sources.light_traps.stations
            checks.append(("sources.light_traps.stations", _source_problem(stations)))
    if sources.feedback is not None:
        checks.append(("sources.feedback.path", _store_problem(sources.feedback.path)))
    if sources.weather_forecasts is not None:
        forecasts = sources.weather_forecasts.path
        checks.append(("sources.weather_forecasts.path", _source_problem(forecasts)))
    return checks


def _weather_path_problems(
    weather: TableSourceConfig | WeatherApiSourceConfig,
) -> list[tuple[str, str | None]]:
    """A weather file must exist; a provider's cache is created, its station table must exist."""
    if isinstance(weather, TableSourceConfig):
        return [("sources.weather.path", _source_problem(weather.path))]
    checks = [("sources.weather.cache", _store_problem(weather.cache))]
    if weather.stations is not None:
        checks.append(("sources.weather.stations", _source_problem(weather.stations)))
    return checks


def _source_problem(path: Path, *, folders_allowed: bool = True) -> str | None:
    if path.is_file():
        return None
    if path.is_dir():
        if folders_allowed and path.suffix.lower() in DATASET_FOLDER_SUFFIXES:
            return None
        return f"{path} is a folder; give the path of the file"
    return f"{path} does not exist; fix the path (or create the file)"


def _folder_problem(path: Path) -> str | None:
    """A folder pestcast writes into: it may not exist yet, but it and its parents are no file."""
    blocker = _file_in_the_way(path)
    if blocker is None:
        return None
    if blocker == path:
        return f"{path} is a file; give a folder path (it is created if missing)"
    return f"{path} cannot be created: {blocker} is a file; fix the path or move that file"


def _store_problem(path: Path) -> str | None:
    """A file pestcast creates and appends to: no folder, and no file where its folder goes."""
    if path.is_dir():
        return f"{path} is a folder; give the path of the store file (e.g. feedback.parquet)"
    blocker = _file_in_the_way(path.parent)
    if blocker is None:
        return None
    return f"{path} cannot be created: {blocker} is a file; fix the path or move that file"


def _file_in_the_way(folder: Path) -> Path | None:
    """The nearest existing of ``folder`` and its parents if it is not a folder, else None."""
    for candidate in (folder, *folder.parents):
        if candidate.is_dir():
            return None
        if candidate.exists():
            return candidate
    return None


def _local_catalog(url: str) -> Path | None:
    """The file of a static STAC catalog, None for an http(s) STAC API."""
    if urlparse(url).scheme in {"http", "https"}:
        return None
    return Path(url.removeprefix("file://"))


def _warn_about_suspicious_settings(config: PestcastConfig, path: Path) -> None:
    canopy = sorted(set(config.imagery.scl_mask_classes) & CANOPY_CLASSES)
    if not canopy:
        return
    classes = "class" if len(canopy) == 1 else "classes"
    names = " and ".join(f"{c} ({SCL_CLASS_NAMES[c]})" for c in canopy)
    warnings.warn(
        f"{path}: key 'imagery.scl_mask_classes' masks SCL {classes} {names}: most canopy "
        "pixels of growing rice would vanish and parcels look cloudy all season; remove "
        f"{' and '.join(map(str, canopy))} unless you mean it",
        PestcastWarning,
        stacklevel=3,
    )


def _describe_errors(path: Path, error: ValidationError) -> str:
    lines = [f"{path}: {error.error_count()} invalid setting(s)"]
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = f"unknown key; allowed here: {', '.join(_allowed_keys(problem['loc']))}"
        elif problem["type"].startswith("date_"):
            message = f"{message} (got {problem['input']!r}); write the date as YYYY-MM-DD"
        lines.append(f"  key '{key}': {message}")
    return "\n".join(lines)


def _allowed_keys(location: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] = PestcastConfig
    for part in location[:-1]:
        annotation = model.model_fields[str(part)].annotation if isinstance(part, str) else None
        nested = _model_in(annotation)
        if nested is None:
            break
        model = nested
    return sorted(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        if isinstance(argument, type) and issubclass(argument, BaseModel):
            return argument
    return None
