"""Bad input through the real ``pestcast`` command: exit code 2 and one clear line that names the
file and key and says what to do; no Python traceback on the terminal unless ``--verbose``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pestcast.flows import cli
from pestcast.flows.cli import app
from tests.bad_inputs import folder_hashes
from tests.bad_inputs.test_configs import demo_text

TRACEBACK = "Traceback (most recent call last)"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A valid config whose sources are empty stand-ins and whose work folder is empty."""
    path = tmp_path / "config.yaml"
    path.write_text(demo_text(tmp_path), encoding="utf-8")
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        pytest.param(
            ("features", "--config", "{tmp}"),
            r"pestcast features: config path .* is a folder; give the YAML file",
            id="config-is-a-folder",
        ),
        pytest.param(
            ("run", "--config", "{tmp}/missing.yaml"),
            r"pestcast run: config file .*missing\.yaml does not exist; pass --config FILE",
            id="config-missing",
        ),
        pytest.param(
            ("forecast", "--config", "{tmp}/outputs-is-a-file.yaml"),
            r"pestcast forecast: .*\n  key 'paths\.output_dir': .*outputs is a file; give a folder",
            id="output-dir-is-a-file",
        ),
        pytest.param(
            ("fetch", "--config", "{tmp}/month-13.yaml"),
            r"pestcast fetch: .*\n  key 'imagery\.start'.*'2024-13-01'.*YYYY-MM-DD",
            id="month-13",
        ),
        pytest.param(
            ("export", "--config", "{tmp}/config.yaml", "--format", "csv"),
            r"pestcast export: --out .*w\.csv: the folder .*no-such-folder does not exist; "
            "create the folder first",
            id="export-into-a-missing-folder",
        ),
    ],
)
def test_a_bad_input_ends_in_one_clear_line_and_exit_code_2(
    tmp_path: Path, config: Path, args: tuple[str, ...], says: str
) -> None:
    (tmp_path / "outputs").write_text("the user's notes\n", encoding="utf-8")
    (tmp_path / "outputs-is-a-file.yaml").write_text(config.read_text("utf-8"), "utf-8")
    month_13 = config.read_text("utf-8").replace("start: 2021-07-01", "start: 2024-13-01")
    (tmp_path / "month-13.yaml").write_text(month_13, "utf-8")
    command = [arg.format(tmp=tmp_path) for arg in args]
    if command[0] == "export":
        command += ["--out", str(tmp_path / "no-such-folder" / "w.csv")]
    before = folder_hashes(tmp_path)
    code, output = invoke(*command)
    assert code == 2, output
    assert [line.startswith("pestcast ") for line in output.splitlines()].count(True) == 1
    assert TRACEBACK not in output
    assert re.search(says, output), output
    assert folder_hashes(tmp_path) == before
    assert not (tmp_path / "work").exists()
    assert not (tmp_path / "no-such-folder").exists()


def test_verbose_adds_the_traceback_before_the_clear_line(tmp_path: Path) -> None:
    code, output = invoke("--verbose", "features", "--config", str(tmp_path))
    assert code == 2
    assert TRACEBACK in output
    assert output.rstrip().splitlines()[-1].startswith("pestcast features: config path")


def test_a_canopy_mask_warning_is_printed_once_in_yellow(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    masked = config.read_text("utf-8").replace("[0, 1, 3, 8, 9, 10]", "[0, 1, 3, 4, 8, 9, 10]")
    config.write_text(masked.replace("  feedback: {", "  # feedback: {"), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["feedback", "checks.csv", "--config", str(config)], color=True
    )
    assert result.exit_code == 2  # the config has no feedback store: refused after the warning
    assert result.output.count("masks SCL class 4 (vegetation)") == 1
    assert "\x1b[33mwarning: " in result.output
    capsys.readouterr()
    cli._load(config)  # `pestcast demo` loads the config three times: one warning is enough
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize("verbose", [False, True], ids=["default", "verbose"])
def test_a_failing_flow_prints_the_clear_line_and_keeps_tracebacks_in_the_log(
    config: Path, verbose: bool
) -> None:
    """The real command in a fresh process, with Prefect's temporary server (~10 s each)."""
    options = ["--verbose"] if verbose else []
    command = [sys.executable, "-m", "pestcast.flows.cli", *options, "features"]
    done = subprocess.run(
        [*command, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=config.parent,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    terminal = done.stdout + done.stderr
    assert done.returncode == 2, terminal
    assert "pestcast features: " in terminal
    assert "parcel_observations.parquet does not exist yet; run `pestcast fetch" in terminal
    log = config.parent / "work" / "logs" / "pestcast.log"
    assert TRACEBACK in log.read_text(encoding="utf-8")
    if verbose:
        assert TRACEBACK in terminal
    else:
        assert TRACEBACK not in terminal
        assert "Task run failed" not in terminal
        assert f"full log: {log}" in terminal
