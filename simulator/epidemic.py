r"""The demo region's pest hazard model: brown planthopper (``bph``) and rice blast (``blast``).

Latent state
    Each registered parcel, pest and day has a severity class: 0 none, 1 light, 2 medium,
    3 heavy. Weather (per commune) and crop calendars are exogenous: they are drawn first and do
    not react to the pests. The epidemic is then simulated day by day, vectorised over parcels,
    from 120 days before the first scene (spin-up) to 14 days after the last day.

Daily update on day *d* (in this order)
    1. Not in crop (fallow, or the harvest day itself): severity 0. No infestation in fallow.
    2. Escalation of parcels infested the day before: light → medium with daily probability
       ``r1 · s_d``, medium → heavy with ``r2 · s_d``, where ``s_d`` is the day's weather
       suitability (BPH: temperature suitability below; blast: RcT(T_night) · wetness).
    3. Onset on parcels at 0 that are in crop: none → light with probability
       :math:`\lambda_d = 1 - \exp(-\exp(\eta_d))`.
    4. The day's severity is recorded (``truth.parquet``, surveys).
    5. Farmers spray parcels at ≥ medium with daily probability 0.2 (medium) or 0.4 (heavy)
       [A]; a sprayed parcel is back to 0 at the end of the day.
    6. The share of infested neighbours is updated (used 14 days later).

Log-hazard of onset
    :math:`\eta_d = \alpha + \text{stage}(a_d) + \beta_N (N - 1) + \text{weather}_d
    + \text{immigration}_d + \beta_{nb}\, nb_{d-14} + \beta_{as}\, \text{async}_d + u`

    * ``a_d``: days since sowing. BPH stage multiplier (log taken), piecewise linear [A]:
      0 d 0.02, 15 d 0.04, 25 d 0.12, 35 d 0.3, 45 d 0.55, 55 d 0.85, **60 d 1.0**, 70 d 0.7,
      78 d 0.75, **85 d 1.0**, 92 d 0.7, 100 d 0.35, 110 d 0.2 (favourable ~20–90 days after
      sowing, nymph peaks near 60 and 85: Dyck et al. 1979, CTU). Blast: EPIRICE RcA(a − 10)
      (leaf-site age counted from emergence and establishment of direct-seeded rice) times a
      ramp from 0.05 at day 5 to 1 at day 20 (seedlings are rarely scored), plus
      0.6 · exp(−½((a − 63)/6)²) for neck blast at booting–heading [A].
    * ``N``: parcel vigour (nitrogen, ~N(1, 0.07)): denser, greener canopy favours both pests
      (IRRI; Horgan 2021). β_N = 2.5 (BPH), 3.0 (blast) [A].
    * Weather, BPH: 1.5 · log(max(S₇, 0.05)) + 0.03 · (RH_mean − 80), with S₇ the 7-day mean of
      a degree-day suitability of the daily mean temperature (0 at the 11 °C base, rising
      linearly to 1 at 28 °C, 1 up to 30 °C, 0 at 36 °C) times a heat penalty on the daily
      maximum (1 below 34 °C, linear to 0.3 at 37 °C) [A: no published degree-day model].
      Blast: 5 · log(max(RcT(T_night), 0.02)) + 0.5 · log(max(W₃, 0.1)) with EPIRICE RcT (10 °C 0,
      15 °C 0.5, 20 °C 1, 25 °C 0.6, 30 °C 0.2, 35 °C 0.05, 40 °C 0.01), T_night = tmin + 2 °C
      (infection happens during night-time leaf wetness) [A], and W₃ the 3-day mean of the
      EPIRICE wetness RcW = 1 if RH_max ≥ 90 % or rain ≥ 5 mm, else 0. Daily *maximum* RH is
      used on purpose: mean RH (77–84 %) would suppress blast in the dry season. The weights
      (5 and 0.5 [A]) make the cool winter–spring season the main blast season, as observed.
    * Immigration (BPH only): + 1.0 · exp(−½(Δ/2.5)²), Δ = days to the nearest light-trap peak;
      peaks come every 25 days (one a month, each ~5–6 days earlier than the last). The series
      is drawn once (:func:`light_trap_waves`) and shared with the light-trap counts
      (``light_traps.py``), so the traps catch the very migrations that drive the hazard.
    * ``nb_{d−14}``: share of the parcels within 400 m (centroid distance, the parcel itself
      excluded) infested 14 days earlier: winged adults and spores need time to spread.
      β_nb = 3.0 (BPH), 2.5 (blast) [A].
    * ``async_d``: standard deviation (days) of the sowing dates of the neighbours in crop within
      400 m, capped at 20: staggered sowing is a continuous food bridge. β_as = 0.04 (BPH),
      0.02 (blast) [A].
    * ``u``: per-parcel random effect, N(0, 0.35²) [A].
    * α: −5.1 (BPH), −3.0 (blast), tuned so that the surveyed infestation share comes in
      seasonal waves peaking at ~0.12–0.35 with troughs below 0.03.
    * Escalation rates r1, r2: 0.07, 0.05 per day (BPH), 0.06, 0.04 (blast) [A].

Exact forecast probabilities (``p_true``)
    Given the state at the end of day *t*, the hazards of days t+1 … t+14 are already fixed:
    they depend on neighbour states of days ≤ t, on exogenous weather and calendars and on
    parcel constants. Hence for horizon h ≤ 14:
    ``p_true(t, h)`` = P(severity ≥ light on some day in (t, t+h]) is

    * 1 if the parcel is infested on t, was not sprayed on t and is still in crop on t+1
      (severity then carries over to t+1);
    * otherwise :math:`1 - \prod_{d=t+1}^{t+h} (1 - \lambda_d)
      = 1 - \exp(-\sum_{d=t+1}^{t+h} e^{\eta_d})`, with λ_d = 0 on days out of crop.

    ``p_true`` is an **oracle ceiling**, not a forecast anyone could make: it knows the
    weather of the coming days and the latent severity of every parcel.

Canopy damage (used by the imagery)
    What Sentinel-2 (10–20 m) sees of an infestation sets how visible damage is: BPH hopperburn
    (heavy infestation, browned and collapsed patches) is classified from Sentinel-2 indices at
    kappa 0.82 (Gunawan, Reflinaldon & Yaherwandi 2021, J. Perlindungan Tanaman 5(2):107–117);
    blast infection levels per parcel up to 94 % accuracy from B03 B04 B05 B07 B08 B11 (Agriculture
    2025, 15(24):2560); early, light BPH only from UAV hyperspectral difference indices (Huang et
    al. 2025, Front. Plant Sci.). Hence heavy damage is visible at parcel level, medium faintly,
    light not at all. Damage is a **burnt share** of each parcel: the share of its area in
    patches whose canopy is dead (hopperburn; blast lesions coalescing into burnt leaves and
    whiteheads).

    * On each day in crop, the patches take a share ``BURN_RATE[s]`` of the parcel's still-green
      area, by the day's severity class *s* of each pest: 0 (none), 0 (light: nothing a 10–20 m
      pixel could see), 0.005 (medium: a small patch after a week or so, near the noise of a
      parcel mean) and 0.13 (heavy: hopperburn takes an eighth of the field on the first day
      and a third within three) [A]. Both pests burn the same remaining green area:
      ``share_d = 1 − (1 − share_{d−1}) · (1 − r_bph) · (1 − r_blast)``. The rates are set so
      that ``bench/damage_visibility.py``, which reads the imagery as the pipeline does, finds
      parcel-level ROC-AUCs (stage-matched, against parcels free of both pests) near 0.85–0.95
      for heavy, 0.55–0.7 for medium and 0.5 for light [A: no published effect sizes per unit
      density].
    * Burnt plants do not recover until harvest: the share never falls when a parcel is sprayed
      or its severity drops, and is reset at sowing. So damage follows the current and recent
      severity, and persists on parcels that were heavy and then sprayed.
    * Where the patches lie within the parcel, and their spectrum (dead canopy, partly lodged),
      is the imagery's business (``surface.py``, ``imagery.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.spatial import cKDTree

from pestcast.simulator.crop_calendar import CropState
from pestcast.simulator.weather import DailyWeather

__all__ = [
    "LAG_DAYS",
    "LIGHT_TRAP_PERIOD_DAYS",
    "NEIGHBOUR_RADIUS_M",
    "PESTS",
    "ParcelTraits",
    "PestModel",
    "PestOutcome",
    "burnt_share",
    "light_trap_waves",
    "simulate_epidemics",
]

PESTS = ("bph", "blast")
LAG_DAYS = 14
"""Neighbour infestation acts with this lag; it bounds the exact ``p_true`` horizon."""
NEIGHBOUR_RADIUS_M = 400.0
ASYNC_CAP_DAYS = 20.0
BURN_RATE = np.array([0.0, 0.0, 0.005, 0.13])
"""Daily share of a parcel's still-green area that burns, by severity class 0–3 [A]."""
LIGHT_TRAP_PERIOD_DAYS = 25.0
"""Days between BPH immigration (light-trap) peaks: one a month, each ~5–6 days earlier."""

