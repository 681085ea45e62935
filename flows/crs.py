"""The check that a coordinate reference system is projected in metres.

Kept apart from ``flows/raster_read.py`` (which re-exports it) so that validating a config
needs pyproj only, not rasterio: ``pestcast`` then reports a config error without loading the
raster stack.
"""

from __future__ import annotations

from pyproj import CRS
from pyproj.exceptions import CRSError

from pestcast.core.errors import ConfigError

__all__ = ["check_projected_crs"]


def check_projected_crs(crs: str, *, what: str) -> None:
    """Refuse a CRS that pyproj does not know or that is not projected (metres)."""
    try:
        parsed = CRS.from_user_input(crs)
    except CRSError as error:
        raise ConfigError(f"{what} {crs!r} is not a CRS: {error}") from error
    if not parsed.is_projected:
        raise ConfigError(
            f"{what} {crs!r} is not projected; use a metric CRS such as the UTM zone "
            "(e.g. EPSG:32648) so distances and resolutions are in metres"
        )
