"""``imagery.indices``: today's four by default, more on request, bad lists refused at load."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from pestcast.core.errors import ConfigError
from pestcast.features import DEFAULT_PARCEL_INDICES
from pestcast.flows.config import DEFAULT_CONFIG, ImageryConfig, load_config


def _with_indices(tmp_path: Path, indices: object) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["imagery"]["indices"] = indices
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_demo_and_default_lists_are_todays_four() -> None:
    assert load_config(DEFAULT_CONFIG, check_paths=False).imagery.indices == DEFAULT_PARCEL_INDICES
    window = {"start": dt.date(2024, 1, 1), "end": dt.date(2024, 2, 1)}
    assert ImageryConfig.model_validate(window).indices == ("ndvi", "evi", "ndre", "lswi")


def test_extra_indices_are_accepted_in_catalogue_order(tmp_path: Path) -> None:
    path = _with_indices(tmp_path, ["ndwi", "ndvi", "evi", "ndre", "lswi", "cire", "cig"])
    config = load_config(path, check_paths=False)
    assert config.imagery.indices == ("ndvi", "evi", "ndre", "lswi", "cig", "cire", "ndwi")


@pytest.mark.parametrize(
    ("indices", "says"),
    [
        (["ndvi", "evi", "ndre", "lswi", "gci"], "known: ndvi, evi, ndre, lswi, savi, msavi, cig"),
        (["ndvi", "evi", "ndre", "cig"], "lswi are missing: the feature table"),
        ("ndvi", "valid tuple"),
    ],
)
def test_bad_index_lists_fail_at_load_naming_the_key(
    tmp_path: Path, indices: object, says: str
) -> None:
    path = _with_indices(tmp_path, indices)
    with pytest.raises(ConfigError) as caught:
        load_config(path, check_paths=False)
    assert "key 'imagery.indices" in str(caught.value)
    assert str(path) in str(caught.value)
    assert says in str(caught.value)
