"""Normalisation statistics, fitted on the train split only and stored as plain JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# Kinds whose statistics come from the train values (per_window_level measures each window's
# level and spread against them).
GLOBAL_KINDS = ("standard", "per_window_level", "minmax")


def normalization_kinds(normalization: str | Sequence[str]) -> list[str]:
    """`data.normalization` as a list: one kind, or one per ensemble member."""
    return [normalization] if isinstance(normalization, str) else [str(k) for k in normalization]


def data_level(segments: Sequence[np.ndarray]) -> float:
    """The smallest of the series' mean absolute values (zeros aside; 1 where every series is
    zeros): the size the per-window floor's absolute term is a share of. The smallest, so a
    panel's token priced at 1e-8 keeps its own spread beside a stock at 30,000."""
    sizes = [float(np.abs(segment).mean()) for segment in segments if len(segment)]
    moving = [size for size in sizes if size > 0]
    return min(moving) if moving else 1.0


def fit_scaler(
    normalization: str | Sequence[str],
    train_values: np.ndarray,
    min_relative_scale: float,
    segments: Sequence[np.ndarray] | None = None,
) -> dict[str, Any]:
    """Return the scaler spec the model is built with; global kinds see train values only.

    One kind gives one spec; several give one member spec each (an ensemble), under a kind that
    names them all. Every kind is one of schema.NORMALIZATIONS (the config schema refuses others
    before this runs).
    """
    kinds = normalization_kinds(normalization)
    # What the per-window floor's absolute term is a share of (`segments`: each series' train
    # values; none: one series): a window of zeros gets a unit of the data's size, a token
    # priced at 1e-8 one far below its spread.
    shared = {
        "min_relative_scale": min_relative_scale,
        "level": data_level([train_values] if segments is None else segments),
    }
    level = shared["level"]
    if len(kinds) > 1:
        members = [_statistics(kind, train_values, min_relative_scale, level) for kind in kinds]
        return {"kind": "+".join(kinds), "members": members, **shared}
    return _statistics(kinds[0], train_values, min_relative_scale, level) | shared


def refit_scaler(
    scaler: dict[str, Any], train_values: np.ndarray, segments: Sequence[np.ndarray] | None = None
) -> dict[str, Any]:
    """`scaler`'s kinds fitted anew on `train_values` (`segments`: each series' part): a fit on
    part of the train split (a rolling-origin fold) must not scale by statistics of the span it
    is scored on."""
    members = scaler.get("members") or [scaler]
    kinds = [str(member["kind"]) for member in members]
    return fit_scaler(kinds, train_values, float(scaler["min_relative_scale"]), segments)


def _statistics(
    kind: str, train_values: np.ndarray, min_relative_scale: float, level: float
) -> dict[str, Any]:
    """A global kind's loc and scale, the scale floored at a share of the train level, or of
    the data's size (`level`) where that level is about 0 (values crossing zero): a floor of
    at least 1 in the data's units was two thousand times the spread of prices near 1e-6."""
    loc, scale = 0.0, 1.0
    if kind in ("standard", "per_window_level"):
        loc, scale = float(train_values.mean()), float(train_values.std())
    elif kind == "minmax":
        loc, scale = float(train_values.min()), float(np.ptp(train_values))
    if kind in GLOBAL_KINDS:
        scale = max(scale, min_relative_scale * max(abs(loc), level))
    return {"kind": kind, "loc": loc, "scale": scale}
