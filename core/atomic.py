"""Atomic file writes: readers see the old file or the new one, never half of one.

Every output of the flows goes through here. A write goes to a hidden temporary file in the
destination folder (same file system, so the final ``os.replace`` is atomic), is flushed to
disk, and only then replaces the destination. On any failure the temporary file is removed and
the previous file is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

from pestcast.core.errors import PublishError

__all__ = [
    "atomic_path",
    "remove_stale_temporaries",
    "replace_symlink_atomic",
    "write_bytes_atomic",
    "write_text_atomic",
]

_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp(\.[^.]+)?$")
"""Names :func:`_temporary_sibling` gives."""


def _temporary_sibling(path: Path) -> Path:
    """A unique hidden path beside ``path`` that keeps its suffix (GDAL picks drivers by it)."""
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}.tmp{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path to write; it replaces ``path`` only if the block succeeds.

    The parent folder is created if needed. The writer must create the temporary file itself
    (``df.to_parquet(tmp)``, ``rasterio.open(tmp, "w", ...)``); if the block raises, the
    temporary file is removed, the exception propagates (an ``OSError`` as a
    :class:`PublishError` naming ``path``) and ``path`` is untouched.
    """
    destination = Path(path)
    _make_parent(destination)
    temporary = _temporary_sibling(destination)
    try:
        yield temporary
        if not temporary.exists():
            raise PublishError(
                f"nothing was written for {destination}: the writer did not create {temporary}"
            )
        _fsync_file(temporary)
        _replace(temporary, destination)
    except PublishError:
        raise
    except OSError as error:
        raise PublishError(
            f"cannot write {destination}: {error}; check the folder is writable and has free space"
        ) from error
    finally:
        temporary.unlink(missing_ok=True)


def remove_stale_temporaries(root: Path) -> list[Path]:
    """Delete the temporary files that killed writes left anywhere under ``root``.

    Only safe while no other process writes there (the caller holds the region's lock).
    """
    stale = [path for path in Path(root).rglob(".*") if _TEMPORARY.match(path.name)]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def write_bytes_atomic(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as temporary, temporary.open("xb") as handle:
        handle.write(data)
    return Path(path)


def write_text_atomic(path: Path | str, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` (UTF-8 by default) to ``path`` atomically; returns ``path``."""
    return write_bytes_atomic(path, text.encode(encoding))


def replace_symlink_atomic(link: Path | str, target: Path | str) -> Path:
    """Point the symlink ``link`` at ``target`` (stored relative), replacing an old link atomically.

    Readers following ``link`` see the old target or the new one, never a missing link. Refuses
    to replace a real file or folder at ``link``, and to point at a target that does not exist.
    """
    link_path, target_path = Path(link), Path(target)
    if not target_path.exists():
        raise PublishError(f"cannot point {link_path} at {target_path}: the target does not exist")
    if link_path.exists() and not link_path.is_symlink():
        raise PublishError(
            f"{link_path} is a real file or folder, not a symlink; move it away so the link "
            "can be created"
        )
    _make_parent(link_path)
    relative = os.path.relpath(target_path.resolve(), link_path.parent.resolve())
    temporary = _temporary_sibling(link_path)
    try:
        _symlink(temporary, relative, directory=target_path.is_dir())
        _replace(temporary, link_path)
    finally:
        temporary.unlink(missing_ok=True)
    return link_path


def _symlink(path: Path, target: str, *, directory: bool) -> None:
    try:
        path.symlink_to(target, target_is_directory=directory)
    except OSError as error:
        raise PublishError(
            f"cannot create a symlink in {path.parent}: {error}; the file system must allow "
            "symlinks"
        ) from error


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PublishError(
            f"cannot create the folder {path.parent} for {path.name}: {error}; "
            "check the output path and its permissions"
        ) from error


def _replace(source: Path, destination: Path) -> None:
    try:
        source.replace(destination)
    except OSError as error:
        raise PublishError(
            f"cannot replace {destination}: {error}; check that it is not a folder and that "
            "the folder is writable"
        ) from error
    _fsync_folder(destination.parent)


def _fsync_file(path: Path) -> None:
    """Flush file contents to disk before the rename, so a crash cannot leave an empty file."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every file system allows it)."""
    with contextlib.suppress(OSError):
        _fsync_file(folder)
