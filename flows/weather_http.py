"""Polite JSON requests to the weather APIs: timeouts, retries with backoff, no keys in errors.

A :class:`JsonGetter` is one ``requests`` session whose adapter retries answers 429 and 5xx (and
cut connections) ``max_retries`` times with exponential backoff — a ``Retry-After`` header wins —
then hands back the last answer so its status can be reported. Requests carry a User-Agent that
names pestcast. Every failure is a :class:`SourceError` naming the provider, the URL without its
secret query parameters, and what was asked for; a failure worth retrying later (timeouts, rate
limits, server errors) has a builtin ``ConnectionError``/``TimeoutError`` as its cause, which is
what the flows' retry condition looks for.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pestcast.core.errors import SourceError
from pestcast.flows.stac_search import TRANSIENT_HTTP_STATUS

__all__ = ["SECRET_PARAMETERS", "USER_AGENT", "HttpSettings", "JsonGetter", "public_url"]

SECRET_PARAMETERS = frozenset({"apikey", "api_key", "key", "token", "access_token"})
"""Query parameters that hold credentials: left out of every URL pestcast shows or logs."""

USER_AGENT = (
    f"pestcast/{importlib.metadata.version('pestcast')} (rice pest risk forecasts; "
    f"python-requests/{importlib.metadata.version('requests')})"
)
"""Sent with every request, so providers can see who asks (Open-Meteo and POWER ask for it)."""


@dataclass(frozen=True)
class HttpSettings:
    """How patiently to ask."""

    timeout_s: float = 60.0
    """Seconds to wait for the server to connect or send data."""
    max_retries: int = 4
    """Retries of an answer 429/5xx or a cut connection; 0 asks once."""
    retry_backoff_s: float = 2.0
    """First wait between tries in seconds, doubled each retry (capped at 120 s)."""


class _RedactSecrets(logging.Filter):
    """Blank secret query values in urllib3's log lines (its retry warnings print the URL)."""

    PATTERN = re.compile(rf"(?i)\b({'|'.join(sorted(SECRET_PARAMETERS))})=[^&\s'\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.PATTERN.sub(r"\1=***", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


for _logger in map(logging.getLogger, ("urllib3.connectionpool", "urllib3.util.retry")):
    if not any(isinstance(f, _RedactSecrets) for f in _logger.filters):
        _logger.addFilter(_RedactSecrets())


def public_url(url: str, params: Mapping[str, str]) -> str:
    """``url`` with its query and ``params``, secret ones (:data:`SECRET_PARAMETERS`) left out."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), *params.items()]
    shown = [(k, v) for k, v in query if k.lower() not in SECRET_PARAMETERS]
    return urlunsplit(parts._replace(query=urlencode(shown, safe=",")))


class JsonGetter:
    """GETs JSON with retries; ``requests_made`` counts the HTTP requests sent (retries too)."""

    def __init__(self, settings: HttpSettings = HttpSettings()) -> None:
        self.settings = settings
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers["Accept"] = "application/json"
        retry = _Backoff(
            total=settings.max_retries,
            backoff_factor=settings.retry_backoff_s,
            status_forcelist=TRANSIENT_HTTP_STATUS,
            allowed_methods=frozenset({"GET"}),
            raise_on_status=False,  # hand back the last answer so its status can be reported
        )
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))

    def __enter__(self) -> JsonGetter:
        return self

    def __exit__(self, *_: object) -> None:
        self.session.close()

    def get(self, url: str, params: Mapping[str, str], *, provider: str, asked: str) -> Any:
        """The decoded JSON answer to ``GET url?params``.

        ``provider`` (e.g. ``open-meteo``) and ``asked`` (e.g. ``commune 'Mỹ Hòa', 2024-06-01 …
        2024-06-07``) only go into error messages.
        """
        where = f"{provider} {public_url(url, params)} ({asked})"
        secrets = [v for k, v in params.items() if k.lower() in SECRET_PARAMETERS and v]
        try:
            response = self.session.get(url, params=dict(params), timeout=self.settings.timeout_s)
        except requests.Timeout as error:
            timeout = TimeoutError(_scrub(str(error), secrets))
            raise self._unreachable(where, "timed out", timeout) from timeout
        except requests.RequestException as error:
            refused = ConnectionError(_scrub(str(error), secrets))
            raise self._unreachable(where, "could not be reached", refused) from refused
        if response.status_code != 200:
            raise _status_error(where, response, self.settings.max_retries, secrets)
        return _decoded(response, where, secrets)

    def _unreachable(self, where: str, what: str, cause: BaseException) -> SourceError:
        return SourceError(
            f"{where} {what} after {self.settings.max_retries} retries ({cause}); check the "
            "network and sources.weather.base_url, or try again later: days already "
            "downloaded are kept"
        )


class _Backoff(Retry):
    """urllib3's Retry, but the first retry also waits (urllib3 retries once at once)."""

    def get_backoff_time(self) -> float:
        tries = len(self.history)
        if tries == 0:
            return 0.0
        return float(min(self.backoff_max, self.backoff_factor * 2 ** (tries - 1)))


def _status_error(
    where: str, response: requests.Response, retries: int, secrets: list[str]
) -> SourceError:
    status = response.status_code
    reason = _scrub(_reason(response), secrets)
    if status in TRANSIENT_HTTP_STATUS:
        cause = ConnectionError(f"HTTP {status}")
        error = SourceError(
            f"{where} answered HTTP {status} after {retries} retries ({reason}); the service "
            "is down or rate-limiting: try again later (days already downloaded are kept)"
        )
        error.__cause__ = cause
        return error
    return SourceError(
        f"{where} refused the request with HTTP {status} ({reason}); check "
        "sources.weather.provider and sources.weather.base_url, and that the days and "
        "coordinates are ones the provider covers"
    )


def _reason(response: requests.Response) -> str:
    """What the provider said went wrong: Open-Meteo's ``reason``, POWER's ``messages``…"""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason
    if isinstance(body, dict):
        for key in ("reason", "messages", "detail", "message", "error"):
            if body.get(key):
                return str(body[key])[:300]
    return json.dumps(body)[:300]


def _decoded(response: requests.Response, where: str, secrets: list[str]) -> Any:
    try:
        body = response.json()
    except ValueError as error:
        raise SourceError(
            f"{where} did not answer JSON ({_scrub(response.text.strip()[:200], secrets)!r}); "
            "check sources.weather.base_url: it must be the provider's API endpoint"
        ) from error
    if isinstance(body, dict) and body.get("error") is True:  # Open-Meteo's error shape
        raise SourceError(f"{where} answered an error: {_scrub(_reason(response), secrets)}")
    return body


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
