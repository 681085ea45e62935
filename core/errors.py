"""The pestcast exception tree.

Every error a user can meet derives from :class:`PestcastError`; leaves also inherit the
matching builtin so callers can catch either. Messages name the file, key, parcel id or asset
at fault and say what to do.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "ModelError",
    "ParcelError",
    "PestcastError",
    "PublishError",
    "SceneReadError",
    "SourceError",
]


class PestcastError(Exception):
    """Root of every pestcast error."""


class ConfigError(PestcastError, ValueError):
    """A configuration file or value is wrong; raised before any work starts."""


class DataError(PestcastError, ValueError):
    """An input table or file does not have the expected content."""


class ParcelError(DataError):
    """A parcel geometry or attribute is unusable (names the parcel id)."""


class SourceError(PestcastError, OSError):
    """A data source (STAC API, static catalog, weather or survey file) cannot be read."""


class SceneReadError(SourceError):
    """One scene asset could not be read (names the item and the asset)."""


class ModelError(PestcastError, RuntimeError):
    """A model cannot be trained, loaded or applied."""


class PublishError(PestcastError, OSError):
    """An output cannot be written."""
