"""``runner: dask`` gives what ``runner: local`` gives: the weekly flow on a running Dask
cluster (two worker processes, found through ``dask.address``) and the fetch on a local cluster
started for the run, against the local runner on the same small simulated region, each
reading every scene afresh into folders of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from distributed import LocalCluster
from prefect.testing.utilities import prefect_test_harness

from pestcast.flows.config import DaskConfig, PestcastConfig, load_config
from pestcast.flows.pipeline import features_flow, fetch_flow, train_flow
from pestcast.flows.runners import with_task_runner
from pestcast.flows.weekly import weekly_flow
from tests.flows.weekly_region import LAST_MONDAY, write_small_region

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def harness() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def trained(harness: None, tmp_path_factory: pytest.TempPathFactory) -> PestcastConfig:
    """The small region with a model in service (trained on the local runner)."""
    config = load_config(write_small_region(tmp_path_factory.mktemp("region")))
    fetch_flow(config)
    features_flow(config)
    train_flow(config)
    return config


def elsewhere(config: PestcastConfig, root: Path, **changes: Any) -> PestcastConfig:
    """``config`` with work and output folders under ``root`` (same models), and ``changes``."""
    paths = config.paths.model_copy(
        update={"work_dir": root / "work", "output_dir": root / "outputs"}
    )
    return config.model_copy(update={"paths": paths, **changes})


@pytest.fixture(scope="module")
def local_week(
    trained: PestcastConfig, tmp_path_factory: pytest.TempPathFactory
) -> tuple[PestcastConfig, dict[str, Any]]:
    config = elsewhere(trained, tmp_path_factory.mktemp("local"))
    return config, weekly_flow(config)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A running cluster of two single-threaded worker processes; its scheduler's address."""
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        memory_limit="2GiB",
        dashboard_address=":0",
    ) as running:
        running.wait_for_workers(2, timeout=120)
        yield running.scheduler_address


def observations(config: PestcastConfig) -> pd.DataFrame:
    return pd.read_parquet(config.paths.work_dir / "parcel_observations.parquet")


def test_the_week_on_a_running_cluster_publishes_what_the_local_runner_does(
    local_week: tuple[PestcastConfig, dict[str, Any]], cluster: str, tmp_path: Path
) -> None:
    local_config, local = local_week
    config = elsewhere(local_config, tmp_path, runner="dask", dask=DaskConfig(address=cluster))
    week = weekly_flow(config)
    assert week["fetch"]["scenes_read_from_cache"] == 0
    assert week["fetch"]["solar_days_found"] == local["fetch"]["solar_days_found"]
    pd.testing.assert_frame_equal(observations(config), observations(local_config))
    risk_map = Path(week["forecast"]["risk_map"])
    assert risk_map.parent.name == LAST_MONDAY
    expected = gpd.read_file(local["forecast"]["risk_map"])
    pd.testing.assert_frame_equal(gpd.read_file(risk_map), expected)
    assert week["new_imagery"] == local["new_imagery"]
    assert week["exports"]["warnings"] == local["exports"]["warnings"] > 0


def test_a_local_cluster_started_for_the_fetch_gives_the_same_observations(
    local_week: tuple[PestcastConfig, dict[str, Any]], tmp_path: Path
) -> None:
    local_config, _ = local_week
    dask = DaskConfig(n_workers=2, threads_per_worker=1, memory_limit="2GiB")
    config = elsewhere(local_config, tmp_path, runner="dask", dask=dask)
    summary = with_task_runner(fetch_flow, config)(config)
    assert summary["scenes_read_from_cache"] == 0
    pd.testing.assert_frame_equal(observations(config), observations(local_config))
