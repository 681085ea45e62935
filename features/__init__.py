"""Pure computation for pestcast: reflectance, masks, indices, parcel statistics, features.

No I/O, no configuration, no Prefect: every function takes typed arguments. The submodules hold
the implementation; the public names are re-exported here.
"""

from __future__ import annotations

from pestcast.features.canopy_damage import DAMAGE_INDICES, canopy_damage_on, neighbour_pairs
from pestcast.features.clear_observations import ClearObservations, clear_observations
from pestcast.features.cloud_mask import (
    DEFAULT_SCL_MASK_CLASSES,
    NEVER_MASK_FOR_RICE,
    SCL_CLASS_NAMES,
    clear_sky_mask,
    validate_scl_mask_classes,
)
from pestcast.features.columns import require_columns
from pestcast.features.crop_mask import CROP_GREEN_NDVI, in_crop_on
from pestcast.features.indices import (
    INDEX_BANDS,
    INDEX_FUNCTIONS,
    INDEX_NAMES,
    cig,
    cire,
    evi,
    lswi,
    msavi,
    ndre,
    ndvi,
    ndwi,
    savi,
)
from pestcast.features.reflectance import (
    BOA_ADD_OFFSET_DN,
    OFFSET_FROM_BASELINE,
    QUANTIFICATION_VALUE,
    boa_offset_dn,
    dn_to_reflectance,
)
from pestcast.features.scene_stats import (
    DEFAULT_PARCEL_INDICES,
    index_from_bands,
    parcel_index_stats,
    validate_parcel_indices,
)
from pestcast.features.seasons import (
    SEASON_CODES,
    day_numbers,
    rice_season,
    season_end,
    season_start,
    sorted_seasons,
)
from pestcast.features.settings import DEFAULT_FEATURE_SETTINGS, FeatureSettings
from pestcast.features.spatial_evidence import (
    gaussian_kernel_matrix,
    light_trap_features,
    survey_field_features,
)
from pestcast.features.surveys import (
    SEVERITY_LEVELS,
    SURVEY_COLUMNS,
    SURVEY_QUALITY_FEATURES,
    severity_levels,
    survey_history_features,
    survey_labels,
)
from pestcast.features.timeseries import (
    KEY_COLUMNS,
    LOCAL_TIMEZONE,
    MASK_COLUMNS,
    build_feature_table,
    feature_columns,
    imagery_features,
    is_quality_column,
    neighbour_asynchrony,
    neighbour_matrix,
    weekly_forecast_dates,
)
from pestcast.features.weather import (
    BLAST_RCT_KNOTS,
    WEATHER_COLUMNS,
    blast_rct,
    blast_wet_day,
    degree_days,
    weather_features,
)
from pestcast.features.zonal import (
    parcel_pixel_labels,
    zonal_statistics,
)

__all__ = [
    "BLAST_RCT_KNOTS",
    "BOA_ADD_OFFSET_DN",
    "CROP_GREEN_NDVI",
    "DAMAGE_INDICES",
    "DEFAULT_FEATURE_SETTINGS",
    "DEFAULT_PARCEL_INDICES",
    "DEFAULT_SCL_MASK_CLASSES",
    "INDEX_BANDS",
    "INDEX_FUNCTIONS",
    "INDEX_NAMES",
    "KEY_COLUMNS",
    "LOCAL_TIMEZONE",
    "MASK_COLUMNS",
    "NEVER_MASK_FOR_RICE",
    "OFFSET_FROM_BASELINE",
    "QUANTIFICATION_VALUE",
    "SCL_CLASS_NAMES",
    "SEASON_CODES",
    "SEVERITY_LEVELS",
    "SURVEY_COLUMNS",
    "SURVEY_QUALITY_FEATURES",
    "WEATHER_COLUMNS",
    "ClearObservations",
    "FeatureSettings",
    "blast_rct",
    "blast_wet_day",
    "boa_offset_dn",
    "build_feature_table",
    "canopy_damage_on",
    "cig",
    "cire",
    "clear_observations",
    "clear_sky_mask",
    "day_numbers",
    "degree_days",
    "dn_to_reflectance",
    "evi",
    "feature_columns",
    "gaussian_kernel_matrix",
    "imagery_features",
    "in_crop_on",
    "index_from_bands",
    "is_quality_column",
    "light_trap_features",
    "lswi",
    "msavi",
    "ndre",
    "ndvi",
    "ndwi",
    "neighbour_asynchrony",
    "neighbour_matrix",
    "neighbour_pairs",
    "parcel_index_stats",
    "parcel_pixel_labels",
    "require_columns",
    "rice_season",
    "savi",
    "season_end",
    "season_start",
    "severity_levels",
    "sorted_seasons",
    "survey_field_features",
    "survey_history_features",
    "survey_labels",
    "validate_parcel_indices",
    "validate_scl_mask_classes",
    "weather_features",
    "weekly_forecast_dates",
    "zonal_statistics",
]
