"""What every layer of pestcast shares: the exception tree and atomic file writes.

The bottom of the dependency order ``flows → models → features → core``; the simulator may use
it too. Nothing here knows about imagery, pests or models.
"""

from pestcast.core.atomic import (
    atomic_path,
    remove_stale_temporaries,
    replace_symlink_atomic,
    write_bytes_atomic,
    write_text_atomic,
)
from pestcast.core.errors import (
    ConfigError,
    DataError,
    ModelError,
    ParcelError,
    PestcastError,
    PublishError,
    SceneReadError,
    SourceError,
)

__all__ = [
    "ConfigError",
    "DataError",
    "ModelError",
    "ParcelError",
    "PestcastError",
    "PublishError",
    "SceneReadError",
    "SourceError",
    "atomic_path",
    "remove_stale_temporaries",
    "replace_symlink_atomic",
    "write_bytes_atomic",
    "write_text_atomic",
]
