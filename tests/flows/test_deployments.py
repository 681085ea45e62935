"""Deployments: ``prefect.yaml`` matches the flows and is accepted by ``prefect deploy``; and
``pestcast serve`` serves the weekly and retrain deployments to a real ``prefect server
start``, where triggered runs do their work and a second week with nothing new ends Failed,
saying why, without publishing."""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.schemas.objects import FlowRun, State
from prefect.deployments import run_deployment
from prefect.flows import load_flow_from_entrypoint
from prefect.settings import PREFECT_API_URL, temporary_settings

from pestcast.flows.config import DEFAULT_CONFIG, load_config
from pestcast.flows.weekly import RETRAIN_CRON, WEEKLY_CRON
from tests.bad_inputs.test_configs import demo_text
from tests.flows.test_prefect_env import free_port
from tests.flows.weekly_region import (
    LAST_MONDAY,
    environment,
    get,
    prefect_server,
    stop,
    wait_until,
    write_small_region,
)

ROOT = Path(__file__).parents[2]
PREFECT_YAML = ROOT / "prefect.yaml"
CRONS = {"pestcast-weekly": WEEKLY_CRON, "pestcast-retrain": RETRAIN_CRON}


def declared() -> list[dict[str, Any]]:
    deployments = yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))["deployments"]
    assert isinstance(deployments, list)
    return deployments


def test_prefect_yaml_declares_the_flows_on_their_schedules() -> None:
    timezone = load_config(DEFAULT_CONFIG, check_paths=False).region.timezone
    flows = {}
    for deployment in declared():
        flow = load_flow_from_entrypoint(str(ROOT / deployment["entrypoint"]))
        flows[flow.name] = deployment
        assert set(deployment["parameters"]) <= set(inspect.signature(flow.fn).parameters)
        assert (ROOT / deployment["parameters"]["config_path"]).is_file()
        [schedule] = deployment["schedules"]
        assert (schedule["cron"], schedule["timezone"]) == (CRONS[flow.name], timezone)
    assert set(flows) == set(CRONS)


def test_serve_without_a_server_says_how_to_start_one(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(demo_text(tmp_path), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pestcast.flows.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=environment(PREFECT_SERVER_API_PORT=str(free_port())),
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "pestcast serve needs a Prefect server" in done.stderr
    assert "`prefect server start` (its UI is then at http://127.0.0.1:4200)" in done.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with prefect_server(tmp_path_factory.mktemp("prefect-server")) as url:
        yield url


def prefect(*args: str, api_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        cwd=ROOT,
        env=environment(PREFECT_API_URL=api_url),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_prefect_deploy_creates_both_deployments_from_prefect_yaml(server: str) -> None:
    before = sorted(path.name for path in ROOT.iterdir())
    prefect("work-pool", "create", "pestcast", "--type", "process", api_url=server)
    prefect("--no-prompt", "deploy", "--all", api_url=server)
    for flow_name, cron in CRONS.items():
        deployment = get(server, f"/deployments/name/{flow_name}/demo")
        assert deployment is not None, flow_name
        [schedule] = deployment["schedules"]
        assert schedule["schedule"]["cron"] == cron
        assert schedule["schedule"]["timezone"] == "Asia/Ho_Chi_Minh"
        assert deployment["parameters"] == {"config_path": "config/demo.yaml"}
        [pull] = deployment["pull_steps"]
        working_dir = pull["prefect.deployments.steps.set_working_directory"]["directory"]
        assert Path(working_dir) == ROOT
    assert sorted(path.name for path in ROOT.iterdir()) == before


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_region(tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="module")
def served(server: str, region: Path) -> Iterator[str]:
    """``pestcast serve`` running against ``server``, its deployments registered."""
    log = region.parent / "serve.log"
    with log.open("wb") as output:
        serving = subprocess.Popen(
            [sys.executable, "-m", "pestcast.flows.cli", "serve", "--config", str(region)],
            cwd=region.parent,
            env=environment(PREFECT_API_URL=server),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: all(get(server, f"/deployments/name/{flow}/small") for flow in CRONS),
            process=serving,
            log=log,
        )
        yield server
    finally:
        stop(serving)


def trigger(api_url: str, deployment: str) -> FlowRun:
    with temporary_settings({PREFECT_API_URL: api_url}):
        return run_deployment(deployment, timeout=900, poll_interval=1)


def state_of(run: FlowRun) -> State:
    assert run.state is not None, run
    return run.state


@pytest.fixture(scope="module")
def first_week(served: str) -> tuple[FlowRun, FlowRun]:
    """The served retrain (a model in service), then the week."""
    return trigger(served, "pestcast-retrain/small"), trigger(served, "pestcast-weekly/small")


@pytest.mark.slow
def test_the_served_deployments_run_on_the_region_time_zone(served: str) -> None:
    for flow_name, cron in CRONS.items():
        deployment = get(served, f"/deployments/name/{flow_name}/small")
        [schedule] = deployment["schedules"]
        assert schedule["active"]
        assert (schedule["schedule"]["cron"], schedule["schedule"]["timezone"]) == (
            cron,
            "Asia/Ho_Chi_Minh",
        )


@pytest.mark.slow
def test_a_triggered_week_publishes_the_risk_map_exports_and_bulletin(
    first_week: tuple[FlowRun, FlowRun], region: Path
) -> None:
    retrained, week = first_week
    assert state_of(retrained).is_completed(), retrained.state
    assert state_of(week).is_completed(), week.state
    assert week.name == f"weekly-small-{LAST_MONDAY}"
    outputs = region.parent / "outputs"
    assert (outputs / LAST_MONDAY / "risk_map.geojson").is_file()
    assert (outputs / "latest").resolve().name == LAST_MONDAY
    assert (outputs / "exports" / LAST_MONDAY / "warnings.xlsx").is_file()
    assert (outputs / "bulletins" / LAST_MONDAY / "bulletin.html").is_file()


@pytest.mark.slow
def test_a_week_without_new_imagery_ends_failed_and_says_why(
    first_week: tuple[FlowRun, FlowRun], served: str, region: Path
) -> None:
    risk_map = region.parent / "outputs" / LAST_MONDAY / "risk_map.geojson"
    published = risk_map.stat().st_mtime_ns
    again = state_of(trigger(served, "pestcast-weekly/small"))
    assert again.is_failed(), again
    assert f"no new imagery since the forecast of {LAST_MONDAY}" in (again.message or "")
    assert "--allow-stale" in (again.message or "")
    assert risk_map.stat().st_mtime_ns == published
