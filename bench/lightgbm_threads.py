"""What the OpenMP wait policy costs LightGBM, on its own and beside a busy process.

Run from the repository root, after ``make demo``: ``.venv/bin/python bench/lightgbm_threads.py``.
Trains one demo-sized model (``bph`` at 7 days: the demo feature table's labelled rows in crop,
the demo config's LightGBM settings) in a fresh process per run, so that OpenMP reads the policy
as it loads: with 2 threads (``pestcast.models.spec.MAX_THREADS``) and ``OMP_WAIT_POLICY`` unset
(GNU OpenMP's default: spin 300,000 rounds, then sleep), ``PASSIVE``, ``ACTIVE`` or
``GOMP_SPINCOUNT=1000`` (what ``pestcast`` sets), and with 1 thread (no thread waits for
another); each alone and beside a busy Python
loop. The configurations take turns, :data:`REPEATS` rounds, so that a change in the machine's
other load falls on all of them. Records the training's wall and CPU seconds (medians) and the
CPU share the busy loop got meanwhile; writes ``bench/results/lightgbm_threads.md``
(overwritten). ``--note TEXT`` adds a line to it (e.g. that the machine was shared).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from feature_table_speed import commit, machine

REQUIRES = ["work/demo/features.parquet"]
FEATURE_TABLE = Path(REQUIRES[0])
RESULTS = Path(__file__).parent / "results" / "lightgbm_threads.md"
PEST, HORIZON_DAYS = "bph", 7
REPEATS = 3
BUSY_LOOP = "while True: pass"


SHORT_SPIN = "GOMP_SPINCOUNT=1000"
"""A short spin (GNU OpenMP's default is 300,000 rounds; PASSIVE is 0) before a thread sleeps."""


@dataclass(frozen=True)
class Setup:
    """One configuration: wait policy (None: unset), LightGBM threads, busy loops beside it."""

    policy: str | None
    threads: int
    competitors: int


SETUPS = [
    Setup(policy, threads, competitors)
    for competitors in (0, 1)
    for policy, threads in (
        (None, 2),
        ("PASSIVE", 2),
        ("ACTIVE", 2),
        ("PASSIVE", 1),
        (SHORT_SPIN, 2),
    )
]


@dataclass(frozen=True)
class Run:
    """One training in its own process."""

    wall_s: float
    cpu_s: float
    """CPU seconds of the training process (all threads) while it trained."""
    competitor_share: float | None
    """CPU seconds the busy loop got per second of the process's life; None without one."""
    load: float
    """The machine's 1-minute load average as the run started."""


def train_once(threads: int) -> dict[str, float | int]:
    """In the child process: train the model once; wall and CPU seconds, rows, threads."""
    import pandas as pd

    from pestcast.features.timeseries import feature_columns
    from pestcast.flows.config import load_config
    from pestcast.flows.default_paths import DEFAULT_CONFIG
    from pestcast.models import RiskModelSpec, in_crop_mask
    from pestcast.models.booster import train_booster
    from pestcast.models.spec import lightgbm_params

    model = load_config(DEFAULT_CONFIG, check_paths=False).model
    table = pd.read_parquet(FEATURE_TABLE)
    features = feature_columns(table, include_quality=model.quality_columns_as_features)
    spec = RiskModelSpec(
        pest=PEST,
        horizon_days=HORIZON_DAYS,
        features=tuple(features),
        params={**model.params, "num_threads": threads},
        num_boost_round=model.num_boost_round,
        seed=model.seed,
    )
    rows = table.loc[table[spec.label].notna().to_numpy() & in_crop_mask(table)]
    wall, cpu = time.perf_counter(), time.process_time()
    train_booster(rows, spec)
    return {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "rows": len(rows),
        "features": len(features),
        "rounds": spec.num_boost_round,
        "threads": int(lightgbm_params(spec)["num_threads"]),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(setup: Setup) -> tuple[Run, dict[str, float | int]]:
    """Train once in a fresh process as ``setup`` says."""
    unset = {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"}
    env = {name: value for name, value in os.environ.items() if name not in unset}
    if setup.policy == SHORT_SPIN:
        env["GOMP_SPINCOUNT"] = SHORT_SPIN.split("=", 1)[1]
    elif setup.policy is not None:
        env["OMP_WAIT_POLICY"] = setup.policy
    load = os.getloadavg()[0]
    busy = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(setup.competitors)]
    try:
        time.sleep(0.5 if busy else 0.0)  # the loop is running before OpenMP starts
        before = [cpu_seconds(loop.pid) for loop in busy]
        start = time.perf_counter()
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(setup.threads)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        lifetime = time.perf_counter() - start
        got = sum(cpu_seconds(loop.pid) - b for loop, b in zip(busy, before, strict=True))
    finally:
        for loop in busy:
            loop.kill()
            loop.wait()
    result = json.loads(child.stdout.strip().splitlines()[-1])
    share = got / lifetime if busy else None
    return Run(float(result["wall_s"]), float(result["cpu_s"]), share, load), result


def main(note: str | None) -> None:
    runs: dict[Setup, list[Run]] = {setup: [] for setup in SETUPS}
    shape: dict[str, float | int] = {}
    for _ in range(REPEATS):
        for setup in SETUPS:
            result, shape = run(setup)
            runs[setup].append(result)
            print(setup, result, flush=True)
    facts = {
        "measured": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit(),
        "machine": machine(),
        **({"note": note} if note else {}),
        "python": platform.python_version(),
        "lightgbm": version("lightgbm"),
        "model": (
            f"{PEST} h{HORIZON_DAYS}: {shape['rows']:,} rows × {shape['features']} features, "
            f"{shape['rounds']} rounds"
        ),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report(facts, runs), encoding="utf-8")
    print(RESULTS)


def report(facts: dict[str, str], runs: dict[Setup, list[Run]]) -> str:
    lines = [
        "# LightGBM threads: the OpenMP wait policy",
        "",
        f"One demo-sized model trained in a fresh process per run, median of {REPEATS} runs",
        "(configurations taking turns); written by `.venv/bin/python bench/lightgbm_threads.py`",
        "(run from the repository root after `make demo`; each run overwrites this file). Busy",
        f"loop: `python -c '{BUSY_LOOP}'`, started before the training process. Load: the",
        "machine's 1-minute load average as each run started (min–max).",
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in facts.items()),
        "",
        "| OMP_WAIT_POLICY | threads | busy loop | wall s | CPU s | CPU ÷ wall "
        "| busy loop's CPU share | every run: wall s | load |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
        *(_row(setup, results) for setup, results in runs.items()),
        "",
    ]
    return "\n".join(lines)


def _row(setup: Setup, results: list[Run]) -> str:
    wall = statistics.median(r.wall_s for r in results)
    cpu = statistics.median(r.cpu_s for r in results)
    shares = [r.competitor_share for r in results if r.competitor_share is not None]
    share = f"{statistics.median(shares):.2f}" if shares else "–"
    loads = [r.load for r in results]
    every = ", ".join(f"{r.wall_s:.1f}" for r in results)
    return (
        f"| {setup.policy or 'unset'} | {setup.threads} | {'yes' if setup.competitors else 'no'} "
        f"| {wall:.1f} | {cpu:.1f} | {cpu / wall:.2f} | {share} | {every} "
        f"| {min(loads):.1f}–{max(loads):.1f} |"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=int, metavar="THREADS", help="train once, print JSON")
    parser.add_argument("--note", help="a line for the results, e.g. that the machine was shared")
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(train_once(arguments.child)))
    else:
        main(arguments.note)
