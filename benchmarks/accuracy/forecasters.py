"""stockcast's forecasters in `make bench-accuracy`: its experiment fitted as the pipeline
fits it (and the process warmed before the first timed fit), and the naive and seasonal naive
baselines. The peers are in `peers.py`."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.accuracy.fit_data import PreparedCsv, cut_config, fit_data
from benchmarks.accuracy.protocol import HORIZON, LEVELS, Cut, Result, cut, score
from benchmarks.common import forecast_seconds
from stockcast.errors import DataError
from stockcast.forecasting.baselines import naive_forecast, seasonal_naive_forecast
from stockcast.forecasting.conformal import random_walk_bands
from stockcast.forecasting.windows import WindowSizes, rolling_origins

if TYPE_CHECKING:
    from omegaconf import DictConfig

# Warm single-window forecasts timed per fitted model (the median is reported).
SERVE_CALLS = 200
# The untimed fit that warms the process: a short monthly-like series, a few optimizer steps.
WARM_UP_POINTS = 120
WARM_UP_STEPS = 2


def configured_min_relative_scale(overrides: tuple[str, ...]) -> float:
    """`data.min_relative_scale` as the config the fits compose (the pipeline's: its refit
    settings apply) with the run's `overrides` (its experiment among them) sets it: the naive
    baseline's band unit is floored as the model's is. Composed and validated before any fit, so
    an override that config lacks, or a value it refuses, is refused then (the warm-up fit sets
    its own trainer.max_steps, so trainer.max_steps=abc was refused only after it), and one it
    has (`pipeline.refit_budget=steps`) is not."""
    from stockcast.config.compose import compose_config
    from stockcast.config.schema import validate_config

    cfg = compose_config("pipeline", overrides, what="the bench's config")
    validate_config(cfg)
    return float(cfg.data.min_relative_scale)


def served_milliseconds(model: Any, window: np.ndarray, calls: int = SERVE_CALLS) -> float:
    """Median milliseconds of one forecast of one window through an opened model, warm."""
    return forecast_seconds(model, window, calls, warm_calls=min(calls, 20)) * 1e3


def naive(name: str, split: Cut, min_relative_scale: float) -> Result:
    """Last value, with random-walk intervals from the first 80%'s h-step changes, their unit
    floored at `min_relative_scale` of the price."""
    values, p = split.values, 10
    inputs = values[split.origins[:, None] - p + np.arange(p)]
    history = rolling_origins(values[: split.start], WindowSizes(p, HORIZON))
    bands = random_walk_bands(
        history,
        inputs,
        [int(level) for level in LEVELS],
        min_relative_scale=min_relative_scale,
    )
    return score(name, "naive", split, naive_forecast(inputs, HORIZON), bands)


def seasonal_naive(name: str, split: Cut, season: int) -> Result | None:
    """The value one season before each target, from the season before each origin (the whole
    past, not only a model's window): the package's own baseline, fed that season."""
    if season <= 1:
        return None
    inputs = split.values[split.origins[:, None] - season + np.arange(season)]
    return score(name, "seasonal naive", split, seasonal_naive_forecast(inputs, HORIZON, season))


@dataclass(frozen=True)
class EvaluatedFit:
    """`experiment`'s evaluated fit on a cut series: its run folder (temporary), config, prepared
    data, the train step's summary and the seconds from prepare to the saved model."""

    folder: Path
    cfg: DictConfig
    prepared: Any
    summary: dict[str, Any]
    seconds: float

    @property
    def model_dir(self) -> Path:
        return self.folder / "run" / "model"

    def inputs(self, split: Cut, origins: np.ndarray) -> np.ndarray:
        """The window the model reads before each of `origins` (index of its first target)."""
        p = self.prepared.window.previous_time_window
        return split.values[origins[:, None] - p + np.arange(p)]


@contextmanager
def evaluated_fit(
    split: Cut,
    overrides: Sequence[str] = (),
    experiment: str = "mlp_w10",
    prepared: PreparedCsv | None = None,
) -> Iterator[EvaluatedFit]:
    """`experiment`'s model and training defaults on this series, fitted in process on the
    first 80% (its last fifth as validation), on its `prepared` data where given (else
    prepared here); its folder lasts while the context does."""
    from stockcast.training.training_run import run_training

    with tempfile.TemporaryDirectory(prefix="stockcast-bench-") as tmp:
        folder = Path(tmp)
        cfg = cut_config(folder, split, experiment, overrides)
        begin = time.perf_counter()
        data = fit_data(cfg, folder / "run" / "prepared", prepared)
        refuse_another_cut(data, split.start)
        summary = run_training(cfg, data, folder / "run", folder / "run" / "model")
        # Prepared before any fit or here: the seconds from prepare to the saved model.
        seconds = time.perf_counter() - begin + (prepared.seconds if prepared else 0.0)
        yield EvaluatedFit(folder, cfg, data, summary, seconds)


def stockcast_default(
    name: str,
    split: Cut,
    overrides: Sequence[str] = (),
    label: str = "stockcast",
    refit: bool = False,
    experiment: str = "mlp_w10",
    prepared: PreparedCsv | None = None,
) -> list[Result]:
    """`experiment`'s model (`evaluated_fit`, on `prepared` data where given) forecasting every
    held-out origin, and with `refit` the model the pipeline would register after it."""
    from stockcast.serving.model import open_model_dir
    from stockcast.training.evaluated_recipe import evaluated_lr_drops
    from stockcast.training.refit import refit_where_it_helps

    with evaluated_fit(split, overrides, experiment, prepared) as fitted:
        inputs = fitted.inputs(split, split.origins)
        evaluated = open_model_dir(fitted.model_dir)
        forecast, bands = evaluated.forecast(inputs)
        served = served_milliseconds(evaluated, inputs[-1])
        scored = score(name, label, split, forecast, bands, fitted.seconds)
        results = [replace(scored, serve_ms=served)]
        if refit and not fitted.summary["fell_back_to_naive"]:
            # The pipeline's refit: train + validation (all but the held-out 20%), evaluated budget.
            begin = time.perf_counter()
            refitted_dir = fitted.folder / "run" / "refit"
            # The pipeline's decision too: refit only where its held-back check says it helps.
            refit_where_it_helps(
                fitted.cfg,
                fitted.prepared,
                fitted.model_dir,
                refitted_dir,
                int(fitted.summary["best_step"]),
                int(fitted.summary["batch_size"]),
                splits=("train", "val"),
                lr_drops=evaluated_lr_drops(fitted.summary),
            )
            refit_seconds = fitted.seconds + time.perf_counter() - begin
            refitted = open_model_dir(refitted_dir)
            forecast, bands = refitted.forecast(inputs)
            scored = score(name, f"{label}+refit", split, forecast, bands, refit_seconds)
            served = served_milliseconds(refitted, inputs[-1])
            results.append(replace(scored, serve_ms=served))
        elif refit:
            results.append(replace(results[0], forecaster=f"{label}+refit"))
    return results


def refuse_another_cut(prepared: Any, start: int) -> None:
    """The split fractions must cut train + validation at exactly the held-out part's start:
    one value more would train on a scored target (`split_lengths` rounds the fractions)."""
    val = prepared.splits["val"]
    fitted = len(prepared.splits["train"].values) + len(val.values) - val.context
    if fitted != start:
        raise RuntimeError(
            f"the split fractions give train and validation {fitted} values where the held-out "
            f"part starts at {start}; the protocol's cut is not the prepared data's"
        )


def warm_up(experiment: str, overrides: Sequence[str] = ()) -> None:
    """One untimed fit, check and refit of a short series before any timed one: the process's
    one-time costs (Lightning's and MLflow's lazy imports, MLflow's scan of every installed
    package when it first saves a model, several seconds here) are then not charged to the
    first series' fit seconds. The peers' fits are timed after their imports too."""
    steps = np.arange(WARM_UP_POINTS)
    values = 100.0 + steps / 20 + np.sin(2 * np.pi * steps / 12)
    try:
        stockcast_default(
            "warm-up",
            cut(values),
            [*overrides, f"trainer.max_steps={WARM_UP_STEPS}", "fit.naive_fallback=false"],
            refit=True,
            experiment=experiment,
        )
    except DataError as err:  # overrides asking for more values than the short series holds
        print(f"warm-up skipped, so the first fit is timed cold: {err}", file=sys.stderr)
