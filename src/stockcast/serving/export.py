"""Write the trained network as an MLflow model directory: raw prices in, raw prices out."""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stockcast.forecasting import forecast_columns, spec_levels
from stockcast.models.net import PriceForecaster

PACKAGE_DIR = Path(__file__).resolve().parents[1]
# The only modules the pyfunc imports: the model carries these, not the whole project.
SERVING_MODULES = (
    "__init__.py",
    "models/__init__.py",
    "models/net.py",
    "errors.py",
    "forecasting.py",
    "serving/__init__.py",
    "serving/pyfunc_model.py",
)
PYFUNC_FILE = Path(__file__).with_name("pyfunc_model.py")
# What the model needs at serving time; the rest of the project stays out of its environment.
SERVING_REQUIREMENTS = ("torch", "numpy", "pandas", "safetensors", "mlflow")


def _requirement(name: str) -> str:
    from importlib.metadata import version

    return f"{name}=={version(name).split('+')[0]}"


def save_model_dir(
    net: PriceForecaster,
    spec: Mapping[str, Any],
    path: str | Path,
    metadata: Mapping[str, Any],
    input_example: np.ndarray,
) -> Path:
    """Save weights (safetensors) + spec next to the pyfunc code; replaces an existing folder."""
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from safetensors.torch import save_file

    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    previous, following = int(spec["previous_time_window"]), int(spec["next_time_window"])
    levels = spec_levels(dict(spec))
    # Outputs only: MLflow enforces an input tensor's dtype exactly (float64 would refuse float32
    # and integer prices), so the pyfunc checks its input itself and the example documents it.
    signature = ModelSignature(
        inputs=None,
        outputs=Schema([ColSpec("double", name) for name in forecast_columns(following, levels)]),
    )
    with tempfile.TemporaryDirectory() as staging:
        weights = Path(staging) / "weights.safetensors"
        state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
        save_file(state, str(weights))
        spec_file = Path(staging) / "spec.json"
        spec_file.write_text(json.dumps(spec, indent=2))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*type hint", category=UserWarning)
            mlflow.pyfunc.save_model(
                path=str(path),
                python_model=str(PYFUNC_FILE),
                artifacts={"weights": str(weights), "spec": str(spec_file)},
                code_paths=[str(_stage_serving_package(Path(staging)))],
                signature=signature,
                input_example=np.asarray(input_example, dtype=np.float64).reshape(-1, previous),
                metadata=dict(metadata),
                pip_requirements=[_requirement(name) for name in SERVING_REQUIREMENTS],
            )
    _drop_caches(path)
    _drop_build_paths(path / "MLmodel")
    return path


def _drop_build_paths(mlmodel: Path) -> None:
    """MLflow records where the code and artifacts were copied from (absolute paths of this
    machine); loading uses only the copies inside the folder, so keep just their names."""
    import yaml

    content = yaml.safe_load(mlmodel.read_text())
    flavor = content["flavors"]["python_function"]
    flavor["model_code_path"] = Path(flavor["model_code_path"]).name
    for artifact in flavor.get("artifacts", {}).values():
        artifact["uri"] = artifact["path"]
    mlmodel.write_text(yaml.safe_dump(content, sort_keys=False))


def _stage_serving_package(staging: Path) -> Path:
    """A copy of just the modules serving needs, laid out as the `stockcast` package."""
    package = staging / "code" / PACKAGE_DIR.name
    for module in SERVING_MODULES:
        target = package / module
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PACKAGE_DIR / module, target)
    return package


def _drop_caches(path: Path) -> None:
    for cache in path.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
