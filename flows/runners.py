"""Where the tasks of a flow run: threads of this process, or the workers of a Dask cluster.

``runner: local`` (the default) runs the fetch's blocks of solar days on threads of the flow's
process. ``runner: dask`` hands them to Dask through prefect-dask's ``DaskTaskRunner``:
to the cluster whose scheduler ``dask.address`` names (``dask scheduler`` on one machine,
``dask worker tcp://…`` on each of the others), else to a ``LocalCluster`` of
``dask.n_workers`` processes started for the run. Either way a task is a block of solar days
(at most ``fetch_plan.DAYS_PER_TASK``, read one after another), never a parcel, so a run over
years of imagery stays at tens of tasks and each worker thread holds one day's rasters at a
time.

Dask workers report their task runs to the Prefect API of the flow run. Without a configured
``PREFECT_API_URL`` every worker would start a temporary server of its own, so with a local
cluster this process starts Prefect's temporary server up front and hands its URL on; a
cluster on other machines needs a server they can reach. Workers of such a cluster read and
write the run's folders themselves: those must be on storage they all mount at the same path,
which is checked before the run.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from pestcast.core.errors import ConfigError
from pestcast.flows.config import DaskConfig, PestcastConfig

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.task_runners import TaskRunner

__all__ = ["LOCAL_THREADS", "task_runner_for", "with_task_runner"]

LOCAL_THREADS = 2 * (os.cpu_count() or 1)
"""Tasks run at once by ``runner: local``: twice the cores, the most the fetch plan puts in
flight (reads are mostly waits; ``fetch_plan.plan_fetch`` also bounds them by memory)."""
CONNECT_SECONDS = 10
"""How long to wait for the scheduler of ``dask.address`` to answer."""

R = TypeVar("R")


def with_task_runner(flow: Flow[Any, R], config: PestcastConfig) -> Flow[Any, R]:
    """``flow`` with its tasks run where ``config.runner`` says."""
    return flow.with_options(task_runner=task_runner_for(config))


def task_runner_for(config: PestcastConfig) -> TaskRunner[Any]:
    """The task runner of ``config.runner``: a bounded thread pool, or a Dask task runner.

    For Dask, first makes sure the workers can report to a Prefect API, and for a running
    cluster that it answers and its workers see ``paths.work_dir`` where this process does;
    a :class:`ConfigError` says what to fix.
    """
    if config.runner == "local":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=LOCAL_THREADS)
    return _dask_task_runner(config.dask, config.paths.work_dir)


def _dask_task_runner(settings: DaskConfig, work_dir: Path) -> TaskRunner[Any]:
    from prefect_dask.task_runners import DaskTaskRunner

    _share_prefect_api(settings.address)
    if settings.address is not None:
        check_cluster(settings.address, work_dir)
        return DaskTaskRunner(address=settings.address)
    logging.getLogger("distributed").setLevel(logging.WARNING)  # a cluster's start is no news
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": settings.n_workers,
            "threads_per_worker": settings.threads_per_worker,
            "memory_limit": settings.memory_limit,
            "processes": True,
        },
    )


def _share_prefect_api(address: str | None) -> None:
    """Give this process a Prefect API URL that the workers of the cluster can use."""
    from prefect.context import refresh_global_settings_context
    from prefect.settings import get_current_settings

    api_url = get_current_settings().api.url
    problem = api_problem(api_url, address)
    if problem is not None:
        raise ConfigError(problem)
    if api_url is None:  # a local cluster: Prefect's temporary server serves it too
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()
        server.start()
        os.environ["PREFECT_API_URL"] = server.api_url
        refresh_global_settings_context()  # Prefect read its settings when it was imported


def api_problem(api_url: str | None, address: str | None) -> str | None:
    """Why workers of the cluster at ``address`` (None: a local one) could not report to
    ``api_url`` (None: no server configured), or None if they can."""
    if address is None or _is_loopback(urlsplit(address).hostname):
        return None
    advice = (
        "start a Prefect server they can reach (`prefect server start --host 0.0.0.0`) and "
        "set PREFECT_API_URL=http://<this machine>:4200/api"
    )
    if api_url is None:
        return (
            f"dask.address {address}: the Dask workers report task runs to the Prefect API, "
            f"and no PREFECT_API_URL is set; {advice}"
        )
    if _is_loopback(urlsplit(api_url).hostname):
        return (
            f"dask.address {address}: PREFECT_API_URL {api_url} is this machine's loopback "
            f"address, which the workers on other machines cannot reach; {advice}"
        )
    return None


def _is_loopback(host: str | None) -> bool:
    if host in {None, "", "localhost"}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_cluster(address: str, work_dir: Path, *, timeout_s: float = CONNECT_SECONDS) -> None:
    """Refuse a Dask cluster that does not answer within ``timeout_s``, has no worker, runs
    another pestcast, or whose workers do not see ``work_dir`` at the path this process does."""
    from distributed import Client

    try:
        client = Client(  # type: ignore[no-untyped-call]
            address, timeout=timeout_s, set_as_default=False
        )
    except OSError as error:
        raise ConfigError(
            f"dask.address {address}: no Dask scheduler answers ({error}); start one with "
            "`dask scheduler` and workers with `dask worker <address>`, or set dask.address: "
            "null for a local cluster"
        ) from error
    with client:
        problems = _worker_problems(client, work_dir)
    if problems:
        raise ConfigError(f"dask.address {address}: " + "; ".join(problems))


def _worker_problems(client: Any, work_dir: Path) -> list[str]:
    workers = client.scheduler_info()["workers"]
    if not workers:
        return ["the scheduler has no worker; start some with `dask worker <address>`"]
    ours = version("pestcast")
    versions = client.get_versions(packages=["pestcast"])["workers"]
    problems = [
        f"worker {worker} has pestcast {found['packages'].get('pestcast')}, not {ours}: "
        "install the same pestcast on every worker"
        for worker, found in versions.items()
        if found["packages"].get("pestcast") != ours
    ]
    here = os.path.abspath(work_dir)  # noqa: PTH100 - the workers answer with the same function
    seen = client.run(os.path.abspath, str(work_dir))
    problems += [
        f"worker {worker} resolves paths.work_dir {work_dir} to {there}, not {here}: give "
        "an absolute path"
        for worker, there in seen.items()
        if there != here
    ]
    Path(here).mkdir(parents=True, exist_ok=True)
    visible = client.run(os.path.isdir, here)
    problems += [
        f"worker {worker} does not see paths.work_dir {here}: put it on storage every worker "
        "mounts at the same path"
        for worker, sees in visible.items()
        if not sees
    ]
    return problems