_BPH_STAGE = (
    (0, 15, 25, 35, 45, 55, 60, 70, 78, 85, 92, 100, 110),
    (0.02, 0.04, 0.12, 0.3, 0.55, 0.85, 1.0, 0.7, 0.75, 1.0, 0.7, 0.35, 0.2),
)
_RC_AGE = (
    (0, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 85, 90, 120),
    (1, 1, .9, .8, .7, .64, .59, .53, .43, .32, .22, .16, .09, .03, .02, .02, .01, .01),
)  # fmt: skip
_RC_TEMPERATURE = ((10, 15, 20, 25, 30, 35, 40, 45), (0, 0.5, 1, 0.6, 0.2, 0.05, 0.01, 0))


@dataclass(frozen=True)
class PestModel:
    """Coefficients of one pest's hazard model (see the module docstring)."""

    name: str
    intercept: float
    vigour: float
    neighbours: float
    asynchrony: float
    escalation: tuple[float, float]
    random_effect_sd: float = 0.35


BPH = PestModel("bph", -5.1, 2.5, 3.0, 0.04, (0.07, 0.05))
BLAST = PestModel("blast", -3.0, 3.0, 2.5, 0.02, (0.06, 0.04))
SPRAY_PROBABILITY = np.array([0.0, 0.0, 0.2, 0.4])
"""Daily probability that a farmer sprays, by severity class [A]."""


