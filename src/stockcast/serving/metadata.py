"""What a stockcast model directory says about itself, readable without torch or MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stockcast.errors import ArtifactError

MODEL_KIND = "stockcast.model"
TRAINING_CONFIG_FILE = "training_config.yaml"


def read_model_metadata(path: str | Path) -> dict[str, Any]:
    """The `metadata` block of a stockcast model directory, or one clear error if it is not one."""
    import yaml

    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"model folder {path} does not exist; run the train step first.")
    mlmodel = path / "MLmodel"
    metadata = (
        (yaml.safe_load(mlmodel.read_text()) or {}).get("metadata") or {}
        if mlmodel.is_file()
        else {}
    )
    if metadata.get("kind") != MODEL_KIND:
        raise ArtifactError(
            f"{path} is not a stockcast model folder (no MLmodel with kind {MODEL_KIND!r}); "
            "point it at the train step's model output."
        )
    return dict(metadata)
