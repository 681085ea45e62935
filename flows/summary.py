"""The short run summary printed at the end of every ``pestcast`` command."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["render_summary"]


def render_summary(stage: str, title: str, summary: Mapping[str, Any]) -> str:
    """Human-readable lines for a stage summary, or for the four stages of ``run``/``demo``."""
    stages = summary if stage in {"run", "demo"} else {stage: summary}
    lines = [title]
    for name, part in stages.items():
        lines.extend(_stage_lines(name, part))
    return "\n".join(lines)


def _stage_lines(stage: str, summary: Mapping[str, Any]) -> Iterator[str]:
    if stage == "fetch":
        yield from _fetch_lines(summary)
    elif stage == "features":
        yield (
            f"  feature table   {summary['feature_table']} ({summary['rows']:,} rows, "
            f"{summary['forecast_dates']} weekly forecast dates, "
            f"the last {summary['last_forecast_date']})"
        )
        if "stale_inputs" in summary:
            yield f"  warning         {summary['stale_inputs']}"
    elif stage == "train":
        yield from _train_lines(summary)
    elif stage == "forecast":
        yield from _forecast_lines(summary)


def _fetch_lines(summary: Mapping[str, Any]) -> Iterator[str]:
    yield f"  parcels         {summary['parcels']:,}"
    yield (
        f"  scenes          {summary['solar_days_found']} solar days found, "
        f"{summary['scenes_used']} used, {summary['scenes_read_from_cache']} from cache"
    )
    for reason, count in summary["scenes_skipped"].items():
        yield f"  skipped         {count}: {reason}"


def _train_lines(summary: Mapping[str, Any]) -> Iterator[str]:
    yield f"  models          {summary['model_version']} in {summary['model_dir']}"
    for name, result in summary["metrics"].items():
        model, baselines = result["model"], result["baselines"]
        persistence = baselines["persistence"]["roc_auc"]
        climatology = baselines["climatology"]["roc_auc"]
        yield (
            f"    {name:<9} held-out {result['validation_season']}: ROC-AUC {model['roc_auc']:.3f} "
            f"(persistence {persistence:.3f}, climatology {climatology:.3f}), "
            f"PR-AUC {model['pr_auc']:.3f}, Brier {model['brier']:.4f}, n={model['n']:,}"
        )


def _forecast_lines(summary: Mapping[str, Any]) -> Iterator[str]:
    yield f"  risk map        {summary['risk_map']}"
    yield f"  latest          {summary['latest']}"
    for name, counts in summary.get("risk_classes", {}).items():
        shares = ", ".join(f"{label} {count:,}" for label, count in counts.items())
        yield f"    {name:<9} {shares}"
