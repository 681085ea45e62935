"""Progress of ``pestcast fetch``: solar days done, bytes read, days skipped.

On a terminal (stderr is a TTY) a rich progress bar on stderr; otherwise a log line every
:data:`LOG_EVERY_DAYS` days and at the end. Tasks running in this process report each day as
it finishes, through a channel named by a string (a task argument that any task runner can
carry); days of tasks elsewhere (a Dask worker) are reported when their block comes back.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from typing import IO, Any, Protocol

from rich.console import Console
from rich.filesize import decimal
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pestcast.flows.fetch_cache import DayOutcome

__all__ = ["LOG_EVERY_DAYS", "FetchProgress", "fetch_progress", "report_day"]

LOG_EVERY_DAYS = 10
"""Days between two progress log lines when stderr is not a terminal."""

_CHANNELS: dict[str, FetchProgress] = {}
_CHANNELS_LOCK = threading.Lock()


class _Display(Protocol):
    def show(self, progress: FetchProgress, *, final: bool) -> None: ...

    def close(self) -> None: ...


class FetchProgress:
    """The running counts of one fetch; thread-safe, each day counted once."""

    def __init__(self, total_days: int, display: _Display) -> None:
        self.total_days = total_days
        self.done = self.bytes_read = self.cached = self.failed = 0
        self.channel = uuid.uuid4().hex
        """Name tasks report to (:func:`report_day`)."""
        self._display = display
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def day_done(self, outcome: DayOutcome) -> None:
        """Count one finished solar day (again: ignored) and update the display."""
        self.days_done([outcome])

    def days_done(self, outcomes: Iterable[DayOutcome]) -> None:
        """Count finished solar days (those counted already are ignored), then update once."""
        with self._lock:
            for outcome in outcomes:
                if outcome.key in self._seen:
                    continue
                self._seen.add(outcome.key)
                self.done += 1
                self.bytes_read += outcome.bytes_read
                self.cached += outcome.status == "cached"
                self.failed += outcome.status == "skipped" and outcome.failure is not None
            self._display.show(self, final=False)

    def line(self) -> str:
        """One line of the counts, for logs."""
        return (
            f"scenes processed: {self.done}/{self.total_days} solar days, "
            f"{decimal(self.bytes_read)} read, skipped {self.cached} cached and "
            f"{self.failed} failed"
        )

    def finish(self) -> None:
        with self._lock:
            self._display.show(self, final=True)
            self._display.close()


def report_day(channel: str | None, outcome: DayOutcome) -> None:
    """Report a finished day to the fetch progress named ``channel``, if it is in this process."""
    with _CHANNELS_LOCK:
        progress = _CHANNELS.get(channel) if channel else None
    if progress is not None:
        progress.day_done(outcome)


@contextlib.contextmanager
def fetch_progress(
    total_days: int,
    *,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    stream: IO[str] | None = None,
) -> Iterator[FetchProgress]:
    """Progress of a fetch of ``total_days`` solar days, shown on ``stream`` (stderr) if it is
    a terminal, else logged to ``logger``; open to :func:`report_day` inside the block."""
    stream = sys.stderr if stream is None else stream
    display: _Display = _Bar(stream, total_days) if stream.isatty() else _LogLines(logger)
    progress = FetchProgress(total_days, display)
    with _CHANNELS_LOCK:
        _CHANNELS[progress.channel] = progress
    try:
        yield progress
    finally:
        with _CHANNELS_LOCK:
            del _CHANNELS[progress.channel]
        progress.finish()


class _LogLines:
    def __init__(self, logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
        self.logger = logger
        self.logged = 0

    def show(self, progress: FetchProgress, *, final: bool) -> None:
        due = progress.done - self.logged >= LOG_EVERY_DAYS or progress.done == progress.total_days
        if (due or final) and progress.done != self.logged:
            self.logged = progress.done
            self.logger.info(progress.line())

    def close(self) -> None:
        """Nothing to release."""


class _Bar:
    """A rich progress bar, labelled in English and Vietnamese."""

    def __init__(self, stream: IO[str], total_days: int) -> None:
        self.bar = Progress(
            TextColumn("solar days · ngày ảnh"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("· read · đã đọc {task.fields[read]}"),
            TextColumn(
                "· skipped · bỏ qua: {task.fields[cached]} cached · có sẵn, "
                "{task.fields[failed]} failed · lỗi"
            ),
            TimeElapsedColumn(),
            console=Console(file=stream),
        )
        self.task = self.bar.add_task(
            "fetch", total=total_days, read=decimal(0), cached=0, failed=0
        )
        self.bar.start()

    def show(self, progress: FetchProgress, *, final: bool) -> None:
        self.bar.update(
            self.task,
            completed=progress.done,
            read=decimal(progress.bytes_read),
            cached=progress.cached,
            failed=progress.failed,
            refresh=final,
        )

    def close(self) -> None:
        self.bar.stop()
