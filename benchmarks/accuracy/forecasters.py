"""The forecasters `make bench-accuracy` compares: stockcast's defaults, the naive and seasonal
naive baselines, statsforecast's AutoETS and AutoTheta and NeuralForecast's MLP and NHITS (the
peers when installed: `pip install -e '.[peers]'`)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.accuracy.protocol import HORIZON, LEVELS, Cut, Result, cut, score
from benchmarks.common import forecast_seconds, quiet_console
from stockcast.forecasting.baselines import naive_forecast
from stockcast.forecasting.intervals import random_walk_bands
from stockcast.forecasting.windows import WindowSizes, rolling_origins

# Warm single-window forecasts timed per fitted model (the median is reported).
SERVE_CALLS = 200
# The untimed fit that warms the process: a short monthly-like series, a few optimizer steps.
WARM_UP_POINTS = 120
WARM_UP_STEPS = 2


def served_milliseconds(model: Any, window: np.ndarray, calls: int = SERVE_CALLS) -> float:
    """Median milliseconds of one forecast of one window through an opened model, warm."""
    return forecast_seconds(model, window, calls, warm_calls=min(calls, 20)) * 1e3


def naive(name: str, split: Cut) -> Result:
    """Last value, with random-walk intervals from the first 80%'s h-step changes."""
    values, p = split.values, 10
    inputs = values[split.origins[:, None] - p + np.arange(p)]
    history = rolling_origins(values[: split.start], WindowSizes(p, HORIZON))
    bands = random_walk_bands(history, inputs, [int(level) for level in LEVELS])
    return score(name, "naive", split, naive_forecast(inputs, HORIZON), bands)


