"""Pure computation for pestcast: reflectance, masks, indices, parcel statistics, features.

No I/O, no configuration, no Prefect: every function takes typed arguments. The submodules hold
the implementation; the public names are re-exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pestcast.core.lazy import lazy_reexports

if TYPE_CHECKING:
    from pestcast.features.canopy_damage import (
        DAMAGE_INDICES as DAMAGE_INDICES,
        canopy_damage_on as canopy_damage_on,
        neighbour_pairs as neighbour_pairs,
    )
    from pestcast.features.clear_observations import (
        ClearObservations as ClearObservations,
        clear_observations as clear_observations,
    )
    from pestcast.features.cloud_mask import (
        DEFAULT_SCL_MASK_CLASSES as DEFAULT_SCL_MASK_CLASSES,
        NEVER_MASK_FOR_RICE as NEVER_MASK_FOR_RICE,
        SCL_CLASS_NAMES as SCL_CLASS_NAMES,
        clear_sky_mask as clear_sky_mask,
        validate_scl_mask_classes as validate_scl_mask_classes,
    )
    from pestcast.features.columns import (
        require_columns as require_columns,
    )
    from pestcast.features.crop_mask import (
        CROP_GREEN_NDVI as CROP_GREEN_NDVI,
        in_crop_on as in_crop_on,
    )
    from pestcast.features.index_catalog import (
        DEFAULT_PARCEL_INDICES as DEFAULT_PARCEL_INDICES,
        INDEX_BANDS as INDEX_BANDS,
        INDEX_NAMES as INDEX_NAMES,
        validate_parcel_indices as validate_parcel_indices,
    )
    from pestcast.features.indices import (
        INDEX_FUNCTIONS as INDEX_FUNCTIONS,
        cig as cig,
        cire as cire,
        evi as evi,
        lswi as lswi,
        msavi as msavi,
        ndre as ndre,
        ndvi as ndvi,
        ndwi as ndwi,
        savi as savi,
    )
    from pestcast.features.reflectance import (
        BOA_ADD_OFFSET_DN as BOA_ADD_OFFSET_DN,
        OFFSET_FROM_BASELINE as OFFSET_FROM_BASELINE,
        QUANTIFICATION_VALUE as QUANTIFICATION_VALUE,
        boa_offset_dn as boa_offset_dn,
        dn_to_reflectance as dn_to_reflectance,
    )
    from pestcast.features.scene_stats import (
        index_from_bands as index_from_bands,
        parcel_index_stats as parcel_index_stats,
    )
    from pestcast.features.seasons import (
        SEASON_CODES as SEASON_CODES,
        day_numbers as day_numbers,
        rice_season as rice_season,
        season_end as season_end,
        season_start as season_start,
        sorted_seasons as sorted_seasons,
    )
    from pestcast.features.settings import (
        DEFAULT_FEATURE_SETTINGS as DEFAULT_FEATURE_SETTINGS,
        FeatureSettings as FeatureSettings,
    )
    from pestcast.features.spatial_evidence import (
        gaussian_kernel_matrix as gaussian_kernel_matrix,
        light_trap_features as light_trap_features,
        survey_field_features as survey_field_features,
    )
    from pestcast.features.surveys import (
        SEVERITY_LEVELS as SEVERITY_LEVELS,
        SURVEY_COLUMNS as SURVEY_COLUMNS,
        SURVEY_QUALITY_FEATURES as SURVEY_QUALITY_FEATURES,
        severity_levels as severity_levels,
        survey_history_features as survey_history_features,
        survey_labels as survey_labels,
    )
    from pestcast.features.timeseries import (
        KEY_COLUMNS as KEY_COLUMNS,
        LOCAL_TIMEZONE as LOCAL_TIMEZONE,
        MASK_COLUMNS as MASK_COLUMNS,
        build_feature_table as build_feature_table,
        feature_columns as feature_columns,
        imagery_features as imagery_features,
        is_quality_column as is_quality_column,
        neighbour_asynchrony as neighbour_asynchrony,
        neighbour_matrix as neighbour_matrix,
        weekly_forecast_dates as weekly_forecast_dates,
    )
    from pestcast.features.weather import (
        BLAST_RCT_KNOTS as BLAST_RCT_KNOTS,
        WEATHER_COLUMNS as WEATHER_COLUMNS,
        blast_rct as blast_rct,
        blast_wet_day as blast_wet_day,
        degree_days as degree_days,
        weather_features as weather_features,
    )
    from pestcast.features.zonal import (
        parcel_pixel_labels as parcel_pixel_labels,
        zonal_statistics as zonal_statistics,
    )

_SUBMODULE_NAMES: dict[str, tuple[str, ...]] = {
    "canopy_damage": (
        "DAMAGE_INDICES",
        "canopy_damage_on",
        "neighbour_pairs",
    ),
    "clear_observations": (
        "ClearObservations",
        "clear_observations",
    ),
    "cloud_mask": (
        "DEFAULT_SCL_MASK_CLASSES",
        "NEVER_MASK_FOR_RICE",
        "SCL_CLASS_NAMES",
        "clear_sky_mask",
        "validate_scl_mask_classes",
    ),
    "columns": ("require_columns",),
    "crop_mask": (
        "CROP_GREEN_NDVI",
        "in_crop_on",
    ),
    "index_catalog": (
        "DEFAULT_PARCEL_INDICES",
        "INDEX_BANDS",
        "INDEX_NAMES",
        "validate_parcel_indices",
    ),
    "indices": (
        "INDEX_FUNCTIONS",
        "cig",
        "cire",
        "evi",
        "lswi",
        "msavi",
        "ndre",
        "ndvi",
        "ndwi",
        "savi",
    ),
    "reflectance": (
        "BOA_ADD_OFFSET_DN",
        "OFFSET_FROM_BASELINE",
        "QUANTIFICATION_VALUE",
        "boa_offset_dn",
        "dn_to_reflectance",
    ),
    "scene_stats": (
        "index_from_bands",
        "parcel_index_stats",
    ),
    "seasons": (
        "SEASON_CODES",
        "day_numbers",
        "rice_season",
        "season_end",
        "season_start",
        "sorted_seasons",
    ),
    "settings": (
        "DEFAULT_FEATURE_SETTINGS",
        "FeatureSettings",
    ),
    "spatial_evidence": (
        "gaussian_kernel_matrix",
        "light_trap_features",
        "survey_field_features",
    ),
    "surveys": (
        "SEVERITY_LEVELS",
        "SURVEY_COLUMNS",
        "SURVEY_QUALITY_FEATURES",
        "severity_levels",
        "survey_history_features",
        "survey_labels",
    ),
    "timeseries": (
        "KEY_COLUMNS",
        "LOCAL_TIMEZONE",
        "MASK_COLUMNS",
        "build_feature_table",
        "feature_columns",
        "imagery_features",
        "is_quality_column",
        "neighbour_asynchrony",
        "neighbour_matrix",
        "weekly_forecast_dates",
    ),
    "weather": (
        "BLAST_RCT_KNOTS",
        "WEATHER_COLUMNS",
        "blast_rct",
        "blast_wet_day",
        "degree_days",
        "weather_features",
    ),
    "zonal": (
        "parcel_pixel_labels",
        "zonal_statistics",
    ),
}
"""The names this package re-exports, by the submodule that defines them."""

__getattr__, __dir__, __all__ = lazy_reexports(__name__, _SUBMODULE_NAMES)
