"""The fetch's local cache, on a small simulated region whose COGs are served over HTTP from
127.0.0.1 (range requests, counted per file, with injected failures):

- read failures are classified from the real GDAL messages they raise; permanent ones go to
  ``failed_scenes.json`` and are skipped without a request until ``--retry-failed``;
- a run killed mid-fetch (SIGKILL, whole process group) loses only the day in flight: the
  rerun requests no file of a day already cached;
- ``--keep-pixels`` COGs hold the reflectance the statistics were computed from, with a STAC
  item that validates, and a second run reads nothing;
- blocks of days are submitted so that no more are in flight than memory allows;
- progress: a rich bar on a terminal, log lines otherwise.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pystac
import pytest
import rasterio
import yaml
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness
from pystac.extensions.projection import ProjectionExtension
from pystac.validation import validate_dict
from typer.testing import CliRunner

from pestcast.core.errors import SceneReadError
from pestcast.features.scene_stats import parcel_index_stats
from pestcast.flows import pipeline, tasks
from pestcast.flows.cli import app
from pestcast.flows.config import DEFAULT_CONFIG, PestcastConfig
from pestcast.flows.failure_ledger import (
    FailureLedger,
    classify_read_failure,
    describe_read_failure,
    unsigned_href,
)
from pestcast.flows.fetch_cache import DayCache, DayOutcome, day_outcome
from pestcast.flows.fetch_plan import day_peak_bytes, plan_fetch, run_bounded
from pestcast.flows.observations import required_bands
from pestcast.flows.pixel_cache import ITEM_FILE, SCL_FILE
from pestcast.flows.progress import LOG_EVERY_DAYS, fetch_progress, report_day
from pestcast.flows.raster_read import AnalysisGrid, read_scene, read_solar_day
from pestcast.flows.stac_search import SceneRef, group_by_solar_day, scene_from_item
from pestcast.simulator import DemoSettings, generate_demo_region

TILE = Path(__file__).resolve().parents[1] / "data" / "s2_l2a_29RKH_20200219"
PESTCAST = str(Path(sys.executable).with_name("pestcast"))
REGION = DemoSettings(
    seed=5, n_parcels=12, start=dt.date(2024, 1, 1), end=dt.date(2024, 3, 31), survey_fraction=0.5
)
"""19 solar days over a small window: more than one block of 16 days."""
FAST_FAIL = {"GDAL_HTTP_MAX_RETRY": 0, "GDAL_HTTP_TIMEOUT": 5}


# --- a file server with failures, gates and per-file request counts -------------------------


class FileServer:
    """Serves a folder on 127.0.0.1 with range requests; counts requests per file.

    ``answers[path]`` replaces a file by an HTTP status or other bytes; ``"blocks-503"`` serves
    the header (first 16 KiB) and answers 503 to ranges beyond. A request for a path starting
    with ``gate_prefix`` sets ``gate_hit`` and waits until ``gate_open`` is set.
    """

    def __init__(self, root: Path, port: int = 0) -> None:
        self.root = root.resolve()
        self.requests: Counter[str] = Counter()
        self.answers: dict[str, int | bytes | str] = {}
        self.gate_prefix: str | None = None
        self.gate_hit, self.gate_open = threading.Event(), threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _FileHandler)
        self._server.daemon_threads = True
        self._server.files = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def requested(self, prefix: str) -> int:
        return sum(n for path, n in self.requests.items() if path.startswith(prefix))

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.gate_open.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _FileHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._send(head=False)

    def do_HEAD(self) -> None:
        self._send(head=True)

    def _send(self, *, head: bool) -> None:
        files: FileServer = self.server.files  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        files.requests[path] += 1
        if files.gate_prefix is not None and path.startswith(files.gate_prefix):
            files.gate_hit.set()
            files.gate_open.wait(timeout=120)
        answer = files.answers.get(path)
        if isinstance(answer, int):
            self.send_error(answer)
            return
        local = (files.root / path.lstrip("/")).resolve()
        if isinstance(answer, bytes):
            data = answer
        elif local.is_relative_to(files.root) and local.is_file():
            data = local.read_bytes()
        else:
            self.send_error(404)
            return
        first, last = _byte_range(self.headers.get("Range", ""), len(data))
        if first >= len(data):
            self.send_error(416)
            return
        if answer == "blocks-503" and first >= 16384:
            self.send_error(503)
            return
        try:
            self.send_response(206 if "Range" in self.headers else 200)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(last - first + 1))
            if "Range" in self.headers:
                self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
            self.end_headers()
            if not head:
                self.wfile.write(data[first : last + 1])
        except (BrokenPipeError, ConnectionResetError):
            pass  # a killed reader

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def _byte_range(header: str, size: int) -> tuple[int, int]:
    if not header.startswith("bytes="):
        return 0, size - 1
    start, _, end = header.removeprefix("bytes=").partition("-")
    return int(start), min(int(end) if end else size - 1, size - 1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- the simulated region, its catalog over HTTP, configs -----------------------------------


@dataclasses.dataclass(frozen=True)
class Region:
    data: Path
    """The simulated region (parcels, weather, surveys, ``stac/``)."""
    items: list[str]
    """Item ids, in day order (one item per solar day)."""

    @property
    def stac(self) -> Path:
        return self.data / "stac"

    def item_path(self, index: int) -> str:
        """URL path of the folder of the ``index``-th day's item."""
        return f"/sentinel-2-l2a/{self.items[index]}/"


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Region:
    data = tmp_path_factory.mktemp("fetch-cache-region")
    generate_demo_region(data, REGION, max_workers=1, sentinel1=False)
    items = sorted(
        (json.loads(p.read_text()) for p in (data / "stac" / "sentinel-2-l2a").glob("*/*.json")),
        key=lambda item: item["properties"]["datetime"],
    )
    return Region(data, [item["id"] for item in items])


