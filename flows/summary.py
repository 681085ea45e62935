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
    elif stage == "backtest":
        yield from _backtest_lines(summary)
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


def _interval(score: Mapping[str, Any]) -> str:
    value, low, high = score["value"], score["low"], score["high"]
    if value is None:
        return "n/a"
    if low is None or high is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}–{high:.3f}]"


def _train_lines(summary: Mapping[str, Any]) -> Iterator[str]:
    yield f"  models          {summary['model_version']} in {summary['model_dir']}"
    state = "promoted into service" if summary["promoted"] else "kept aside"
    yield f"  promotion       {state}: {summary['promotion'].split(';')[0]}"
    yield f"  in service      {summary['in_service'] or 'none'}"
    yield f"  backtest        {summary['backtest_dir']}"
    yield from _metric_lines(summary["metrics"])


def _metric_lines(metrics: Mapping[str, Any]) -> Iterator[str]:
    for name, result in metrics.items():
        model = result["model"]
        baseline = ", ".join(
            f"{other} {result[other]['within_date_roc_auc']['value']:.3f}"
            for other in ("persistence", "climatology")
        )
        yield (
            f"    {name:<9} within-date ROC-AUC {_interval(model['within_date_roc_auc'])} "
            f"({baseline}), ROC-AUC {_interval(model['roc_auc'])}, "
            f"top-10 % {model['top10_capture']['value']:.2f}, "
            f"ECE {model['expected_calibration_error']['value']:.3f}, "
            f"{len(result['seasons'])} seasons, n={model['n_rows']:,}"
        )


def _backtest_lines(summary: Mapping[str, Any]) -> Iterator[str]:
    yield f"  backtest        {summary['backtest_dir']}"
    yield from _metric_lines(summary["metrics"])


def _forecast_lines(summary: Mapping[str, Any]) -> Iterator[str]:
    yield f"  risk map        {summary['risk_map']}"
    yield f"  latest          {summary['latest']}"
    for name, counts in summary.get("risk_classes", {}).items():
        shares = ", ".join(f"{label} {count:,}" for label, count in counts.items())
        yield f"    {name:<9} {shares}"
