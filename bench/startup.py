"""How long ``pestcast`` takes to answer: ``--help``, ``--version``, a config error, and the first
flow line of ``pestcast features`` on the demo config.

Run from the repository root: ``.venv/bin/python bench/startup.py``. Each command runs
:data:`REPEATS` times in a fresh process through the installed ``pestcast`` script; the median
and every run are written to ``bench/results/startup.md`` (overwritten). ``pestcast features``
runs on a copy of ``config/demo.yaml`` whose work, output and registry folders are in a temporary
folder, and is stopped (SIGTERM) as soon as it prints its first flow line: once with Prefect's
temporary server (started per command, ``PREFECT_HOME`` = ``.prefect`` as for ``make demo``) and
once with a ``prefect server start`` already running (``PREFECT_API_URL`` set). Wall time
depends on what else the machine is doing: the load average is recorded next to it, and
``--note TEXT`` adds a line (e.g. that the machine was shared).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import yaml
from feature_table_speed import commit, machine

from pestcast.flows.default_paths import DEFAULT_CONFIG

REQUIRES = ["data/demo/parcels.gpkg", "data/demo/stac/catalog.json"]
RESULTS = Path(__file__).parent / "results" / "startup.md"
REPEATS = 5
FIRST_FLOW_LINE = "Beginning flow run"
"""What Prefect logs when a flow run starts."""
PESTCAST = Path(sys.executable).with_name("pestcast")


def environment(**changes: str) -> dict[str, str]:
    """This process's environment without PREFECT_API_URL, plus ``changes``."""
    env = {name: value for name, value in os.environ.items() if name != "PREFECT_API_URL"}
    return {**env, "NO_COLOR": "1", **changes}


def wall_seconds(*args: str, expect: int) -> float:
    """Wall time of ``pestcast *args`` run to its end; its exit status must be ``expect``."""
    start = time.perf_counter()
    done = subprocess.run(
        [str(PESTCAST), *args], capture_output=True, text=True, env=environment(), check=False
    )
    seconds = time.perf_counter() - start
    if done.returncode != expect:
        raise SystemExit(f"pestcast {' '.join(args)}: exit {done.returncode}\n{done.stderr}")
    return seconds


def first_flow_line_seconds(config: Path, **env: str) -> float:
    """Seconds from starting ``pestcast features`` to its first flow line; then stops it."""
    start = time.perf_counter()
    with subprocess.Popen(
        [str(PESTCAST), "features", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment(**env),
    ) as command:
        assert command.stdout is not None
        seen = []
        for line in command.stdout:
            seen.append(line)
            if FIRST_FLOW_LINE in line:
                seconds = time.perf_counter() - start
                command.send_signal(signal.SIGTERM)  # unwinds: the temporary server stops
                command.communicate(timeout=120)
                return seconds
        raise SystemExit(f"pestcast features printed no flow line:\n{''.join(seen)}")


def demo_config(folder: Path) -> Path:
    """``config/demo.yaml`` writing into ``folder`` instead of work/, outputs/ and registry/."""
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["paths"] = {name: str(folder / name) for name in raw["paths"]}
    path = folder / "demo.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def config_with_a_typo(folder: Path) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["imagery"]["cloud_mask"] = [8, 9]
    path = folder / "typo.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """A ``prefect server start`` on a free loopback port; its API URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = environment(PREFECT_HOME=str(home), PREFECT_UI_ENABLED="false", DO_NOT_TRACK="1")
    command = [sys.executable, "-m", "prefect", "server", "start", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 180
        while not _healthy(url):
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("prefect server start did not answer within 180 s")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=60)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
            return bool(answer.read() == b"true")
    except OSError:
        return False


def measure(what: Callable[[], float]) -> list[float]:
    return [what() for _ in range(REPEATS)]


def main(note: str | None) -> None:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="pestcast-startup-") as scratch:
        folder = Path(scratch)
        typo, demo = config_with_a_typo(folder), demo_config(folder)
        runs = {
            "`pestcast --help`": measure(lambda: wall_seconds("--help", expect=0)),
            "`pestcast --version`": measure(lambda: wall_seconds("--version", expect=0)),
            "`pestcast features --help`": measure(
                lambda: wall_seconds("features", "--help", expect=0)
            ),
            "config error (`pestcast features` on a config with an unknown key)": measure(
                lambda: wall_seconds("features", "--config", str(typo), expect=2)
            ),
            "`pestcast features` on the demo, to its first flow line, temporary Prefect "
            "server": measure(lambda: first_flow_line_seconds(demo)),
        }
        with prefect_server(folder / "prefect-server") as url:
            runs["the same with `prefect server start` running (`PREFECT_API_URL` set)"] = measure(
                lambda: first_flow_line_seconds(demo, PREFECT_API_URL=url)
            )
    facts = {
        "measured": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit(),
        "machine": machine(),
        "load average (1 min) before, after": f"{load_before[0]:.2f}, {os.getloadavg()[0]:.2f}",
        **({"note": note} if note else {}),
        "python": platform.python_version(),
        **{name: version(name) for name in ("typer", "prefect", "lightgbm", "pandas")},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report(facts, runs), encoding="utf-8")
    for name, seconds in runs.items():
        print(f"{statistics.median(seconds):6.2f} s  {name}")
    print(RESULTS)


def report(facts: dict[str, str], runs: dict[str, list[float]]) -> str:
    lines = [
        "# `pestcast` start-up time",
        "",
        f"Wall time of each command in a fresh process, median of {REPEATS} runs; written by",
        "`.venv/bin/python bench/startup.py` (run from the repository root; each run overwrites",
        "this file). Wall time depends on what else the machine is doing.",
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in facts.items()),
        "",
        "| command | median | every run (s) |",
        "|---|---:|---|",
        *(
            f"| {name} | {statistics.median(seconds):.2f} s | "
            f"{', '.join(f'{s:.2f}' for s in seconds)} |"
            for name, seconds in runs.items()
        ),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--note", help="a line for the results, e.g. that the machine was shared")
    main(parser.parse_args().note)