def http_catalog(
    region: Region, target: Path, base: str, *, moved: dict[int, str] | None = None
) -> Path:
    """A copy of the region's static catalog whose assets are URLs under ``base`` (those of the
    days in ``moved`` under another base URL); returns the path of its catalog.json."""
    for source in region.stac.rglob("*.json"):
        destination = target / source.relative_to(region.stac)
        destination.parent.mkdir(parents=True, exist_ok=True)
        document = json.loads(source.read_text())
        if document.get("type") == "Feature":
            root = (moved or {}).get(region.items.index(document["id"]), base)
            for asset in document["assets"].values():
                if asset["href"].endswith(".tif"):
                    name = asset["href"].removeprefix("./")
                    asset["href"] = f"{root}/sentinel-2-l2a/{document['id']}/{name}"
        destination.write_text(json.dumps(document))
    return target / "catalog.json"


def config_for(region: Region, catalog: Path, root: Path, **imagery: Any) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["region"]["name"] = "cache"
    sources = raw["sources"]
    for optional in ("light_traps", "weather_forecasts", "sentinel1", "feedback"):
        sources.pop(optional, None)
    sources["stac"]["url"] = str(catalog)
    for name, file in (
        ("parcels", "parcels.gpkg"),
        ("weather", "weather.parquet"),
        ("surveys", "surveys.parquet"),
    ):
        sources[name]["path"] = str(region.data / file)
    raw["imagery"].update(start=str(REGION.start), end=str(REGION.end), **imagery)
    raw["paths"] = {
        "work_dir": str(root / "work"),
        "output_dir": str(root / "out"),
        "model_registry": str(root / "registry"),
    }
    return raw


def load_config(raw: dict[str, Any]) -> PestcastConfig:
    return PestcastConfig.model_validate(raw)


@pytest.fixture(scope="module")
def harness() -> Iterator[str]:
    """A Prefect test server for the module; yields its API URL (for subprocesses)."""
    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())


