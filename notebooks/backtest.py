# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Backtest: how the models do on seasons they never saw
#
# For data scientists retraining as survey labels arrive. Reads what `pestcast train` (or
# `pestcast backtest`) wrote: `<output_dir>/backtest/forecasts.parquet` (one row per parcel ×
# forecast date × pest × horizon, out of fold), `scores.csv` (scores with 95 % bootstrap
# intervals, dates resampled) and the model cards in the registry. Run after `make demo`; set
# `PESTCAST_CONFIG` to review another region. Figures are written to `FIGURES` (default: the
# backtest folder). Open with `jupytext --to notebook` or run it as a script.

# %%
import os
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")
import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pestcast.flows.config import load_config
from pestcast.flows.layout import RunLayout
from pestcast.flows.tables import read_parcels, read_surveys
from pestcast.models import load_risk_model, read_model_card, reliability_table, scored_rows

config = load_config(Path(os.environ.get("PESTCAST_CONFIG", "config/demo.yaml")))
layout = RunLayout.from_config(config)
figures = Path(os.environ.get("FIGURES", layout.backtest_dir))
forecasts = pd.read_parquet(layout.backtest_dir / "forecasts.parquet")
scores = pd.read_csv(layout.backtest_dir / "scores.csv")
print(f"{len(forecasts):,} out-of-fold forecasts, seasons {sorted(forecasts['season'].unique())}")

# %% [markdown]
# ## Skill pooled over every backtested season
# Model (calibrated), its raw output, and the baselines, on the same labelled rows of parcels in
# crop. `within_date_roc_auc` counts only pairs of parcels from the same week: how well the
# model ranks this week's parcels. `top10_capture`: share of infested surveyed parcels that
# were in the week's top 10 % by risk.

# %%
KEY_SCORES = ["within_date_roc_auc", "roc_auc", "pr_auc", "top10_capture", "brier"]
KEY_SCORES += ["expected_calibration_error"]
pooled = scores[(scores["season"] == "all") & scores["score"].isin(KEY_SCORES)]
pooled = pooled.assign(
    text=[
        f"{v:.3f} [{lo:.3f}–{hi:.3f}]" for v, lo, hi in pooled[["value", "low", "high"]].to_numpy()
    ]
)
skill = pooled.pivot_table(
    index=["pest", "horizon_days", "forecaster"], columns="score", values="text", aggfunc="first"
)[KEY_SCORES]
print(skill.to_string())

# %% [markdown]
# ## Skill per season, with intervals
# One season is one weather and one outbreak history: the spread across seasons is the honest
# measure of how much to trust next season's figure.

# %%
per_season = scores[(scores["season"] != "all") & (scores["score"] == "within_date_roc_auc")]
models = per_season[per_season["forecaster"].isin(["model", "persistence", "climatology"])]
combos = models[["pest", "horizon_days"]].drop_duplicates().to_numpy()
figure, axes = plt.subplots(
    len(combos), 1, figsize=(9, 2.6 * len(combos)), sharex=True, squeeze=False
)
for axis, (pest, horizon) in zip(axes[:, 0], combos, strict=True):
    rows = models[(models["pest"] == pest) & (models["horizon_days"] == horizon)]
    seasons = sorted(rows["season"].unique())
    for offset, (name, by_forecaster) in enumerate(rows.groupby("forecaster")):
        group = by_forecaster.set_index("season").reindex(seasons)
        x = np.arange(len(seasons)) + (offset - 1) * 0.2
        error = [group["value"] - group["low"], group["high"] - group["value"]]
        axis.errorbar(x, group["value"], yerr=error, fmt="o", capsize=2, label=name)
    axis.axhline(0.5, color="0.7", linestyle=":")
    axis.set_ylabel(f"{pest} h{horizon}")
    axis.set_xticks(np.arange(len(seasons)), seasons, rotation=45)
axes[0, 0].set_title("Within-date ROC-AUC per held-out season (95 % intervals)")
axes[0, 0].legend(loc="lower left", ncols=3)
figure.tight_layout()
figure.savefig(figures / "skill_per_season.png", dpi=90)
season_table = per_season.pivot_table(
    index=["pest", "horizon_days", "season"], columns="forecaster", values="value"
)
print(season_table.round(3).to_string())

# %% [markdown]
# ## Reliability: raw and calibrated, out of fold
# The calibration map of each season was fitted on the other seasons only, so the calibrated
# curve is what a new season meets.

