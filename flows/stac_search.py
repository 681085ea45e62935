"""Find Sentinel-2 L2A (or Sentinel-1 RTC) scenes in a STAC API or a static STAC catalog: one code
path for both.

``search_scenes`` returns :class:`SceneRef` records: everything later stages need to read a scene
(absolute asset hrefs per logical band, CRS) and to use it honestly (when it became available,
the BOA offset decided once from the processing baseline). Nothing here reads pixels. Radar
sources (``boa_offset=None``) have no offset, processing baseline or cloud cover to decide.

Planetary Computer asset hrefs must be signed right before reading (the tokens expire after
about 45 minutes): signing is the reader's job, never done here, so a ``SceneRef`` can be cached
and reused. A ``SceneRef`` only carries *how* its source wants to be read
(:class:`AssetAccess`: signing method, bands read at once), which ``flows.raster_read`` follows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import groupby
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import pystac
import requests
import shapely
import shapely.geometry
from pystac_client import Client
from pystac_client.conformance import ConformanceClasses
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from urllib3.util.retry import Retry

from pestcast.core.errors import ConfigError, DataError, SourceError
from pestcast.features.reflectance import boa_offset_dn
from pestcast.flows.providers import AssetAccess, BoaOffsetRule

__all__ = [
    "SceneRef",
    "group_by_solar_day",
    "local_solar_day",
    "scene_from_item",
    "search_scenes",
]

TRANSIENT_HTTP_STATUS = frozenset({408, 429, 500, 502, 503, 504})
"""HTTP answers worth retrying: timeouts, rate limits and server-side failures."""

SEARCH_PAGE_SIZE = 100
"""Items per search page asked for (servers may cap it): a 3-year window is a few requests."""

DEFAULT_AVAILABILITY_DELAY = dt.timedelta(days=1)
"""Assumed delay from acquisition to availability when an item has no ``published``/``created``
at or after its acquisition."""


@dataclasses.dataclass(frozen=True)
class SceneRef:
    """One Sentinel-2 L2A (or Sentinel-1 RTC) item, ready to read. Datetimes are timezone-aware
    UTC."""

    item_id: str
    """STAC item id."""
    collection: str
    """STAC collection id the item came from."""
    acquired_utc: dt.datetime
    """Acquisition time (item ``datetime``)."""
    available_utc: dt.datetime
    """When the product became available (``published``, else ``created``, else acquisition
    + 1 day), never before the acquisition: features at a forecast date may only use scenes
    available by then."""
    processing_baseline: str | None
    """``s2:processing_baseline`` such as ``"05.11"`` (or the source's configured default)."""
    boa_offset_dn: float
    """BOA offset in DN to add before dividing by 10000: −1000 from baseline 04.00, 0 before it
    and 0 when the provider already applied it (``earthsearch:boa_offset_applied``); 0 for a
    radar source."""
    cloud_cover: float | None
    """Scene cloud cover in percent (``eo:cloud_cover``), None if the item does not say."""
    asset_hrefs: Mapping[str, str] = dataclasses.field(hash=False)
    """Logical band (``blue``, ``nir``, ``scl``…) → absolute href (local path or URL, unsigned)."""
    crs: str
    """CRS of the assets, e.g. ``"EPSG:32648"`` (from ``proj:code`` or ``proj:epsg``)."""
    platform: str
    """Satellite, e.g. ``"sentinel-2a"`` (as the provider spells it)."""
    solar_day: dt.date
    """Calendar day in local mean solar time at the scene centre: items of one pass over tile
    overlaps share it and are mosaicked together."""
    missing_assets: Mapping[str, str] = dataclasses.field(default_factory=dict, hash=False)
    """Logical band → asset key this item lacks although other items of the search have it.
    Such a scene is kept so that reading it fails with a ``SceneReadError`` naming the asset,
    and ``imagery.on_read_error`` decides: ``skip`` leaves this scene out, ``raise`` stops."""
    access: AssetAccess = dataclasses.field(default_factory=AssetAccess, compare=False)
    """How the source's assets are read (signing, concurrency); no part of the scene's identity."""


@dataclasses.dataclass(frozen=True)
class _Query:
    collection: str
    bbox_wgs84: tuple[float, float, float, float]
    start_utc: dt.datetime
    end_utc: dt.datetime
    max_cloud_cover: float | None

    @property
    def datetime_interval(self) -> str:
        return f"{_rfc3339(self.start_utc)}/{_rfc3339(self.end_utc)}"


def search_scenes(
    source: str,
    *,
    collection: str,
    bbox_wgs84: tuple[float, float, float, float],
    start: dt.date,
    end: dt.date,
    asset_keys: Mapping[str, str],
    max_cloud_cover: float | None = None,
    default_processing_baseline: str | None = None,
    boa_offset: BoaOffsetRule | None = "earthsearch-flag",
    access: AssetAccess | None = None,
    timeout_s: float = 30,
    max_retries: int = 3,
    retry_backoff_s: float = 0.5,
    allow_hrefs_outside_catalog: bool = False,
) -> list[SceneRef]:
    """Scenes of ``collection`` over ``bbox_wgs84`` acquired from ``start`` to ``end`` (UTC days,
    both included), sorted by acquisition and unique.

    ``source`` is an http(s) URL of a STAC API (searched with paging followed) or the path/URL
    of a static catalog (walked and filtered the same way). ``asset_keys`` maps logical bands to
    the source's asset keys (Planetary Computer ``B02``…, Earth Search ``blue``…). With
    ``max_cloud_cover`` (percent), items without ``eo:cloud_cover`` are dropped, as STAC APIs do.
    ``default_processing_baseline`` is only for sources whose items lack
    ``s2:processing_baseline``; ``boa_offset`` is the source's offset rule (see
    :data:`BoaOffsetRule`; None for a radar source such as Sentinel-1 RTC, whose items carry no
    baseline and whose assets hold no DN) and ``access`` how its assets are to be read (signing,
    concurrency),
    handed on to every scene. Network: ``timeout_s`` per request, 5xx/429/timeouts retried
    ``max_retries`` times with exponential backoff starting at ``retry_backoff_s`` seconds.
    Several items on one solar day are all kept: see :func:`group_by_solar_day`.

    Asset hrefs are checked before anything opens them: items of a remote source must point at
    http(s) URLs (no ``file://``, relative paths or GDAL ``/vsi…`` prefixes); items of a local
    static catalog at http(s) URLs or files under the catalog's folder, unless
    ``allow_hrefs_outside_catalog``. An asset key no item has is a configuration error; an item
    lacking an asset the others have is returned with :attr:`SceneRef.missing_assets`, so the
    read policy (``imagery.on_read_error``) decides about that scene alone.
    """
    query = _make_query(collection, bbox_wgs84, start, end, max_cloud_cover)
    _check_asset_keys(asset_keys)
    if _is_http_url(source):
        io = _stac_api_io(timeout_s, max_retries, retry_backoff_s)
        items, from_api = _items_from_url(source, query, io, max_retries)
        catalog_dir = None
    else:
        from_api = False
        items = _items_from_static_catalog(source, query)
        catalog_dir = None if allow_hrefs_outside_catalog else _catalog_dir(source)
    scenes = [
        scene_from_item(
            item,
            asset_keys=asset_keys,
            default_processing_baseline=default_processing_baseline,
            missing_assets="record",
            boa_offset=boa_offset,
            access=access,
        )
        for item in items
    ]
    _require_every_asset_somewhere(scenes, items, asset_keys)
    for item, scene in zip(items, scenes, strict=True):
        raw = {
            band: item.assets[key].href for band, key in asset_keys.items() if key in item.assets
        }
        # A search API's hrefs must be absolute as given; a static catalog's may be relative.
        hrefs = raw if from_api else scene.asset_hrefs
        _require_safe_hrefs(
            scene.item_id, hrefs, source, remote=_is_http_url(source), catalog_dir=catalog_dir
        )
    return _sorted_unique(scenes)


def group_by_solar_day(scenes: Iterable[SceneRef]) -> list[list[SceneRef]]:
    """Scenes grouped by collection and solar day, days in order, each day by acquisition time."""
    ordered = sorted(scenes, key=lambda s: (s.solar_day, s.collection, s.acquired_utc, s.item_id))
    return [list(day) for _, day in groupby(ordered, key=lambda s: (s.solar_day, s.collection))]


def local_solar_day(acquired_utc: dt.datetime, longitude_deg: float) -> dt.date:
    """Calendar day in local mean solar time (UTC + longitude / 15 hours) at ``longitude_deg``."""
    return (_as_utc(acquired_utc) + dt.timedelta(hours=longitude_deg / 15.0)).date()


def scene_from_item(
    item: pystac.Item,
    *,
    asset_keys: Mapping[str, str],
    default_processing_baseline: str | None = None,
    missing_assets: Literal["raise", "record"] = "raise",
    boa_offset: BoaOffsetRule | None = "earthsearch-flag",
    access: AssetAccess | None = None,
) -> SceneRef:
    """Turn one STAC item into a :class:`SceneRef`; raises SourceError naming the item if it
    lacks a CRS or any way to tell the BOA offset, and if it lacks an asset unless
    ``missing_assets="record"`` (then listed in :attr:`SceneRef.missing_assets`). With
    ``boa_offset=None`` (radar) no baseline is needed and the offset is 0."""
    properties = item.properties
    missing = {band: key for band, key in asset_keys.items() if key not in item.assets}
    if missing and missing_assets == "raise":
        raise _missing_asset_error(item, *next(iter(missing.items())))
    acquired = _acquired_utc(item)
    baseline = properties.get("s2:processing_baseline") or default_processing_baseline
    return SceneRef(
        item_id=item.id,
        collection=item.collection_id or "",
        acquired_utc=acquired,
        available_utc=_available_utc(properties, acquired),
        processing_baseline=None if baseline is None else str(baseline),
        boa_offset_dn=_boa_offset(item, baseline, boa_offset),
        cloud_cover=_cloud_cover(properties),
        asset_hrefs=_asset_hrefs(item, asset_keys),
        crs=_item_crs(item, asset_keys),
        platform=str(properties.get("platform", "")),
        solar_day=local_solar_day(acquired, _centre_longitude(item)),
        missing_assets=missing,
        access=access or AssetAccess(),
    )


# --- arguments -------------------------------------------------------------------------------


def _make_query(
    collection: str,
    bbox: tuple[float, float, float, float],
    start: dt.date,
    end: dt.date,
    max_cloud_cover: float | None,
) -> _Query:
    west, south, east, north = (float(v) for v in bbox)
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise ConfigError(
            f"bbox_wgs84 {bbox} is not (west, south, east, north) in degrees with west < east "
            "and south < north; check the parcels' CRS"
        )
    if end < start:
        raise ConfigError(f"imagery window ends ({end}) before it starts ({start})")
    if max_cloud_cover is not None and not 0 <= max_cloud_cover <= 100:
        raise ConfigError(f"max_cloud_cover {max_cloud_cover} is not a percentage (0–100)")
    if not collection:
        raise ConfigError("collection is empty; set sources.stac.collection")
    start_utc = dt.datetime.combine(start, dt.time(0), tzinfo=dt.UTC)
    end_utc = dt.datetime.combine(end, dt.time(23, 59, 59, 999000), tzinfo=dt.UTC)
    return _Query(collection, (west, south, east, north), start_utc, end_utc, max_cloud_cover)


def _check_asset_keys(asset_keys: Mapping[str, str]) -> None:
    if not asset_keys or not all(isinstance(k, str) and k for k in asset_keys.values()):
        raise ConfigError(
            f"asset_keys {dict(asset_keys)} must map logical bands to non-empty asset keys"
        )


# --- STAC API --------------------------------------------------------------------------------


def _is_http_url(source: str) -> bool:
    return urlparse(source).scheme in {"http", "https"}


def _stac_api_io(timeout_s: float, max_retries: int, retry_backoff_s: float) -> StacApiIO:
    retry = Retry(
        total=max_retries,
        backoff_factor=retry_backoff_s,
        status_forcelist=TRANSIENT_HTTP_STATUS,
        allowed_methods=None,  # a search POST is idempotent: retry it too
        raise_on_status=False,  # hand back the last answer so its status can be reported
    )
    return StacApiIO(max_retries=retry, timeout=timeout_s)


def _items_from_url(
    url: str, query: _Query, io: StacApiIO, max_retries: int
) -> tuple[list[pystac.Item], bool]:
    """The items, and whether they came from a search API (else a static catalog at ``url``)."""
    try:
        client = Client.open(url, stac_io=io)
        if not client.conforms_to(ConformanceClasses.ITEM_SEARCH):
            return _filter_catalog_items(client, query, url), False
        items = list(_api_search(client, query))
        if not items and client.get_collection(query.collection) is None:
            raise SourceError(
                f"collection {query.collection!r} does not exist at {url}; "
                "check sources.stac.collection (e.g. sentinel-2-l2a)"
            )
    except (APIError, requests.RequestException, ValueError, pystac.STACError) as error:
        raise _api_error(url, error, max_retries) from _error_cause(error)
    return items, True


def _api_search(client: Client, query: _Query) -> Iterator[pystac.Item]:
    cloud: dict[str, Any] = {}
    if query.max_cloud_cover is not None:
        if client.conforms_to(ConformanceClasses.QUERY):
            cloud["query"] = {"eo:cloud_cover": {"lte": query.max_cloud_cover}}
        elif client.conforms_to(ConformanceClasses.FILTER):
            cloud["filter"] = {
                "op": "<=",
                "args": [{"property": "eo:cloud_cover"}, query.max_cloud_cover],
            }
    search = client.search(
        collections=[query.collection],
        bbox=query.bbox_wgs84,
        datetime=query.datetime_interval,
        limit=SEARCH_PAGE_SIZE,
        **cloud,
    )
    # Filter again here: a server without query/filter support ignores the cloud condition.
    return (item for item in search.items() if _cloud_cover_ok(item, query))


def _api_error(url: str, error: BaseException, max_retries: int) -> SourceError:
    status = getattr(error, "status_code", None)
    detail = str(error).strip()[:300]
    if status == 404:
        return SourceError(
            f"STAC API {url} answered 404 Not Found ({detail}); check sources.stac.url: it must "
            "be the API root (e.g. https://earth-search.aws.element84.com/v1)"
        )
    if status in TRANSIENT_HTTP_STATUS:
        return SourceError(
            f"STAC API {url} failed with HTTP {status} after {max_retries} retries ({detail}); "
            "the service may be down or rate-limiting: try again later"
        )
    if status is not None:
        return SourceError(
            f"STAC API {url} rejected the search with HTTP {status} ({detail}); check the "
            "collection, bbox and dates"
        )
    if isinstance(error, ValueError | pystac.STACError):
        return SourceError(
            f"{url} did not answer with STAC JSON ({detail}); check that sources.stac.url is a "
            "STAC API root or a catalog.json"
        )
    return SourceError(f"cannot reach STAC API {url} ({detail}); check the URL and the network")


def _error_cause(error: BaseException) -> BaseException:
    """A builtin ConnectionError/TimeoutError for failures worth retrying later, else ``error``.

    pystac-client wraps every requests failure in APIError; the original is its context.
    """
    status = getattr(error, "status_code", None)
    if status in TRANSIENT_HTTP_STATUS:
        transient: BaseException = ConnectionError(f"HTTP {status}")
    elif isinstance(error.__context__, requests.Timeout):
        transient = TimeoutError(str(error.__context__))
    elif isinstance(error.__context__, requests.ConnectionError):
        transient = ConnectionError(str(error.__context__))
    else:
        return error
    transient.__cause__ = error
    return transient


# --- static catalog --------------------------------------------------------------------------


def _items_from_static_catalog(source: str, query: _Query) -> list[pystac.Item]:
    path = source.removeprefix("file://")
    if not Path(path).exists():
        raise SourceError(
            f"no STAC catalog at {path}; check sources.stac.url (a catalog.json or an "
            "http(s) STAC API URL)"
        )
    try:
        catalog = pystac.Catalog.from_file(path)
        return _filter_catalog_items(catalog, query, path)
    except (OSError, ValueError, KeyError, pystac.STACError, pystac.STACTypeError) as error:
        raise SourceError(
            f"cannot read the static STAC catalog {path}: {error}; check that it and its "
            "item files are valid STAC JSON"
        ) from error


def _filter_catalog_items(catalog: pystac.Catalog, query: _Query, source: str) -> list[pystac.Item]:
    collection = _find_collection(catalog, query.collection, source)
    area = shapely.box(*query.bbox_wgs84)
    return [
        item
        for item in collection.get_items(recursive=True)
        if _in_window(item, query) and _intersects(item, area) and _cloud_cover_ok(item, query)
    ]


def _find_collection(catalog: pystac.Catalog, collection_id: str, source: str) -> pystac.Catalog:
    if catalog.id == collection_id:
        return catalog
    child = catalog.get_child(collection_id, recursive=True)
    if child is None:
        available = sorted(c.id for c in catalog.get_children())
        raise SourceError(
            f"collection {collection_id!r} is not in the STAC catalog {source} "
            f"(it has {available}); check sources.stac.collection"
        )
    return child


def _in_window(item: pystac.Item, query: _Query) -> bool:
    when = item.datetime or item.common_metadata.start_datetime
    return when is not None and query.start_utc <= _as_utc(when) <= query.end_utc


def _intersects(item: pystac.Item, area: shapely.Geometry) -> bool:
    if item.geometry is not None:
        return bool(shapely.geometry.shape(item.geometry).intersects(area))
    return item.bbox is not None and bool(shapely.box(*_bbox_2d(item.bbox)).intersects(area))


def _cloud_cover_ok(item: pystac.Item, query: _Query) -> bool:
    if query.max_cloud_cover is None:
        return True
    cover = _cloud_cover(item.properties)
    return cover is not None and cover <= query.max_cloud_cover


# --- item fields -----------------------------------------------------------------------------


def _acquired_utc(item: pystac.Item) -> dt.datetime:
    when = item.datetime or item.common_metadata.start_datetime
    if when is None:
        raise SourceError(f"STAC item {item.id} has no datetime; fix the item or the source")
    return _as_utc(when)


def _available_utc(properties: Mapping[str, Any], acquired: dt.datetime) -> dt.datetime:
    """``published``, else ``created``, else the default delay after acquisition.

    A time before the acquisition says nothing about availability (a copy or reprocessing may
    keep an older ``created``), so it is passed over like a missing one: taking it would let a
    feature use the scene before it existed.
    """
    for key in ("published", "created"):
        value = properties.get(key)
        if value:
            when = _as_utc(pystac.utils.str_to_datetime(str(value)))
            if when >= acquired:
                return when
    return acquired + DEFAULT_AVAILABILITY_DELAY


def _boa_offset(item: pystac.Item, baseline: object, rule: BoaOffsetRule | None) -> float:
    if rule is None:
        return 0.0
    applied = item.properties.get("earthsearch:boa_offset_applied") is True
    if rule == "earthsearch-flag" and applied:
        return 0.0
    if baseline is None:
        raise SourceError(
            f"STAC item {item.id} has neither s2:processing_baseline nor "
            "earthsearch:boa_offset_applied, so its BOA offset is unknown; set "
            "sources.stac.default_processing_baseline for this source"
        )
    try:
        return boa_offset_dn(str(baseline))
    except DataError as error:
        raise SourceError(f"STAC item {item.id}: {error}") from error


def _cloud_cover(properties: Mapping[str, Any]) -> float | None:
    value = properties.get("eo:cloud_cover")
    return None if value is None else float(value)


def _asset_hrefs(item: pystac.Item, asset_keys: Mapping[str, str]) -> dict[str, str]:
    """Logical band → absolute href of the assets the item has."""
    return {
        band: item.assets[key].get_absolute_href() or item.assets[key].href
        for band, key in asset_keys.items()
        if key in item.assets
    }


def _missing_asset_error(item: pystac.Item, band: str, key: str) -> SourceError:
    return SourceError(
        f"STAC item {item.id} has no asset {key!r} (band {band!r}); it has "
        f"{sorted(item.assets)}; fix sources.stac.asset_keys for this source"
    )


def _require_every_asset_somewhere(
    scenes: Sequence[SceneRef], items: Sequence[pystac.Item], asset_keys: Mapping[str, str]
) -> None:
    """An asset key that no item has is a wrong ``asset_keys``, not a bad item."""
    for band, key in asset_keys.items():
        if scenes and all(band in scene.missing_assets for scene in scenes):
            raise _missing_asset_error(items[0], band, key)


def _item_crs(item: pystac.Item, asset_keys: Mapping[str, str]) -> str:
    assets = [item.assets[key] for key in asset_keys.values() if key in item.assets]
    candidates = [item.properties, *(asset.extra_fields for asset in assets)]
    for fields in candidates:
        if fields.get("proj:code"):
            return str(fields["proj:code"])
        if fields.get("proj:epsg"):
            return f"EPSG:{int(fields['proj:epsg'])}"
    raise SourceError(
        f"STAC item {item.id} has no proj:code or proj:epsg (on the item or its assets); "
        "the source must use the projection extension"
    )


def _centre_longitude(item: pystac.Item) -> float:
    if item.bbox is not None:
        west, _, east, _ = _bbox_2d(item.bbox)
    elif item.geometry is not None:
        west, _, east, _ = shapely.geometry.shape(item.geometry).bounds
    else:
        return 0.0
    if west > east:  # crosses the antimeridian
        east += 360.0
    return math.remainder((west + east) / 2.0, 360.0)


# --- asset hrefs ----------------------------------------------------------------------------


def _catalog_dir(source: str) -> Path:
    return Path(source.removeprefix("file://")).resolve().parent


def _require_safe_hrefs(
    item_id: str,
    hrefs: Mapping[str, str],
    source: str,
    *,
    remote: bool,
    catalog_dir: Path | None,
) -> None:
    """Refuse hrefs that would make GDAL open something the source has no business pointing at:
    local files (or GDAL virtual file systems) from a remote source, files outside a local
    catalog's folder."""
    for band, href in hrefs.items():
        problem = _href_problem(href, remote=remote, catalog_dir=catalog_dir)
        if problem:
            raise SourceError(
                f"STAC item {item_id} of {source}: asset of band {band!r} has href "
                f"{href!r}, {problem}"
            )


def _href_problem(href: str, *, remote: bool, catalog_dir: Path | None) -> str | None:
    scheme = urlparse(href).scheme.lower()
    if scheme in {"http", "https"} and urlparse(href).netloc:
        return None
    if href.lstrip("/").lower().startswith("vsi"):
        return "a GDAL /vsi… path; STAC assets must be plain URLs or files: fix the item"
    if remote:
        return (
            "which is not an http(s) URL; items of a remote STAC source are never read from "
            "local files: fix the item or use another source"
        )
    if scheme not in {"", "file"} and len(scheme) > 1:  # one letter: a Windows drive
        return f"a {scheme}:// URL; only http(s) URLs and files under the catalog are read"
    path = Path(href.removeprefix("file://")).resolve()  # symlinks and ".." followed
    if catalog_dir is not None and not path.is_relative_to(catalog_dir):
        return (
            f"a file outside the catalog folder {catalog_dir}; a static catalog may only "
            "reference its own files: move the assets under it, or allow hrefs outside the "
            "catalog (sources.stac.allow_hrefs_outside_catalog) if you trust it"
        )
    return None


# --- small things ----------------------------------------------------------------------------


def _bbox_2d(bbox: Sequence[float]) -> tuple[float, float, float, float]:
    """(west, south, east, north) of a 2D or 3D STAC bbox."""
    half = len(bbox) // 2
    return (bbox[0], bbox[1], bbox[half], bbox[half + 1])


def _sorted_unique(scenes: Sequence[SceneRef]) -> list[SceneRef]:
    unique = {(s.collection, s.item_id): s for s in scenes}
    return sorted(unique.values(), key=lambda s: (s.acquired_utc, s.item_id))


def _as_utc(when: dt.datetime) -> dt.datetime:
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def _rfc3339(when: dt.datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
