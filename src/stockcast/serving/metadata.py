"""What a stockcast model directory says about itself, readable without torch or MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stockcast.errors import ArtifactError

MODEL_KIND = "stockcast.model"
TRAINING_CONFIG_FILE = "training_config.yaml"
# A refit model folder keeps the model that evaluation scored in this subfolder.
EVALUATED_DIR = "evaluated"


def model_artifact(model_dir: str | Path, name: str) -> Path:
    """The path of a model folder's artifact (`spec`, `weights`) as its MLmodel records it."""
    import yaml

    model_dir = Path(model_dir)
    flavor = yaml.safe_load((model_dir / "MLmodel").read_text())["flavors"]["python_function"]
    return model_dir / flavor["artifacts"][name]["path"]


def model_spec(model_dir: str | Path) -> dict[str, Any]:
    """The network spec a model folder was saved with (windows, MLP, scaler, intervals)."""
    import json

    return json.loads(model_artifact(model_dir, "spec").read_text())


def evaluated_model_dir(model_dir: str | Path) -> Path:
    """The folder of the model that evaluation scored: `evaluated/` inside a refit, else itself.
    That model was fitted on its train split only, so later runs may score or start from it."""
    model_dir = Path(model_dir)
    inner = model_dir / EVALUATED_DIR
    return inner if (inner / "MLmodel").is_file() else model_dir


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
