"""A small weather API on 127.0.0.1 that answers like Open-Meteo and NASA POWER, for tests.

It serves the recorded answers in ``tests/data/weather`` at the providers' own paths —
``/v1/archive`` (Open-Meteo historical), ``/v1/forecast`` (Open-Meteo forecast) and
``/api/temporal/daily/point`` (POWER) — cut to the days the query asks for, as the real APIs do
(Open-Meteo ``start_date``/``end_date``, POWER ``start``/``end``). Days outside the recording are
simply absent, like a provider that skipped them.

``answer_with(path, body)`` replaces a path's recording; ``fail_next(path, 429, 500, …)`` queues
error answers (Open-Meteo's error body ``{"error": true, "reason": …}``; a queued 200 answers as
recorded). Every request is counted per path in ``requests`` and kept, with its query and
headers, in ``seen``.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.flows.loopback import LoopbackServer

__all__ = ["RECORDED", "RecordedWeatherApi", "recorded"]

RECORDED = Path(__file__).resolve().parents[1] / "data" / "weather"
ARCHIVE, FORECAST, POWER = "/v1/archive", "/v1/forecast", "/api/temporal/daily/point"
RECORDINGS = {
    ARCHIVE: "open_meteo_archive_daily.json",
    FORECAST: "open_meteo_forecast_daily.json",
    POWER: "nasa_power_daily_point.json",
}
REASONS = {
    429: "Minutely API request limit exceeded. Please try again in one minute.",
    500: "Internal Server Error",
}


def recorded(name: str) -> dict[str, Any]:
    """A recorded answer from tests/data/weather (a fresh copy to edit)."""
    answer: dict[str, Any] = json.loads((RECORDED / name).read_text(encoding="utf-8"))
    return answer


class RecordedWeatherApi(LoopbackServer):
    """A threaded HTTP server on a free loopback port serving the recorded weather answers."""

    def __init__(self) -> None:
        self.answers = {path: recorded(name) for path, name in RECORDINGS.items()}
        self.requests: Counter[str] = Counter()
        self.seen: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self._failures: dict[str, deque[int]] = {}
        self._uncut: set[str] = set()
        self._lock = threading.Lock()
        self._serve(_Handler, owner_attribute="api")

    def answer_with(self, path: str, body: dict[str, Any], *, cut: bool = True) -> None:
        """Serve ``body`` at ``path`` from now on, cut to the days asked for unless ``cut`` is
        False (a server that answers days it was not asked for)."""
        self.answers[path] = copy.deepcopy(body)
        if cut:
            self._uncut.discard(path)
        else:
            self._uncut.add(path)

    def fail_next(self, path: str, *statuses: int) -> None:
        """Answer the next requests to ``path`` with these HTTP statuses (200: as recorded)."""
        self._failures.setdefault(path, deque()).extend(statuses)

    def queries(self, path: str) -> list[dict[str, str]]:
        """The query parameters of every request to ``path``, in order."""
        return [query for seen_path, query, _ in self.seen if seen_path == path]

    def answer(self, path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        """Status and body for one GET (called by the handler thread)."""
        with self._lock:
            self.requests[path] += 1
            self.seen.append((path, query, headers))
            queued = self._failures.get(path)
            failure = queued.popleft() if queued else None
        if failure not in (None, 200):
            reason = REASONS.get(failure, f"HTTP {failure}")
            return failure, json.dumps({"error": True, "reason": reason})
        if path not in self.answers:
            return 404, json.dumps({"error": True, "reason": "Not Found"})
        answer = self.answers[path]
        if path not in self._uncut and ("daily" in answer or "properties" in answer):
            answer = _days_asked(path, answer, query)
        return 200, json.dumps(answer, ensure_ascii=False)


def _days_asked(path: str, answer: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    answer = copy.deepcopy(answer)
    if path == POWER:
        first, last = query.get("start", ""), query.get("end", "99999999")
        for name, values in answer["properties"]["parameter"].items():
            answer["properties"]["parameter"][name] = {
                day: value for day, value in values.items() if first <= day <= last
            }
        answer["header"].update(start=first, end=last)
        return answer
    first, last = query.get("start_date", ""), query.get("end_date", "9999-99-99")
    daily = answer["daily"]
    keep = [i for i, day in enumerate(daily["time"]) if first <= day <= last]
    answer["daily"] = {
        name: [values[i] for i in keep if i < len(values)] for name, values in daily.items()
    }
    return answer


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        api: RecordedWeatherApi = self.server.api  # type: ignore[attr-defined]
        status, body = api.answer(parts.path, query, dict(self.headers.items()))
        payload = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: object) -> None:  # keep test output quiet
        return
