"""Model files: LightGBM's text format plus a JSON card, written atomically, never pickled.

A model directory holds ``<pest>_h<h>.txt`` (``Booster.save_model``) and ``<pest>_h<h>.card.json``
for each pest and horizon. The card records the sha256 of the model file, so a card and a model
from different runs are caught on load.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import lightgbm as lgb
from pydantic import ValidationError

from pestcast.core.atomic import atomic_path, write_text_atomic
from pestcast.core.errors import ModelError
from pestcast.models.card import ModelCard
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


def save_risk_model(model: TrainedRiskModel, directory: Path) -> Path:
    """Write the model's text file and card into ``directory`` (created if needed), atomically.

    Returns the path of the LightGBM text model; the card lies beside it.
    """
    model_path, card_path = model_paths(directory, model.spec.pest, model.spec.horizon_days)
    with atomic_path(model_path) as temporary:
        model.booster.save_model(str(temporary))
        digest = hashlib.sha256(temporary.read_bytes()).hexdigest()
    card = model.card.model_copy(update={"model_file_sha256": digest})
    write_text_atomic(card_path, card.model_dump_json(indent=2) + "\n")
    if model.held_out is not None:
        held_out = held_out_path(directory, model.spec.pest, model.spec.horizon_days)
        with atomic_path(held_out) as temporary:
            model.held_out.to_parquet(temporary, index=False)
    return model_path


def _read_card(card_path: Path) -> ModelCard:
    try:
        return ModelCard.model_validate_json(card_path.read_bytes())
    except ValidationError as error:
        problems = "; ".join(
            f"key '{'.'.join(str(part) for part in problem['loc']) or '(top level)'}': "
            f"{problem['msg']}"
            for problem in error.errors()[:5]
        )
        raise ModelError(
            f"model card {card_path} is not a valid card ({problems}); retrain the model"
        ) from None


def _spec_from_card(card: ModelCard) -> RiskModelSpec:
    return RiskModelSpec(
        pest=card.pest,
        horizon_days=card.horizon_days,
        features=card.features,
        params=card.params,
        num_boost_round=card.num_boost_round,
        seed=card.seed,
    )


def _check_pair(booster: Any, card: ModelCard, model_path: Path, card_path: Path) -> None:
    if not card.model_file_sha256:
        raise ModelError(
            f"{card_path} has no model_file_sha256, so {model_path} cannot be checked against "
            "it; retrain, or restore the card saved with the model"
        )
    if hashlib.sha256(model_path.read_bytes()).hexdigest() != card.model_file_sha256:
        raise ModelError(
            f"{model_path} is not the model file {card_path} describes (sha256 differs); "
            "both files must come from one save_risk_model call: retrain or restore the pair"
        )
    names = list(booster.feature_name())
    if names != list(card.features):
        raise ModelError(
            f"{model_path} uses features {names} but {card_path} lists {list(card.features)}; "
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


def read_model_card(directory: Path, pest: str, horizon_days: int) -> ModelCard:
    """The card of ``pest`` at ``horizon_days`` in ``directory``, without loading the model."""
    return _read_card(_existing_paths(directory, pest, horizon_days)[1])


def load_risk_model(directory: Path, pest: str, horizon_days: int) -> TrainedRiskModel:
    """Read the model and card of ``pest`` at ``horizon_days`` from ``directory``."""
    model_path, card_path = _existing_paths(directory, pest, horizon_days)
    card = _read_card(card_path)
    if (card.pest, card.horizon_days) != (pest, horizon_days):
        raise ModelError(
            f"{card_path} describes {card.pest} h{card.horizon_days}, not {pest} h{horizon_days}; "
            "the file was renamed or overwritten: retrain"
        )
    try:
        booster = lgb.Booster(model_file=str(model_path))
    except lgb.basic.LightGBMError as error:
        raise ModelError(f"{model_path} is not a LightGBM text model ({error}); retrain") from error
    _check_pair(booster, card, model_path, card_path)
    return TrainedRiskModel(booster=booster, spec=_spec_from_card(card), card=card)
