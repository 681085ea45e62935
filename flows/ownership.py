"""Folders pestcast may write into, and one run at a time per region.

A work or output folder is pestcast's when it carries the marker file, when it is new or empty,
or when everything in it has a name pestcast gives (a folder written before markers existed);
then the marker is written. A folder holding anything else is refused: pestcast never deletes or
overwrites files it did not create. A run holds an exclusive lock on the region's work folder,
so a second run of the same region fails at once, naming the first, instead of interleaving
files with it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
from collections.abc import Iterator
from pathlib import Path

from pestcast.core.atomic import write_text_atomic
from pestcast.core.errors import ConfigError, PestcastError

__all__ = ["MARKER", "claim_folder", "region_lock"]

MARKER = ".pestcast"
"""Marker file of a folder pestcast owns."""
LOCK = ".pestcast.lock"
_OWN_NAMES = re.compile(
    r"^(\.pestcast.*|\.staging-.*|\..*\.tmp.*|observations|parcel_observations\.parquet|"
    r"scenes\.json|features\.parquet|features_latest\.parquet|logs|models|latest|current|"
    r"backtest|bulletins|exports|sowing-windows|pixels|failed_scenes\.json|parcel_labels|"
    r"sar_observations|sar_observations\.parquet|\d{4}-\d{2}-\d{2}|\d{8}-[0-9a-f]{8})$"
)
"""Names pestcast gives to what it writes in a work or output folder."""


def claim_folder(folder: Path, *, key: str) -> None:
    """Make ``folder`` pestcast's, or refuse it (``key`` names the config setting)."""
    if (folder / MARKER).is_file():
        return
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{key} {folder} is a file; give a folder")
    entries = list(folder.iterdir()) if folder.is_dir() else []
    strangers = sorted(entry.name for entry in entries if not _OWN_NAMES.match(entry.name))
    if strangers:
        raise ConfigError(
            f"{key} {folder} holds files pestcast did not write ({', '.join(strangers[:5])}); "
            "pestcast never overwrites or deletes those: choose an empty or new folder"
        )
    write_text_atomic(folder / MARKER, "Written by pestcast: this folder's contents are its own.\n")


@contextlib.contextmanager
def region_lock(work_dir: Path, *, command: str) -> Iterator[None]:
    """Hold the region's lock while the block runs; fail at once if another run holds it."""
    work_dir.mkdir(parents=True, exist_ok=True)
    with (work_dir / LOCK).open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise PestcastError(
                f"another pestcast run is working on {work_dir} ({holder}); wait for it to "
                "finish, or stop it, then run again"
            ) from None
        handle.seek(0)
        handle.truncate()
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        handle.write(f"pestcast {command}, process {os.getpid()}, started {started}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
