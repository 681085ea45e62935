"""A small STAC API on 127.0.0.1 that serves recorded item JSON, for tests.

It answers what pystac-client asks of a real API: ``GET /`` (the recorded Earth Search v1
landing page, its links rewritten to this server), ``GET /conformance``,
``GET /collections/<id>`` and ``POST /search`` with ``collections``, ``bbox``, ``datetime``,
``limit`` and the query extension on ``eo:cloud_cover``, paged Earth Search style (a POST
``next`` link whose body carries a token). Unknown paths get the recorded Earth Search 404 body.

With ``files=FOLDER`` it also serves that folder's files under ``/files/`` with HTTP range
requests, as object stores do, so COGs are read over HTTP by GDAL like real assets.

Failures can be queued per path (``fail_next("/search", 500, 500)``; ``"bad-json"`` answers
200 with a body that is not JSON) and every request is counted per path in ``requests``.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.flows.loopback import LoopbackServer

__all__ = ["RECORDED", "RecordedStacApi", "load_features"]

RECORDED = Path(__file__).resolve().parents[1] / "data" / "stac"
RECORDED_ROOT = "https://earth-search.aws.element84.com/v1"
BAD_JSON = "bad-json"


def load_features(name: str) -> list[dict[str, Any]]:
    """Recorded STAC items (a FeatureCollection file in tests/data/stac)."""
    features: list[dict[str, Any]] = json.loads((RECORDED / name).read_text())["features"]
    return features


class RecordedStacApi(LoopbackServer):
    """A threaded HTTP server on 127.0.0.1 (free port) serving ``items`` as a STAC API."""

    def __init__(
        self,
        items: Sequence[Mapping[str, Any]],
        *,
        collections: Mapping[str, Mapping[str, Any]] | None = None,
        page_size: int = 2,
        files: Path | None = None,
    ) -> None:
        self.items = [dict(item) for item in items]
        self.files = files.resolve() if files is not None else None
        self.collections = dict(collections or {})
        self.page_size = page_size
        self.requests: Counter[str] = Counter()
        self.search_bodies: list[dict[str, Any]] = []
        self._failures: dict[str, deque[int | str]] = {}
        self._lock = threading.Lock()
        self._serve(_Handler, owner_attribute="api")

    def fail_next(self, path: str, *answers: int | str) -> None:
        """Answer the next requests to ``path`` with these HTTP statuses (or ``"bad-json"``)."""
        self._failures.setdefault(path, deque()).extend(answers)

    def answer(self, method: str, path: str, body: Mapping[str, Any]) -> tuple[int, str]:
        """Status and body for one request (called by the handler thread)."""
        with self._lock:
            self.requests[path] += 1
            queued = self._failures.get(path)
            failure = queued.popleft() if queued else None
        if failure == BAD_JSON:
            return 200, "<html>this is not JSON</html>"
        if isinstance(failure, int):
            return failure, json.dumps({"code": "Injected", "description": f"HTTP {failure}"})
        return self._route(method, path, body)

    def _route(self, method: str, path: str, body: Mapping[str, Any]) -> tuple[int, str]:
        if method == "GET" and path in {"", "/"}:
            return 200, self._landing_page()
        if method == "GET" and path == "/conformance":
            return 200, json.dumps({"conformsTo": self._landing()["conformsTo"]})
        if method == "GET" and path.startswith("/collections/"):
            collection = self.collections.get(path.removeprefix("/collections/"))
            if collection is not None:
                return 200, json.dumps(collection)
        if method == "POST" and path == "/search":
            self.search_bodies.append(dict(body))
            return 200, json.dumps(self._search_page(body))
        return 404, (RECORDED / "earth_search_v1_not_found.json").read_text()

    def _landing(self) -> dict[str, Any]:
        path = RECORDED / "earth_search_v1_landing.json"
        landing: dict[str, Any] = json.loads(path.read_text())
        return landing

    def _landing_page(self) -> str:
        return json.dumps(self._landing()).replace(RECORDED_ROOT, self.url)

    def _search_page(self, body: Mapping[str, Any]) -> dict[str, Any]:
        matches = [item for item in self.items if _matches(item, body)]
        start = int(body.get("next", 0))
        size = min(int(body.get("limit") or self.page_size), self.page_size)
        page: dict[str, Any] = {
            "type": "FeatureCollection",
            "features": matches[start : start + size],
            "links": [],
            "numberMatched": len(matches),
        }
        if start + size < len(matches):
            next_body = {**body, "next": str(start + size)}
            page["links"].append(
                {"rel": "next", "href": f"{self.url}/search", "method": "POST", "body": next_body}
            )
        return page


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/files/"):
            self._send_file(head=False)
            return
        self._respond("GET", {})

    def do_HEAD(self) -> None:
        self._send_file(head=True)

    def _send_file(self, *, head: bool) -> None:
        """A file under the server's ``files`` folder, whole or the requested byte range."""
        api = self.server.api  # type: ignore[attr-defined]
        self.server.api.requests["/files"] += 1  # type: ignore[attr-defined]
        path = (api.files / self.path.removeprefix("/files/")).resolve() if api.files else None
        if path is None or not path.is_relative_to(api.files) or not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        first, last = 0, len(data) - 1
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes="):
            start, _, end = wanted.removeprefix("bytes=").partition("-")
            first, last = int(start), min(int(end) if end else last, last)
        self.send_response(206 if wanted else 200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Content-Length", str(last - first + 1))
        if wanted:
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        self.end_headers()
        if not head:
            self.wfile.write(data[first : last + 1])

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        self._respond("POST", json.loads(raw or b"{}"))

    def _respond(self, method: str, body: Mapping[str, Any]) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        status, text = self.server.api.answer(method, path, body)  # type: ignore[attr-defined]
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


def _matches(item: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    collections = body.get("collections")
    if collections and item.get("collection") not in collections:
        return False
    if "bbox" in body and not _bbox_overlap(item["bbox"], body["bbox"]):
        return False
    if "datetime" in body and not _in_interval(item["properties"]["datetime"], body["datetime"]):
        return False
    return all(
        _query_ok(item["properties"].get(name), ops)
        for name, ops in (body.get("query") or {}).items()
    )


def _bbox_overlap(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _in_interval(when: str, interval: str) -> bool:
    start, _, end = interval.partition("/")
    moment = _parse(when)
    after_start = start in {"", ".."} or moment >= _parse(start)
    before_end = end in {"", ".."} or moment <= _parse(end)
    return after_start and before_end


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _query_ok(value: Any, ops: Mapping[str, Any]) -> bool:
    if value is None:
        return False
    checks = {
        "lt": lambda v, x: v < x,
        "lte": lambda v, x: v <= x,
        "gt": lambda v, x: v > x,
        "gte": lambda v, x: v >= x,
        "eq": lambda v, x: v == x,
    }
    return all(checks[op](value, limit) for op, limit in ops.items())
