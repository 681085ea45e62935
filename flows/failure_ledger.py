"""Solar days that cannot be read for a reason that will not go away, kept in a JSON ledger.

A day whose read fails with a permanent cause (HTTP 404 or 410, HTTP 403 even with a new
token, a file that is not a GeoTIFF, a corrupt or truncated file, an asset missing from the
STAC item) is recorded in ``<paths.work_dir>/failed_scenes.json`` with the reason. Later
fetches skip it without opening a file, until ``pestcast fetch --retry-failed`` reads it again
and removes it once it reads. Transient causes (timeouts, refused connections, HTTP 5xx or 429
after GDAL's own retries, a block that got no bytes over HTTP, anything not recognised) are not
recorded: the next run simply tries again.

The cause is read from the text of the :class:`SceneReadError` and the GDAL errors it was
raised from (:func:`classify_read_failure`). The ledger holds unsigned hrefs only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pestcast.core.atomic import write_text_atomic
from pestcast.flows.stac_search import SceneRef

__all__ = [
    "FailedDay",
    "FailedRead",
    "FailureLedger",
    "ReadFailure",
    "classify_read_failure",
    "day_key",
    "describe_read_failure",
]

LEDGER_FORMAT = 1
LOGGER = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ReadFailure:
    """Why a read failed, and whether trying again later can help."""

    permanent: bool
    """True: recorded and skipped until ``--retry-failed``; False: tried again next run."""
    cause: str
    """Short reason, e.g. ``"HTTP 404: the file is not there"``."""


_TRANSIENT = (
    (r"HTTP response code: (5\d\d|429|408)\b", "HTTP {0}: the server is busy or failing"),
    (
        r"CURL error|timed out|Could not resolve|Could not connect|Failed to connect"
        r"|Connection (?:refused|reset)|Empty reply",
        "network error (timeout or no connection)",
    ),
)
_REMOTE_TRANSIENT = (
    (r"got 0 bytes", "no bytes arrived for a block (network)"),
    (r"does not exist in the file system", "no answer (an earlier failure in this process)"),
)
"""Over HTTP a block lost to a 5xx or a timeout reads as "got 0 bytes", and GDAL answers "does
not exist" for a URL whose first request failed earlier in the same process (it caches that);
a real 404 says so."""
_PERMANENT = (
    (r"HTTP response code: (404|410)\b", "HTTP {0}: the file is not there"),
    (r"HTTP response code: 403\b", "HTTP 403: access refused (also with a new token)"),
    (r"not recognized as (?:being in )?a supported file format", "not a GeoTIFF"),
    (r"No such file or directory|does not exist in the file system", "file not found"),
    (
        r"Decod(?:e|ing) error|TIFFFillTile|TIFFReadEncoded|IReadBlock failed|Read error at",
        "corrupt or truncated file",
    ),
    (r"has no asset '", "asset missing from the STAC item"),
)


def classify_read_failure(message: str, *, remote: bool) -> ReadFailure:
    """The cause of a failed read from the text of its errors (GDAL's messages included).

    ``remote``: the href is a URL, where a block that got no bytes is a network failure;
    locally it means a truncated file. Network trouble is checked first: GDAL reports a block
    lost to HTTP 503 with the same words as a truncated file. A block cut short over HTTP
    (some bytes, not all) counts as a truncated file: GDAL keeps the short block, so only a
    new process could tell. Anything not recognised is transient, so it is tried again rather
    than skipped for good.
    """
    for pattern, cause in _TRANSIENT:
        if match := re.search(pattern, message):
            return ReadFailure(permanent=False, cause=cause.format(*match.groups()))
    for pattern, cause in _REMOTE_TRANSIENT if remote else ():
        if re.search(pattern, message):
            return ReadFailure(permanent=False, cause=cause)
    for pattern, cause in _PERMANENT:
        if match := re.search(pattern, message):
            return ReadFailure(permanent=True, cause=cause.format(*match.groups()))
    return ReadFailure(permanent=False, cause="unrecognised read error")


@dataclasses.dataclass(frozen=True)
class FailedRead:
    """One solar day's failed read: what failed and why."""

    key: str
    """:func:`day_key` of the day."""
    solar_day: str
    items: tuple[str, ...]
    asset: str | None
    """Logical band of the asset that failed (None if the error does not say)."""
    href: str | None
    """Its unsigned href."""
    failure: ReadFailure
    message: str
    """The error's own message (unsigned hrefs only)."""


def day_key(scenes: Sequence[SceneRef]) -> str:
    """Identity of a solar day's read: the day and its items, so a new item makes a new day."""
    return f"{scenes[0].solar_day.isoformat()} {'+'.join(s.item_id for s in scenes)}"


def describe_read_failure(error: BaseException, scenes: Sequence[SceneRef]) -> FailedRead:
    """The :class:`FailedRead` of ``error`` raised while reading ``scenes`` (one solar day)."""
    message = str(error)
    band, item = _failed_asset(message)
    scene = next((s for s in scenes if s.item_id == item), None)
    href = scene.asset_hrefs.get(band) if scene is not None and band is not None else None
    remote = href is not None and urlsplit(href).scheme in {"http", "https"}
    return FailedRead(
        key=day_key(scenes),
        solar_day=scenes[0].solar_day.isoformat(),
        items=tuple(s.item_id for s in scenes),
        asset=band,
        href=None if href is None else unsigned_href(href),
        failure=classify_read_failure(_error_chain_text(error), remote=remote),
        message=message,
    )


_ASSET_OF_ITEM = re.compile(r"asset '(?P<band>[^']+)' of item (?P<item>\S+)")
_ITEM_LACKS = re.compile(r"item (?P<item>\S+) has no asset '[^']*' \(band '(?P<band>[^']+)'\)")


def _failed_asset(message: str) -> tuple[str | None, str | None]:
    """(band, item id) named by a ``flows.raster_read`` error message."""
    match = _ASSET_OF_ITEM.search(message) or _ITEM_LACKS.search(message)
    return (match["band"], match["item"]) if match else (None, None)


def _error_chain_text(error: BaseException) -> str:
    """The messages of ``error`` and of the errors it came from (GDAL's, for a failed read)."""
    texts, seen = [], set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.append(str(current))
        current = current.__cause__ or current.__context__
    return " | ".join(texts)


_CREDENTIAL_PARAMETERS = re.compile(
    r"^(sig|signature|token|se|st|sp|sv|sr|spr|skoid|sktid|skt|ske|sks|skv|x-amz-.*|x-goog-.*)$",
    re.IGNORECASE,
)


def unsigned_href(href: str) -> str:
    """``href`` without query parameters that carry a signature or token (SAS, S3, GCS)."""
    parts = urlsplit(href)
    if not parts.query:
        return href
    kept = [(k, v) for k, v in parse_qsl(parts.query) if not _CREDENTIAL_PARAMETERS.match(k)]
    return urlunsplit(parts._replace(query=urlencode(kept)))


@dataclasses.dataclass(frozen=True)
class FailedDay:
    """A ledger entry: a solar day skipped until ``pestcast fetch --retry-failed``."""

    key: str
    solar_day: str
    items: tuple[str, ...]
    asset: str | None
    href: str | None
    reason: str
    """The permanent cause, e.g. ``"HTTP 404: the file is not there"``."""
    message: str
    first_seen: str
    """UTC time of the first failure (ISO 8601)."""
    last_seen: str
    attempts: int
    """Runs that tried this day and failed."""

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> FailedDay:
        fields: dict[str, Any] = {f.name: entry[f.name] for f in dataclasses.fields(cls)}
        return cls(**fields | {"items": tuple(fields["items"])})


class FailureLedger:
    """The solar days of one work folder recorded as unreadable (``failed_scenes.json``)."""

    def __init__(self, path: Path, entries: dict[str, FailedDay] | None = None) -> None:
        self.path = path
        self.entries: dict[str, FailedDay] = dict(entries or {})
        self._changed = False

    @classmethod
    def load(cls, path: Path) -> FailureLedger:
        """The ledger at ``path``; empty if there is none. An unreadable file is moved aside to
        ``*.corrupt`` with a warning: its days are then tried again."""
        if not path.exists():
            return cls(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            entries = [FailedDay.from_json(entry) for entry in raw["scenes"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            aside = path.with_name(path.name + ".corrupt")
            path.replace(aside)
            LOGGER.warning(
                "the failed-scene ledger %s cannot be read (%s); moved it to %s, so the days it "
                "listed are read again",
                path,
                error,
                aside,
            )
            return cls(path)
        return cls(path, {entry.key: entry for entry in entries})

    def get(self, key: str) -> FailedDay | None:
        return self.entries.get(key)

    def record(self, read: FailedRead, *, now: dt.datetime | None = None) -> FailedDay:
        """Add the entry of a day that failed for good, or update it after another failed try."""
        stamp = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
        earlier = self.entries.get(read.key)
        # A transient failure on retry says nothing new about the file: keep the known reason.
        keep = earlier is not None and not read.failure.permanent
        entry = FailedDay(
            key=read.key,
            solar_day=read.solar_day,
            items=read.items,
            asset=earlier.asset if keep and earlier else read.asset,
            href=earlier.href if keep and earlier else read.href,
            reason=earlier.reason if keep and earlier else read.failure.cause,
            message=earlier.message if keep and earlier else read.message,
            first_seen=earlier.first_seen if earlier else stamp,
            last_seen=stamp,
            attempts=earlier.attempts + 1 if earlier else 1,
        )
        self.entries[read.key] = entry
        self._changed = True
        return entry

    def forget(self, key: str) -> None:
        """Remove a day that was read after all."""
        if self.entries.pop(key, None) is not None:
            self._changed = True

    def save(self) -> None:
        """Write the ledger atomically if it changed (an empty ledger removes the file)."""
        if not self._changed:
            return
        if not self.entries and self.path.exists():
            self.path.unlink()
        elif self.entries:
            write_text_atomic(self.path, self.to_json())
        self._changed = False

    def to_json(self) -> str:
        entries = sorted(self.entries.values(), key=lambda e: (e.solar_day, e.key))
        document = {
            "format": LEDGER_FORMAT,
            "about": (
                "solar days whose imagery could not be read for a permanent reason; "
                "`pestcast fetch` skips them, `pestcast fetch --retry-failed` reads them again"
            ),
            "scenes": [dataclasses.asdict(entry) for entry in entries],
        }
        return json.dumps(document, indent=1, ensure_ascii=False) + "\n"
