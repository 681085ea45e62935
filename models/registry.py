"""Model files: LightGBM's text format plus a JSON card, written atomically, never pickled.

A model directory holds ``<pest>_h<h>.txt`` (``Booster.save_model``) and ``<pest>_h<h>.card.json``
for each pest and horizon. The card records the sha256 of the model file, so a card and a model
from different runs are caught on load.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb

from pestcast.core.errors import ModelError
from pestcast.models.spec import RiskModelSpec, TrainedRiskModel

__all__ = [
    "held_out_path",
    "load_risk_model",
    "model_paths",
    "read_model_card",
    "save_risk_model",
]


def model_paths(directory: Path, pest: str, horizon_days: int) -> tuple[Path, Path]:
    """Paths of the LightGBM text model and its JSON card in ``directory``."""
    stem = f"{pest}_h{horizon_days}"
    return directory / f"{stem}.txt", directory / f"{stem}.card.json"


def held_out_path(directory: Path, pest: str, horizon_days: int) -> Path:
    """Parquet table of the held-out-season forecasts (model and baselines) with their labels."""
    return directory / f"{pest}_h{horizon_days}.held_out.parquet"


def _write_atomically(target: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file in the same directory, then rename it over ``target``."""
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    os.close(handle)
    Path(temporary).chmod(0o644)  # mkstemp makes 0600; models are shared read-only files
    try:
        write(Path(temporary))
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _card_json(card: dict[str, Any], where: Path) -> str:
    try:
        return json.dumps(card, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except (TypeError, ValueError) as error:
        raise ModelError(
            f"model card for {where} is not plain JSON ({error}); fix the card"
        ) from error


def save_risk_model(model: TrainedRiskModel, directory: Path) -> Path:
    """Write the model's text file and card into ``directory`` (created if needed).

    Returns the path of the LightGBM text model; the card lies beside it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    model_path, card_path = model_paths(directory, model.spec.pest, model.spec.horizon_days)
    digest: dict[str, str] = {}

    def write_model(path: Path) -> None:
        model.booster.save_model(str(path))
        digest["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()

    _write_atomically(model_path, write_model)
    text = _card_json({**model.card, "model_file_sha256": digest["sha256"]}, card_path)
    _write_atomically(card_path, lambda path: path.write_text(text, encoding="utf-8"))
    if model.held_out is not None:
        held_out = model.held_out
        _write_atomically(
            held_out_path(directory, model.spec.pest, model.spec.horizon_days),
            lambda path: held_out.to_parquet(path, index=False),
        )
    return model_path


def _read_card(card_path: Path) -> dict[str, Any]:
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ModelError(f"model card {card_path} is not valid JSON ({error}); retrain") from error
    if not isinstance(card, dict):
        raise ModelError(f"model card {card_path} is not a JSON object; retrain the model")
    return card


def _spec_from_card(card: dict[str, Any], card_path: Path) -> RiskModelSpec:
    try:
        return RiskModelSpec(
            pest=str(card["pest"]),
            horizon_days=int(card["horizon_days"]),
            features=tuple(card["features"]),
            params=dict(card["params"]),
            num_boost_round=int(card["num_boost_round"]),
            seed=int(card["seed"]),
        )
    except KeyError as error:
        raise ModelError(f"model card {card_path} lacks key {error}; retrain the model") from error


def _check_pair(booster: Any, card: dict[str, Any], model_path: Path, card_path: Path) -> None:
    expected = card.get("model_file_sha256")
    if expected and hashlib.sha256(model_path.read_bytes()).hexdigest() != expected:
        raise ModelError(
            f"{model_path} is not the model file {card_path} describes (sha256 differs); "
            "both files must come from one save_risk_model call: retrain or restore the pair"
        )
    names = list(booster.feature_name())
    if names != list(card["features"]):
        raise ModelError(
            f"{model_path} uses features {names} but {card_path} lists {card['features']}; "
            "the files come from different models: retrain or restore the pair"
        )


def _existing_paths(directory: Path, pest: str, horizon_days: int) -> tuple[Path, Path]:
    model_path, card_path = model_paths(Path(directory), pest, horizon_days)
    missing = [str(path) for path in (model_path, card_path) if not path.is_file()]
    if missing:
        raise ModelError(
            f"no {pest} h{horizon_days} model: missing {missing}; train the models first "
            "(pestcast train) or point to the directory that holds them"
        )
    return model_path, card_path


def read_model_card(directory: Path, pest: str, horizon_days: int) -> dict[str, Any]:
    """The JSON card of ``pest`` at ``horizon_days`` in ``directory``, without loading the model."""
    return _read_card(_existing_paths(directory, pest, horizon_days)[1])


def load_risk_model(directory: Path, pest: str, horizon_days: int) -> TrainedRiskModel:
    """Read the model and card of ``pest`` at ``horizon_days`` from ``directory``."""
    model_path, card_path = _existing_paths(directory, pest, horizon_days)
    card = _read_card(card_path)
    spec = _spec_from_card(card, card_path)
    if (spec.pest, spec.horizon_days) != (pest, horizon_days):
        raise ModelError(
            f"{card_path} describes {spec.pest} h{spec.horizon_days}, not {pest} h{horizon_days}; "
            "the file was renamed or overwritten: retrain"
        )
    try:
        booster = lgb.Booster(model_file=str(model_path))
    except lgb.basic.LightGBMError as error:
        raise ModelError(f"{model_path} is not a LightGBM text model ({error}); retrain") from error
    _check_pair(booster, card, model_path, card_path)
    return TrainedRiskModel(booster=booster, spec=spec, card=card)
