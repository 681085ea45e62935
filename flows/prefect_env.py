"""Defaults for running Prefect flows without a server; set before Prefect is imported.

Without ``PREFECT_API_URL`` the first flow call starts a temporary local server, which needs more
than Prefect's 20 s default to start on a small machine with a fresh ``PREFECT_HOME``.
Values already in the environment win.

Once Prefect is imported, :func:`route_prefect_logs` sends every Prefect log record to a log file
and keeps the failures of flow and task runs (their tracebacks) off the terminal: the CLI prints
the one line that says what is wrong and what to do.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from pestcast.core.errors import PublishError

__all__ = ["apply_prefect_defaults", "route_prefect_logs"]

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


def apply_prefect_defaults() -> None:
    """Set the defaults above, and a project-local ``PREFECT_HOME`` if none is set."""
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("PREFECT_HOME", str(Path.cwd() / ".prefect"))


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
