"""Bad run configurations: each a small edit of config/demo.yaml, refused at load with a message
that names the file, the key (and line) at fault and what to do; nothing is written."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from pestcast.core.errors import ConfigError
from pestcast.flows.config import DEFAULT_CONFIG, PestcastWarning, load_config
from tests.bad_inputs import folder_hashes

SOURCES = (
    "parcels.gpkg",
    "weather.parquet",
    "weather_forecasts.parquet",
    "surveys.parquet",
    "light_traps.parquet",
    "light_trap_stations.csv",
    "stac/catalog.json",
)

Edit = Callable[[str, Path], str | bytes]
"""Turns the valid config text (paths under ``root``) into a bad one; may add files to root."""


def demo_text(root: Path) -> str:
    """config/demo.yaml with every path under ``root``, where empty stand-ins of the sources are:
    load_config only checks that they are there."""
    for name in SOURCES:
        (root / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "data" / name).touch()
    return (
        DEFAULT_CONFIG.read_text(encoding="utf-8")
        .replace("data/demo/", f"{root}/data/")
        .replace("data/feedback/", f"{root}/feedback/")
        .replace("work_dir: work/demo", f"work_dir: {root}/work")
        .replace("output_dir: outputs/demo", f"output_dir: {root}/outputs")
        .replace("model_registry: registry/demo", f"model_registry: {root}/registry")
    )


def replace(old: str, new: str) -> Edit:
    def edit(text: str, _root: Path) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


def then(make: Callable[[Path], object], edit: Edit) -> Edit:
    """``edit`` after ``make(root)`` has put something in the way."""

    def both(text: str, root: Path) -> str | bytes:
        make(root)
        return edit(text, root)

    return both


def a_file(relative: str) -> Callable[[Path], object]:
    return lambda root: (root / relative).write_text("the user's own file\n", encoding="utf-8")


def a_folder(relative: str) -> Callable[[Path], object]:
    return lambda root: (root / relative).mkdir(parents=True)


CASES = [
    # --- duplicate keys: PyYAML keeps the last one silently --------------------------------
    pytest.param(
        lambda text, _root: text + "\nmodel:\n  pests: [bph]\n",
        r"key 'model' is given twice, on line \d+ and line \d+; .*delete one",
        id="duplicate-top-level-section",
    ),
    pytest.param(
        replace("  pests: [bph, blast]\n", "  pests: [bph, blast]\n  pests: [bph]\n"),
        r"key 'model\.pests' is given twice, on line (\d+) and line \d+",
        id="duplicate-key-in-a-section",
    ),
    pytest.param(
        replace("      red: B04\n", "      red: B04\n      red: B05\n"),
        r"key 'sources\.stac\.asset_keys\.red' is given twice, on line \d+ and line \d+",
        id="duplicate-band-in-asset-keys",
    ),
    # --- dates ----------------------------------------------------------------------------
    pytest.param(
        replace("start: 2021-07-01", "start: 2024-13-01"),
        r"key 'imagery\.start'.*month.*'2024-13-01'.*YYYY-MM-DD",
        id="month-13",
    ),
    pytest.param(
        replace("end: 2024-12-31", "end: 2024-12-32"),
        r"key 'imagery\.end'.*'2024-12-32'.*YYYY-MM-DD",
        id="day-32",
    ),
    pytest.param(
        replace("date: null ", "date: 2024-02-30"),
        r"key 'forecast\.date'.*'2024-02-30'.*YYYY-MM-DD",
        id="february-30",
    ),
    pytest.param(
        replace("start: 2021-07-01", "start: 2021-7-1"),
        r"key 'imagery\.start'.*'2021-7-1'.*YYYY-MM-DD",
        id="date-without-leading-zeros",
    ),
    pytest.param(
        replace("start: 2021-07-01", "start: !!timestamp 2024-13-01"),
        r"'2024-13-01' is not a date.*YYYY-MM-DD\n.*line 34",
        id="explicit-timestamp-tag",
    ),
    # --- the file itself --------------------------------------------------------------------
    pytest.param(
        lambda text, _root: text.replace("name: demo", "name: demo  # Long Xuyên").encode("cp1252"),
        r"is not UTF-8 text: byte 0x[0-9a-f]{2} at byte position \d+ \(line 7\).*save the file",
        id="not-utf-8",
    ),
    pytest.param(lambda _text, _root: "", r"holds no settings; start from a copy", id="empty-file"),
    pytest.param(
        lambda _text, _root: "# region:\n#   name: demo\n",
        r"holds no settings",
        id="only-comments",
    ),
    pytest.param(
        lambda text, _root: "- " + text.replace("\n", "\n  "),
        r"must hold a mapping of settings, got list",
        id="a-list-not-a-mapping",
    ),
    pytest.param(
        replace("  name: demo\n", "  name: demo\n crs: EPSG:32648\n"),
        r"(?s)is not valid YAML: .*line 8, column 2",
        id="bad-indentation",
    ),
    # --- paths, all checked at load ----------------------------------------------------------
    pytest.param(
        lambda text, root: text.replace(f"{root}/data/parcels.gpkg", f"{root}/data/parcel.gpkg"),
        r"key 'sources\.parcels\.path': .*parcel\.gpkg does not exist",
        id="parcels-missing",
    ),
    pytest.param(
        then(
            a_folder("data/weather"),
            replace("weather.parquet}", "weather}"),
        ),
        r"key 'sources\.weather\.path': .*weather is a folder; give the path of the file",
        id="weather-is-a-folder",
    ),
    pytest.param(
        replace("data/stac/catalog.json", "data/stac/collection.json"),
        r"key 'sources\.stac\.url': .*collection\.json does not exist",
        id="local-stac-catalog-missing",
    ),
    pytest.param(
        lambda text, root: text.replace(
            f"url: {root}/data/stac/catalog.json", f"url: file://{root}/data/stac"
        ),
        r"key 'sources\.stac\.url': .*stac is a folder",
        id="file-url-stac-is-a-folder",
    ),
    pytest.param(
        replace("light_trap_stations.csv", "stations.csv"),
        r"key 'sources\.light_traps\.stations': .*stations\.csv does not exist",
        id="light-trap-stations-missing",
    ),
    pytest.param(
        then(a_file("work"), replace("", "")),
        r"key 'paths\.work_dir': .*work is a file; give a folder path",
        id="work-dir-is-a-file",
    ),
    pytest.param(
        then(a_file("outputs"), replace("/outputs\n", "/outputs/demo\n")),
        r"key 'paths\.output_dir': .*outputs/demo cannot be created: .*outputs is a file",
        id="output-dir-inside-a-file",
    ),
    pytest.param(
        then(a_file("feedback"), replace("", "")),
        r"key 'sources\.feedback\.path': .*demo\.parquet cannot be created: .*feedback is a file",
        id="feedback-folder-is-a-file",
    ),
    pytest.param(
        then(a_folder("feedback/demo.parquet"), replace("", "")),
        r"key 'sources\.feedback\.path': .*demo\.parquet is a folder; give the path of the store",
        id="feedback-store-is-a-folder",
    ),
    pytest.param(
        then(
            a_file("work"),
            lambda text, root: text.replace(f"{root}/data/surveys", f"{root}/data/survey"),
        ),
        r"2 path\(s\) to fix \(relative paths are resolved against the working directory .*\)\n"
        r"  key 'sources\.surveys\.path': .*\n  key 'paths\.work_dir'",
        id="every-bad-path-at-once",
    ),
]


@pytest.mark.parametrize(("edit", "fragment"), CASES)
def test_a_bad_config_is_refused_at_load_naming_file_and_key(
    tmp_path: Path, edit: Edit, fragment: str
) -> None:
    bad = edit(demo_text(tmp_path), tmp_path)
    path = tmp_path / "bad.yaml"
    if isinstance(bad, bytes):
        path.write_bytes(bad)
    else:
        path.write_text(bad, encoding="utf-8")
    before, folders = folder_hashes(tmp_path), sorted(tmp_path.rglob("*"))
    with pytest.raises(ConfigError, match=fragment) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert folder_hashes(tmp_path) == before
    assert sorted(tmp_path.rglob("*")) == folders  # no work or output folder was created


def test_the_stand_in_config_is_valid_so_each_case_is_bad_in_one_way(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(demo_text(tmp_path), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = load_config(path)
    assert config.imagery.start.isoformat() == "2021-07-01"


@pytest.mark.parametrize(
    ("where", "says"),
    [
        pytest.param(".", "is a folder; give the YAML file", id="config-is-a-folder"),
        pytest.param("nope.yaml", "does not exist; pass --config FILE", id="config-missing"),
    ],
)
def test_the_config_path_itself(tmp_path: Path, where: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load_config(tmp_path / where)


def test_paths_can_be_left_unchecked_for_a_region_not_yet_generated(tmp_path: Path) -> None:
    path = tmp_path / "later.yaml"
    path.write_text(
        demo_text(tmp_path).replace(f"{tmp_path}/data/", f"{tmp_path}/not-yet/"), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(path)
    assert load_config(path, check_paths=False).sources.parcels.path.name == "parcels.gpkg"


def test_remote_api_urls_and_dataset_folders_are_not_refused(tmp_path: Path) -> None:
    text = demo_text(tmp_path).replace(
        f"{tmp_path}/data/stac/catalog.json", "https://earth-search.aws.element84.com/v1"
    )
    (tmp_path / "data" / "weather.parquet").unlink()
    (tmp_path / "data" / "weather.parquet").mkdir()  # a partitioned Parquet dataset
    path = tmp_path / "api.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_config(path).sources.stac.url.startswith("https://")


def test_a_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("region:\n  name: a\n  crs: EPSG:32648\n  name: b\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"key 'region\.name' is given twice, on line 2 and line 4"
    ):
        load_config(path)


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    text = demo_text(tmp_path).replace(
        "  parcels_per_commune: 10\n",
        "  <<: {parcels_per_commune: 3}\n  parcels_per_commune: 5\n",
    )
    path = tmp_path / "merge.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_config(path).scouting.parcels_per_commune == 5


@pytest.mark.parametrize(
    ("mask", "says"),
    [
        ("[0, 1, 3, 4, 8, 9, 10]", r"masks SCL class 4 \(vegetation\): most canopy pixels"),
        ("[3, 5, 8, 9]", r"masks SCL class 5 \(not vegetated\)"),
        ("[4, 5, 8, 9]", r"classes 4 \(vegetation\) and 5 \(not vegetated\).*remove 4 and 5"),
    ],
)
def test_masking_vegetation_or_bare_soil_is_legal_but_warned(
    tmp_path: Path, mask: str, says: str
) -> None:
    path = tmp_path / "mask.yaml"
    path.write_text(demo_text(tmp_path).replace("[0, 1, 3, 8, 9, 10]", mask), encoding="utf-8")
    with pytest.warns(PestcastWarning, match=says) as caught:
        config = load_config(path)
    assert str(path) in str(caught[0].message)
    assert "imagery.scl_mask_classes" in str(caught[0].message)
    assert 8 in config.imagery.scl_mask_classes
