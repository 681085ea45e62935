"""Dask worker preload for ``bench/dask_speedup.py``: pin worker N to CPU core N.

Every thread of the worker process is pinned now; threads it starts later (the task's band
reads, GDAL's) inherit the pin. This gives each worker one core of its own, as one worker per
single-core machine would have.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def dask_setup(worker: Any) -> None:
    core = int(worker.name) % (os.cpu_count() or 1)
    for thread in Path(f"/proc/{os.getpid()}/task").iterdir():
        os.sched_setaffinity(int(thread.name), {core})
