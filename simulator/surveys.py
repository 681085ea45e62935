"""Weekly pest surveys (QCVN 01-166 style) observed from the latent epidemic.

Each week, on a fixed weekday, a random ``survey_fraction`` of the parcels in crop is surveyed for
each pest (independent draws per pest). The observed value scatters lognormally around the
latent class's range, and the observed severity is read from the observed value, so some light
infestations are missed and a few false lights occur:

* BPH density (per m²) against the [A] reference density 3,000 /m²: none < 50 % of it
  (median 400 /m²), light 50–100 % (median 2,100), medium 100–200 % (4,250), heavy > 200 %
  (9,000); lognormal σ 0.6 for none, 0.3–0.35 otherwise [A].
* Blast incidence (% of leaves/panicles) against an [A] reference 10 %: none < 5 % (median 1 %),
  light 5–10 % (7 %), medium 10–20 % (14 %), heavy > 20 % (30 %).

The report reaches the office 1–3 days after the survey (``report_date``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["OBSERVATION_MODELS", "SEVERITY_NAMES", "ObservationModel", "simulate_surveys"]

SEVERITY_NAMES = np.array(["none", "light", "medium", "heavy"], dtype=object)


@dataclass(frozen=True)
class ObservationModel:
    """How a surveyor's measurement of one pest scatters around the latent class."""

    column: str
    """Output column holding the measurement."""
    medians: tuple[float, float, float, float]
    """Median measurement per latent class (none, light, medium, heavy)."""
    sigmas: tuple[float, float, float, float]
    """Lognormal σ per latent class."""
    thresholds: tuple[float, float, float]
    """Lower bounds of the observed light, medium and heavy classes."""
    decimals: int
    upper: float


OBSERVATION_MODELS = {
    "bph": ObservationModel(
        "density_per_m2", (400, 2100, 4250, 9000), (0.6, 0.3, 0.3, 0.35), (1500, 3000, 6000), -1,
        np.inf,
    ),
    "blast": ObservationModel(
        "incidence_pct", (1.0, 7.0, 14.0, 30.0), (0.6, 0.3, 0.3, 0.35), (5.0, 10.0, 20.0), 1,
        100.0,
    ),
}  # fmt: skip


def simulate_surveys(
    severity: dict[str, npt.NDArray[np.int8]],
    in_crop: npt.NDArray[np.bool_],
    *,
    first_day: dt.date,
    survey_days: npt.NDArray[np.int64],
    parcel_ids: list[str],
    survey_fraction: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Survey records of every pest on ``survey_days`` (day counts from ``first_day``)."""
    frames = []
    for pest, latent in severity.items():
        for day in survey_days:
            candidates = np.flatnonzero(in_crop[day])
            count = round(survey_fraction * len(candidates))
            if count == 0:
                continue
            chosen = np.sort(rng.choice(candidates, size=count, replace=False))
            frames.append(_observe(pest, latent[day, chosen], chosen, day, rng))
    table = pd.concat(frames, ignore_index=True)
    start = np.datetime64(first_day, "ns")
    for column in ("survey_date", "report_date"):
        table[column] = start + table[column].to_numpy().astype("timedelta64[D]")
    table["parcel_id"] = np.asarray(parcel_ids, dtype=object)[table.pop("parcel")]
    columns = ["parcel_id", "survey_date", "report_date", "pest", "density_per_m2"]
    return table[[*columns, "incidence_pct", "severity"]]


def _observe(
    pest: str,
    latent: npt.NDArray[np.int8],
    parcels: npt.NDArray[np.int64],
    day: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    model = OBSERVATION_MODELS[pest]
    medians = np.asarray(model.medians)[latent]
    sigmas = np.asarray(model.sigmas)[latent]
    measured = np.minimum(medians * np.exp(rng.normal(0.0, 1.0, len(latent)) * sigmas), model.upper)
    measured = np.round(measured, model.decimals)
    observed = np.searchsorted(np.asarray(model.thresholds), measured, side="right")
    other = "incidence_pct" if model.column == "density_per_m2" else "density_per_m2"
    return pd.DataFrame(
        {
            "parcel": parcels,
            "survey_date": day,
            "report_date": day + rng.integers(1, 3, size=len(latent), endpoint=True),
            "pest": pest,
            model.column: measured,
            other: np.nan,
            "severity": SEVERITY_NAMES[observed],
        }
    )