BPH_WEATHER = (1.5, 0.03)
"""Weights of log temperature suitability and of (RH_mean − 80 %) in the BPH hazard."""
BLAST_WEATHER = (5.0, 0.5)
"""Weights of log RcT(T_night) and of log wetness in the blast hazard."""


@dataclass(frozen=True)
class ParcelTraits:
    """Constant properties of the registered parcels."""

    vigour: npt.NDArray[np.float64]
    """Canopy vigour / nitrogen status, ~1 (scales peak canopy cover and pest hazards)."""
    commune: npt.NDArray[np.int32]
    """Commune index of each parcel (selects its weather column)."""
    centroids: npt.NDArray[np.float64]
    """(parcel, 2) centroid coordinates, metres."""


@dataclass(frozen=True)
class PestOutcome:
    """One pest's simulated epidemic: arrays of shape (day, parcel)."""

    severity: npt.NDArray[np.int8]
    """Latent severity class 0–3 recorded on each day."""
    hazard_rate: npt.NDArray[np.float32]
    """exp(η_d) while in crop, else 0; the onset probability is 1 − exp(−rate)."""
    sprayed: npt.NDArray[np.bool_]
    """Sprayed at the end of the day (severity back to 0 the next day)."""

    def p_true(
        self, in_crop: npt.NDArray[np.bool_], days: npt.NDArray[np.int64], horizon: int
    ) -> npt.NDArray[np.float32]:
        """P(severity ≥ light on some day in (t, t + horizon]) for each t in ``days``."""
        if not 1 <= horizon <= LAG_DAYS:
            raise ValueError(f"horizon must be 1–{LAG_DAYS} days, got {horizon}")
        cumulative = np.zeros((self.hazard_rate.shape[0] + 1, self.hazard_rate.shape[1]))
        np.cumsum(self.hazard_rate, axis=0, dtype=np.float64, out=cumulative[1:])
        expected_onsets = cumulative[days + horizon + 1] - cumulative[days + 1]
        carries_over = (self.severity[days] > 0) & ~self.sprayed[days] & in_crop[days + 1]
        return np.where(carries_over, 1.0, -np.expm1(-expected_onsets)).astype(np.float32)


