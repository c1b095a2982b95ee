"""Evaluate step: model folder + prepared folder -> report folder (metrics, baselines, plots, gate)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from stockcast.config.task import hydra_task
from stockcast.data.calendar import date_bound
from stockcast.data.prepared import PreparedData
from stockcast.errors import ArtifactError
from stockcast.evaluation.series_scores import (
    best_and_worst,
    per_series_scores,
    series_of_windows,
    series_scales,
)
from stockcast.files import write_json
from stockcast.forecasting import (
    Bands,
    RollingOrigins,
    check_window_sizes,
    diebold_mariano,
    interval_errors,
    naive_forecast,
    random_walk_bands,
    rolling_origins,
    score,
    seasonal_naive_forecast,
    split_forecast_frame,
)
from stockcast.orchestration.steps.table import REPORT_FILE, WINDOWS_FILE
from stockcast.serving.metadata import read_model_metadata

log = logging.getLogger(__name__)


REPORT_KIND = "stockcast.report"


def origins_of_test_split(prepared: PreparedData) -> RollingOrigins:
    """Every forecast origin of the test split (step 1), never crossing from one series to the next."""
    test, window = prepared.splits["test"], prepared.window
    return rolling_origins(
        test.values,
        window.previous_time_window,
        window.next_time_window,
        test.window_starts(window),
    )


def train_random_walk_bands(prepared: PreparedData, inputs: np.ndarray, levels: list[str]) -> Bands:
    """The naive forecast's bands, calibrated on the train split's h-step changes."""
    train, window = prepared.splits["train"], prepared.window
    history = rolling_origins(
        train.values,
        window.previous_time_window,
        window.next_time_window,
        train.window_starts(window),
    )
    return random_walk_bands(
        history,
        inputs,
        [int(level) for level in levels],
        float(prepared.scaler["min_relative_scale"]),
    )


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


def model_vs_naive_test(forecast: np.ndarray, naive: np.ndarray, actual: np.ndarray) -> dict:
    """Diebold–Mariano statistic and p-value per horizon step: is "beats naive" more than luck?"""
    tests = [
        diebold_mariano(forecast[:, k] - actual[:, k], naive[:, k] - actual[:, k], k + 1)
        for k in range(actual.shape[1])
    ]
    return {
        "statistic": [statistic for statistic, _ in tests],
        "p_value": [p_value for _, p_value in tests],
    }


def coverage_check(
    model_intervals: dict[str, Any], max_gap: float | None
) -> list[tuple[bool, str]]:
    """Gate checks that each level's pooled coverage is within `max_gap` of its nominal."""
    if max_gap is None:
        return []
    checks = []
    for level, scores in model_intervals.items():
        coverage, nominal = scores["pooled"]["coverage"], scores["nominal"]
        ok = bool(abs(coverage - nominal) <= float(max_gap))
        checks.append(
            (
                ok,
                f"{level}% interval coverage {coverage:.3f} is "
                f"{'within' if ok else 'further than'} the gate's max_coverage_gap "
                f"{float(max_gap):g} of {nominal:g}",
            )
        )
    return checks


