"""Evaluation: a model scored on every origin of the test split against the naive and seasonal
naive forecasts (points and bands, pooled, per step and per series), the Diebold–Mariano test,
plots and the gate's threshold verdict, written as report.json beside the scored windows."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from stockcast.data.calendar import date_bound
from stockcast.data.mase_scales import series_of_windows, series_scales
from stockcast.data.prepared import PreparedData
from stockcast.data.split import SPLITS
from stockcast.data.split_recuts import join_splits
from stockcast.data.window_times import window_times
from stockcast.evaluation.gate import report_gate
from stockcast.evaluation.report_plots import plot_report
from stockcast.evaluation.reports import REPORT_FILE, REPORT_KIND, WINDOWS_FILE
from stockcast.evaluation.series_scores import per_series_scores
from stockcast.evaluation.versus_naive import model_vs_naive_test, naive_within_rounding
from stockcast.files import read_json_object, write_json
from stockcast.forecasting.baselines import naive_forecast, seasonal_naive_from_history
from stockcast.forecasting.conformal import random_walk_bands
from stockcast.forecasting.intervals import Bands, recorded_unit
from stockcast.forecasting.metrics import interval_errors, score
from stockcast.forecasting.windows import RollingOrigins
from stockcast.serving.metadata import model_spec
from stockcast.serving.model import OpenModel

log = logging.getLogger(__name__)


def interval_report(actual: np.ndarray, bands: Bands) -> dict[str, Any]:
    """Per level: coverage, width, Winkler score and pinball loss per horizon step and pooled."""
    report = {}
    for level, (lower, upper) in bands.items():
        per_step = interval_errors(actual, lower, upper, level)
        pooled = interval_errors(
            actual.reshape(-1, 1), lower.reshape(-1, 1), upper.reshape(-1, 1), level
        )
        report[level] = {
            "nominal": int(level) / 100.0,
            "per_step": {name: values.tolist() for name, values in per_step.items()},
            "pooled": {name: float(values[0]) for name, values in pooled.items()},
        }
    return report


def window_history(
    prepared: PreparedData, windows: RollingOrigins, series: np.ndarray
) -> dict[str, np.ndarray]:
    """Every series' whole history laid end to end (`history`, `history_offsets`) and where each
    test window (of series `series`) has its first target in it (`history_targets`): a champion
    that reads more values than today's windows (a short new series shrank a data-chosen
    window) can be scored on the same origins from their longer past."""
    test = prepared.splits["test"]
    whole = join_splits(prepared.splits, SPLITS)
    from_end = test.offsets[series + 1] - windows.origins
    return {
        "history": whole.values,
        "history_offsets": whole.offsets,
        "history_targets": whole.offsets[series + 1] - from_end,
    }


def evaluate_model(
    cfg: DictConfig, prepared: PreparedData, model: OpenModel, output_dir: Path
) -> dict[str, Any]:
    """Score `model` on the test split, plot, judge the thresholds; writes report.json and the
    scored windows into `output_dir` and returns the report."""
    output_dir.mkdir(parents=True, exist_ok=True)
    windows = prepared.splits["test"].origins(prepared.window)
    inputs, actual = windows.inputs, windows.actual
    forecast, model_bands = model.forecast(inputs)
    spec = model_spec(model.folder)
    next_time_window, scale = windows.next_time_window, prepared.mase_scale
    test = prepared.splits["test"]
    window_series = series_of_windows(test, windows.origins)
    # Each window's MASE denominator is its own series' train scale: a panel's MASE (and the
    # gate and champion comparison that read it) weighs every series in its own units, not
    # the highest-priced one most; for one series this is `scale` itself.
    scales = series_scales(prepared.splits["train"])
    window_scales = scales[window_series]
    naive = naive_forecast(inputs, next_time_window)
    # A fallback's float32 answer of the last price is naive's (scored, saved and plotted so):
    # on a flat test span its rounding error alone made it infinitely worse than naive's 0.
    forecast = naive_within_rounding(forecast, naive)
    forecasts = {"model": forecast, "naive": naive}
    season = int(cfg.evaluate.season_length or prepared.season_length)
    history = window_history(prepared, windows, window_series)
    # From each series' past, not the window: a weekly series' 52-week season is longer than
    # any window the model reads, and naive's season-ago value is still the baseline to beat.
    if season >= 2:
        seasonal = seasonal_naive_from_history(
            history["history"],
            history["history_targets"],
            history["history_offsets"][window_series],
            next_time_window,
            season,
        )
        if seasonal is not None:
            forecasts["seasonal_naive"] = seasonal
        else:
            log.warning(
                "the seasonal-naive baseline is left out of the report: a test window has less "
                "than a season (%d values) of its series before it",
                season,
            )
    metrics = {name: score(values, actual, window_scales) for name, values in forecasts.items()}
    bands = {
        "model": model_bands,
        "naive": random_walk_bands(
            prepared.splits["train"].origins(prepared.window),
            inputs,
            [int(level) for level in model_bands],
            float(prepared.scaler["min_relative_scale"]),
            **recorded_unit(spec.get("intervals") or {}),
        ),
    }
    intervals = {name: interval_report(actual, b) for name, b in bands.items() if b}
    per_series = per_series_scores(
        test.series_ids,
        window_series,
        scales,
        forecasts,
        actual,
        model_bands,
    )
    test_dates = test.dates
    first_target_dates = None if test_dates is None else test_dates[windows.origins]
    dated = {} if first_target_dates is None else {"first_target_dates": first_target_dates}
    np.savez(
        output_dir / WINDOWS_FILE,
        inputs=inputs,
        actual=actual,
        forecast=forecast,
        scales=window_scales,
        **dated,
        **history,
    )

    plots = plot_report(
        prepared, windows, forecast, model_bands, metrics, per_series, output_dir, cfg
    )
    report = {
        "kind": REPORT_KIND,
        "model_hash": model.digest,
        "model_metadata": model.metadata,
        # How the model was chosen on validation: its kind, each member's weight and validation
        # error (for the ensemble, which kind and window won), and how its bands were calibrated.
        "model_selection": model_selection(spec),
        "data_hash": prepared.meta["data_hash"],
        "n_windows": len(windows),
        # Which windows scored which model: these test origins, this model's bytes (a refit of
        # it, fitted on these windows too, is never scored on them).
        "scored": {
            "model_hash": model.digest,
            "windows": len(windows),
            "first_target_from": date_bound(first_target_dates, np.min),
            "first_target_to": date_bound(first_target_dates),
        },
        "next_time_window": next_time_window,
        # The pooled train scale (a single series' MASE denominator); a panel's windows are each
        # divided by their own series' scale, kept in test_windows.npz as `scales`.
        "mase_scale": scale,
        "season_length": season if "seasonal_naive" in forecasts else None,
        "metrics": metrics,
        "intervals": intervals,
        "per_series": per_series,
        "diebold_mariano": {
            "model_vs_naive": model_vs_naive_test(
                forecast, naive, actual, window_scales, window_times(test, windows.origins)
            ),
            "note": (
                "negative statistic: the model's absolute errors are smaller than naive's; null: "
                "no verdict (the differences of the absolute errors do not vary, as where the "
                "model forecasts naive's values, or there are no more test windows than the step); "
                "a panel's windows of one date are tested as one observation, their mean"
            ),
        },
        "gate": report_gate({"metrics": metrics, "intervals": intervals}, cfg.gate),
        "plots": [p.name for p in plots],
    }
    previous = previous_plots(output_dir)
    write_json(output_dir / REPORT_FILE, report)
    # A report written here before drew other series (another model, evaluate.plot_series):
    # its plots would sit beside this report's as if they were of it.
    for name in previous - set(report["plots"]):
        (output_dir / name).unlink(missing_ok=True)
    return report


def previous_plots(output_dir: Path) -> set[str]:
    """The plot files the report already in `output_dir` lists (plain .png names there only)."""
    plots = (read_json_object(output_dir / REPORT_FILE) or {}).get("plots")
    if not isinstance(plots, list):
        return set()
    return {
        name
        for name in plots
        if isinstance(name, str) and name.endswith(".png") and Path(name).name == name
    }


def model_selection(spec: dict[str, Any]) -> dict[str, Any]:
    """What the spec says of the choices made on the validation windows."""
    intervals = spec.get("intervals") or {}
    return {
        "kind": spec.get("kind", "mlp"),
        "previous_time_window": spec["previous_time_window"],
        "combination": spec.get("combination"),
        "interval_methods": intervals.get("methods"),
        "interval_scale_span": intervals.get("scale_span"),
    }
