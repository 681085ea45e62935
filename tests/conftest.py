"""Session-wide test settings."""

from __future__ import annotations

import os
import tempfile

# Prefect reads its settings when first imported: point it at a throwaway home before that.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="pestcast-prefect-"))
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
