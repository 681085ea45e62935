"""Planetary Computer's data side on 127.0.0.1, for tests: a SAS token endpoint and blob storage
that refuses unsigned and expired URLs, as Azure does.

``GET /api/sas/v1/token/<collection>`` answers like the real endpoint
(``{"msft:expiry": "…Z", "token": "se=…&sp=rl&sv=…&sr=c&sig=…"}``) with a token valid for
``lifetime_s`` seconds of the stand-in's clock. ``GET``/``HEAD /blob/<path>`` serves the file
mapped to ``<path>`` (whole or one byte range, as object stores do) only when the query carries
a token this server issued and has not expired, revoked or used up; anything else gets 403 with
Azure's ``AuthenticationFailed`` body.

The clock is the real one plus ``clock_shift_s``, so a test can jump ahead (``advance(3600)``)
without sleeping. ``revoke_all()`` and ``revoke_after(n)`` make the tokens issued so far stop
working (now, or after ``n`` more blob requests), as if they had expired in the middle of a run.
Every request is counted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from tests.flows.loopback import LoopbackServer

__all__ = ["PlanetaryComputerStandIn", "planetary_computer_item"]

TOKEN_PATH = "/api/sas/v1/token/"
BLOB_PATH = "/blob/"
REFUSED_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code>'
    b"<Message>Server failed to authenticate the request.</Message></Error>"
)


@dataclass(frozen=True)
class _Issued:
    collection: str
    expires: dt.datetime


class PlanetaryComputerStandIn(LoopbackServer):
    """A threaded HTTP server on a free port of 127.0.0.1; use it as a context manager."""

    def __init__(
        self,
        files: Mapping[str, Path],
        *,
        lifetime_s: float = 45 * 60,
    ) -> None:
        self.files = {path.strip("/"): Path(file) for path, file in files.items()}
        self.lifetime_s = lifetime_s
        self._revoke_in: int | None = None
        self.clock_shift_s = 0.0
        self.counts: Counter[str] = Counter()
        """``token`` (issued), ``signed`` (blob requests served), ``refused`` (403 answers, of
        which ``unsigned`` carried no token at all), ``bytes`` (blob bytes sent)."""
        self.failures: list[int | str] = []
        """Answers for the next token requests: an HTTP status or ``"bad-json"``."""
        self._issued: dict[str, _Issued] = {}
        self._secret = b"stand-in secret"
        self._serial = itertools.count(1)
        self._lock = threading.Lock()
        self._serve(_Handler, owner_attribute="stand_in")

    @property
    def token_url(self) -> str:
        """The value for ``sources.stac.signing.token_url``."""
        return f"{self.url}{TOKEN_PATH.rstrip('/')}"

    def href(self, path: str) -> str:
        """The unsigned URL of the blob at ``path``."""
        return f"{self.url}{BLOB_PATH}{path.strip('/')}"

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.clock_shift_s)

    def advance(self, seconds: float) -> None:
        """Move the stand-in's clock ahead: issued tokens come closer to expiry."""
        self.clock_shift_s += seconds

    def revoke_all(self) -> None:
        """Every token issued so far is refused from now on."""
        with self._lock:
            self._issued.clear()

    def revoke_after(self, requests: int) -> None:
        """Every token issued so far is refused after ``requests`` more blob requests."""
        with self._lock:
            self._revoke_in = requests

    # --- called by the handler threads ---------------------------------------------------

    def issue(self, collection: str) -> tuple[int, str]:
        with self._lock:
            failure = self.failures.pop(0) if self.failures else None
            if isinstance(failure, int):
                return failure, json.dumps({"detail": f"HTTP {failure}"})
            if failure == "bad-json":
                return 200, "<html>maintenance</html>"
            expires = (self.now() + dt.timedelta(seconds=self.lifetime_s)).replace(microsecond=0)
            se = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
            sig = hmac.new(
                self._secret, f"{collection}|{se}|{next(self._serial)}".encode(), hashlib.sha256
            ).hexdigest()
            self._issued[sig] = _Issued(collection, expires)
            self.counts["token"] += 1
        token = f"se={quote(se)}&sp=rl&sv=2024-05-04&sr=c&skoid=stand-in&sig={sig}"
        return 200, json.dumps({"msft:expiry": se, "token": token})

    def count_bytes(self, n: int) -> None:
        with self._lock:
            self.counts["bytes"] += n

    def accepts(self, query: str) -> bool:
        sig = parse_qs(query).get("sig", [""])[0]
        with self._lock:
            if self._revoke_in == 0:
                self._issued.clear()
                self._revoke_in = None
            elif self._revoke_in is not None:
                self._revoke_in -= 1
            issued = self._issued.get(sig)
            usable = issued is not None and self.now() < issued.expires
            self.counts["signed" if usable else "refused"] += 1
            self.counts["unsigned"] += not sig
        return usable


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as blob storage does
    disable_nagle_algorithm = True  # headers and body are separate writes

    @property
    def stand_in(self) -> PlanetaryComputerStandIn:
        return self.server.stand_in  # type: ignore[attr-defined, no-any-return]

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith(TOKEN_PATH):
            status, body = self.stand_in.issue(path.removeprefix(TOKEN_PATH))
            self._answer(status, body.encode(), "application/json")
        else:
            self._blob(head=False)

    def do_HEAD(self) -> None:
        self._blob(head=True)

    def _blob(self, *, head: bool) -> None:
        parts = urlsplit(self.path)
        file = self.stand_in.files.get(parts.path.removeprefix(BLOB_PATH))
        if not parts.path.startswith(BLOB_PATH) or file is None:
            self._answer(404, b"BlobNotFound", "application/xml", head=head)
            return
        if not self.stand_in.accepts(parts.query):
            self._answer(403, REFUSED_BODY, "application/xml", head=head)
            return
        data = file.read_bytes()
        first, last = 0, len(data) - 1
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes="):
            start, _, end = wanted.removeprefix("bytes=").partition("-")
            first, last = int(start), min(int(end) if end else last, last)
        extra = {"Content-Range": f"bytes {first}-{last}/{len(data)}"} if wanted else {}
        body = data[first : last + 1]
        if not head:
            self.stand_in.count_bytes(len(body))
        self._answer(206 if wanted else 200, body, "image/tiff", head=head, extra=extra)

    def _answer(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        head: bool = False,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


PC_ASSETS = {
    "B02": ("R10m", "B02"),
    "B03": ("R10m", "B03"),
    "B04": ("R10m", "B04"),
    "B08": ("R10m", "B08"),
    "B05": ("R20m", "B05"),
    "B8A": ("R20m", "B8A"),
    "B11": ("R20m", "B11"),
    "B12": ("R20m", "B12"),
    "SCL": ("R20m", "SCL"),
}
"""Planetary Computer asset key → (resolution folder, file stem of the 29RKH test COG)."""


def planetary_computer_item(
    template: Mapping[str, Any],
    scene: Mapping[str, Any],
    *,
    day: dt.date,
    stand_in: PlanetaryComputerStandIn,
    tile_dir: Path,
) -> dict[str, Any]:
    """A recorded Planetary Computer item (``template``) moved onto the real 29RKH scene
    (``scene``, its Earth Search item) acquired on ``day``: same shape and asset keys, the
    scene's footprint, CRS, baseline and cloud cover, and its band assets served as blobs of
    ``stand_in`` (registered there) from the local COGs in ``tile_dir``."""
    item = json.loads(json.dumps(template))
    product = f"S2A_MSIL2A_{day:%Y%m%d}T112111_N0214_R037_T29RKH_{day:%Y%m%d}T123947"
    item["id"] = product.replace("_N0214", "")
    item["bbox"], item["geometry"] = scene["bbox"], scene["geometry"]
    item["links"] = []
    source = scene["properties"]
    item["properties"].update(
        {
            "datetime": f"{day.isoformat()}T11:34:25.405000Z",
            "proj:epsg": source["proj:epsg"],
            "s2:mgrs_tile": "29RKH",
            "s2:processing_baseline": source["s2:processing_baseline"],
            "s2:product_uri": f"{product}.SAFE",
            "eo:cloud_cover": source["eo:cloud_cover"],
        }
    )
    folder = f"sentinel2-l2/29/R/KH/{day:%Y/%m/%d}/{product}.SAFE/GRANULE/L2A_T29RKH/IMG_DATA"
    for key, (resolution, stem) in PC_ASSETS.items():
        path = f"{folder}/{resolution}/T29RKH_{day:%Y%m%d}T112111_{key}_{resolution[1:]}.tif"
        stand_in.files[path] = tile_dir / f"{stem}.tif"
        asset = item["assets"][key]
        asset["href"] = stand_in.href(path)
        for field in ("proj:bbox", "proj:shape", "proj:transform"):  # those of the full tile
            asset.pop(field, None)
    return item
