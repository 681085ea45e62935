"""The ``pestcast`` command sets how OpenMP threads wait before LightGBM loads OpenMP: checked with
what GNU OpenMP itself reports when it loads (``OMP_DISPLAY_ENV=VERBOSE``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

COMMAND_THEN_LIGHTGBM = """
from pestcast.flows.cli import app
try:
    app(["features", "--help"])
except SystemExit:
    pass
import lightgbm
"""
LIGHTGBM_ALONE = "import lightgbm"
DEFAULT_SPIN = "GOMP_SPINCOUNT = '300000'"
"""GNU OpenMP's spin count without a wait policy: how long an idle thread spins before it sleeps."""


def openmp_report(script: str, **environment: str) -> str:
    """What OpenMP prints on loading, in a fresh interpreter running ``script``."""
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("OMP_", "GOMP_"))
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**env, "OMP_DISPLAY_ENV": "VERBOSE", **environment},
        timeout=120,
        check=True,
    )
    if "OPENMP DISPLAY ENVIRONMENT" not in done.stderr:
        pytest.skip("this OpenMP runtime does not report its settings")
    return done.stderr


def test_the_command_shortens_how_long_waiting_openmp_threads_spin() -> None:
    assert DEFAULT_SPIN in openmp_report(LIGHTGBM_ALONE)  # what the check below tells apart
    report = openmp_report(COMMAND_THEN_LIGHTGBM)
    assert "GOMP_SPINCOUNT = '1000'" in report
    assert DEFAULT_SPIN not in report  # every OpenMP runtime loaded (LightGBM's, sklearn's)


def test_a_wait_policy_in_the_environment_wins() -> None:
    report = openmp_report(COMMAND_THEN_LIGHTGBM, OMP_WAIT_POLICY="PASSIVE")
    assert "OMP_WAIT_POLICY = 'PASSIVE'" in report
    assert "GOMP_SPINCOUNT = '0'" in report
    assert "GOMP_SPINCOUNT = '1000'" not in report
