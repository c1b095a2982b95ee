"""Forecasting many windows `data.eval_batch_size` at a time: a panel's held-out windows through
every member at once can take gigabytes, where one batch at a time takes the batch's share."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def forward_in_batches(
    forward: Callable[[torch.Tensor], torch.Tensor],
    inputs: np.ndarray,
    batch_size: int | None,
    windows_axis: int = 0,
) -> np.ndarray:
    """`forward` of every row of `inputs`, `batch_size` rows at a time (None: all at once),
    joined along `forward`'s windows axis (1 for member forecasts: (members, windows,
    horizon)), in float64 as every caller scores it. The caller puts the network in eval
    mode."""
    with torch.inference_mode():
        rows = torch.tensor(inputs, dtype=torch.float32)  # a copy: windows are read-only views
        chunks = rows.split(batch_size or max(len(rows), 1))
        joined = torch.cat([forward(chunk) for chunk in chunks], dim=windows_axis)
    return joined.double().numpy()
