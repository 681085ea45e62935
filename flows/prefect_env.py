"""How pestcast runs Prefect: defaults set before it is imported, the server flow runs report
to, and where its logs go.

Without ``PREFECT_API_URL`` the first flow call starts a temporary local server, which needs more
than Prefect's 20 s default to start on a small machine with a fresh ``PREFECT_HOME``.
Values already in the environment win.

Starting that server takes 8–20 s per command, so :func:`use_running_prefect_server` reuses a
server instead when there is one: the one ``PREFECT_API_URL`` names, else a server already
running where ``prefect server start`` listens (``PREFECT_SERVER_API_HOST``/``_PORT``,
127.0.0.1:4200 by default).

Once Prefect is imported, :func:`route_prefect_logs` sends every Prefect log record to a log file
and keeps the failures of flow and task runs (their tracebacks) off the terminal: the CLI prints
the one line that says what is wrong and what to do.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import socket
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pestcast.core.errors import ConfigError, PublishError

__all__ = [
    "PrefectApi",
    "apply_prefect_defaults",
    "route_prefect_logs",
    "use_running_prefect_server",
]

DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_LOGGING_LEVEL": "INFO",
}
RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")
LOG_FILE_BYTES = 5_000_000
"""A log file is rotated at 5 MB; three earlier ones are kept (``pestcast.log.1`` …)."""
_FILE_HANDLER_NAME = "pestcast-log-file"
PROBE_SECONDS = 2.0
"""How long to wait for a local Prefect server to answer before starting a temporary one."""
CONNECT_SECONDS = 10.0
"""How long to wait for the address of a configured ``PREFECT_API_URL`` to accept a connection."""


def apply_prefect_defaults() -> None:
    """Set the defaults above, and a project-local ``PREFECT_HOME`` if none is set."""
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("PREFECT_HOME", str(Path.cwd() / ".prefect"))


@dataclass(frozen=True)
class PrefectApi:
    """The Prefect API that the flow runs of this process report to."""

    url: str | None
    """The API's URL, e.g. ``http://127.0.0.1:4200/api``; None: Prefect starts a temporary
    server for this process at its first flow call."""
    source: Literal["PREFECT_API_URL", "running server", "temporary server"]
    """``PREFECT_API_URL``: set in the environment or the Prefect profile; ``running server``:
    found answering at the local server address; ``temporary server``: neither."""


def use_running_prefect_server(*, timeout_s: float = PROBE_SECONDS) -> PrefectApi:
    """Point Prefect at a server that is configured or already running, if there is one.

    A configured ``PREFECT_API_URL`` is used as it is, once something listens at its address
    (else a :class:`ConfigError` says how to fix it). Without one, a Prefect server of this
    major version answering within ``timeout_s`` at
    ``PREFECT_SERVER_API_HOST:PREFECT_SERVER_API_PORT`` becomes ``PREFECT_API_URL``; else
    nothing changes and Prefect starts its temporary server. Call after
    :func:`apply_prefect_defaults`, before the first flow call; imports Prefect.
    """
    from prefect.context import refresh_global_settings_context
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url:
        _require_listening(settings.api.url, CONNECT_SECONDS)
        return PrefectApi(settings.api.url, "PREFECT_API_URL")
    local = _local_api_url(settings.server.api.host, settings.server.api.port)
    if not _is_compatible_server(local, timeout_s):
        return PrefectApi(None, "temporary server")
    os.environ["PREFECT_API_URL"] = local
    refresh_global_settings_context()  # Prefect read its settings when it was imported
    return PrefectApi(local, "running server")


def _local_api_url(host: str, port: int) -> str:
    """The API URL of a server listening on ``host:port`` (any-address hosts: loopback)."""
    if host in {"", "0.0.0.0", "::"}:
        host = "127.0.0.1"
    return f"http://[{host}]:{port}/api" if ":" in host else f"http://{host}:{port}/api"


def _require_listening(url: str, timeout_s: float) -> None:
    parts = urlsplit(url)
    default_port = 443 if parts.scheme == "https" else 80
    address = (parts.hostname or "", parts.port or default_port)
    try:
        socket.create_connection(address, timeout=timeout_s).close()
    except OSError as error:
        raise ConfigError(
            f"PREFECT_API_URL (environment or Prefect profile) points at {parts.scheme}://"
            f"{address[0]}:{address[1]}, where nothing answers ({error}); start that Prefect "
            "server (`prefect server start`) or unset PREFECT_API_URL to let pestcast start a "
            "temporary one"
        ) from error


def _is_compatible_server(api_url: str, timeout_s: float) -> bool:
    """Whether a healthy Prefect server of our major version answers at ``api_url``."""
    import urllib.request  # here: loads http.client and ssl, which `pestcast --help` needs not

    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # asked directly
    try:
        with direct.open(f"{api_url}/health", timeout=timeout_s) as answer:
            healthy = json.load(answer) is True
        with direct.open(f"{api_url}/admin/version", timeout=timeout_s) as answer:
            server_version = json.load(answer)
    except (OSError, ValueError):  # refused, timed out, HTTP error, not JSON
        return False
    ours = version("prefect")
    return healthy and isinstance(server_version, str) and _major(server_version) == _major(ours)


def _major(version_text: str) -> str:
    return version_text.split(".", 1)[0]


class QuietRunFailures(logging.Filter):
    """Drop, on the terminal, run-log records that carry a traceback or report a failure.

    Progress lines and warnings of flow and task runs still pass; records of other loggers are
    untouched.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(RUN_LOGGERS):
            return True
        failed = record.getMessage().startswith("Finished in state Failed")
        return record.exc_info is None and record.levelno < logging.ERROR and not failed


