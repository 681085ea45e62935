"""Simulated Sentinel-1 RTC backscatter: a ``sentinel-1-rtc`` collection beside the optical one.

Written the way Microsoft Planetary Computer serves ``sentinel-1-rtc`` (its item shape is in
``tests/data/stac/planetary_computer_s1_rtc_item.json``): per item the assets ``vv`` and ``vh``,
float32 COGs of *linear* terrain-corrected gamma naught on the scene's 10 m UTM grid, nodata
−32768, with ``sar:*`` and ``sat:*`` properties, ``datetime`` and ``created`` (when the item
became available). Items live under ``stac/sentinel-1-rtc/<item_id>/`` and are children of the
same root catalog as the Sentinel-2 scenes.

**Revisit** as the constellation over the Mekong delta: one ascending track (nominal relative
orbit ``RELATIVE_ORBIT``, ~11:05 UTC, i.e. 18:05 local, near the 18:00 ascending node of the
dawn–dusk orbit), Sentinel-1A every 12 days and Sentinel-1B half a cycle later, so 6 days
between acquisitions, until Sentinel-1B's power failure on 23 December 2021; 12 days with
Sentinel-1A alone after that, and 6 days again once Sentinel-1C data are released
(26 March 2025), flying in Sentinel-1B's slot. (Dates: ESA; as restated in Planet's Sentinel-1
GRD data page.) The phase of the 12-day cycle (``S1A_REFERENCE``) is nominal, not the real one.
Items become available 12–48 h after acquisition [A: GRD "Fast-24h" timeliness plus RTC
processing].

**Backscatter** (gamma0, dB) follows the surface model of :mod:`simulator.surface`: each land-cover
row is a mixture of endmembers whose area fractions are those of the optical scene of that day
(flooding, canopy cover, harvest residue, fallow floods, soil wetness after rain); radar power
adds linearly over a pixel, so a row's power is ``Σ fraction × endmember power`` and 5 m rows are
mixed into 10 m pixels by area. Endmembers (VV, VH dB) at C-band, 30–45° incidence [A: see the
note below the references]:

=============  =====  =====  ===================================================================
endmember      VV     VH     why
=============  =====  =====  ===================================================================
water          −21    −27    calm water is a specular reflector: dark in both, VH near the
                             noise floor; flooded and transplanted paddies are the darkest land
wet soil       −11    −19    puddled, saturated mud (high permittivity)
dry soil       −14    −21    about 3 dB less than wet soil (permittivity; Ulaby's soil curves)
green          −10    −16    grass and weeds of banks and fallow fields (low biomass)
senescent      −12    −18    straw residue and stubble after harvest
tree           −7     −13    homestead trees: volume scattering
roof           −4     −12    houses: double bounce off walls and ground
=============  =====  =====  ===================================================================

The rice canopy of a field in crop replaces the green and senescent endmembers with a canopy
whose power grows with biomass, by days since sowing ``a`` (linear interpolation of the dB
anchors ``CANOPY_VH_DB`` / ``CANOPY_VV_DB``, scaled by the field's vigour): VH rises from
−18 dB during tillering to −13.5 dB at heading (~65 days) and falls to −15.5 dB by harvest as
the plants dry; VV, dominated by the stem–water double bounce, reaches −8.5 dB by 30 days and
stays there (saturates), falling 1 dB in ripening. Mixed with the canopy cover of the optical
model (half cover at 30 days), a field's VH goes from about −22 dB at sowing (60 % water) to
−14 dB at heading, and back to about −18 dB after harvest (residue on soil): dark at flooding,
rising with the canopy to heading, dropping at harvest, the temporal signature that rice mapping
with Sentinel-1 in the Mekong delta and Asia relies on:

* Nguyen, D.B., Gruber, A., Wagner, W. (2016). Mapping rice extent and cropping scheme in the
  Mekong Delta using Sentinel-1A data. Remote Sensing Letters 7(12), 1209–1218.
* Lasko, K., Vadrevu, K.P., Tran, V.T., Justice, C. (2018). Mapping double and single crop paddy
  rice with Sentinel-1A at varying spatial scales and polarizations in Hanoi, Vietnam. IEEE
  JSTARS 11(2), 498–512: the flooding and harvest dates are the most informative in VV and VH
  (their abstract).
* Torbick, N., Chowdhury, D., Salas, W., Qi, J. (2017). Monitoring rice agriculture across
  Myanmar using time series Sentinel-1 assisted by Landsat-8 and PALSAR-2. Remote Sensing 9(2),
  119.
* Understanding dense time series of Sentinel-1 backscatter from rice fields: case study in a
  province of the Mekong Delta (CESBIO). Remote Sensing 13(5), 921 (2021); and Phung et al.
  (2020), rice age, sowing and harvest dates from Sentinel-1 over the whole delta, J. Appl.
  Remote Sens. 14(1), 014518.

Only the abstracts of these studies could be checked when this module was written: the shape
is theirs, every dB value above is an assumption [A] chosen inside the usual C-band ranges (calm
water below −20 dB VV, rice VH at most about −13 dB), to be replaced by values read off their
figures.

Pest damage is not simulated in the radar: no study gives C-band numbers for hopperburn, and an
invented link would be found by a model as if it were real.

**Speckle**: fully developed, multiplicative, gamma-distributed with mean 1 and shape = the
equivalent number of looks ``ENL`` = 4.4 of Sentinel-1 IW GRD high resolution (Sentinel-1 Product
Definition, Table 5-1, as cited by the S1-NRB documentation and ``sar:looks_equivalent_number``
of Planetary Computer's items), drawn independently per 10 m pixel and polarisation. (Real 10 m
pixels oversample the 20 × 22 m resolution cell, so neighbours are correlated; independence makes
parcel means a little less noisy than real ones.) Every scene has its own random stream.

Values are rounded to ``KEPT_MANTISSA_BITS`` = 10 significant bits (relative error ≤ 2⁻¹⁰, 0.004 dB,
far below speckle), so the COGs (DEFLATE level 1, floating-point predictor) take 45 % of the raw
size instead of 83 %.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pystac
from affine import Affine
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension
from scipy import sparse

from pestcast.simulator.geometry import CRS, RegionLayout, SceneGrid
from pestcast.simulator.imagery import cover_raster, write_cog
from pestcast.simulator.stac_catalog import footprint_of, items_extent
from pestcast.simulator.surface import (
    ENDMEMBERS,
    STATIC_COVERS,
    FieldConditions,
    field_fractions,
    static_fractions,
)

__all__ = [
    "COLLECTION_ID",
    "ENL",
    "NODATA",
    "POLARISATIONS",
    "SarContext",
    "SarScene",
    "field_backscatter",
    "plan_sar_scenes",
    "render_sar_scene",
    "row_backscatter",
    "sar_acquisitions",
    "sar_collection",
    "sar_context",
    "sar_item",
    "sar_item_id",
    "speckle",
    "write_sar_scenes",
]

COLLECTION_ID = "sentinel-1-rtc"
POLARISATIONS = ("vv", "vh")
NODATA = -32768.0
"""Nodata of Planetary Computer's RTC assets (``raster:bands`` of its collection)."""
ENL = 4.4
"""Equivalent number of looks of Sentinel-1 IW GRDH (Sentinel-1 Product Definition, Table 5-1)."""
KEPT_MANTISSA_BITS = 10
RESOLUTION_M = 10
EPSG = 32648
RELATIVE_ORBIT = 18
"""Nominal ascending track over An Giang [A]."""
ACQUISITION_TIME_UTC = dt.time(11, 5, 20)
REPEAT_DAYS = 12
S1A_REFERENCE = dt.date(2021, 1, 3)
"""A Sentinel-1A acquisition day: every 12 days from it (nominal phase)."""
S1B_FAILED = dt.date(2021, 12, 23)
"""Sentinel-1B's power failure: no Sentinel-1B data from this day on."""
S1C_DATA_FROM = dt.date(2025, 3, 26)
"""Sentinel-1C data open to users (in Sentinel-1B's orbit slot)."""
AVAILABILITY_DELAY_H = (12.0, 48.0)
SLICE_SECONDS = 25
PLATFORM_DESIGNATORS = {"SENTINEL-1A": "2014-016A", "SENTINEL-1B": "2016-025A"}

