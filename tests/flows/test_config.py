"""Config validation: wrong keys and values fail before any work, naming file, key and choices."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pestcast.core.errors import ConfigError
from pestcast.flows.cli import app
from pestcast.flows.config import DEFAULT_CONFIG, load_config


def _write_variant(tmp_path: Path, change: dict[str, dict[str, object]]) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    for section, values in change.items():
        raw[section].update(values)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_demo_config_is_valid() -> None:
    config = load_config(DEFAULT_CONFIG, check_paths=False)  # the demo data may not exist yet
    assert config.region.crs == "EPSG:32648"
    assert config.forecast.risk_classes.rule().high_lift == 3.0
    assert 2 not in config.imagery.scl_mask_classes
    assert 6 not in config.imagery.scl_mask_classes


def test_unknown_key_names_file_key_and_allowed_keys(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, {"imagery": {"cloud_mask": [8, 9]}})
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert "imagery.cloud_mask" in message
    assert "scl_mask_classes" in message


def test_wrong_value_lists_allowed_values(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, {"model": {"pests": ["bph", "locust"]}})
    with pytest.raises(ConfigError, match=r"model\.pests\.1.*'bph' or 'blast'"):
        load_config(path)


def test_masking_water_is_refused(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, {"imagery": {"scl_mask_classes": [3, 6, 8]}})
    with pytest.raises(ConfigError, match="flooded rice paddies"):
        load_config(path)


def test_risk_class_lifts_must_increase(tmp_path: Path) -> None:
    classes = {"medium_lift": 4.0, "high_lift": 2.0}
    path = _write_variant(tmp_path, {"forecast": {"risk_classes": classes}})
    with pytest.raises(ConfigError, match=r"forecast\.risk_classes.*medium_lift < high_lift"):
        load_config(path)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_cli_reports_config_error_before_any_work(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, {"imagery": {"on_read_error": "ignore"}})
    result = CliRunner().invoke(app, ["fetch", "--config", str(path)])
    assert result.exit_code == 2
    assert "imagery.on_read_error" in result.output
    assert "'skip' or 'raise'" in result.output
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize(
    ("section", "change", "key", "says"),
    [
        ("region", {"crs": "EPSG:4326"}, "region.crs", "not projected"),
        ("region", {"timezone": "Asia/Saigonn"}, "region.timezone", "IANA"),
        ("model", {"params": {"is_unbalance": True}}, "model.params", "distort"),
        ("model", {"backtest": {"seasons": ["2024-XX"]}}, "model.backtest.seasons.0", "pattern"),
        ("model", {"backtest": {"gap_days": 0}}, "model.backtest.gap_days", "greater"),
        ("model", {"promotion": {"score": "accuracy"}}, "model.promotion.score", "within_date"),
        ("model", {"horizons_days": []}, "model.horizons_days", "distinct"),
        ("model", {"pests": ["bph", "bph"]}, "model.pests", "distinct"),
        ("imagery", {"scl_mask_classes": [3]}, "imagery.scl_mask_classes", "cloud classes"),
        ("forecast", {"date": "2024-12-31"}, "(top level)", "Tuesday"),
    ],
)
def test_settings_that_would_fail_late_fail_at_load(
    tmp_path: Path, section: str, change: dict[str, object], key: str, says: str
) -> None:
    path = _write_variant(tmp_path, {section: change})
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"key '{key}'" in str(caught.value)
    assert says in str(caught.value)
