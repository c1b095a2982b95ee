"""Normalisation statistics, fitted on the train split only and stored as plain JSON."""

from __future__ import annotations

from typing import Any

import numpy as np


def fit_scaler(kind: str, train_values: np.ndarray, min_relative_scale: float) -> dict[str, Any]:
    """Return the scaler spec the model is built with; global kinds see train values only.

    `kind` is one of schema.NORMALIZATIONS (the config schema refuses others before this runs).
    """
    loc, scale = 0.0, 1.0
    if kind == "standard":
        loc, scale = float(train_values.mean()), float(train_values.std())
    elif kind == "minmax":
        loc, scale = float(train_values.min()), float(np.ptp(train_values))
    if kind in ("standard", "minmax"):
        scale = max(scale, min_relative_scale * max(abs(loc), 1.0))
    return {"kind": kind, "loc": loc, "scale": scale, "min_relative_scale": min_relative_scale}