def simulate_epidemics(
    state: CropState,
    weather: DailyWeather,
    traits: ParcelTraits,
    rng: np.random.Generator,
    *,
    immigration: npt.NDArray[np.float64],
) -> dict[str, PestOutcome]:
    """Simulate both pests over every day of ``state`` (which must match ``weather``'s days).

    ``immigration`` is the daily BPH immigration term of :func:`light_trap_waves`, drawn by the
    caller from the start of the same ``rng`` stream (so the light traps can share it).
    """
    if immigration.shape != (weather.n_days,):
        raise ValueError(
            f"immigration must hold one value per simulated day ({weather.n_days}), "
            f"got shape {immigration.shape}"
        )
    neighbours = neighbour_matrix(traits.centroids, NEIGHBOUR_RADIUS_M)
    asynchrony = sowing_asynchrony(state.sowing_day, neighbours)
    stage_days = state.days_since_sowing.astype(np.float64)
    onset_weather, escalation_weather = _weather_terms(weather)
    outcomes = {}
    for model, stage, extra in (
        (BPH, _bph_stage(stage_days), immigration[:, None]),
        (BLAST, _blast_stage(stage_days), np.zeros((1, 1))),
    ):
        eta = (
            model.intercept
            + stage
            + model.vigour * (traits.vigour - 1.0)
            + onset_weather[model.name][:, traits.commune]
            + extra
            + model.asynchrony * asynchrony
            + rng.normal(0.0, model.random_effect_sd, len(traits.vigour))
        )
        suitability = escalation_weather[model.name][:, traits.commune]
        outcomes[model.name] = _simulate_pest(
            eta, state.in_crop, suitability, neighbours, model=model, rng=rng
        )
    return outcomes


def neighbour_matrix(centroids: npt.NDArray[np.float64], radius_m: float) -> sparse.csr_matrix:
    """Row-normalised weights of the other parcels within ``radius_m`` (rows may be empty)."""
    n = len(centroids)
    pairs = cKDTree(centroids).query_pairs(radius_m, output_type="ndarray")
    rows = np.concatenate([pairs[:, 0], pairs[:, 1]])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0]])
    adjacency = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    scale = np.divide(1.0, degree, out=np.zeros(n), where=degree > 0)
    return sparse.diags(scale) @ adjacency


def sowing_asynchrony(
    sowing_day: npt.NDArray[np.float32], neighbours: sparse.csr_matrix
) -> npt.NDArray[np.float64]:
    """(day, parcel) standard deviation of the neighbours' sowing days (those in crop), capped."""
    in_crop = ~np.isnan(sowing_day)
    values = np.where(in_crop, sowing_day, 0.0).astype(np.float64)
    binary = (neighbours > 0).astype(np.float64)
    count = (binary @ in_crop.T.astype(np.float64)).T
    total = (binary @ values.T).T
    squares = (binary @ (values**2).T).T
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        variance = squares / count - mean**2
    spread = np.sqrt(np.clip(np.nan_to_num(variance), 0.0, None))
    return np.where(count >= 2, np.minimum(spread, ASYNC_CAP_DAYS), 0.0)


