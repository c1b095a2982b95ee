"""What several interval test modules share: the scale floor, a small spec, a random walk."""

from __future__ import annotations

import numpy as np

# data.min_relative_scale's default: the band unit's floor, a share of the last price.
MIN_RELATIVE_SCALE = 1e-4
SPEC = {
    "previous_time_window": 6,
    "next_time_window": 3,
    "mlp": {"hidden_sizes": [8], "activation": "relu", "dropout": 0.0, "anchor": "last"},
    "scaler": {
        "kind": "per_window",
        "loc": 0.0,
        "scale": 1.0,
        "min_relative_scale": MIN_RELATIVE_SCALE,
    },
}


def random_walk(n: int, seed: int, volatility: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 + np.cumsum(rng.normal(0.0, volatility, n))
