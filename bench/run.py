"""Run every benchmark in bench/, each in its own process, and report which ran, failed or waited.

``make bench`` runs them all; ``.venv/bin/python bench/run.py forecast_skill`` runs the named
ones. A benchmark is any ``bench/*.py`` but this file and modules whose name starts with ``_``;
each runs with this interpreter, from the repository root. A benchmark that needs earlier
outputs names them, relative to the repository root, in a module-level constant::

    REQUIRES = ["data/demo/truth.parquet", "outputs/demo/models/latest"]

and is skipped, not run, while one is missing. The constant is read with :mod:`ast`, so this
runner imports none of the benchmarks. Exits with status 1 if any benchmark failed.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent


@dataclass(frozen=True)
class Outcome:
    """What became of one benchmark."""

    name: str
    status: str
    """``ok``, ``failed: …`` or ``skipped: …``."""
    seconds: float | None = None
    """Wall time of its process; None if it did not run."""

    @property
    def failed(self) -> bool:
        return self.status.startswith("failed")


def benchmarks(names: list[str]) -> list[Path]:
    """The benchmark scripts, all of them or those named (by file name without ``.py``)."""
    scripts = sorted(
        path
        for path in BENCH_DIR.glob("*.py")
        if path.name != Path(__file__).name and not path.name.startswith("_")
    )
    unknown = sorted(set(names) - {script.stem for script in scripts})
    if unknown:
        known = ", ".join(script.stem for script in scripts)
        raise SystemExit(
            f"no benchmark named {', '.join(unknown)} in {BENCH_DIR}; there are {known}"
        )
    return [script for script in scripts if not names or script.stem in names]


def requirements(script: Path) -> list[str]:
    """The paths of the script's module-level ``REQUIRES`` constant (none without one)."""
    tree = ast.parse(script.read_text(encoding="utf-8"), filename=str(script))
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(target, ast.Name) and target.id == "REQUIRES" for target in targets):
            paths = ast.literal_eval(value)
            if not isinstance(paths, list | tuple) or not all(isinstance(p, str) for p in paths):
                raise ValueError("REQUIRES must be a literal list of path strings")
            return list(paths)
    return []


def run(script: Path) -> Outcome:
    """Run one benchmark unless an output it needs is missing."""
    try:
        missing = [path for path in requirements(script) if not (ROOT / path).exists()]
    except (SyntaxError, ValueError) as error:
        return Outcome(script.stem, f"failed: cannot read its REQUIRES ({error})")
    if missing:
        outcome = Outcome(
            script.stem, f"skipped: needs {', '.join(missing)}; run `make demo` first"
        )
        print(f"--- {script.stem}: {outcome.status}\n", flush=True)
        return outcome
    print(f"--- {script.stem}", flush=True)
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, str(script.relative_to(ROOT))], cwd=ROOT, check=False
    )
    seconds = time.perf_counter() - start
    status = "ok" if completed.returncode == 0 else f"failed: exit status {completed.returncode}"
    outcome = Outcome(script.stem, status, seconds)
    print(f"--- {script.stem}: exit status {completed.returncode}, {seconds:.1f} s\n", flush=True)
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    outcomes = [run(script) for script in benchmarks(parser.parse_args().names)]
    width = max(len(outcome.name) for outcome in outcomes) if outcomes else 0
    for outcome in outcomes:
        took = f"{outcome.seconds:7.1f} s  " if outcome.seconds is not None else " " * 11
        print(f"{outcome.name:<{width}}  {took}{outcome.status}")
    if any(outcome.failed for outcome in outcomes):
        sys.exit(1)


if __name__ == "__main__":
    main()
