"""MLflow "model from code": raw prices in, raw-price forecasts out.

Loads weights with safetensors (no unpickling) and imports only torch, numpy and the pure
network module, so prediction and serving never import Lightning.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import torch
from mlflow.pyfunc import PythonModel
from safetensors.torch import load_file

from stockcast.models.net import build_price_forecaster


def as_price_matrix(model_input: Any, previous_time_window: int) -> np.ndarray:
    """Rows of `previous_time_window` finite prices, from an array, a list of rows or a DataFrame."""
    values = model_input.to_numpy() if hasattr(model_input, "to_numpy") else model_input
    try:
        matrix = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("the input must hold numbers only") from None
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2 or matrix.shape[1] != previous_time_window:
        raise ValueError(
            f"each input row must hold exactly {previous_time_window} prices; "
            f"got shape {matrix.shape}"
        )
    if not np.isfinite(matrix).all():
        raise ValueError("the input holds NaN or infinite values; give finite prices")
    return matrix


class PriceForecastModel(PythonModel):
    def load_context(self, context: Any) -> None:
        spec = json.loads(Path(context.artifacts["spec"]).read_text())
        torch.set_num_threads(int(spec.get("num_threads", 1)))
        self.net = build_price_forecaster(spec)
        self.net.load_state_dict(load_file(context.artifacts["weights"]))
        self.net.eval()
        self.previous_time_window = int(spec["previous_time_window"])

    # No type hints here on purpose: MLflow would try to derive a schema from them.
    def predict(self, context, model_input, params=None):
        prices = as_price_matrix(model_input, self.previous_time_window)
        with torch.inference_mode():
            forecast = self.net(torch.from_numpy(prices).to(torch.float32))
        return forecast.to(torch.float64).numpy()


# The signature (a float tensor of prices) is declared when saving; MLflow's type-hint nudge
# would only add noise to every load.
warnings.filterwarnings("ignore", message="Add type hints to the `predict` method")
mlflow.models.set_model(PriceForecastModel())
