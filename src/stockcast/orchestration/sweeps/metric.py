"""The value a sweeper ranks a job by, read from the job's metrics: what the train task returns,
and what a launcher or sweeper reads back from a `metrics.json` when it has no return value (a
cloud job, a batch stopped part-way). Kept light: sweeper and launcher plugins import it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stockcast.errors import ConfigError

# The directions a sweep ranks its jobs in (`hydra.sweeper.direction`), the default first.
DIRECTIONS = ("minimize", "maximize")


def optimized_value(metrics: Mapping[str, Any], metric: str | None) -> float | None:
    """`val/mase` -> metrics['val']['mase'] as a float; inf for a value that was not finite (which
    `metrics.json` stores as null), so a sweep ranks it last; None without a metric to optimise."""
    if not metric:
        return None
    stage, _, name = metric.partition("/")
    measured = metrics.get(stage)
    if not isinstance(measured, Mapping) or name not in measured:
        computed = metrics.get("val")
        names = [f"val/{k}" for k in computed] if isinstance(computed, Mapping) else []
        raise ConfigError(f"optimized_metric {metric!r} was not computed; use one of {names}.")
    value = measured[name]
    if value is None:
        return float("inf")
    value = float(value)
    return value if math.isfinite(value) else float("inf")
