"""Pest damage in the imagery: heavy infestation burns visible patches, light leaves no trace."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from affine import Affine

from pestcast.features.indices import ndre
from pestcast.features.reflectance import boa_offset_dn, dn_to_reflectance
from pestcast.features.zonal import parcel_pixel_labels, zonal_statistics
from pestcast.simulator import DemoWorld
from pestcast.simulator.clouds import CloudPlan
from pestcast.simulator.epidemic import BURN_RATE, PestOutcome, burnt_share
from pestcast.simulator.imagery import RenderContext, SceneSpec, render_context, render_scene
from pestcast.simulator.surface import FieldConditions, scene_surface

CLEAR = CloudPlan(
    cloud_fraction=0.0,
    cirrus_fraction=0.0,
    blob_scale_px=8.0,
    shadow_offset_px=(0, 0),
    swath_edge=None,
    haze=0.0,
)
BASELINE = "05.09"
HEADING_DAY = 65
"""Every field is 65 days after sowing: full canopy, before it yellows."""


def _outcome(severity: npt.NDArray[np.int8]) -> PestOutcome:
    return PestOutcome(
        severity=severity,
        hazard_rate=np.zeros(severity.shape, dtype=np.float32),
        sprayed=np.zeros(severity.shape, dtype=bool),
    )


def _history(n_parcels: int, classes: list[tuple[int, int]]) -> npt.NDArray[np.int8]:
    """(day, parcel) severity: ``(class, days)`` runs, the same for every parcel."""
    days = np.concatenate([np.full(length, level, dtype=np.int8) for level, length in classes])
    return np.repeat(days[:, None], n_parcels, axis=1)


def _last_day_share(severity: npt.NDArray[np.int8]) -> npt.NDArray[np.float32]:
    """Burnt share after the history, BPH alone, in crop since well before it."""
    since_sowing = np.arange(len(severity), dtype=np.int16)[:, None] + 30
    outcomes = {"bph": _outcome(severity), "blast": _outcome(np.zeros_like(severity))}
    share = burnt_share(outcomes, np.broadcast_to(since_sowing, severity.shape))
    return np.asarray(share[-1], dtype=np.float32)


def _render(
    world: DemoWorld, context: RenderContext, parcel_share: npt.NDArray[np.float32]
) -> dict[str, npt.NDArray[np.float32]]:
    """Clear-sky reflectance of every field at heading, with this burnt share on the parcels."""
    n_fields = world.layout.n_fields
    burnt = np.zeros(n_fields, dtype=np.float32)
    burnt[: world.layout.n_parcels] = parcel_share
    conditions = FieldConditions(
        days_since_sowing=np.full(n_fields, HEADING_DAY, dtype=np.int16),
        days_since_harvest=np.full(n_fields, -1, dtype=np.int16),
        days_to_sowing=np.full(n_fields, -1, dtype=np.int16),
        vigour=world.vigour,
        burnt=burnt,
        three_crops=world.calendar.three_crops,
        flood=0.0,
        soil_wetness=0.3,
    )
    spec = SceneSpec(0, "damage-test", BASELINE, scene_surface(conditions), CLEAR, (7, 7))
    scene = render_scene(context, spec)
    offset = boa_offset_dn(BASELINE)
    return {
        band: dn_to_reflectance(scene.bands[band], offset_dn=offset)
        for band in ("B04", "B05", "B08")
    }


def _parcel_stats(world: DemoWorld, bands: dict[str, npt.NDArray[np.float32]]) -> pd.DataFrame:
    """Per parcel: mean NIR (B08) and mean and std of NDRE on the pipeline's 10 m grid."""
    grid = world.layout.grid
    labels = parcel_pixel_labels(
        list(world.layout.parcels.geometry),
        transform=Affine(*grid.transform(10)),
        shape=grid.shape(10),
        inward_buffer_m=5.0,
    )
    red_edge = bands["B05"].repeat(2, axis=0).repeat(2, axis=1)
    values = {"nir": bands["B08"], "ndre": ndre(bands["B08"], red_edge)}
    stats = zonal_statistics(values, labels, np.ones(labels.shape, bool), world.layout.n_parcels)
    return stats[stats["n_valid_px"] >= 6]


@pytest.fixture(scope="module")
def context(small_world: DemoWorld, tmp_path_factory: pytest.TempPathFactory) -> RenderContext:
    return render_context(
        small_world.layout,
        tmp_path_factory.mktemp("damage") / "collection",
        np.random.default_rng(1),
        patch_rng=np.random.default_rng(2),
    )


def test_burnt_share_grows_on_heavy_days_persists_and_resets_at_sowing() -> None:
    light = _history(3, [(1, 40)])
    assert (_last_day_share(light) == 0.0).all()
    medium = _last_day_share(_history(3, [(1, 5), (2, 5)]))
    heavy = _last_day_share(_history(3, [(1, 5), (2, 5), (3, 3)]))
    np.testing.assert_allclose(medium, 1.0 - (1.0 - BURN_RATE[2]) ** 5, rtol=1e-6)
    assert (heavy > 0.3).all()
    assert (medium < 0.05).all()
    # sprayed back to none: burnt plants stay burnt until the next sowing
    sprayed = _last_day_share(_history(3, [(3, 3), (0, 20)]))
    np.testing.assert_array_equal(sprayed, _last_day_share(_history(3, [(3, 3)])))
    since_sowing = np.array([[50], [51], [0], [1]], dtype=np.int16)
    severity = np.array([[3], [3], [0], [0]], dtype=np.int8)
    outcomes = {"bph": _outcome(severity), "blast": _outcome(np.zeros_like(severity))}
    share = burnt_share(outcomes, since_sowing)[:, 0]
    assert share[1] > share[0] > 0.0
    assert share[2] == share[3] == 0.0


def test_light_infestation_leaves_the_imagery_unchanged(
    small_world: DemoWorld, context: RenderContext
) -> None:
    n_parcels = small_world.layout.n_parcels
    light = _last_day_share(_history(n_parcels, [(1, 30)]))
    healthy = _render(small_world, context, np.zeros(n_parcels, dtype=np.float32))
    infested = _render(small_world, context, light)
    for band, values in healthy.items():
        np.testing.assert_array_equal(values, infested[band], err_msg=band)


def test_heavy_damage_lowers_ndre_and_nir_and_raises_the_spread(
    small_world: DemoWorld, context: RenderContext
) -> None:
    n_parcels = small_world.layout.n_parcels
    heavy = _last_day_share(_history(n_parcels, [(1, 10), (2, 5), (3, 3)]))
    before = _parcel_stats(small_world, _render(small_world, context, np.zeros_like(heavy)))
    after = _parcel_stats(small_world, _render(small_world, context, heavy))
    assert len(before) > 100
    drop = before["ndre_mean"] - after["ndre_mean"]
    assert drop.median() > 0.08
    assert (drop > 0.03).mean() > 0.95
    assert (after["nir_mean"] < before["nir_mean"]).mean() > 0.95
    assert (after["ndre_std"] > before["ndre_std"] + 0.05).mean() > 0.9
    # patchy, not uniform: the spread within a damaged parcel is of the size of its mean drop
    assert (after["ndre_std"] / drop).median() > 0.7
