"""A panel is judged in each series' own units: the report's MASE, the gate that reads it and the
champion comparison divide each window's errors by its series' train scale, so the
highest-priced series does not decide alone. One series: the pooled MASE, as before."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from stockcast.data.mase_scales import series_of_windows, series_scales
from stockcast.data.prepared import PreparedData
from stockcast.data.split import SplitData
from stockcast.data.split_recuts import split_in_time
from stockcast.evaluation.champion_score import Candidate, compare_with_champion
from stockcast.evaluation.reports import WINDOWS_FILE
from stockcast.evaluation.versus_naive import model_vs_naive_test, naive_within_rounding
from stockcast.forecasting.metrics import diebold_mariano, pooled_errors, score
from stockcast.registry.store import ModelRegistry
from stockcast.serving.metadata import evaluated_model_dir
from stockcast.serving.model import open_model_dir, open_version
from stockcast.training.datamodule import WindowDataModule
from stockcast.training.folds import FoldEvidence
from stockcast.training.refit import held_back_check
from stockcast.training.summary import METRICS_FILE
from stockcast.training.windows import WindowBatches, gather_windows
from tests.conftest import MODEL, trained_once

P, H = 10, 5


def test_a_model_that_answers_naive_in_float32_gets_no_verdict_against_naive() -> None:
    """A model fallen back to naive answers the last price through float32 (to the bit: its
    change of zero is added to it), a tiny consistent difference the test read as "worse than
    naive, p = 1e-29"."""
    rng = np.random.default_rng(3)
    last = 40.0 + rng.random((56, 1))
    naive = np.repeat(last, H, axis=1)
    actual = naive + rng.normal(scale=0.5, size=naive.shape)
    model = naive.astype(np.float32).astype(np.float64)
    tested = model_vs_naive_test(model, naive, actual, np.full(56, 0.3))
    assert all(math.isnan(p) for p in tested["p_value"])
    moved = model_vs_naive_test(naive + 0.01, naive, actual, np.full(56, 0.3))
    assert all(math.isfinite(p) for p in moved["p_value"]), "a real difference is still tested"


def test_per_window_scales_weigh_each_window_in_its_series_units() -> None:
    actual = np.array([[1000.0, 1000.0], [10.0, 10.0]])
    forecast = actual + np.array([[20.0, 20.0], [1.0, 3.0]])
    scales = np.array([100.0, 1.0])  # a series quoted near 1,000 and one near 10
    # Window errors over their scales: 0.2, 0.2 and 1, 3 -> mean 1.1 (in prices: 11 / scale).
    assert pooled_errors(forecast, actual, scales)["mase"] == pytest.approx(1.1)
    assert score(forecast, actual, scales)["per_step"]["mase"] == pytest.approx([0.6, 1.6])
    # MAE and RMSE stay in prices.
    assert pooled_errors(forecast, actual, scales)["mae"] == pytest.approx(11.0)


def test_one_scale_per_window_equals_the_single_scale() -> None:
    rng = np.random.default_rng(3)
    actual = 100 + rng.normal(size=(40, H)).cumsum(axis=1)
    forecast = actual + rng.normal(size=actual.shape)
    single = pooled_errors(forecast, actual, 2.5)["mase"]
    assert pooled_errors(forecast, actual, np.full(40, 2.5))["mase"] == pytest.approx(
        single, rel=1e-14
    )


def test_scales_must_match_the_windows() -> None:
    with pytest.raises(ValueError, match="3 scales for 2 windows"):
        score(np.zeros((2, H)), np.ones((2, H)), np.ones(3))


def test_the_champion_is_compared_in_each_series_units(
    registered_store: Path, tmp_path: Path
) -> None:
    """Two series, one priced a hundred times the other: both forecasts are scored with each
    window's own scale from the report's windows file."""
    rng = np.random.default_rng(0)
    levels = np.repeat([10_000.0, 100.0], 15)
    series = levels[:, None] * (1 + 0.01 * rng.normal(size=(30, P + H)).cumsum(axis=1))
    inputs, actual = series[:, :P], series[:, P:]
    forecast = inputs[:, -1:] + 0.5 * (actual - inputs[:, -1:])
    scales = levels / 100
    folder = tmp_path / "report"
    folder.mkdir()
    np.savez(folder / WINDOWS_FILE, inputs=inputs, actual=actual, forecast=forecast, scales=scales)
    registry = ModelRegistry(f"sqlite:///{registered_store}/mlruns.db", MODEL)
    champion = registry.resolve(version=1)
    candidate = Candidate(folder, folder, {"mase_scale": 1.0}, folder / "work")
    compared = compare_with_champion(registry, champion, candidate)

    opened = open_version(registry, champion, tmp_path / "expected")
    expected, _ = open_model_dir(evaluated_model_dir(opened.folder)).forecast(inputs)
    # As the candidate's saved forecasts: within float32's rounding of naive's, naive's.
    expected = naive_within_rounding(expected, np.repeat(inputs[:, -1:], H, axis=1))
    units = np.abs(expected - actual) / scales[:, None]
    assert compared.champion_mase == pytest.approx(units.mean(), rel=1e-12)
    candidate_units = np.abs(forecast - actual) / scales[:, None]
    assert compared.candidate_mase == pytest.approx(candidate_units.mean(), rel=1e-12)
    # The report's pooled scale would have given the prices' MAE instead.
    assert compared.candidate_mase != pytest.approx(np.abs(forecast - actual).mean(), rel=1e-3)


