"""Prefect's own share of the wall time of a weekly run of the demo region, caches warm.

Run from the repository root: ``.venv/bin/python bench/prefect_overhead.py`` (10–25 minutes
on 2 cores, most of it the untimed training). Everything happens in a temporary folder with a
Prefect home of its own: the demo region is simulated there (``pestcast simulate``, the
defaults ``make demo`` uses), the demo config pointed at it, and fetch → features → train run
once untimed, which fills the observation cache and puts a model in service (trained lighter
than the demo's, 100 boosting rounds and 20 bootstrap replicates: the weekly run does not
train). The temporary Prefect server is started before any timing. The first timed run
publishes the week; :data:`RUNS` ``- 1`` more runs republish it (``allow_stale``), so each run
does the whole chain.

Two figures bound Prefect's share from both sides:

- *outside task runs* = the run's wall time minus the time when at least one task run was
  Running (union of the task runs' start–end intervals, read from the Prefect API): an upper
  bound. It holds the cost of every flow and subflow run (creating it, its states, its logs)
  but also the flows' own code between tasks (grouping scenes, reading the feature table's
  dates, building summaries).
- *task bookkeeping* = task runs × the cost of one no-op task call inside a flow, measured on
  the same server just before: a lower bound (Prefect's per-task cost alone).

A no-op subflow call is timed too, but not used in either: an empty flow run pays waits that a
real one overlaps with its work, so its cost (about a second) overstates what a stage pays.

Results go to ``bench/results/prefect_overhead.md`` (overwritten). ``--runner dask`` runs the
fetch on a local Dask cluster of 2 workers instead (its start-up then counts as overhead).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml
from feature_table_speed import commit, machine

from pestcast.flows.default_paths import DEFAULT_CONFIG

RESULTS = Path(__file__).parent / "results" / "prefect_overhead.md"
RUNS = 3
CALIBRATION_CALLS = 40
PAGE = 200
"""The most records the Prefect API returns at once."""
DEMO_DATA = "data/demo"
"""Where ``config/demo.yaml`` reads the simulated region."""
PESTCAST = Path(sys.executable).with_name("pestcast")


@dataclass(frozen=True)
class RunTimes:
    """One weekly run, as the Prefect API recorded it."""

    wall_s: float
    in_tasks_s: float
    """Seconds when at least one task run was Running."""
    task_runs: int
    flow_runs: int
    """The weekly flow run and its subflow runs."""
    stages: dict[str, tuple[float, float]]
    """Flow name → (its run's wall seconds, seconds in its task runs)."""
    from_cache: str
    """Solar days read from the observation cache / found: the caches were warm if equal."""


def bench_config(folder: Path, runner: str) -> Path:
    """The demo region simulated into ``folder``, and the demo config reading it there."""
    data = folder / "data"
    subprocess.run([str(PESTCAST), "simulate", "--out", str(data)], check=True)
    text = DEFAULT_CONFIG.read_text(encoding="utf-8").replace(f"{DEMO_DATA}/", f"{data}/")
    raw = yaml.safe_load(text)
    raw["sources"]["feedback"]["path"] = str(folder / "feedback.parquet")
    raw["paths"] = {
        "work_dir": str(folder / "work"),
        "output_dir": str(folder / "outputs"),
        "model_registry": str(folder / "registry"),
    }
    raw["model"].update(num_boost_round=100)
    raw["model"]["backtest"]["bootstrap_replicates"] = 20
    raw["runner"] = runner
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def prepare(config: Any) -> None:
    """Fill the observation cache and put a model in service (untimed)."""
    from pestcast.flows.pipeline import features_flow, fetch_flow, train_flow

    fetch_flow(config)
    features_flow(config)
    train_flow(config)


def calibrate(calls: int) -> tuple[float, float]:
    """Seconds of one no-op task call and of one no-op subflow call inside a flow."""
    from prefect import flow, task

    @task
    def nothing(index: int) -> int:
        return index

    @flow
    def nothing_flow(index: int) -> int:
        return index

    @flow
    def calibration() -> tuple[float, float]:
        start = time.perf_counter()
        for index in range(calls):
            nothing(index)
        per_task = (time.perf_counter() - start) / calls
        start = time.perf_counter()
        for index in range(calls // 4):
            nothing_flow(index)
        return per_task, (time.perf_counter() - start) / (calls // 4)

    calibration()  # the first calls load and register what later calls reuse
    return calibration()


def weekly_run(config: Any, *, allow_stale: bool) -> RunTimes:
    from pestcast.flows.weekly import weekly_flow

    start = time.perf_counter()
    state = weekly_flow(config, allow_stale=allow_stale, return_state=True)
    wall = time.perf_counter() - start
    fetch = state.result()["fetch"]  # raises if the run failed
    cached = f"{fetch['scenes_read_from_cache']}/{fetch['solar_days_found']}"
    return run_times(state.state_details.flow_run_id, wall, cached)


def run_times(root_id: Any, wall: float, from_cache: str) -> RunTimes:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
    )

    with get_client(sync_client=True) as client:
        flows = [client.read_flow_run(root_id)]
        parents = [root_id]
        while parents:
            children = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=parents)
                ),
                limit=PAGE,
            )
            flows += children
            parents = [child.id for child in children]
        tasks = _pages(
            lambda offset: client.read_task_runs(
                task_run_filter=TaskRunFilter(
                    flow_run_id=TaskRunFilterFlowRunId(any_=[run.id for run in flows])
                ),
                limit=PAGE,
                offset=offset,
            )
        )
        names = {run.flow_id: client.read_flow(run.flow_id).name for run in flows}
    placeholders = {run.parent_task_run_id for run in flows}
    tasks = [task for task in tasks if task.id not in placeholders]
    stages = {
        names[run.flow_id]: (
            _seconds(run.start_time, run.end_time),
            _busy([t for t in tasks if t.flow_run_id == run.id]),
        )
        for run in flows
    }
    return RunTimes(wall, _busy(tasks), len(tasks), len(flows), stages, from_cache)


