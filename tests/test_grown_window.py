"""A champion trained before `data.previous_time_window=auto` grew with the data: the daily loop
still compares it, stores its forecasts and warm-starts (cold that day) instead of failing."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from stockcast.evaluation.champion import decide
from stockcast.evaluation.champion_score import Candidate, champion_inputs, compare_with_champion
from stockcast.evaluation.maturity import Observed
from stockcast.evaluation.reports import WINDOWS_FILE
from stockcast.evaluation.versus_naive import naive_within_rounding
from stockcast.forecasting.metrics import pooled_errors
from stockcast.orchestration.replay_record import store_champion
from stockcast.prediction.ledger_forecast import champion_forecasts, store_champion_forecast
from stockcast.registry.ledger import Ledger
from stockcast.registry.store import ModelRegistry
from stockcast.serving.metadata import evaluated_model_dir, model_spec, read_model_metadata
from stockcast.serving.model import open_model_dir, open_version
from stockcast.training.summary import METRICS_FILE
from tests.conftest import MODEL, PIPELINE_FAST, run_train

# The session's registered model reads 10 values and forecasts 5.
P, H = 10, 5


def as_scored(forecast: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """A forecast as the champion comparison scores it: within float32's rounding of the last
    input's value, that value (`naive_within_rounding`)."""
    return naive_within_rounding(forecast, np.repeat(inputs[:, -1:], forecast.shape[1], axis=1))


def registry_of(store: Path) -> ModelRegistry:
    return ModelRegistry(f"sqlite:///{store}/mlruns.db", MODEL)


def prices(rows: int, width: int, seed: int = 0) -> np.ndarray:
    steps = np.random.default_rng(seed).normal(0, 1, (rows, width))
    return 100 + np.cumsum(steps, axis=1)


def candidate_with_windows(folder: Path, width: int, horizon: int = H) -> Candidate:
    """A candidate whose report holds 30 test windows of `width` inputs and `horizon` targets
    (naive forecasts) and passed the gate's thresholds."""
    series = prices(30, width + horizon)
    inputs, actual = series[:, :width], series[:, width:]
    forecast = np.repeat(inputs[:, -1:], horizon, axis=1)
    folder.mkdir(parents=True)
    np.savez(folder / WINDOWS_FILE, inputs=inputs, actual=actual, forecast=forecast)
    report = {"mase_scale": 1.0, "gate": {"passed": True, "reason": "it beat naive"}}
    return Candidate(folder, folder, report, folder / "work")


def test_a_champion_is_scored_on_the_newest_values_of_longer_windows(
    registered_store: Path, tmp_path: Path
) -> None:
    registry = registry_of(registered_store)
    champion = registry.resolve(version=1)
    candidate = candidate_with_windows(tmp_path / "report", P + 4)
    score = compare_with_champion(registry, champion, candidate)

    windows = np.load(tmp_path / "report" / WINDOWS_FILE)
    opened = open_version(registry, champion, tmp_path / "expected")
    scored = open_model_dir(evaluated_model_dir(opened.folder))
    expected, _ = scored.forecast(windows["inputs"][:, -P:])
    expected = as_scored(expected, windows["inputs"])
    assert score.windows == 30
    assert score.champion_mase == pytest.approx(
        pooled_errors(expected, windows["actual"], 1.0)["mase"], rel=1e-12
    )
    # Windows shorter than the champion's still cannot be scored.
    short = compare_with_champion(registry, champion, candidate_with_windows(tmp_path / "s", P - 2))
    assert short.champion_mase is None and short.windows == 0
    assert f"takes {P} values and forecasts {H}, but the report's test data has windows of" in (
        short.note
    )


def test_a_champion_fitted_on_every_test_window_is_not_compared(
    registered_store: Path, tmp_path: Path
) -> None:
    """Windows the champion's evaluated model was fitted or chosen on would flatter it (a
    champion without data tags, which the gate cannot tell to be of later data)."""
    registry = registry_of(registered_store)
    champion = registry.resolve(version=1)
    candidate = candidate_with_windows(tmp_path / "report", P)
    opened = open_version(registry, champion, tmp_path / "v1")
    fit_end = read_model_metadata(evaluated_model_dir(opened.folder))["fit_data_end"]
    with np.load(tmp_path / "report" / WINDOWS_FILE) as saved:
        arrays = dict(saved)
    arrays["first_target_dates"] = np.full(len(arrays["actual"]), np.datetime64(fit_end, "ns"))
    np.savez(tmp_path / "report" / WINDOWS_FILE, **arrays)
    score = compare_with_champion(registry, champion, candidate)
    assert (score.champion_mase, score.windows) == (None, 0)
    assert score.note == (
        f"champion version 1 was fitted on data through {fit_end}, which covers every test "
        "window, so it cannot be scored fairly on them"
    )