def test_the_diebold_mariano_test_takes_each_series_units() -> None:
    """The model beats naive on the cheap series and loses a little on the dear one: in prices
    the dear one's errors decide the test, in each series' units the cheap one's count too."""
    rng = np.random.default_rng(1)
    actual = np.concatenate([np.full((30, H), 10_000.0), np.full((30, H), 10.0)])
    scales = np.repeat([100.0, 0.1], 30)
    naive = actual + scales[:, None] * rng.normal(size=actual.shape)
    model = (
        actual
        + scales[:, None] * rng.normal(size=actual.shape) * np.repeat([1.1, 0.5], 30)[:, None]
    )
    tested = model_vs_naive_test(model, naive, actual, scales)
    expected = [
        diebold_mariano(
            (model[:, k] - actual[:, k]) / scales, (naive[:, k] - actual[:, k]) / scales, k + 1
        )[0]
        for k in range(H)
    ]
    assert tested["statistic"] == pytest.approx(expected)
    in_prices = model_vs_naive_test(model, naive, actual, np.ones(60))["statistic"]
    assert np.mean(tested["statistic"]) < 0 < np.mean(in_prices)


def test_a_panel_of_copies_of_one_series_is_tested_as_that_series() -> None:
    """Windows of several series at one time are one observation: eight copies of a series
    carry its evidence, not eight times it (tested apart, p-values of 0 where the series alone
    gave 0.27)."""
    rng = np.random.default_rng(5)
    actual = 50.0 + rng.normal(size=(40, H)).cumsum(axis=0)
    naive = actual + rng.normal(size=actual.shape)
    model = actual + 0.97 * rng.normal(size=actual.shape)
    alone = model_vs_naive_test(model, naive, actual, np.ones(40))
    copies = [np.tile(values, (8, 1)) for values in (model, naive, actual)]
    # Series one after another, as a panel's split lays them out; each window's time repeats.
    times = np.tile(np.arange(40), 8)
    grouped = model_vs_naive_test(*copies, np.ones(320), times)
    assert grouped["p_value"] == pytest.approx(alone["p_value"])
    assert grouped["statistic"] == pytest.approx(alone["statistic"])
    apart = model_vs_naive_test(*copies, np.ones(320))
    assert apart["p_value"][0] < alone["p_value"][0] / 2  # 0.24 where the series gives 0.68


def test_window_times_are_dates_or_the_distance_from_each_series_end() -> None:
    from stockcast.data.window_times import segment_values, window_times

    days = np.arange("2024-01-01", "2024-01-07", dtype="datetime64[D]")
    # Two series: one of 6 days, one of its last 4 days (listed later).
    dated = SplitData(
        "test",
        np.arange(10.0),
        np.array([0, 6, 10]),
        0,
        ("A", "B"),
        np.concatenate([days, days[2:]]),
    )
    times = window_times(dated, np.array([3, 5, 7, 9]))
    assert times[0] == times[2] and times[1] == times[3] and times[0] < times[1]
    undated = replace(dated, dates=None)
    # Undated series are taken to end together: 3 values from A's end, 3 from B's.
    np.testing.assert_array_equal(window_times(undated, np.array([3, 5, 7, 9])), [-3, -1, -3, -1])
    # A split followed by 2 more of A's values and 5 of B's (a test split of its own lengths).
    np.testing.assert_array_equal(
        window_times(undated, np.array([3, 5, 7, 9]), np.array([2, 5])), [-5, -3, -8, -6]
    )
    with_context = replace(undated, context=1)
    np.testing.assert_array_equal(segment_values(with_context), [5, 3])


def test_batch_positions_name_the_windows_each_evaluation_batch_holds() -> None:
    values = torch.arange(50, dtype=torch.float32)
    starts = torch.arange(0, 40, 3)
    for rank, world in ((0, 1), (0, 2), (1, 2), (0, 3), (2, 3)):
        for steps in (1, 2):
            batches = WindowBatches(
                values, starts, 4, 3, steps_per_batch=steps, rank=rank, world_size=world
            )
            for number, batch in enumerate(batches):
                held = starts[batches.positions(number)]
                whole = torch.cat(batch) if steps > 1 else batch
                assert torch.equal(whole, gather_windows(values, held, 4))
    with pytest.raises(ValueError, match="shuffled"):
        WindowBatches(values, starts, 4, 3, shuffle=True).positions(0)