def light_trap_waves(n_days: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """BPH immigration term 0–1: Gaussian pulses (σ 2.5 d) at light-trap peaks every 25 days."""
    period = LIGHT_TRAP_PERIOD_DAYS
    phase = rng.uniform(0.0, period)
    offset = (np.arange(n_days) - phase) % period
    distance = np.minimum(offset, period - offset)
    return np.asarray(np.exp(-0.5 * (distance / 2.5) ** 2), dtype=np.float64)


def _bph_stage(days: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.log(np.interp(days, *_BPH_STAGE))


def _blast_stage(days: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    leaf = np.interp(days - 10.0, *_RC_AGE) * np.interp(days, [5, 20], [0.05, 1.0])
    neck = 0.6 * np.exp(-0.5 * ((days - 63.0) / 6.0) ** 2)
    return np.log(leaf + neck)


def _rolling_mean(values: npt.NDArray[np.float64], window: int) -> npt.NDArray[np.float64]:
    """Trailing mean over ``window`` days (fewer at the start), along axis 0."""
    cumulative = np.cumsum(values, axis=0)
    shifted = np.zeros_like(cumulative)
    shifted[window:] = cumulative[:-window]
    count = np.minimum(np.arange(1, len(values) + 1), window)[:, None]
    return (cumulative - shifted) / count


def bph_temperature_suitability(weather: DailyWeather) -> npt.NDArray[np.float64]:
    """(day, commune) degree-day suitability 0–1 of the day for BPH development."""
    tmean = weather.tmean_c
    rising = np.clip((tmean - 11.0) / (28.0 - 11.0), 0.0, 1.0)
    falling = np.clip((36.0 - tmean) / (36.0 - 30.0), 0.0, 1.0)
    heat = np.clip(1.0 - 0.7 * (weather.tmax_c - 34.0) / 3.0, 0.3, 1.0)
    return np.minimum(rising, falling) * heat


def blast_infection_efficiency(weather: DailyWeather) -> npt.NDArray[np.float64]:
    """(day, commune) EPIRICE RcT(night temperature) × RcW: blast infection efficiency 0–1."""
    temperature = np.interp(weather.tmin_c + 2.0, *_RC_TEMPERATURE)
    return temperature * _wetness(weather)


def _wetness(weather: DailyWeather) -> npt.NDArray[np.float64]:
    return ((weather.rh_max_pct >= 90.0) | (weather.rain_mm >= 5.0)).astype(np.float64)


def _weather_terms(
    weather: DailyWeather,
) -> tuple[dict[str, npt.NDArray[np.float64]], dict[str, npt.NDArray[np.float64]]]:
    """Onset log-hazard terms and escalation suitabilities, each (day, commune) per pest."""
    bph_suitability = bph_temperature_suitability(weather)
    temperature, humidity = BPH_WEATHER
    bph_onset = temperature * np.log(
        np.maximum(_rolling_mean(bph_suitability, 7), 0.05)
    ) + humidity * (weather.rh_mean_pct - 80.0)
    night = np.interp(weather.tmin_c + 2.0, *_RC_TEMPERATURE)
    wet_3d = _rolling_mean(_wetness(weather), 3)
    temperature, wetness = BLAST_WEATHER
    blast_onset = temperature * np.log(np.maximum(night, 0.02)) + wetness * np.log(
        np.maximum(wet_3d, 0.1)
    )
    onset = {"bph": bph_onset, "blast": blast_onset}
    escalation = {"bph": bph_suitability, "blast": blast_infection_efficiency(weather)}
    return onset, escalation


def _simulate_pest(
    eta: npt.NDArray[np.float64],
    in_crop: npt.NDArray[np.bool_],
    suitability: npt.NDArray[np.float64],
    neighbours: sparse.csr_matrix,
    *,
    model: PestModel,
    rng: np.random.Generator,
) -> PestOutcome:
    """Day-by-day simulation of one pest over all parcels (see the module docstring)."""
    n_days, n_parcels = eta.shape
    severity = np.zeros((n_days, n_parcels), dtype=np.int8)
    rate = np.zeros((n_days, n_parcels), dtype=np.float32)
    sprayed = np.zeros((n_days, n_parcels), dtype=bool)
    infested_share = np.zeros((n_days, n_parcels))
    current = np.zeros(n_parcels, dtype=np.int8)
    for day in range(n_days):
        lagged = infested_share[day - LAG_DAYS] if day >= LAG_DAYS else 0.0
        rate[day] = np.where(in_crop[day], np.exp(eta[day] + model.neighbours * lagged), 0.0)
        current = _step(current, in_crop[day], rate[day], suitability[day], model=model, rng=rng)
        severity[day] = current
        sprayed[day] = rng.random(n_parcels) < SPRAY_PROBABILITY[current]
        current = np.where(sprayed[day], 0, current).astype(np.int8)
        infested_share[day] = neighbours @ (severity[day] > 0)
    return PestOutcome(severity=severity, hazard_rate=rate, sprayed=sprayed)


def _step(
    current: npt.NDArray[np.int8],
    in_crop: npt.NDArray[np.bool_],
    rate: npt.NDArray[np.float32],
    suitability: npt.NDArray[np.float64],
    *,
    model: PestModel,
    rng: np.random.Generator,
) -> npt.NDArray[np.int8]:
    """One day: harvest/fallow reset, escalation, then onset."""
    draws = rng.random((2, len(current)))
    escalate = np.array([0.0, model.escalation[0], model.escalation[1], 0.0])[current]
    severity = current + (draws[0] < escalate * suitability)
    onset = (current == 0) & (draws[1] < -np.expm1(-rate.astype(np.float64)))
    severity = np.where(onset, 1, severity)
    return np.where(in_crop, severity, 0).astype(np.int8)


def burnt_share(
    outcomes: dict[str, PestOutcome], days_since_sowing: npt.NDArray[np.int16]
) -> npt.NDArray[np.float32]:
    """(day, parcel) share 0–1 of the parcel's area in burnt patches, from both pests.

    The share grows by ``BURN_RATE`` of the still-green area on each day at a severity class,
    never falls (burnt plants stay burnt until harvest) and is reset at sowing.
    """
    green = np.prod([1.0 - BURN_RATE[outcome.severity] for outcome in outcomes.values()], axis=0)
    unburnt = np.ones(green.shape[1])
    result = np.zeros(green.shape, dtype=np.float32)
    for day in range(green.shape[0]):
        unburnt = np.where(days_since_sowing[day] == 0, 1.0, unburnt) * green[day]
        result[day] = 1.0 - unburnt
    return result
