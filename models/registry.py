"""Model files: LightGBM's text format plus a JSON card, written atomically, never pickled.

A model version directory holds, for each pest and horizon, ``<pest>_h<h>.txt``
(``Booster.save_model``), ``<pest>_h<h>.card.json`` and ``<pest>_h<h>.backtest.parquet`` (its
out-of-fold forecasts), plus a ``SHA256SUMS`` file listing the sha256 of every file in the
directory (written last, by :func:`write_checksums`). Loading checks the files it reads against
``SHA256SUMS`` and the card's own record of the model file, so a tampered, truncated or mixed-up
file is refused with its name.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pestcast.core.atomic import atomic_path, write_text_atomic
from pestcast.core.errors import ModelError
from pestcast.models.card import ModelCard
from pestcast.models.spec import RiskModelSpec, TrainedRiskModel

__all__ = [
    "CHECKSUMS",
    "backtest_path",
    "load_risk_model",
    "model_paths",
    "read_checksums",
    "read_model_card",
    "save_risk_model",
    "write_checksums",
]

CHECKSUMS = "SHA256SUMS"
"""``sha256sum``-format list of every file of a model version directory."""


def model_paths(directory: Path, pest: str, horizon_days: int) -> tuple[Path, Path]:
    """Paths of the LightGBM text model and its JSON card in ``directory``."""
    stem = f"{pest}_h{horizon_days}"
    return directory / f"{stem}.txt", directory / f"{stem}.card.json"


def backtest_path(directory: Path, pest: str, horizon_days: int) -> Path:
    """Parquet table of the model's out-of-fold backtest forecasts, baselines and labels."""
    return directory / f"{pest}_h{horizon_days}.backtest.parquet"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_checksums(directory: Path) -> Path:
    """Write ``SHA256SUMS`` for every other file of ``directory`` (atomically); returns its path."""
    lines = [
        f"{_sha256(path)}  {path.name}\n"
        for path in sorted(directory.iterdir())
        if path.is_file() and path.name != CHECKSUMS and not path.name.startswith(".")
    ]
    target = directory / CHECKSUMS
    write_text_atomic(target, "".join(lines))
    return target


def read_checksums(directory: Path) -> dict[str, str]:
    """File name → sha256 from ``directory``'s ``SHA256SUMS``."""
    path = directory / CHECKSUMS
    if not path.is_file():
        raise ModelError(
            f"{directory} has no {CHECKSUMS}: it is not a complete registered model version "
            "(training was interrupted or the files were copied by hand); train again"
        )
    sums = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise ModelError(f"{path} line {number} is not '<sha256>  <file>'; train again")
        sums[name] = digest
    return sums


def _verify(path: Path) -> None:
    expected = read_checksums(path.parent).get(path.name)
    if expected is None:
        raise ModelError(
            f"{path.name} is not listed in {path.parent / CHECKSUMS}: it was added after "
            "training; remove it or train again"
        )
    if _sha256(path) != expected:
        raise ModelError(
            f"{path} was changed after training (its sha256 differs from {CHECKSUMS}); "
            "it is refused: restore the file or train again"
        )


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
    if model.backtest is not None:
        backtest = backtest_path(directory, model.spec.pest, model.spec.horizon_days)
        with atomic_path(backtest) as temporary:
            model.backtest.to_parquet(temporary, index=False)
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
    card_path = _existing_paths(directory, pest, horizon_days)[1]
    _verify(card_path)
    return _read_card(card_path)


def load_risk_model(directory: Path, pest: str, horizon_days: int) -> TrainedRiskModel:
    """Read the model and card of ``pest`` at ``horizon_days`` from ``directory``."""
    model_path, card_path = _existing_paths(directory, pest, horizon_days)
    _verify(card_path)
    _verify(model_path)
    card = _read_card(card_path)
    if (card.pest, card.horizon_days) != (pest, horizon_days):
        raise ModelError(
            f"{card_path} describes {card.pest} h{card.horizon_days}, not {pest} h{horizon_days}; "
            "the file was renamed or overwritten: retrain"
        )
    import lightgbm as lgb  # here: configs load without LightGBM (and its OpenMP runtime)

    try:
        booster = lgb.Booster(model_file=str(model_path))
    except lgb.basic.LightGBMError as error:
        raise ModelError(f"{model_path} is not a LightGBM text model ({error}); retrain") from error
    _check_pair(booster, card, model_path, card_path)
    return TrainedRiskModel(booster=booster, spec=_spec_from_card(card), card=card)
