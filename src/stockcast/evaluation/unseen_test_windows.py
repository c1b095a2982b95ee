"""Refusing a model that was fitted on the test windows evaluate would score it on: its report
would pass the gate on scores of its own training data and be registered as if held out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from stockcast.data.prepared import PreparedData
from stockcast.data.split import split_settings
from stockcast.errors import ArtifactError
from stockcast.serving.metadata import EVALUATED_DIR
from stockcast.training.metadata import fit_data_end


def check_test_unseen(metadata: dict[str, Any], model_dir: Path) -> None:
    """Refuse a refit (fitted on train, validation and test alike): scored on its own test
    windows it passed the gate with a fraction of the evaluated model's MASE, and was then
    registered as champion on that score. The model it was refitted from is the one to score."""
    if metadata.get("refit"):
        raise ArtifactError(
            f"evaluate.model_dir {model_dir} is a refit, fitted on the test windows it would be "
            f"scored on, so its scores would not be held out; evaluate the model it was refitted "
            f"from ({model_dir / EVALUATED_DIR}, or the train step's model folder) and register "
            "the refit with that report."
        )


def check_split_unseen(
    prepared: PreparedData, metadata: dict[str, Any], prepared_dir: str | Path, model_dir: Path
) -> None:
    """Refuse a prepared folder of the model's data split otherwise, whose validation ends
    before the model's: its test split then holds windows the model was fitted or selected on
    (early stopping, its bands' calibration), and the data hash, which the splits do not
    change, let them be scored as held out. Undated data records no end to compare."""
    ours, theirs = fit_data_end(prepared), metadata.get("fit_data_end")
    if ours is None or theirs is None or np.datetime64(theirs) <= np.datetime64(ours):
        return
    split = split_settings((metadata.get("data_source") or {}).get("split"))
    settings = f" ({split})" if split else ""
    raise ArtifactError(
        f"evaluate.prepared_dir {prepared_dir} was split otherwise than the data of the model "
        f"in {model_dir}: its validation ends on {ours} and the model's on {theirs}, so its "
        "test windows hold some the model was fitted or selected on; prepare the data with the "
        f"model's splits{settings}, or point both at the same pipeline run."
    )