def gate_threshold(
    test_mase: float,
    naive_mase: float,
    max_mase: float | None,
    max_vs_naive: float | None,
    extra_checks: list[tuple[bool, str]] | None = None,
) -> dict[str, Any]:
    """The threshold half of the gate: absolute MASE and/or MASE relative to the naive forecast
    on the same windows (robust to a test period whose price level differs from train's), plus
    any extra checks (interval coverage)."""
    checks = []
    if max_mase is not None:
        ok = bool(np.isfinite(test_mase) and test_mase < max_mase)
        verb = "is below" if ok else "is not below"
        checks.append((ok, f"test MASE {test_mase:.4f} {verb} the gate's max_mase {max_mase:g}"))
    if max_vs_naive is not None:
        ratio = test_mase / naive_mase if naive_mase > 0 else float("inf")
        ok = bool(np.isfinite(ratio) and ratio <= max_vs_naive)
        verb = "is within" if ok else "is above"
        checks.append(
            (
                ok,
                f"test MASE is {ratio:.3f}x the naive forecast's ({naive_mase:.4f}), which "
                f"{verb} the gate's max_mase_vs_naive {max_vs_naive:g}",
            )
        )
    checks += extra_checks or []
    failed = [reason for ok, reason in checks if not ok]
    return {
        "passed": not failed,
        "reason": "; ".join(failed or [reason for _, reason in checks] or ["no threshold set"]),
        "test_mase": test_mase,
        "naive_mase": naive_mase,
        "max_mase": max_mase,
        "max_mase_vs_naive": max_vs_naive,
    }


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def run_evaluate(cfg: DictConfig) -> dict[str, Any]:
    from stockcast.serving.loading import load_verified_model

    model_dir = Path(cfg.evaluate.model_dir)
    metadata = read_model_metadata(model_dir)
    prepared = PreparedData.load(cfg.evaluate.prepared_dir)
    check_window_sizes(
        (metadata["previous_time_window"], metadata["next_time_window"]),
        (prepared.window.previous_time_window, prepared.window.next_time_window),
        f"model {model_dir}",
        "the prepared data has windows of",
    )
    output_dir = Path(cfg.evaluate.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    windows = origins_of_test_split(prepared)
    inputs, actual = windows.inputs, windows.actual
    # The report names exactly the bytes that were loaded and scored.
    loaded = load_verified_model(model_dir)
    forecast, model_bands = split_forecast_frame(loaded.pyfunc.predict(inputs))
    next_time_window, scale = windows.next_time_window, prepared.mase_scale
    naive = naive_forecast(inputs, next_time_window)
    forecasts = {"model": forecast, "naive": naive}
    season = int(cfg.evaluate.season_length)
    if 1 <= season <= inputs.shape[1]:
        forecasts["seasonal_naive"] = seasonal_naive_forecast(inputs, next_time_window, season)
    metrics = {name: score(values, actual, scale) for name, values in forecasts.items()}
    bands = {
        "model": model_bands,
        "naive": train_random_walk_bands(prepared, inputs, list(model_bands)),
    }
    intervals = {name: interval_report(actual, b) for name, b in bands.items() if b}
    test = prepared.splits["test"]
    per_series = per_series_scores(
        test.series_ids,
        series_of_windows(test, windows.origins),
        series_scales(prepared.splits["train"]),
        forecasts,
        actual,
        model_bands,
    )
    test_dates = prepared.splits["test"].dates
    first_target_dates = None if test_dates is None else test_dates[windows.origins]
    dated = {} if first_target_dates is None else {"first_target_dates": first_target_dates}
    np.savez(output_dir / WINDOWS_FILE, inputs=inputs, actual=actual, forecast=forecast, **dated)

    plots = _plot(prepared, windows, forecast, model_bands, metrics, per_series, output_dir, cfg)
    test_mase = metrics["model"]["pooled"]["mase"]
    report = {
        "kind": REPORT_KIND,
        "model_hash": loaded.digest,
        "model_metadata": metadata,
        "data_hash": prepared.meta["data_hash"],
        "n_windows": len(windows),
        # Which windows scored which model: these test origins, this model's bytes (a refit of
        # it, fitted on these windows too, is never scored on them).
        "scored": {
            "model_hash": loaded.digest,
            "windows": len(windows),
            "first_target_from": date_bound(first_target_dates, np.min),
            "first_target_to": date_bound(first_target_dates),
        },
        "next_time_window": next_time_window,
        "mase_scale": scale,
        "season_length": season if "seasonal_naive" in forecasts else None,
        "metrics": metrics,
        "intervals": intervals,
        "per_series": per_series,
        "diebold_mariano": {
            "model_vs_naive": model_vs_naive_test(forecast, naive, actual),
            "note": "negative statistic: the model's absolute errors are smaller than naive's",
        },
        "gate": gate_threshold(
            test_mase,
            metrics["naive"]["pooled"]["mase"],
            _optional_float(cfg.gate.max_mase),
            _optional_float(cfg.gate.max_mase_vs_naive),
            coverage_check(intervals.get("model", {}), cfg.gate.max_coverage_gap),
        ),
        "plots": [p.name for p in plots],
    }
    write_json(output_dir / REPORT_FILE, report)
    pooled = {name: m["pooled"]["mase"] for name, m in metrics.items()}
    log.info(
        "test MASE over %d origins: %s; gate %s",
        len(windows),
        ", ".join(f"{k} {v:.4f}" for k, v in pooled.items()),
        "passed" if report["gate"]["passed"] else f"refused ({report['gate']['reason']})",
    )
    return report


def _plot(
    prepared: PreparedData,
    windows: RollingOrigins,
    forecast: np.ndarray,
    bands: Bands,
    metrics: dict[str, Any],
    per_series: dict[str, Any],
    output_dir: Path,
    cfg: DictConfig,
) -> list[Path]:
    """The forecasts of the best and worst `evaluate.plot_series` series (by MASE relative to
    naive; the only one when there is one), the MASE distribution over series when there are
    several, and the error by horizon step."""
    from stockcast.evaluation.plots import (
        plot_error_by_horizon,
        plot_mase_by_series,
        plot_rolling_forecasts,
    )

    test, horizon = prepared.splits["test"], windows.next_time_window
    rows = per_series["series"]
    position = {series_id: i for i, series_id in enumerate(test.series_ids)}
    chosen = [position[rows[i]["id"]] for i in best_and_worst(rows, int(cfg.evaluate.plot_series))]
    paths = []
    for index in chosen:
        lo, hi = int(test.offsets[index]), int(test.offsets[index + 1])
        lines = {
            f"model, {step}-step ahead": windows.aligned(forecast, step, lo, hi - lo)
            for step in sorted({1, horizon})
        }
        shaded = {
            f"{level}% interval, 1-step ahead": (
                windows.aligned(lower, 1, lo, hi - lo),
                windows.aligned(upper, 1, lo, hi - lo),
            )
            for level, (lower, upper) in bands.items()
        }
        dates = None if test.dates is None else test.dates[lo:hi]
        series_id = test.series_ids[index]
        paths.append(
            plot_rolling_forecasts(
                output_dir / f"forecast_vs_actual_{series_id}.png",
                test.values[lo:hi],
                lines,
                title=f"Rolling forecasts over the test split: {series_id}",
                x=dates,
                bands=shaded,
            )
        )
    if len(rows) > 1:
        paths.append(
            plot_mase_by_series(
                output_dir / "mase_by_series.png",
                np.array([row["mase_vs_naive"] for row in rows]),
                title=f"Test MASE relative to naive, per series ({len(rows)} series)",
            )
        )
    per_step_mae = {name: m["per_step"]["mae"] for name, m in metrics.items()}
    paths.append(
        plot_error_by_horizon(
            output_dir / "error_by_horizon.png",
            per_step_mae,
            title=f"Test MAE by horizon step ({len(windows)} origins)",
        )
    )
    return paths


def read_report(report_dir: str | Path) -> dict[str, Any]:
    import json

    report_dir = Path(report_dir)
    path = report_dir / REPORT_FILE
    if not report_dir.is_dir():
        raise ArtifactError(
            f"report folder {report_dir} does not exist; run the evaluate step first."
        )
    report = json.loads(path.read_text()) if path.is_file() else {}
    if report.get("kind") != REPORT_KIND:
        raise ArtifactError(
            f"{report_dir} is not an evaluation report folder (no {REPORT_FILE} of kind "
            f"{REPORT_KIND!r}); point it at the evaluate step's output."
        )
    return report


def check_report_matches(report: dict[str, Any], report_dir: str | Path, digest: str) -> None:
    """Refuse a report that scored other bytes than the model folder at hand (hash `digest`)."""
    if report["model_hash"] != digest:
        raise ArtifactError(
            f"report {report_dir} was made for another model (hash {report['model_hash']}, this "
            f"model {digest}); evaluate this model folder first."
        )


main = hydra_task(run_evaluate)

if __name__ == "__main__":
    main()