def route_prefect_logs(log_file: Path, *, verbose: bool) -> Path:
    """Append Prefect's log records, tracebacks included, to ``log_file`` (rotated at 5 MB).

    Unless ``verbose``, the terminal no longer shows the failures of flow and task runs (see
    :class:`QuietRunFailures`). Call after Prefect is imported (it configures logging on
    import); calling again replaces the earlier file and terminal settings. Returns
    ``log_file``.
    """
    prefect_logger = logging.getLogger("prefect")
    for handler in [h for h in prefect_logger.handlers if h.name == _FILE_HANDLER_NAME]:
        prefect_logger.removeHandler(handler)
        handler.close()
    prefect_logger.addHandler(_file_handler(log_file))
    for console in _terminal_handlers():
        for quiet in [f for f in console.filters if isinstance(f, QuietRunFailures)]:
            console.removeFilter(quiet)
        if not verbose:
            console.addFilter(QuietRunFailures())
    return log_file


def _file_handler(log_file: Path) -> logging.Handler:
    from prefect.logging.formatters import PrefectFormatter

    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=LOG_FILE_BYTES, backupCount=3, encoding="utf-8"
        )
    except OSError as error:
        raise PublishError(
            f"cannot write the log file {log_file}: {error.strerror}; check that paths.work_dir "
            "is a writable folder"
        ) from error
    handler.set_name(_FILE_HANDLER_NAME)
    handler.setFormatter(
        PrefectFormatter(
            format="%(asctime)s | %(levelname)-7s | %(name)s - %(message)s",
            flow_run_fmt="%(asctime)s | %(levelname)-7s | Flow run %(flow_run_name)r - %(message)s",
            task_run_fmt="%(asctime)s | %(levelname)-7s | Task run %(task_run_name)r - %(message)s",
        )
    )
    return handler


def _terminal_handlers() -> list[logging.Handler]:
    """Handlers of the root logger that write to the terminal (Prefect's console handler)."""
    return [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.StreamHandler)
        and not isinstance(handler, logging.FileHandler)
    ]