def test_a_champion_of_another_horizon_hands_its_place_over(
    registered_store: Path, tmp_path: Path
) -> None:
    """data.next_time_window changed: the champion answers another question and is no rival;
    kept, it would stay champion for ever with every later version registered beside it."""
    registry = registry_of(registered_store)
    champion = registry.champion("champion")
    candidate = candidate_with_windows(tmp_path / "report", P, horizon=H + 2)
    score = compare_with_champion(registry, champion, candidate)
    assert score.champion_mase is None and score.other_horizon == H
    cfg = OmegaConf.create(
        {
            "registry": {"champion_alias": "champion"},
            "gate": {"require_beat_champion": True, "champion_tolerance": 0.0},
        }
    )
    decision = decide(cfg, registry, candidate)
    assert decision["promote"] and decision["passed"]
    assert decision["reasons"][0] == (
        f"champion version {champion.version} forecasts {H} values and the candidate {H + 2} "
        f"(data.next_time_window changed) and no version forecasting {H + 2} values was "
        "champion before, so the candidate takes its place"
    )


def candidate_with_history(folder: Path, width: int) -> tuple[Candidate, np.ndarray]:
    """A panel report whose windows read `width` values: a 40-value series and a new one of 14,
    every origin of their last values, with the whole history stored as evaluate stores it.
    Returns the candidate and each window's first-target position in the history."""
    long, new = prices(1, 40, seed=4)[0], prices(1, 14, seed=5)[0]
    history, offsets = np.concatenate([long, new]), np.array([0, 40, 54])
    targets = np.concatenate([np.arange(20, 36), np.arange(40 + width, 50)])
    inputs = history[targets[:, None] - width + np.arange(width)]
    actual = history[targets[:, None] + np.arange(H)]
    forecast = inputs[:, -1:] + np.linspace(0.1, 0.5, H)  # not the champion's forecasts
    folder.mkdir(parents=True)
    np.savez(
        folder / WINDOWS_FILE,
        inputs=inputs,
        actual=actual,
        forecast=forecast,
        history=history,
        history_offsets=offsets,
        history_targets=targets,
    )
    return Candidate(folder, folder, {"mase_scale": 1.0}, folder / "work"), targets


def test_a_champion_reading_more_than_the_windows_is_scored_from_their_past(
    registered_store: Path, tmp_path: Path
) -> None:
    """A short new series shrank the panel's window below the champion's: the champion is scored
    on the windows with its own window of history before them, the candidate on the same."""
    registry = registry_of(registered_store)
    champion = registry.resolve(version=1)
    candidate, targets = candidate_with_history(tmp_path / "report", P - 4)
    score = compare_with_champion(registry, champion, candidate)

    windows = np.load(tmp_path / "report" / WINDOWS_FILE)
    long_enough = targets < 40  # the new series has fewer than 10 values before every origin
    inputs = windows["history"][targets[long_enough, None] - P + np.arange(P)]
    opened = open_version(registry, champion, tmp_path / "expected")
    expected, _ = open_model_dir(evaluated_model_dir(opened.folder)).forecast(inputs)
    expected = as_scored(expected, inputs)
    actual = windows["actual"][long_enough]
    assert score.windows == 16
    assert score.champion_mase == pytest.approx(
        pooled_errors(expected, actual, 1.0)["mase"], rel=1e-12
    )
    assert score.candidate_mase == pytest.approx(
        pooled_errors(windows["forecast"][long_enough], actual, 1.0)["mase"], rel=1e-12
    )
    assert score.note == f"the 16 test windows that have the {P} values it reads before them"
    # Another horizon is not scored: the champion answers another question.
    other, _ = candidate_with_history(tmp_path / "h", P - 4)
    kept = dict(np.load(other.report_dir / WINDOWS_FILE))
    np.savez(other.report_dir / WINDOWS_FILE, **(kept | {"actual": kept["actual"][:, :-1]}))
    refused = compare_with_champion(registry, champion, other)
    assert refused.champion_mase is None and refused.other_horizon == H
    assert refused.note == f"champion version 1 forecasts {H} values and the candidate {H - 1}"
    # Only the new series' windows: nothing to score the champion on, said in one sentence.
    only_new, _ = candidate_with_history(tmp_path / "new", P - 4)
    kept = {key: value for key, value in np.load(only_new.report_dir / WINDOWS_FILE).items()}
    new_only = ~(kept["history_targets"] < 40)
    for key in ("inputs", "actual", "forecast", "history_targets"):
        kept[key] = kept[key][new_only]
    np.savez(only_new.report_dir / WINDOWS_FILE, **kept)
    none = compare_with_champion(registry, champion, only_new)
    assert none.champion_mase is None and none.windows == 0
    assert none.note == (
        f"champion version 1 reads {P} values and no test window after its fitted data has "
        "that many before it, so it cannot be scored on them"
    )


