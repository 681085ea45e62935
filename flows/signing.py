"""Asset hrefs signed right before they are read: Planetary Computer SAS tokens.

Planetary Computer serves Sentinel-2 COGs from Azure Blob Storage, readable only with a shared
access signature (SAS) token appended to the URL as its query string. A token is issued per
STAC collection by ``GET {token_url}/{collection}``, answering
``{"msft:expiry": "2021-04-08T18:49:29Z", "token": "se=…&sp=rl&sv=…&sr=c&sig=…"}``, and
expires (about 45 minutes anonymously). The ``planetary-computer`` package signs the same way
(``f"{href}?{token}"``, a token cache keyed by its request URL, renewed with less than a minute
left; it asks ``{token_url}/{account}/{container}``, the same token for a collection's
container). Here a token is renewed ``renew_before_expiry_s`` before its expiry, so a long run
keeps signing with fresh tokens, and ``flows.raster_read`` retries a failed signed read once
with a new token (one revoked early, or clocks that disagree: GDAL reports a refused block read
only as a failed read).

Tokens live in one cache per signing setting for the whole process, shared by every thread;
they are never written to disk, logged or put in error messages.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pestcast.core.errors import SourceError
from pestcast.flows.providers import AssetSigning

__all__ = [
    "CollectionSigner",
    "SasTokenCache",
    "TokenError",
    "collection_signer",
]

SUBSCRIPTION_KEY_VARIABLE = "PC_SDK_SUBSCRIPTION_KEY"
"""Environment variable of an optional Planetary Computer subscription key (the name the
``planetary-computer`` package reads): sent as ``Ocp-Apim-Subscription-Key``; never in config."""

TRANSIENT_HTTP_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class TokenError(SourceError):
    """The signing service gave no usable token (names the endpoint and the collection)."""


@dataclass(frozen=True)
class _Token:
    value: str
    expires_utc: dt.datetime


class SasTokenCache:
    """SAS tokens per collection from one token endpoint, renewed before they expire.

    Thread-safe: concurrent readers of one collection wait for one token request.
    """

    def __init__(
        self,
        signing: AssetSigning,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.signing = signing
        self._clock = clock
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()
        self._session = _session()
        self.requests = 0
        """Token requests sent so far (a renewed token is one more)."""

    def token(self, collection: str) -> str:
        """The current token of ``collection``, requested anew if missing or about to expire."""
        with self._lock:
            cached = self._tokens.get(collection)
            margin = dt.timedelta(seconds=self.signing.renew_before_expiry_s)
            if cached is None or cached.expires_utc - margin <= self._clock():
                cached = self._tokens[collection] = self._request(collection)
            return cached.value

    def sign(self, href: str, collection: str) -> str:
        """``href`` with the collection's token as its query; local paths are left alone."""
        if urlsplit(href).scheme.lower() not in {"http", "https"}:
            return href
        separator = "&" if urlsplit(href).query else "?"
        return f"{href}{separator}{self.token(collection)}"

    def forget(self, collection: str, *, refused_href: str) -> None:
        """Drop the collection's token if ``refused_href`` was signed with it, so the next
        :meth:`token` requests a new one (a token another thread renewed already is kept)."""
        with self._lock:
            cached = self._tokens.get(collection)
            if cached is not None and refused_href.endswith(cached.value):
                del self._tokens[collection]

    def _request(self, collection: str) -> _Token:
        url = f"{self.signing.token_url}/{quote(collection, safe='')}"
        self.requests += 1
        try:
            response = self._session.get(
                url, headers=_subscription_header(), timeout=self.signing.timeout_s
            )
        except requests.RequestException as error:
            raise TokenError(
                f"cannot reach the SAS token endpoint {url} for collection {collection!r} "
                f"({type(error).__name__}); check sources.stac.signing.token_url and the network"
            ) from _transient(error)
        return _token_from(response, url, collection)


def _session() -> requests.Session:
    retry = Retry(
        total=3,
        backoff_factor=0.5,
        status_forcelist=TRANSIENT_HTTP_STATUS,
        raise_on_status=False,  # the last answer is reported with its status
    )
    session = requests.Session()
    for scheme in ("http://", "https://"):
        session.mount(scheme, HTTPAdapter(max_retries=retry))
    return session


def _subscription_header() -> dict[str, str] | None:
    key = os.environ.get(SUBSCRIPTION_KEY_VARIABLE)
    return {"Ocp-Apim-Subscription-Key": key} if key else None


def _transient(error: requests.RequestException) -> BaseException:
    if isinstance(error, requests.Timeout):
        return TimeoutError(str(error))
    if isinstance(error, requests.ConnectionError):
        return ConnectionError(str(error))
    return error


def _token_from(response: requests.Response, url: str, collection: str) -> _Token:
    if response.status_code != 200:
        cause = ConnectionError(f"HTTP {response.status_code}")
        problem = TokenError(
            f"the SAS token endpoint {url} answered HTTP {response.status_code} for collection "
            f"{collection!r}; check sources.stac.collection and sources.stac.signing.token_url"
        )
        if response.status_code in TRANSIENT_HTTP_STATUS:
            raise problem from cause
        raise problem
    try:
        body: Any = response.json()
        return _Token(value=_token_value(body), expires_utc=_expiry(body["msft:expiry"]))
    except (ValueError, KeyError, TypeError) as error:
        raise TokenError(
            f"the SAS token endpoint {url} did not answer with a token for collection "
            f"{collection!r} (expected JSON with 'token' and 'msft:expiry'): {error}"
        ) from None  # the body may hold a token: never chain it into a traceback


def _token_value(body: Any) -> str:
    token = body["token"]
    if not isinstance(token, str) or not token or token.startswith("?"):
        raise ValueError("'token' is not a query string such as 'se=…&sig=…'")
    return token


def _expiry(raw: object) -> dt.datetime:
    when = dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


@dataclass(frozen=True)
class CollectionSigner:
    """Signs hrefs of one collection's assets (the ``sign_href`` hook of ``read_scene``)."""

    cache: SasTokenCache
    collection: str

    def __call__(self, href: str) -> str:
        return self.cache.sign(href, self.collection)

    def forget(self, refused_href: str) -> None:
        """After a read refused with 403: drop the token ``refused_href`` carries."""
        self.cache.forget(self.collection, refused_href=refused_href)


_CACHES: dict[AssetSigning, SasTokenCache] = {}
_CACHES_LOCK = threading.Lock()


def collection_signer(signing: AssetSigning, collection: str) -> CollectionSigner | None:
    """The signer of ``collection``'s hrefs under ``signing``, None when nothing is signed.

    Every caller with equal settings shares one token cache for the life of the process.
    """
    if signing.method == "none":
        return None
    with _CACHES_LOCK:
        cache = _CACHES.get(signing)
        if cache is None:
            cache = _CACHES[signing] = SasTokenCache(signing)
    return CollectionSigner(cache, collection)
