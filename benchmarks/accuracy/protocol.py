"""The scoring protocol of `make bench-accuracy`, the same for every forecaster.

Each series is cut at 80%: forecasters fit on the first 80% only, then forecast from every origin
whose five targets lie in the last 20% (rolling origin, step 1, horizon 5). MASE divides the MAE
by the one-step naive MAE of the first 80%; 80/95% interval coverage is pooled over all targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stockcast.forecasting.intervals import Bands
from stockcast.forecasting.metrics import pooled_errors

HORIZON = 5
TEST_FRACTION = 0.2
LEVELS = ("80", "95")


@dataclass(frozen=True)
class Cut:
    """Where the series is cut and the rolling origins over the held-out 20%."""

    values: np.ndarray
    start: int  # index of the first held-out value
    origins: np.ndarray  # index of each forecast's first target

    @property
    def actual(self) -> np.ndarray:
        return self.values[self.origins[:, None] + np.arange(HORIZON)]

    @property
    def mase_scale(self) -> float:
        return float(np.abs(np.diff(self.values[: self.start])).mean())


def cut(values: np.ndarray) -> Cut:
    values = np.asarray(values, dtype=np.float64)
    start = len(values) - round(len(values) * TEST_FRACTION)
    return Cut(values, start, np.arange(start, len(values) - HORIZON + 1))


@dataclass
class Result:
    """One forecaster on one series."""

    series: str
    forecaster: str
    mase: float
    coverage: dict[str, float] = field(default_factory=dict)
    fit_seconds: float = float("nan")
    # Median milliseconds of one single-window forecast through the opened model (stockcast's
    # only): what one served request pays.
    serve_ms: float = float("nan")
    # The SHA-256 of the series' values and the settings it was scored under (`--peers-from`
    # reuses a peer's row only for the same); not part of what the result is.
    scored_sha256: str = field(default="", compare=False)
    # A peer's package version that scored it ("" for stockcast and the baselines).
    peer_version: str = field(default="", compare=False)


def score(
    series: str,
    forecaster: str,
    split: Cut,
    forecast: np.ndarray,
    bands: Bands | None = None,
    fit_seconds: float = float("nan"),
) -> Result:
    actual = split.actual
    coverage = {
        level: float(((actual >= lower) & (actual <= upper)).mean())
        for level, (lower, upper) in (bands or {}).items()
    }
    mase = pooled_errors(forecast, actual, split.mase_scale)["mase"]
    return Result(series, forecaster, mase, coverage, fit_seconds)