def test_the_champions_ledger_forecast_reads_its_own_window_of_longer_data(
    registered_store: Path, tmp_path: Path
) -> None:
    registry = registry_of(registered_store)
    champion = registry.resolve(version=1)
    values = prices(1, 40, seed=1)[0]
    dates = tuple(pd.bdate_range("2025-01-01", periods=40).strftime("%Y-%m-%d"))
    observed = [Observed("s", values, dates)]
    stored = champion_forecasts(registry, champion, observed, tmp_path)
    expected, bands = open_version(registry, champion, tmp_path / "expected").forecast(values[-P:])
    assert len(stored) == 1 and stored[0].model_version == 1
    np.testing.assert_array_equal(stored[0].point, expected[0])
    assert stored[0].bands["80"][0] == tuple(bands["80"][0][0].tolist())


def test_the_champion_forecasts_each_long_enough_series_when_the_window_shrank(
    registered_store: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A short new series shrinks a panel's data-chosen window below the champion's: the
    champion still reads its own window from each series' history; a series shorter than
    that gets no forecast, and the log says so."""
    registry = registry_of(registered_store)
    champion = registry.resolve(version=1)
    dates = tuple(pd.bdate_range("2025-01-01", periods=40).strftime("%Y-%m-%d"))
    long, short = prices(1, 40, seed=2)[0], prices(1, P - 1, seed=3)[0]
    observed = [Observed("long", long, dates), Observed("new", short, dates[-(P - 1) :])]
    with caplog.at_level(logging.WARNING, logger="stockcast.prediction.ledger_forecast"):
        stored = champion_forecasts(registry, champion, observed, tmp_path)
    expected, _ = open_version(registry, champion, tmp_path / "expected").forecast(long[-P:])
    assert [f.series_id for f in stored] == ["long"]
    np.testing.assert_array_equal(stored[0].point, expected[0])
    assert "reads 10 values; 1 series have fewer and get no forecast today: new" in caplog.text
    # Stored once: a rerun loads no model, though the short series got no forecast.
    ledger = Ledger(tmp_path / "ledger.db", 10)
    store = store_champion_forecast
    assert store(ledger, registry, champion, observed, tmp_path / "a") == 1
    monkeypatch.setattr("stockcast.prediction.ledger_forecast.open_version", no_model)
    assert store(ledger, registry, champion, observed, tmp_path / "b") == 0


def no_model(*args: object) -> None:
    raise AssertionError("a rerun loaded the champion again")


def test_the_replay_names_the_stores_champion_when_a_day_failed_before_its_monitor(
    registered_store: Path, tmp_path: Path
) -> None:
    cfg = OmegaConf.create({"registry": {"model_name": MODEL, "champion_alias": "champion"}})
    assert store_champion(cfg, registered_store) == 1
    assert store_champion(cfg, tmp_path) is None  # no store yet: no champion
    other = OmegaConf.merge(cfg, {"registry": {"champion_alias": "staging"}})
    assert store_champion(other, registered_store) is None
    # A store that cannot be read: the day's own error says why; the replay goes on.
    (tmp_path / "mlruns.db").write_bytes(b"not a database")
    assert store_champion(cfg, tmp_path) is None


@pytest.mark.slow
def test_a_warm_start_whose_window_auto_outgrew_starts_cold(
    registered_store: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    warm_told: list[bool],
) -> None:
    """The champion reads 10 values; on the same data `auto` gives 20 (twice the shortest
    window: no season). Nothing the user set differs, so the fit trains cold instead of
    refusing; an explicit window that differs is still refused (test_warm_start.py). Started
    cold, it fits its folds as any cold fit does: only weights actually loaded skip them."""
    run_dir = tmp_path / "run"
    with caplog.at_level(logging.WARNING, logger="stockcast.training.warm_start"):
        run_train(
            registered_store,
            run_dir,
            *PIPELINE_FAST,
            "logger=none",
            "train.init_from=champion",
            "data.previous_time_window=auto",
            "train.compare_cold=true",
        )
    metrics = json.loads((run_dir / METRICS_FILE).read_text())
    assert metrics["warm_start"] is None and warm_told == [False]
    assert metrics["warm_vs_cold"] == {
        "skipped": "no warm fit to compare (the fit started cold: data.previous_time_window=auto "
        "gave another window than the model train.init_from=champion names reads)"
    }, "said in the file itself, not by a log line it cannot point to"
    assert model_spec(run_dir / "model")["previous_time_window"] == 20
    assert (
        "which reads 10 values; the data now gives data.previous_time_window=auto a window of "
        "20, so this fit starts cold" in caplog.text
    )


def test_a_window_with_exactly_the_champions_window_of_past_is_scored() -> None:
    """A champion reading 3 values is given a test window whose series holds exactly 3 values
    before its first target; one with 2 is left out (a NaN row)."""
    windows = {
        "inputs": np.zeros((2, 2)),
        "history": np.arange(10.0),
        "history_offsets": np.array([0, 5]),
        "history_targets": np.array([3, 7]),
    }
    inputs, enough = champion_inputs(windows, 3)
    assert enough.tolist() == [True, False]
    np.testing.assert_array_equal(inputs[0], [0.0, 1.0, 2.0])
    assert np.isnan(inputs[1]).all()
