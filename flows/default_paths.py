"""Where ``pestcast`` looks for its config when given none.

A module of its own, importing nothing, so that the command line can show its options without
importing ``flows/config.py`` (which validates with the feature and model code); ``config.py``
re-exports it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_CONFIG"]

DEFAULT_CONFIG = Path("config/demo.yaml")
"""The demo region's config; relative to the working directory (the repository root)."""