ENDMEMBER_DB = {
    "water": (-21.0, -27.0),
    "wet_soil": (-11.0, -19.0),
    "dry_soil": (-14.0, -21.0),
    "green": (-10.0, -16.0),
    "senescent": (-12.0, -18.0),
    "tree": (-7.0, -13.0),
    "roof": (-4.0, -12.0),
}
"""Endmember → (VV, VH) gamma0 in dB (see the module table)."""
CANOPY_AGE_DAYS = (0.0, 20.0, 30.0, 40.0, 65.0, 85.0, 105.0)
CANOPY_VV_DB = (-10.0, -9.0, -8.5, -8.5, -8.5, -9.0, -9.5)
CANOPY_VH_DB = (-18.0, -17.0, -16.0, -15.0, -13.5, -14.0, -15.5)
"""Rice canopy (VV, VH) gamma0 in dB at the ages ``CANOPY_AGE_DAYS`` since sowing."""

_CANOPY = [ENDMEMBERS.index("green"), ENDMEMBERS.index("senescent")]


@dataclass(frozen=True)
class SarScene:
    """One acquisition to render: when, by which satellite, over which surface."""

    index: int
    item_id: str
    platform: str
    acquired_utc: dt.datetime
    available_utc: dt.datetime
    conditions: FieldConditions
    seed: tuple[int, ...]
    """Entropy of the scene's own random generator (speckle)."""