PANEL = (
    "data=market",
    "data.num_series=3",
    "data.length=200",
    "trainer.max_steps=20",
    "fit.val_every_steps=10",
    "fit.naive_fallback=false",
    "logger=none",
)


@pytest.fixture(scope="module")
def panel_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short fit on a panel of three tickers at different price levels."""
    return trained_once(tmp_path_factory, "panel", *PANEL)


def in_own_units(
    errors: np.ndarray, split: SplitData, origins: np.ndarray, train: SplitData
) -> float:
    """Each window's absolute errors over its own series' train scale, averaged."""
    own = series_scales(train)[series_of_windows(split, origins)]
    return float((errors / own[:, None]).mean())


def test_training_metrics_weigh_each_series_in_its_units(panel_run: Path) -> None:
    """metrics.json's validation and test MASE (what the best checkpoint, early stopping and a
    sweep's objective follow): each window's errors over its own series' scale, as evaluate's
    report scores them."""
    metrics = json.loads((panel_run / METRICS_FILE).read_text())
    prepared = PreparedData.load(panel_run / "prepared")
    model = open_model_dir(panel_run / "model")
    for name in ("val", "test"):
        split = prepared.splits[name]
        windows = split.origins(prepared.window)
        forecast, _ = model.forecast(windows.inputs)
        errors = np.abs(forecast - windows.actual)
        expected = in_own_units(errors, split, windows.origins, prepared.splits["train"])
        assert metrics[name]["mase"] == pytest.approx(expected, rel=1e-5)
        in_prices = errors.mean() / prepared.mase_scale
        assert abs(in_prices - metrics[name]["mase"]) > 0.01 * in_prices


def test_only_the_datamodules_own_batches_get_their_series_scales(panel_run: Path) -> None:
    prepared = PreparedData.load(panel_run / "prepared")
    datamodule = WindowDataModule(
        prepared, batch_size=256, steps_per_batch=1, eval_batch_size=16, seed=0
    )
    own = next(iter(datamodule.val_dataloader()))
    scales = datamodule.window_scales("val", 0, own)
    split = prepared.splits["val"]
    origins = split.window_starts(prepared.window)[:16] + prepared.window.previous_time_window
    expected = series_scales(prepared.splits["train"])[series_of_windows(split, origins)]
    np.testing.assert_array_equal(scales.numpy(), expected)
    # The same batch cast as `trainer.precision` 16-true, bf16-true or 64-true casts it.
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        cast = datamodule.window_scales("val", 0, own.to(dtype))
        assert cast is not None and torch.equal(cast, scales), dtype
    # Windows from another loader (or another batch) are not looked up by position.
    assert datamodule.window_scales("val", 1, own) is None
    assert datamodule.window_scales("val", 0, own + 1) is None


def test_the_held_back_check_judges_a_panel_in_each_series_units(panel_run: Path, make_cfg) -> None:
    prepared = PreparedData.load(panel_run / "prepared")
    metrics = json.loads((panel_run / METRICS_FILE).read_text())
    cfg = make_cfg(*PANEL, config_name="pipeline")
    check = held_back_check(cfg, prepared, panel_run / "model", int(metrics["best_step"]), 8, None)
    _, late = split_in_time(prepared.splits["val"], prepared.window.previous_time_window)
    held_back = late.origins(prepared.window)
    forecast, _ = open_model_dir(panel_run / "model").forecast(held_back.inputs)
    errors = np.abs(forecast - held_back.actual)
    train = prepared.splits["train"]
    assert check["evaluated_mase"] == pytest.approx(
        in_own_units(errors, late, held_back.origins, train), rel=1e-5
    )
    assert check["evaluated_mae"] == pytest.approx(errors.mean(), rel=1e-5)
    assert check["helps"] == (check["with_more_history_mase"] <= check["evaluated_mase"])


def test_the_folds_record_weighs_each_fold_window_in_its_series_units() -> None:
    """Two fold windows, one per series: the model halves naive's error on the cheap series and
    doubles it on the dear one. In prices the dear one decides; in units both count."""
    inputs = np.array([[10_000.0] * P, [10.0] * P])
    actual = inputs[:, -1:] + np.array([[100.0], [1.0]]) * np.ones(H)
    forecast = inputs[:, -1:] + np.array([[-100.0], [0.5]]) * np.ones(H)
    evidence = FoldEvidence(inputs, actual, forecast[None], folds=1, series=np.array([0, 1]))
    record = evidence.record(None, np.array([100.0, 1.0]))
    # Model errors 200 and 0.5 (2 and 0.5 in units), naive 100 and 1 (1 and 1): 2.5 / 2.
    assert record == {"folds": 1, "windows": 2, "mae_vs_naive": pytest.approx(1.25)}
    assert evidence.record(None, np.ones(2))["mae_vs_naive"] == pytest.approx(200.5 / 101)