# --- classification of real GDAL failures ---------------------------------------------------


def _tile_scene(hrefs: dict[str, str], **changes: Any) -> SceneRef:
    item = pystac.Item.from_dict(json.loads((TILE / "S2A_29RKH_20200219_0_L2A.json").read_text()))
    item.clear_links()
    for key in ("red", "scl"):
        item.assets[key].href = str(TILE / Path(item.assets[key].href).name)
    scene = scene_from_item(item, asset_keys={"red": "red", "scl": "scl"})
    return dataclasses.replace(scene, asset_hrefs={**scene.asset_hrefs, **hrefs}, **changes)


def _tile_grid() -> AnalysisGrid:
    with rasterio.open(TILE / "B04.tif") as source:
        return AnalysisGrid(crs="EPSG:32629", transform=source.transform, shape=source.shape)


@pytest.fixture(scope="module")
def broken_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FileServer]:
    folder = tmp_path_factory.mktemp("broken")
    data = (TILE / "B04.tif").read_bytes()
    (folder / "B04.tif").write_bytes(data)
    (folder / "truncated.tif").write_bytes(data[: len(data) // 2])
    corrupt = bytearray(data)
    for i in range(len(data) // 2, len(data) - 100, 7):
        corrupt[i] ^= 0x5A
    (folder / "corrupt.tif").write_bytes(bytes(corrupt))
    with FileServer(folder) as server:
        server.answers |= {
            "/gone.tif": 410,
            "/forbidden.tif": 403,
            "/busy.tif": 503,
            "/page.tif": b"<html><body>Service notice</body></html>",
            "/B04.tif": "blocks-503",
        }
        yield server


FAILURES = [
    # (case, href of the red band: "<url>" for the server, "<dir>" for the local folder)
    ("http 404", "<url>/missing.tif", True, "HTTP 404"),
    ("http 410", "<url>/gone.tif", True, "HTTP 410"),
    ("http 403", "<url>/forbidden.tif", True, "HTTP 403"),
    ("http 503", "<url>/busy.tif", False, "HTTP 503"),
    ("http 503 after the header", "<url>/B04.tif", False, "no bytes arrived"),
    ("html page", "<url>/page.tif", True, "not a GeoTIFF"),
    ("truncated over http", "<url>/truncated.tif", True, "corrupt or truncated"),
    ("truncated file", "<dir>/truncated.tif", True, "corrupt or truncated"),
    ("corrupt file", "<dir>/corrupt.tif", True, "corrupt or truncated"),
    ("missing file", "<dir>/nothing-here.tif", True, "file not found"),
    ("connection refused", "http://127.0.0.1:<closed>/B04.tif", False, "network error"),
]


@pytest.mark.parametrize(
    ("href", "permanent", "cause"), [case[1:] for case in FAILURES], ids=[c[0] for c in FAILURES]
)
def test_read_failures_are_classified_from_gdal_messages(
    broken_files: FileServer, href: str, permanent: bool, cause: str
) -> None:
    red = (
        href.replace("<url>", broken_files.url)
        .replace("<dir>", str(broken_files.root))
        .replace("<closed>", str(_free_port()))
    )
    scene = _tile_scene({"red": red})
    with pytest.raises(SceneReadError) as raised:
        read_scene(scene, _tile_grid(), bands=["red"], gdal_options=FAST_FAIL)
    failed = describe_read_failure(raised.value, [scene])
    assert failed.failure.permanent is permanent, raised.value
    assert cause in failed.failure.cause
    assert (failed.asset, failed.href, failed.items) == ("red", red, (scene.item_id,))


def test_an_asset_missing_from_the_item_is_permanent() -> None:
    scene = _tile_scene({}, missing_assets={"nir": "B08"})
    with pytest.raises(SceneReadError) as raised:
        read_scene(scene, _tile_grid(), bands=["red", "nir"])
    failed = describe_read_failure(raised.value, [scene])
    assert failed.failure == classify_read_failure(str(raised.value), remote=False)
    assert failed.failure.permanent
    assert failed.failure.cause == "asset missing from the STAC item"
    assert failed.asset == "nir"


def test_network_words_win_over_corruption_words_and_unknown_is_transient() -> None:
    """GDAL words a block lost to HTTP 503 like a truncated file; locally it is truncation."""
    lost_block = "TIFFFillTile:Read error at row 4294967295, col 4294967295, tile 0; got 0 bytes"
    assert not classify_read_failure(lost_block, remote=True).permanent
    assert classify_read_failure(lost_block, remote=False).permanent
    assert not classify_read_failure(
        "IReadBlock failed | HTTP response code: 502", remote=True
    ).permanent
    assert classify_read_failure("something new", remote=True).cause == "unrecognised read error"
    cached_failure = "'/vsicurl/http://h/x.tif' does not exist in the file system, and is not"
    assert not classify_read_failure(cached_failure, remote=True).permanent


def test_the_ledger_keeps_unsigned_hrefs_and_survives_a_corrupt_file(tmp_path: Path) -> None:
    signed = "https://x.blob.core.windows.net/c/B04.tif?st=2026&se=2026&sp=rl&sig=SECRET%3D&v=2"
    assert unsigned_href(signed) == "https://x.blob.core.windows.net/c/B04.tif?v=2"
    path = tmp_path / "failed_scenes.json"
    path.write_text("{ not json")
    ledger = FailureLedger.load(path)
    assert ledger.entries == {}
    assert (tmp_path / "failed_scenes.json.corrupt").exists()


# --- the fetch flow: ledger, retry, second runs -----------------------------------------------


def _fetch(raw: dict[str, Any], **options: Any) -> dict[str, Any]:
    summary: dict[str, Any] = pipeline.fetch_flow(load_config(raw), **options)
    return summary


def test_permanent_failures_are_recorded_skipped_and_retried_on_request(
    harness: str, region: Region, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    late = f"http://127.0.0.1:{_free_port()}"  # refuses connections until the second run
    # GDAL remembers a failed URL for the life of the process; a new run is a new process.
    monkeypatch.setenv("CPL_VSIL_CURL_NON_CACHED", f"/vsicurl/{late}/")
    with FileServer(region.stac) as files:
        catalog = http_catalog(region, tmp_path / "stac", files.url, moved={6: late})
        raw = config_for(region, catalog, tmp_path)
        files.answers[region.item_path(2) + "B04.tif"] = 404
        files.answers[region.item_path(4) + "B08.tif"] = b"<html>maintenance</html>"
        first = _fetch(raw)

        ledger = json.loads((tmp_path / "work" / "failed_scenes.json").read_text())
        entries = {entry["items"][0]: entry for entry in ledger["scenes"]}
        assert set(entries) == {region.items[2], region.items[4]}  # not the refused day 6
        assert entries[region.items[2]]["reason"] == "HTTP 404: the file is not there"
        assert entries[region.items[2]]["asset"] == "red"
        assert entries[region.items[2]]["href"].endswith(f"{region.items[2]}/B04.tif")
        assert entries[region.items[4]]["reason"] == "not a GeoTIFF"
        assert entries[region.items[4]]["attempts"] == 1
        assert first["solar_days_unreadable"] == 2
        assert first["solar_days_read"] == len(region.items) - 3
        assert first["bytes_read"] > 0
        assert first["bytes_per_scene"] > 0

        # Second run: day 6's server answers now; the recorded days are not requested.
        files.requests.clear()
        with FileServer(region.stac, port=int(late.rsplit(":", 1)[1])) as answering:
            second = _fetch(raw)
        assert files.requested("/") == 0  # the recorded days skipped, the others cached
        assert answering.requested(region.item_path(6)) > 0  # the transient one, tried again
        assert second["scenes_read_from_cache"] == len(region.items) - 3
        assert second["solar_days_read"] == 1
        recorded = [reason for reason in second["scenes_skipped"] if "recorded" in reason]
        assert sum(second["scenes_skipped"][reason] for reason in recorded) == 2
        log = json.loads((tmp_path / "work" / "scenes.json").read_text())
        assert sum(entry["recorded"] for entry in log) == 2

        # --retry-failed with the files repaired: both days read, the ledger is gone.
        files.answers.clear()
        files.requests.clear()
        third = _fetch(raw, retry_failed=True)
        assert files.requested(region.item_path(2)) > 0
        assert files.requested(region.item_path(4)) > 0
        assert third["solar_days_read"] == 2
        assert third["solar_days_unreadable"] == 0
        assert not (tmp_path / "work" / "failed_scenes.json").exists()


def test_kept_pixels_hold_the_statistics_reflectance_and_a_valid_stac_item(
    harness: str, region: Region, tmp_path: Path
) -> None:
    with FileServer(region.stac) as files:
        raw = config_for(region, http_catalog(region, tmp_path / "stac", files.url), tmp_path)
        first = _fetch(raw, keep_pixels=True)
        files.requests.clear()
        again = _fetch(raw, keep_pixels=True)
        assert files.requested("/") == 0
        assert again["bytes_read"] == 0
        assert again["scenes_read_from_cache"] == len(region.items)
        config = load_config(raw)
        days, raster, parcels = _scenes_and_labels(config)
        expected = read_solar_day(
            days[3], raster.grid, bands=required_bands(config.imagery.indices)
        )
    assert first["solar_days_read"] == len(region.items)
    folder = tmp_path / "work" / "pixels" / days[3][0].solar_day.isoformat()
    kept = _kept_reflectance(folder, list(expected.reflectance))
    with rasterio.open(folder / SCL_FILE) as scl:
        np.testing.assert_array_equal(scl.read(1), expected.scl)
    for band, values in expected.reflectance.items():
        np.testing.assert_array_equal(np.isnan(kept[band]), np.isnan(values))
        np.testing.assert_allclose(kept[band], values, atol=0.5e-4, equal_nan=True)
    recomputed = parcel_index_stats(
        {band: values.astype(np.float32) for band, values in kept.items()},
        expected.scl,
        raster.labels,
        n_parcels=len(parcels),
        indices=config.imagery.indices,
        mask_classes=config.imagery.scl_mask_classes,
    )
    cached = pd.read_parquet(next((tmp_path / "work" / "observations").glob(f"{folder.name}_*")))
    np.testing.assert_array_equal(recomputed["n_valid_px"], cached["n_valid_px"])
    np.testing.assert_allclose(recomputed["ndvi_mean"], cached["ndvi_mean"], rtol=1e-5)
    _check_item(folder, days[3][0], raster.grid)


@flow
def _scenes_and_labels(
    config: PestcastConfig,
) -> tuple[list[list[SceneRef]], tasks.ParcelRaster, Any]:
    parcels = tasks.load_parcels(config)
    days = group_by_solar_day(tasks.find_scenes(config, parcels))
    return days, tasks.parcel_labels(parcels, config), parcels


def _kept_reflectance(folder: Path, bands: Sequence[str]) -> dict[str, np.ndarray]:
    kept = {}
    for band in bands:
        with rasterio.open(folder / f"{band}.tif") as source:
            assert source.profile["compress"] == "zstd"
            assert source.nodata == 0
            dn = source.read(1)
            scale, offset = source.scales[0], source.offsets[0]
            assert source.tags(1)["scale_factor"] == repr(scale)
        kept[band] = np.where(dn == 0, np.nan, dn * scale + offset)
    return kept


def _check_item(folder: Path, scene: SceneRef, grid: AnalysisGrid) -> None:
    document = json.loads((folder / ITEM_FILE).read_text())
    validate_dict(document, extensions=[])  # core schema; extension schemas need the network
    item = pystac.Item.from_dict(document)
    projection = ProjectionExtension.ext(item)
    assert projection.code == grid.crs
    assert projection.shape == list(grid.shape)
    assert projection.transform == list(grid.transform)[:6]
    assert item.properties["pestcast:boa_offset_dn"] == scene.boa_offset_dn
    assert item.properties["s2:processing_baseline"] == scene.processing_baseline
    (source,) = item.properties["pestcast:sources"]
    assert source["id"] == scene.item_id
    assert source["assets"]["red"] == scene.asset_hrefs["red"]
    red = item.assets["red"].extra_fields["raster:bands"][0]
    assert (red["scale"], red["offset"]) == (1e-4, scene.boa_offset_dn / 1e4)


# --- memory-bounded concurrency -----------------------------------------------------------------


def test_the_day_estimate_grows_with_grid_parcels_bands_and_kept_pixels() -> None:
    labels = np.zeros((2048, 1000), np.int32)
    labels[100:300, :] = 1
    base = day_peak_bytes(labels, n_bands=7)
    assert day_peak_bytes(labels, n_bands=8) > base
    assert day_peak_bytes(labels, n_bands=7, keep_pixels=True) > base
    assert day_peak_bytes(np.vstack([labels, np.zeros_like(labels)]), n_bands=7) > base
    fuller = labels.copy()
    fuller[300:600, :] = 2
    assert day_peak_bytes(fuller, n_bands=7) > base
    plan = plan_fetch(40, day_bytes=base, budget_bytes=3 * base, max_in_flight=8)
    assert (plan.days_in_flight, plan.days_per_task) == (3, 14)
    assert plan_fetch(40, day_bytes=base, budget_bytes=1).days_in_flight == 1
    assert [len(b) for b in plan_fetch(40, base, 1).blocks(list(range(40)))] == [16, 16, 8]


_ACTIVE = {"now": 0, "most": 0}
_ACTIVE_LOCK = threading.Lock()
_BARRIER: list[threading.Barrier] = []


@task(cache_policy=NO_CACHE)
def _counted(block: int) -> int:
    with _ACTIVE_LOCK:
        _ACTIVE["now"] += 1
        _ACTIVE["most"] = max(_ACTIVE["most"], _ACTIVE["now"])
    if _BARRIER:
        _BARRIER[0].wait(timeout=30)  # two in flight meet here, one alone would time out
    with _ACTIVE_LOCK:
        _ACTIVE["now"] -= 1
    return block


@flow
def _bounded(n_blocks: int, limit: int) -> list[int]:
    return list(
        run_bounded(
            range(n_blocks),
            _counted.submit,
            limit=limit,
            wait_first=lambda futures: next(as_completed(futures)),
        )
    )


def test_run_bounded_keeps_at_most_limit_blocks_in_flight(harness: str) -> None:
    _ACTIVE.update(now=0, most=0)
    assert sorted(_bounded(5, limit=1)) == [0, 1, 2, 3, 4]
    assert _ACTIVE["most"] == 1
    _ACTIVE.update(now=0, most=0)
    _BARRIER.append(threading.Barrier(2))
    try:
        assert sorted(_bounded(4, limit=2)) == [0, 1, 2, 3]
    finally:
        _BARRIER.clear()
    assert _ACTIVE["most"] == 2


def test_a_tiny_memory_budget_reads_one_block_at_a_time(
    harness: str, region: Region, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    active, most, blocks = [0], [0], []
    lock = threading.Lock()
    original = tasks.observe_scene_block

    @task(cache_policy=NO_CACHE)
    def counting_block(
        days: Sequence[Sequence[SceneRef]],
        raster: tasks.ParcelRaster,
        cache: DayCache,
        *,
        on_read_error: str,
        progress: str | None = None,
    ) -> list[DayOutcome]:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
            blocks.append(len(days))
        try:
            return original.fn(days, raster, cache, on_read_error=on_read_error, progress=progress)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(pipeline, "observe_scene_block", counting_block)
    raw = config_for(region, region.stac / "catalog.json", tmp_path, max_memory_gb=1e-6)
    summary = _fetch(raw)
    assert summary["memory_plan"]["days_in_flight"] == 1
    assert blocks == [16, len(region.items) - 16]
    assert most[0] == 1
    assert summary["solar_days_read"] == len(region.items)


# --- resume after a kill ------------------------------------------------------------------------


def test_a_killed_fetch_resumes_reading_only_the_missing_days(
    harness: str, region: Region, tmp_path: Path
) -> None:
    with FileServer(region.stac) as files:
        raw = config_for(
            region, http_catalog(region, tmp_path / "stac", files.url), tmp_path, max_memory_gb=1e-6
        )
        config_file = tmp_path / "cache.yaml"
        config_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
        files.gate_prefix = region.item_path(5)  # one block, days in order: 0–4 done by then
        output = tmp_path / "fetch.out"
        with output.open("w") as log:
            child = subprocess.Popen(
                [PESTCAST, "fetch", "--config", str(config_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ | {"PREFECT_API_URL": harness},
                start_new_session=True,
            )
        try:
            reached = files.gate_hit.wait(timeout=180)
        finally:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=60)
        assert reached, f"the fetch never reached the sixth day:\n{output.read_text()}"
        cached = sorted(p.name[:10] for p in (tmp_path / "work" / "observations").glob("*.parquet"))
        assert len(cached) == 5

        files.gate_prefix = None
        files.gate_open.set()
        files.requests.clear()
        summary = _fetch(raw)
    assert summary["scenes_read_from_cache"] == 5
    assert summary["solar_days_read"] == len(region.items) - 5
    for index in range(5):
        assert files.requested(region.item_path(index)) == 0, index
    assert files.requested(region.item_path(5)) > 0


# --- progress -----------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _outcomes(n: int) -> list[Any]:
    start = dt.datetime(2024, 1, 1, 3, tzinfo=dt.UTC)
    template = _tile_scene({})
    days = [
        dataclasses.replace(
            template, item_id=f"i{k}", solar_day=(start + dt.timedelta(days=k)).date()
        )
        for k in range(n)
    ]
    return [
        day_outcome([day], "cached") if k % 3 == 0 else day_outcome([day], "read", bytes_read=1000)
        for k, day in enumerate(days)
    ]


def test_progress_is_logged_every_few_days_off_a_terminal(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test-progress")
    outcomes = _outcomes(25)
    with (
        caplog.at_level(logging.INFO, logger="test-progress"),
        fetch_progress(25, logger=logger, stream=io.StringIO()) as progress,
    ):
        for outcome in outcomes:
            report_day(progress.channel, outcome)
            report_day(progress.channel, outcome)  # a block's result repeats its days
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 3
    assert LOG_EVERY_DAYS == 10
    assert lines[-1] == (
        "scenes processed: 25/25 solar days, 16.0 kB read, skipped 9 cached and 0 failed"
    )


def test_progress_on_a_terminal_is_a_rich_bar_in_english_and_vietnamese(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    screen = _Terminal()
    with fetch_progress(4, logger=logging.getLogger("unused"), stream=screen) as progress:
        for outcome in _outcomes(4):
            progress.day_done(outcome)
    shown = screen.getvalue()
    assert "solar days · ngày ảnh" in shown
    assert "4/4" in shown
    assert "2.0 kB" in shown
    assert "2 cached · có sẵn" in shown


def test_fetch_command_offers_keep_pixels_and_retry_failed() -> None:
    shown = CliRunner().invoke(app, ["fetch", "--help"], env={"COLUMNS": "200"}).output
    assert "--keep-pixels" in shown
    assert "--retry-failed" in shown
