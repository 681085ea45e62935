"""Defaults for running Prefect flows without a server; set before Prefect is imported.

Without ``PREFECT_API_URL`` the first flow call starts a temporary local server, which needs more
than Prefect's 20 s default to start on a small machine with a fresh ``PREFECT_HOME``.
Values already in the environment win.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["apply_prefect_defaults"]

DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_LOGGING_LEVEL": "INFO",
}


def apply_prefect_defaults() -> None:
    """Set the defaults above, and a project-local ``PREFECT_HOME`` if none is set."""
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("PREFECT_HOME", str(Path.cwd() / ".prefect"))
