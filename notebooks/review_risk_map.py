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
# # Review the latest risk map
#
# For agronomists and data scientists: what the newest forecast says, per commune and class,
# which parcels rank highest and why, and how the models did in the backtest next to the
# persistence and climatology baselines. Run after `make demo` (or any `pestcast forecast`);
# set `PESTCAST_CONFIG` to review another region. Open with `jupytext --to notebook` or run it
# as a script.

# %%
import os
from pathlib import Path

import geopandas as gpd
import pandas as pd

from pestcast.flows.config import load_config
from pestcast.flows.layout import RunLayout
from pestcast.models import read_model_card

config = load_config(Path(os.environ.get("PESTCAST_CONFIG", "config/demo.yaml")))
layout = RunLayout.from_config(config)
risk_map = gpd.read_file(layout.latest_forecast / "risk_map.geojson")
print(f"{len(risk_map)} features, forecast date {risk_map['forecast_date'].iloc[0]}")

# %% [markdown]
# ## Parcels per risk class and commune (each pest, shortest horizon)
# Classes are relative to the week's mean risk (`forecast.risk_classes`); `no_data` marks parcels
# with no clear image for weeks and no survey history.

# %%
horizon = min(config.model.horizons_days)
for pest in config.model.pests:
    counts = risk_map.pivot_table(
        index="commune",
        columns=f"class_{pest}_h{horizon}",
        values="parcel_id",
        aggfunc="count",
        fill_value=0,
    )
    print(f"{pest}, {horizon} days\n{counts}\n")

# %% [markdown]
# ## The ten riskiest parcels for each pest, and why
# `n_valid_px` and `last_clear_obs_date` say how much recent imagery backs each forecast.

# %%
for pest in config.model.pests:
    key = f"{pest}_h{horizon}"
    columns = ["parcel_id", "commune", f"risk_{key}", f"class_{key}", "last_clear_obs_date"]
    top = risk_map.sort_values(f"risk_{key}", ascending=False).head(10)
    print(top[[*columns, f"reasons_{key}"]].to_string(index=False), "\n")

# %% [markdown]
# ## Backtest skill of the models in service
# Every labelled season forecast by a model that never saw it, pooled over the seasons, with
# 95 % bootstrap intervals (dates resampled), next to the baselines on the same rows. Per-season
# figures, reliability diagrams and SHAP: `notebooks/backtest.py`.

# %%
rows = []
for pest in config.model.pests:
    for horizon in config.model.horizons_days:
        card = read_model_card(layout.current_model, pest, horizon)
        for name, table in card.backtest.pooled.items():
            rows.append(
                {
                    "pest": pest,
                    "horizon_days": horizon,
                    "forecast": name,
                    **{
                        score: table.scores[score].value
                        for score in ("within_date_roc_auc", "roc_auc", "pr_auc", "brier")
                    },
                }
            )
skill = pd.DataFrame(rows)
print(skill.to_string(index=False, float_format="{:.3f}".format))

# %% [markdown]
# ## Reliability of the 7-day BPH model, out of fold, after calibration

# %%
card = read_model_card(layout.current_model, "bph", min(config.model.horizons_days))
print(pd.DataFrame([row.model_dump() for row in card.backtest.reliability]))