@dataclass(frozen=True)
class SarContext:
    """What every scene shares: the grid, the 5 m → 10 m area mixer, the output folder."""

    grid: SceneGrid
    mixing: sparse.csr_matrix
    """(10 m pixel, land-cover row) area shares."""
    collection_dir: Path


def sar_acquisitions(start: dt.date, end: dt.date) -> list[tuple[dt.date, str]]:
    """(day, platform) of every acquisition from ``start`` to ``end`` (both included)."""
    first = start - dt.timedelta(days=(start - S1A_REFERENCE).days % REPEAT_DAYS)
    days = []
    day = first
    while day <= end:
        half = day + dt.timedelta(days=REPEAT_DAYS // 2)
        days.append((day, "SENTINEL-1A"))
        if half < S1B_FAILED:
            days.append((half, "SENTINEL-1B"))
        elif half >= S1C_DATA_FROM:
            days.append((half, "SENTINEL-1C"))
        day += dt.timedelta(days=REPEAT_DAYS)
    return [(d, platform) for d, platform in days if start <= d <= end]


def sar_item_id(platform: str, acquired_utc: dt.datetime, index: int) -> str:
    """Planetary Computer-style id, e.g. ``S1A_IW_GRDH_1SDV_20210704T110520_…_rtc``.

    The orbit number is Sentinel-1A's nominal count at that time (175 orbits per 12 days from
    orbit 30352 on 2019-12-15, a recorded item's), not the real one of each satellite.
    """
    end = acquired_utc + dt.timedelta(seconds=SLICE_SECONDS)
    reference = dt.datetime(2019, 12, 15, 0, 43, 39, tzinfo=dt.UTC)
    orbit = 30352 + round((acquired_utc - reference).total_seconds() / (REPEAT_DAYS * 86400) * 175)
    return (
        f"S1{platform[-1]}_IW_GRDH_1SDV_{acquired_utc:%Y%m%dT%H%M%S}_{end:%Y%m%dT%H%M%S}_"
        f"{orbit:06d}_{0x030000 + index:06X}_rtc"
    )


def _db_to_power(db: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return np.power(10.0, np.asarray(db, dtype=np.float64) / 10.0)


def endmember_power() -> npt.NDArray[np.float64]:
    """(endmember, polarisation) linear gamma0 in ``ENDMEMBERS`` order."""
    return _db_to_power([ENDMEMBER_DB[name] for name in ENDMEMBERS])


def field_backscatter(conditions: FieldConditions) -> npt.NDArray[np.float64]:
    """(field, polarisation) linear gamma0 of every field on the scene day."""
    fractions = field_fractions(conditions)
    power = fractions @ endmember_power()
    in_crop = conditions.days_since_sowing >= 0
    age = np.maximum(conditions.days_since_sowing.astype(np.float64), 0.0)
    canopy = (
        np.column_stack(
            [
                _db_to_power(np.interp(age, CANOPY_AGE_DAYS, CANOPY_VV_DB)),
                _db_to_power(np.interp(age, CANOPY_AGE_DAYS, CANOPY_VH_DB)),
            ]
        )
        * conditions.vigour[:, None]
    )
    cover = fractions[:, _CANOPY].sum(axis=1)
    weeds = fractions[:, _CANOPY] @ endmember_power()[_CANOPY]
    crop = power - weeds + cover[:, None] * canopy
    return np.where(in_crop[:, None], crop, power)


def row_backscatter(conditions: FieldConditions) -> npt.NDArray[np.float64]:
    """(land-cover row, polarisation) linear gamma0: fields, then the static covers."""
    return np.concatenate([field_backscatter(conditions), static_fractions() @ endmember_power()])


def speckle(
    mean_power: npt.NDArray[np.floating], rng: np.random.Generator, looks: float = ENL
) -> npt.NDArray[np.float32]:
    """``mean_power`` × gamma(shape ``looks``, mean 1) noise, as float32."""
    noise = rng.gamma(looks, 1.0 / looks, size=mean_power.shape)
    return np.asarray(mean_power * noise, dtype=np.float32)


def sar_context(layout: RegionLayout, collection_dir: Path) -> SarContext:
    """Rasterise the landscape at 5 m and build the 10 m area mixer (no random draw)."""
    cover = cover_raster(layout)
    factor = RESOLUTION_M // 5
    rows, cols = cover.shape
    pixel = (
        (np.arange(rows)[:, None] // factor) * (cols // factor) + np.arange(cols)[None, :] // factor
    ).ravel()
    n_rows = layout.n_fields + len(STATIC_COVERS)
    mixing = sparse.csr_matrix(
        (np.full(pixel.size, 1.0 / factor**2), (pixel, cover.ravel())),
        shape=((rows // factor) * (cols // factor), n_rows),
    )
    return SarContext(layout.grid, mixing, collection_dir)


def render_sar_scene(context: SarContext, scene: SarScene) -> dict[str, npt.NDArray[np.float32]]:
    """Linear gamma0 of each polarisation on the 10 m grid, speckled."""
    rng = np.random.default_rng(list(scene.seed))
    mean = context.mixing @ row_backscatter(scene.conditions)
    shape = context.grid.shape(RESOLUTION_M)
    return {
        name: _rounded(speckle(mean[:, k], rng).reshape(shape))
        for k, name in enumerate(POLARISATIONS)
    }


def _rounded(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``values`` rounded to ``KEPT_MANTISSA_BITS`` significant bits (round half up)."""
    drop = 23 - (KEPT_MANTISSA_BITS - 1)
    bits = values.view(np.uint32)
    rounded = (bits + np.uint32(1 << (drop - 1))) & np.uint32(~((1 << drop) - 1) & 0xFFFFFFFF)
    return rounded.view(np.float32)


def plan_sar_scenes(
    acquisitions: Sequence[tuple[dt.date, str]],
    conditions: Callable[[int, dt.date], FieldConditions],
    rng: np.random.Generator,
    pixel_seed: tuple[int, ...],
) -> list[SarScene]:
    """The scenes of ``acquisitions`` ((day, platform), see :func:`sar_acquisitions`).

    ``conditions(k, day)`` gives the surface of acquisition ``k``; ``rng`` draws the acquisition
    second and the availability delay; scene ``k`` speckles from the stream ``(*pixel_seed, k)``.
    """
    scenes = []
    for k, (day, platform) in enumerate(acquisitions):
        acquired = dt.datetime.combine(day, ACQUISITION_TIME_UTC, dt.UTC) + dt.timedelta(
            seconds=int(rng.integers(0, 20))
        )
        available = acquired + dt.timedelta(hours=float(rng.uniform(*AVAILABILITY_DELAY_H)))
        scenes.append(
            SarScene(
                index=k,
                item_id=sar_item_id(platform, acquired, k),
                platform=platform,
                acquired_utc=acquired,
                available_utc=available,
                conditions=conditions(k, day),
                seed=(*pixel_seed, k),
            )
        )
    return scenes


def write_sar_scenes(context: SarContext, scenes: Sequence[SarScene]) -> list[pystac.Item]:
    """Render and write every scene (in this process: radar scenes are cheap); their items."""
    return [write_sar_scene(context, scene) for scene in scenes]


def write_sar_scene(context: SarContext, scene: SarScene) -> pystac.Item:
    """Render one scene, write ``<item_id>/vv.tif`` and ``vh.tif`` (atomically); its item."""
    folder = context.collection_dir / scene.item_id
    folder.mkdir(parents=True, exist_ok=True)
    transform = Affine(*context.grid.transform(RESOLUTION_M))
    for name, values in render_sar_scene(context, scene).items():
        _write_band(folder / f"{name}.tif", values, transform)
    return sar_item(scene, context.grid)


def _write_band(path: Path, values: npt.NDArray[np.float32], transform: Affine) -> None:
    write_cog(
        path,
        values,
        transform,
        predictor="FLOATING_POINT",
        nodata=NODATA,
        creation={"level": 1},  # a third of the default level's time, 4 % larger
        what="demo radar band",
    )


def sar_item(scene: SarScene, grid: SceneGrid) -> pystac.Item:
    """The STAC item of one acquisition, shaped like Planetary Computer's ``sentinel-1-rtc``."""
    footprint, bbox = footprint_of(grid)
    item = pystac.Item(
        id=scene.item_id,
        geometry=footprint,
        bbox=bbox,
        datetime=scene.acquired_utc + dt.timedelta(seconds=SLICE_SECONDS / 2),
        properties=_properties(scene),
    )
    item.common_metadata.start_datetime = scene.acquired_utc
    item.common_metadata.end_datetime = scene.acquired_utc + dt.timedelta(seconds=SLICE_SECONDS)
    item.common_metadata.created = scene.available_utc
    projection = ProjectionExtension.ext(item, add_if_missing=True)
    projection.code = CRS
    projection.shape = list(grid.shape(RESOLUTION_M))
    projection.transform = list(grid.transform(RESOLUTION_M))
    item.properties["proj:epsg"] = EPSG
    RasterExtension.add_to(item)
    for name in POLARISATIONS:
        item.add_asset(name, _asset(name))
    return item


def _properties(scene: SarScene) -> dict[str, object]:
    properties: dict[str, object] = {
        "platform": scene.platform,
        "constellation": "Sentinel-1",
        "sar:frequency_band": "C",
        "sar:center_frequency": 5.405,
        "sar:observation_direction": "right",
        "sar:instrument_mode": "IW",
        "sar:polarizations": ["VV", "VH"],
        "sar:product_type": "GRD",
        "sar:resolution_range": 20,
        "sar:resolution_azimuth": 22,
        "sar:pixel_spacing_range": 10,
        "sar:pixel_spacing_azimuth": 10,
        "sar:looks_range": 5,
        "sar:looks_azimuth": 1,
        "sar:looks_equivalent_number": ENL,
        "sat:orbit_state": "ascending",
        "sat:relative_orbit": RELATIVE_ORBIT,
        "s1:product_timeliness": "Fast-24h",
    }
    if scene.platform in PLATFORM_DESIGNATORS:
        properties["sat:platform_international_designator"] = PLATFORM_DESIGNATORS[scene.platform]
    return properties


def _asset(name: str) -> pystac.Asset:
    receive = "vertical" if name == "vv" else "horizontal"
    asset = pystac.Asset(
        href=f"./{name}.tif",
        media_type=pystac.MediaType.COG,
        roles=["data"],
        title=f"{name.upper()}: vertical transmit, {receive} receive",
        description=(
            "Terrain-corrected gamma naught (linear power) of signal transmitted with vertical "
            f"polarization and received with {receive} polarization (simulated)."
        ),
    )
    RasterExtension.ext(asset).bands = [
        RasterBand.create(
            nodata=NODATA, data_type=DataType.FLOAT32, spatial_resolution=RESOLUTION_M
        )
    ]
    return asset


def sar_collection(items: Sequence[pystac.Item]) -> pystac.Collection:
    """The ``sentinel-1-rtc`` collection holding ``items``."""
    collection = pystac.Collection(
        id=COLLECTION_ID,
        description=(
            "Sentinel-1 radiometrically terrain corrected backscatter (linear gamma naught), "
            "simulated for the demo region."
        ),
        extent=items_extent(items),
        license="other",
        title="Sentinel-1 RTC (simulated)",
    )
    collection.add_items(items)
    return collection