def seasonal_naive(name: str, split: Cut, season: int) -> Result | None:
    """The value one season before each target (from the whole past, not only the window)."""
    if season <= 1:
        return None
    steps = np.arange(HORIZON)
    lags = season * (steps // season + 1) - steps
    forecast = split.values[split.origins[:, None] + steps - lags]
    return score(name, "seasonal naive", split, forecast)


def stockcast_default(
    name: str,
    split: Cut,
    overrides: Sequence[str] = (),
    label: str = "stockcast",
    refit: bool = False,
    experiment: str = "mlp_w10",
) -> list[Result]:
    """`experiment`'s model and training defaults on this series, fitted in process on the
    first 80% (its last fifth as validation), forecasting every held-out origin."""
    from omegaconf import open_dict

    from stockcast.config.compose import compose_config, local_store_overrides
    from stockcast.config.data_schema import CsvData
    from stockcast.config.schema import config_fields, validate_config
    from stockcast.data.prepared import PreparedData
    from stockcast.orchestration.steps.prepare import run_prepare
    from stockcast.serving.model import open_model_dir
    from stockcast.training.fit import run_training
    from stockcast.training.refit import refit_where_it_helps

    with tempfile.TemporaryDirectory(prefix="stockcast-bench-") as tmp:
        folder = Path(tmp)
        csv = folder / "series.csv"
        csv.write_text("value\n" + "\n".join(repr(float(v)) for v in split.values))
        # Train and validation are the first 80% (validation its last fifth); the test split is
        # exactly the held-out 20%, which training never reads.
        n, val_points = len(split.values), round(split.start * 0.2)
        # The pipeline's config: its refit settings (pipeline.refit_budget) apply below.
        cfg = compose_config(
            "pipeline",
            [
                f"experiment={experiment}",
                "data=csv",
                f"data.path={csv}",
                "data.date_column=null",
                "data.value_column=value",
                f"data.split.train={(split.start - val_points) / n!r}",
                f"data.split.val={val_points / n!r}",
                f"data.split.test={(n - split.start) / n!r}",
                "++data.allow_non_positive=true",
                "logger=none",
                "test=false",
                *local_store_overrides(folder),
                *overrides,
            ],
        )
        with open_dict(cfg):
            cfg.paths.output_dir = str(folder / "run")
            # An experiment's own data keys for its market (mlp_w10's length) mean nothing to a
            # file: keep the keys a CSV source reads.
            for key in set(cfg.data) - set(config_fields(CsvData)):
                del cfg.data[key]
        validate_config(cfg)
        begin = time.perf_counter()
        prepared = PreparedData.load(run_prepare(cfg, folder / "run" / "prepared"))
        summary = run_training(cfg, prepared, folder / "run", folder / "run" / "model")
        seconds = time.perf_counter() - begin
        p = prepared.window.previous_time_window
        inputs = split.values[split.origins[:, None] - p + np.arange(p)]
        evaluated = open_model_dir(folder / "run" / "model")
        forecast, bands = evaluated.forecast(inputs)
        served = served_milliseconds(evaluated, inputs[-1])
        results = [replace(score(name, label, split, forecast, bands, seconds), serve_ms=served)]
        if refit and not summary["fell_back_to_naive"]:
            # The pipeline's refit: train + validation (all but the held-out 20%), evaluated budget.
            begin = time.perf_counter()
            # The pipeline's decision too: refit only where its held-back check says it helps.
            refit_where_it_helps(
                cfg,
                prepared,
                folder / "run" / "model",
                folder / "run" / "refit",
                int(summary["best_step"]),
                int(summary["batch_size"]),
                splits=("train", "val"),
            )
            refit_seconds = seconds + time.perf_counter() - begin
            refitted = open_model_dir(folder / "run" / "refit")
            forecast, bands = refitted.forecast(inputs)
            scored = score(name, f"{label}+refit", split, forecast, bands, refit_seconds)
            served = served_milliseconds(refitted, inputs[-1])
            results.append(replace(scored, serve_ms=served))
        elif refit:
            results.append(replace(results[0], forecaster=f"{label}+refit"))
    return results


def warm_up(experiment: str, overrides: Sequence[str] = ()) -> None:
    """One untimed fit, check and refit of a short series before any timed one: the process's
    one-time costs (Lightning's and MLflow's lazy imports, MLflow's scan of every installed
    package when it first saves a model, several seconds here) are then not charged to the
    first series' fit seconds. The peers' fits are timed after their imports too."""
    from stockcast.errors import DataError

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


def auto_ets(name: str, split: Cut, season: int) -> Result | None:
    """statsforecast's AutoETS, fitted once on the first 80% and rolled over the rest."""
    return _statsforecast(name, split, season, "AutoETS")


def auto_theta(name: str, split: Cut, season: int) -> Result | None:
    """statsforecast's AutoTheta, fitted once on the first 80% and rolled over the rest."""
    return _statsforecast(name, split, season, "AutoTheta")


def _statsforecast(name: str, split: Cut, season: int, method: str) -> Result | None:
    try:
        import pandas as pd
        import statsforecast.models
        from statsforecast import StatsForecast
    except ImportError:
        return None
    frame = pd.DataFrame({"unique_id": "s", "ds": np.arange(len(split.values)), "y": split.values})
    factory = getattr(statsforecast.models, method)
    model = StatsForecast(models=[factory(season_length=max(season, 1))], freq=1, n_jobs=1)
    begin = time.perf_counter()
    cv = model.cross_validation(
        df=frame,
        h=HORIZON,
        step_size=1,
        n_windows=len(split.origins),
        refit=False,
        level=[int(level) for level in LEVELS],
    )
    seconds = time.perf_counter() - begin
    cv = cv.sort_values(["cutoff", "ds"])
    shape = (len(split.origins), HORIZON)
    forecast = cv[method].to_numpy().reshape(shape)
    bands = {
        level: (
            cv[f"{method}-lo-{level}"].to_numpy().reshape(shape),
            cv[f"{method}-hi-{level}"].to_numpy().reshape(shape),
        )
        for level in LEVELS
    }
    return score(name, method, split, forecast, bands, seconds)


def neuralforecast_mlp(name: str, split: Cut) -> Result | None:
    """NeuralForecast's MLP with its defaults (input size 10, as stockcast's), when installed."""
    return _neuralforecast(name, split, "MLP", input_size=10)


def neuralforecast_nhits(name: str, split: Cut, season: int) -> Result | None:
    """NeuralForecast's NHITS with its defaults, reading two seasons (never fewer than ten
    values, as stockcast's auto window)."""
    return _neuralforecast(name, split, "NHITS", input_size=max(10, 2 * season))


def _neuralforecast(name: str, split: Cut, method: str, input_size: int) -> Result | None:
    try:
        import neuralforecast.models
        import pandas as pd
        from neuralforecast import NeuralForecast
    except ImportError:
        return None
    quiet_console()  # after the import, which sets Lightning's loggers back to INFO
    frame = pd.DataFrame({"unique_id": "s", "ds": np.arange(len(split.values)), "y": split.values})
    with tempfile.TemporaryDirectory(prefix="stockcast-bench-nf-") as tmp:
        # Its Trainer would otherwise leave lightning_logs/ in the current directory.
        quiet = {
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": False,
            "default_root_dir": tmp,
        }
        factory = getattr(neuralforecast.models, method)
        model = NeuralForecast(models=[factory(h=HORIZON, input_size=input_size, **quiet)], freq=1)
        begin = time.perf_counter()
        cv = model.cross_validation(
            df=frame, n_windows=len(split.origins), step_size=1, refit=False
        )
        seconds = time.perf_counter() - begin
    cv = cv.sort_values(["cutoff", "ds"])
    forecast = cv[method].to_numpy().reshape(len(split.origins), HORIZON)
    return score(name, f"NeuralForecast {method}", split, forecast, None, seconds)


# AutoGluon's models that need no download (its pretrained Chronos models fetch weights), run
# for at most AUTOGLUON_TIME_LIMIT_S per series, with its validation-weighted ensemble on top.
AUTOGLUON_MODELS = (
    "Naive",
    "SeasonalNaive",
    "ETS",
    "Theta",
    "RecursiveTabular",
    "DirectTabular",
    "DeepAR",
    "PatchTST",
    "TemporalFusionTransformer",
    "DLinear",
)
AUTOGLUON_TIME_LIMIT_S = 120
AUTOGLUON_SEED = 123
# Each level's band from AutoGluon's quantiles at its two tails (80: 0.1 and 0.9).
AUTOGLUON_QUANTILES = {
    level: (round((100 - int(level)) / 200, 6), round((100 + int(level)) / 200, 6))
    for level in LEVELS
}


def autogluon(name: str, split: Cut, season: int, python: str) -> Result | None:
    """AutoGluon-TimeSeries through its own interpreter (`autogluon_runner.py`), fitted once on
    the first 80% and forecasting every held-out origin; None, with the reason on stderr, when
    that interpreter is missing or fails."""
    if not Path(python).is_file():
        print(f"  AutoGluon skipped: no interpreter at {python}", file=sys.stderr)
        return None
    runner = Path(__file__).with_name("autogluon_runner.py")
    quantiles = sorted({q for pair in AUTOGLUON_QUANTILES.values() for q in pair})
    with tempfile.TemporaryDirectory(prefix="stockcast-bench-ag-") as tmp:
        request, answer = Path(tmp) / "request.json", Path(tmp) / "answer.json"
        request.write_text(
            json.dumps(
                {
                    "values": split.values.tolist(),
                    "start": split.start,
                    "origins": split.origins.tolist(),
                    "horizon": HORIZON,
                    "season": max(season, 1),
                    "quantiles": quantiles,
                    "models": list(AUTOGLUON_MODELS),
                    "time_limit": AUTOGLUON_TIME_LIMIT_S,
                    "seed": AUTOGLUON_SEED,
                }
            )
        )
        done = subprocess.run(
            [python, str(runner), str(request), str(answer)], capture_output=True, text=True
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"  AutoGluon failed on {name}: {last}", file=sys.stderr)
            return None
        found = json.loads(answer.read_text())
    print(
        f"  AutoGluon's best on validation: {found['best']} of {found['models']}", file=sys.stderr
    )
    shape = (len(split.origins), HORIZON)
    forecast = np.asarray(found["mean"], dtype=np.float64).reshape(shape)
    bands = {
        level: tuple(
            np.asarray(found["quantiles"][str(q)], dtype=np.float64).reshape(shape) for q in pair
        )
        for level, pair in AUTOGLUON_QUANTILES.items()
    }
    return score(name, "AutoGluon", split, forecast, bands, float(found["fit_seconds"]))