# %%
scored = scored_rows(forecasts)
reliability = []
for (pest, horizon), rows in scored.groupby(["pest", "horizon_days"]):
    labels = rows["label"].to_numpy(dtype=float)
    for name, column in (("raw", "risk_uncalibrated"), ("calibrated", "risk")):
        for row in reliability_table(labels, rows[column].to_numpy(dtype=float)):
            reliability.append(
                {"pest": pest, "horizon_days": horizon, "risk": name, **row.model_dump()}
            )
reliability_frame = pd.DataFrame(reliability).dropna(subset=["observed_rate"])
figure, axis = plt.subplots(figsize=(5, 5))
axis.plot([0, 1], [0, 1], color="0.6", linestyle=":")
for (pest, horizon, name), rows in reliability_frame.groupby(["pest", "horizon_days", "risk"]):
    style = "-" if name == "calibrated" else "--"
    axis.plot(
        rows["mean_risk"],
        rows["observed_rate"],
        style,
        marker="o",
        label=f"{pest} h{horizon} {name}",
    )
axis.set_xlabel("forecast risk")
axis.set_ylabel("observed rate")
axis.legend(fontsize=6)
figure.savefig(figures / "reliability_all.png", dpi=90)
print(reliability_frame.groupby(["pest", "horizon_days", "risk"])["n"].sum())

# %% [markdown]
# ## How sure: the risk intervals and their coverage
# Each parcel's interval is season-conformal (see `pestcast.models.uncertainty`); coverage is
# checked by leaving each season out in turn.

# %%
for pest in config.model.pests:
    for horizon in config.model.horizons_days:
        card = read_model_card(layout.current_model, pest, horizon)
        bands = card.risk_bands
        print(
            f"{pest} h{horizon}: calibration {card.calibration.method}, nominal "
            f"{bands.level:.0%}, leave-one-season-out coverage "
            f"{'n/a' if bands.coverage is None else f'{bands.coverage:.0%}'}, "
            f"half-widths {[round(h, 3) for h in bands.half_widths]}"
        )

# %% [markdown]
# ## What the model leans on: mean |SHAP| per feature
# LightGBM's TreeSHAP contributions (log-odds) on the latest forecast date's parcels.

# %%
features = pd.read_parquet(layout.feature_table)
week = features[features["forecast_date"] == features["forecast_date"].max()]
shap_rows = {}
for pest in config.model.pests:
    horizon = min(config.model.horizons_days)
    model = load_risk_model(layout.current_model, pest, horizon)
    matrix = week[list(model.spec.features)].to_numpy(dtype=float, na_value=np.nan)
    contributions = model.booster.predict(matrix, pred_contrib=True)[:, :-1]
    shap_rows[f"{pest} h{horizon}"] = pd.Series(
        np.abs(contributions).mean(axis=0), index=model.spec.features
    )
shap = pd.DataFrame(shap_rows)
print(shap.sort_values(shap.columns[0], ascending=False).head(15).round(4).to_string())

# %% [markdown]
# ## One week: backtest forecast vs what the surveys found
# The backtested week with the most infested surveys, BPH at the shortest horizon: risk per
# parcel, surveyed parcels outlined (red: found infested in the horizon, black: found clean).

# %%
pest, horizon = config.model.pests[0], min(config.model.horizons_days)
rows = forecasts[(forecasts["pest"] == pest) & (forecasts["horizon_days"] == horizon)]
busiest = rows.groupby("forecast_date")["label"].sum().idxmax()
week_rows = rows[rows["forecast_date"] == busiest]
source = config.sources.parcels
parcels = read_parcels(source.path, layer=source.layer, crs=config.region.crs)
mapped = parcels.merge(week_rows, on="parcel_id")
figure, axis = plt.subplots(figsize=(7, 7))
mapped.plot(column="risk", cmap="YlOrRd", legend=True, ax=axis, missing_kwds={"color": "0.9"})
for label, colour in ((1.0, "red"), (0.0, "black")):
    outlined = mapped[mapped["label"] == label]
    if len(outlined):
        gpd.GeoSeries(outlined.geometry).boundary.plot(ax=axis, color=colour, linewidth=0.6)
axis.set_title(f"{pest} h{horizon}, week of {pd.Timestamp(busiest):%Y-%m-%d} (out of fold)")
axis.set_axis_off()
figure.savefig(figures / "week_vs_surveys.png", dpi=90)
surveys = read_surveys(
    config.sources.surveys.path, known_parcels=parcels["parcel_id"], pests=config.model.pests
)
print(
    f"{int(week_rows['label'].notna().sum())} parcels surveyed in the horizon, "
    f"{int(week_rows['label'].sum())} infested; {len(surveys):,} survey rows in all"
)
