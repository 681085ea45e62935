"""The ``pestcast`` command reports to a Prefect server that is configured or already running
instead of starting a temporary one (8–20 s): checked with a real ``prefect server start`` and
the real command in fresh processes. Each run of ``pestcast features`` below starts its flow,
which then stops because the stand-in region was never fetched."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bad_inputs.test_configs import demo_text

TEMPORARY = "Starting temporary server"
"""What Prefect logs when it starts its temporary server."""
FLOW_RAN = "parcel_observations.parquet does not exist yet"
"""The features flow's first task failing: the flow did run."""


def free_port() -> int:
    """A loopback port nothing listens on (it is free once this returns)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def api(url: str, path: str) -> object:
    request = urllib.request.Request(f"{url}{path}", data=b"{}", method="POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def flow_runs(url: str) -> int:
    count = api(url, "/flow_runs/count")
    assert isinstance(count, int)
    return count


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prefect server on a free loopback port, with a home of its own; its API URL."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = {name: value for name, value in os.environ.items() if name != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(home), PREFECT_UI_ENABLED="false", DO_NOT_TRACK="1")
    command = [sys.executable, "-m", "prefect", "server", "start"]
    with (home / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        _wait_until_healthy(url, server, log=home / "server.log")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_healthy(url: str, server: subprocess.Popen[bytes], *, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"prefect server start exited: {log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if json.load(answer) is True:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the Prefect server did not answer within 180 s: {log.read_text()}")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A valid config whose sources are empty stand-ins and whose work folder is empty."""
    path = tmp_path / "config.yaml"
    path.write_text(demo_text(tmp_path), encoding="utf-8")
    return path


def pestcast_features(config: Path, **environment: str) -> str:
    """What ``pestcast features`` prints, run without PREFECT_API_URL unless given."""
    env = {name: value for name, value in os.environ.items() if name != "PREFECT_API_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "pestcast.flows.cli", "features", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=config.parent,
        env={**env, "NO_COLOR": "1", **environment},
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.mark.slow
def test_the_server_prefect_api_url_names_is_used(prefect_server: str, config: Path) -> None:
    before = flow_runs(prefect_server)
    output = pestcast_features(config, PREFECT_API_URL=prefect_server)
    assert FLOW_RAN in output
    assert TEMPORARY not in output
    assert flow_runs(prefect_server) == before + 1


@pytest.mark.slow
def test_a_server_running_at_the_local_address_is_reused(prefect_server: str, config: Path) -> None:
    before = flow_runs(prefect_server)
    port = prefect_server.rsplit(":", 1)[1].removesuffix("/api")
    output = pestcast_features(config, PREFECT_SERVER_API_PORT=port)
    assert FLOW_RAN in output
    assert TEMPORARY not in output
    assert flow_runs(prefect_server) == before + 1


@pytest.mark.slow
def test_without_a_server_prefect_starts_a_temporary_one(prefect_server: str, config: Path) -> None:
    before = flow_runs(prefect_server)
    output = pestcast_features(config, PREFECT_SERVER_API_PORT=str(free_port()))
    assert FLOW_RAN in output
    assert TEMPORARY in output
    assert flow_runs(prefect_server) == before


def test_a_configured_server_that_is_not_there_is_named(config: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/api"
    output = pestcast_features(config, PREFECT_API_URL=url)
    assert "PREFECT_API_URL (environment or Prefect profile) points at http://127.0.0.1:" in output
    assert "nothing answers" in output
    assert "unset PREFECT_API_URL" in output
    assert FLOW_RAN not in output
    assert not (config.parent / "work" / "logs").exists()
