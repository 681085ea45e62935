"""The bad-input corpus: one case per bad input, its error class and message fragment."""

from __future__ import annotations

import hashlib
from pathlib import Path


def folder_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (relative path → digest): compare before/after."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
