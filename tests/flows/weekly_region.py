"""A small simulated region and a real Prefect server, for the weekly-flow tests."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from pestcast.flows.cli import app
from pestcast.flows.config import DEFAULT_CONFIG
from tests.flows.test_prefect_env import free_port

DEMO_DATA = "data/demo"
"""Where ``config/demo.yaml`` reads the simulated region."""
LAST_MONDAY = "2024-09-30"
"""The last day of the simulated region, a Monday: the weekly flow's default forecast date."""


def write_small_region(root: Path, *, parcels: int = 80, **top_level: Any) -> Path:
    """Simulate ``parcels`` parcels from June 2023 to :data:`LAST_MONDAY` into ``root/data``
    and write a config reading them (``root/small.yaml``, region ``small``); ``top_level``
    replaces top-level keys of the config (``runner``, ``dask``)."""
    data = root / "data"
    simulate = ["simulate", "--out", str(data), "--parcels", str(parcels), "--seed", "7"]
    result = CliRunner().invoke(app, [*simulate, "--start", "2023-06-01", "--end", LAST_MONDAY])
    assert result.exit_code == 0, result.output
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["region"]["name"] = "small"
    raw["sources"] = _moved(raw["sources"], f"{DEMO_DATA}/", f"{data}/")
    raw["sources"]["feedback"]["path"] = str(root / "feedback.parquet")
    raw["imagery"].update(start="2023-06-01", end=LAST_MONDAY)
    raw["model"]["num_boost_round"] = 100
    raw["model"]["backtest"]["bootstrap_replicates"] = 20
    raw["paths"] = {
        "work_dir": str(root / "work"),
        "output_dir": str(root / "outputs"),
        "model_registry": str(root / "registry"),
    }
    raw.update(top_level)
    path = root / "small.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _moved(settings: Any, old: str, new: str) -> Any:
    """``settings`` with every string starting with ``old`` starting with ``new`` instead."""
    if isinstance(settings, dict):
        return {key: _moved(value, old, new) for key, value in settings.items()}
    if isinstance(settings, str) and settings.startswith(old):
        return new + settings.removeprefix(old)
    return settings


def environment(**changes: str) -> dict[str, str]:
    """This process's environment without PREFECT_API_URL, plus ``changes``."""
    env = {name: value for name, value in os.environ.items() if name != "PREFECT_API_URL"}
    return {**env, "NO_COLOR": "1", "DO_NOT_TRACK": "1", **changes}


@contextlib.contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """``prefect server start`` on a free loopback port with a home of its own; its API URL."""
    port = free_port()
    log = home / "server.log"
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    with log.open("wb") as output:
        server = subprocess.Popen(
            [*command, "--port", str(port)],
            env=environment(PREFECT_HOME=str(home), PREFECT_UI_ENABLED="false"),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        wait_until(lambda: get(url, "/health") is True, process=server, log=log)
        yield url
    finally:
        stop(server)


def get(url: str, path: str) -> Any:
    """The JSON answer of ``GET url+path``; None when nothing (good) answers."""
    try:
        with urllib.request.urlopen(f"{url}{path}", timeout=5) as answer:
            return json.load(answer)
    except OSError:
        return None


def wait_until(
    ready: Any, *, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 180
) -> None:
    """Poll ``ready()`` until true; fail with ``log`` if ``process`` exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args} exited: {log.read_text(errors='replace')}")
        if ready():
            return
        time.sleep(0.5)
    raise AssertionError(f"not ready within {timeout_s} s: {log.read_text(errors='replace')}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
