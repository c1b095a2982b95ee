"""Load a stockcast model folder for prediction, refusing anything that would unpickle.

MLflow can also load pyfunc models that are cloudpickled Python objects; loading one of those
runs arbitrary code. A stockcast model is built "from code" with safetensors weights, so that is
the only shape accepted here, checked from the MLmodel file before MLflow touches the folder.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from stockcast.errors import ArtifactError

CODE_MODEL_LOADER = "mlflow.pyfunc.loaders.code_model"
SAFE_WEIGHTS_SUFFIX = ".safetensors"
PICKLED_FILES = ("python_model.pkl", "python_model.pickle")
TYPE_HINT_NOTICE = "type hint"


def check_safe_model_dir(model_dir: str | Path) -> None:
    """Raise unless the folder is a models-from-code pyfunc whose weights are safetensors."""
    import yaml

    model_dir = Path(model_dir)
    mlmodel = model_dir / "MLmodel"
    if not mlmodel.is_file():
        raise ArtifactError(f"{model_dir} has no MLmodel file; it is not an MLflow model folder.")
    flavor = ((yaml.safe_load(mlmodel.read_text()) or {}).get("flavors") or {}).get(
        "python_function"
    ) or {}
    weights = str(((flavor.get("artifacts") or {}).get("weights") or {}).get("path", ""))
    pickled = [name for name in PICKLED_FILES if (model_dir / name).exists()]
    if flavor.get("loader_module") != CODE_MODEL_LOADER or pickled:
        raise ArtifactError(
            f"{model_dir} is not a models-from-code pyfunc (loader "
            f"{flavor.get('loader_module')!r}); refusing to load it because that would unpickle."
        )
    if not weights.endswith(SAFE_WEIGHTS_SUFFIX):
        raise ArtifactError(
            f"{model_dir} keeps its weights in {weights or 'no file'!r}, not safetensors; "
            "refusing to load it because that could unpickle."
        )


def load_price_model(model_dir: str | Path, check_requirements: bool = False) -> Any:
    """The pyfunc model of a checked folder: `.predict(rows of prices) -> rows of forecasts`.

    `check_requirements` lets MLflow compare the model's pinned requirements with the installed
    packages; it scans every installed distribution (about half a second), so it is opt-in.
    """
    check_safe_model_dir(model_dir)
    import mlflow.pyfunc

    # MLflow suggests type hints on predict() (the model declares a tensor signature instead) and
    # forces that warning "once" inside its own filters, so it is recorded here and dropped.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        model = mlflow.pyfunc.load_model(str(model_dir), suppress_warnings=not check_requirements)
    for item in caught:
        if TYPE_HINT_NOTICE not in str(item.message):
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    return model
