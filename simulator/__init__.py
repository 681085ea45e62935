"""The embedded demo region: a deterministic simulator of a rice area in An Giang, Viet Nam.

It writes what real sources give (parcels GeoPackage, a static STAC catalog of Sentinel-2 L2A
COGs, daily weather, pest surveys) plus the latent truth, so the pipeline reads it through the
same adapters it uses for real data. See ``docs/DESIGN.md`` ("Demo region on disk") and the
hazard model in :mod:`pestcast.simulator.epidemic`.
"""

from pestcast.simulator.settings import SIMULATOR_VERSION, DemoSettings
from pestcast.simulator.simulate import (
    MANIFEST_NAME,
    DemoWorld,
    demo_region_is_current,
    generate_demo_region,
    simulate_world,
)

__all__ = [
    "MANIFEST_NAME",
    "SIMULATOR_VERSION",
    "DemoSettings",
    "DemoWorld",
    "demo_region_is_current",
    "generate_demo_region",
    "simulate_world",
]