def _pages(read: Callable[[int], list[Any]]) -> list[Any]:
    """Every record of a Prefect API listing, read :data:`PAGE` at a time."""
    records: list[Any] = []
    while page := read(len(records)):
        records += page
        if len(page) < PAGE:
            break
    return records


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> float:
    return (end - start).total_seconds() if start and end else 0.0


def _busy(tasks: list[Any]) -> float:
    """Seconds covered by at least one of the task runs' start–end intervals."""
    spans = sorted((t.start_time, t.end_time) for t in tasks if t.start_time and t.end_time)
    busy, current = 0.0, None
    for start, end in spans:
        if current is None or start > current[1]:
            busy += _seconds(*current) if current else 0.0
            current = (start, end)
        else:
            current = (current[0], max(current[1], end))
    return busy + (_seconds(*current) if current else 0.0)


def main(runner: str, note: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="pestcast-prefect-overhead-") as name:
        folder = Path(name)
        os.environ["PREFECT_HOME"] = str(folder / "prefect")
        from pestcast.flows.config import load_config
        from pestcast.flows.prefect_env import apply_prefect_defaults

        apply_prefect_defaults()
        config = load_config(bench_config(folder, runner))
        prepare(config)
        load_before = os.getloadavg()[0]
        per_task, per_flow = calibrate(CALIBRATION_CALLS)
        runs = [weekly_run(config, allow_stale=index > 0) for index in range(RUNS)]
        load_after = os.getloadavg()[0]
    facts = {
        "measured": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "commit": commit(),
        "machine": machine(),
        "load average (1 min) before, after": f"{load_before:.2f}, {load_after:.2f}",
        "runner": runner,
        "python": sys.version.split()[0],
        "prefect": version("prefect"),
        "prefect-dask": version("prefect-dask"),
    }
    if note:
        facts["note"] = note
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report(facts, runs, per_task, per_flow), encoding="utf-8")
    print(RESULTS.read_text(encoding="utf-8"))


def report(facts: dict[str, str], runs: list[RunTimes], per_task: float, per_flow: float) -> str:
    lines = [
        "# Prefect's share of a weekly run",
        "",
        "A weekly run (`weekly_flow`: fetch → features → forecast → exports → bulletin) of the",
        "demo region with every scene in the observation cache; written by",
        "`.venv/bin/python bench/prefect_overhead.py` (each run overwrites this file). Run 1",
        "publishes the week, runs 2… republish it (`allow_stale`). See the script's docstring",
        "for the two measures.",
        "",
        "| | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in facts.items()),
        f"| one no-op task call / subflow call | {per_task * 1000:.0f} ms / "
        f"{per_flow * 1000:.0f} ms |",
        "",
        "| run | wall | in task runs | outside task runs (upper bound) | task runs | flow runs "
        "| task bookkeeping (lower bound) | days from cache |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for index, run in enumerate(runs, start=1):
        outside = run.wall_s - run.in_tasks_s
        calibrated = run.task_runs * per_task
        lines.append(
            f"| {index} | {run.wall_s:.1f} s | {run.in_tasks_s:.1f} s | {outside:.1f} s "
            f"({outside / run.wall_s:.0%}) | {run.task_runs} | {run.flow_runs} | "
            f"{calibrated:.2f} s ({calibrated / run.wall_s:.1%}) | {run.from_cache} |"
        )
    lines += ["", "Per flow (median over the runs): its run's wall time, and its task runs.", ""]
    lines += ["| flow | wall | in task runs |", "|---|---:|---:|"]
    for stage in runs[0].stages:
        walls = [run.stages[stage][0] for run in runs if stage in run.stages]
        busy = [run.stages[stage][1] for run in runs if stage in run.stages]
        lines.append(
            f"| {stage} | {statistics.median(walls):.1f} s | {statistics.median(busy):.1f} s |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runner", choices=["local", "dask"], default="local")
    parser.add_argument("--note", help="a line for the results, e.g. that the machine was shared")
    arguments = parser.parse_args()
    main(arguments.runner, arguments.note)
