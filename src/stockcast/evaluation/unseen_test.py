"""Refusing a model that was fitted on the test windows evaluate would score it on: its report
would pass the gate on scores of its own training data and be registered as if held out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stockcast.errors import ArtifactError
from stockcast.serving.metadata import EVALUATED_DIR


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
