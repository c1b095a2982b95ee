"""Rolling-origin folds: where the validation split is short, earlier cuts of the train split add
held-out windows to what weighs the members, decides the fallback and calibrates the bands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stockcast.data.series import Series
from stockcast.data.split import split_series
from stockcast.data.split_recuts import rolling_folds
from stockcast.forecasting.windows import WindowSizes
from stockcast.serving.metadata import model_spec
from stockcast.training.evaluated_recipe import FitSchedule
from tests.conftest import run_train

SIZES = WindowSizes(4, 2)
FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}


def test_each_fold_ends_every_series_train_split_one_validation_span_earlier() -> None:
    """Series a (50 values: train 30, val 10) and b (40: train 24, val 8). Fold j fits on the
    train split less j validation spans and is scored on the span after, with the window's
    inputs before it: its targets are values the fold's fit never saw."""
    a, b = Series("a", np.arange(50.0)), Series("b", 1000.0 + np.arange(40.0))
    splits = split_series([a, b], SIZES, FRACTIONS)
    # a's train split holds 25 windows, b's 19: a fold keeps at least 10% of each (3 and 2).
    folds = rolling_folds(splits["train"], splits["val"], SIZES, max_folds=5, min_train_share=0.1)
    # b's fold 3 would leave 24 - 24 values: folds stop at the first series that runs short.
    assert len(folds) == 2
    for j, (train, scored) in enumerate(folds, start=1):
        assert [len(s) for s in train.segments()] == [30 - 10 * j, 24 - 8 * j]
        assert scored.context == SIZES.previous_time_window
        np.testing.assert_array_equal(scored.segment(0), np.arange(26 - 10 * j, 40 - 10 * j))
        np.testing.assert_array_equal(scored.segment(1), 1000.0 + np.arange(20 - 8 * j, 32 - 8 * j))
        windows = scored.origins(SIZES)
        assert len(windows) == (10 - 1) + (8 - 1)  # each span's targets, horizon 2
        # Every target lies past the fold's own train values.
        ends = {0.0: train.segment(0)[-1], 1000.0: train.segment(1)[-1]}
        for actual in windows.actual:
            assert ends[1000.0 if actual[0] >= 1000 else 0.0] < actual[0]
    assert len(rolling_folds(splits["train"], splits["val"], SIZES, 1, 0.1)) == 1
    # A fold's train part must keep min_train_share of its series' windows: a's fold 1 keeps
    # 20 - 6 + 1 = 15 of 25, b's 11 of 19.
    assert len(rolling_folds(splits["train"], splits["val"], SIZES, 5, 0.55)) == 1
    assert rolling_folds(splits["train"], splits["val"], SIZES, 5, 0.61) == []


def test_no_fold_is_cut_where_a_validation_span_holds_no_window() -> None:
    """A fold is scored on the span after its cut, as long as that series' validation targets:
    series a's 10 hold no window of 12 targets, so a fold would score nothing of it, and there
    are no folds (however much train split is left to cut)."""
    a = Series("a", np.arange(50.0))
    splits = split_series([a], SIZES, FRACTIONS)
    longer = WindowSizes(SIZES.previous_time_window, 12)
    assert rolling_folds(splits["train"], splits["val"], longer, 5, 0.1) == []
    # Ten targets hold a window of 10: one fold, scored on it.
    (fold,) = rolling_folds(splits["train"], splits["val"], WindowSizes(4, 10), 5, 0.1)
    assert len(fold[1].origins(WindowSizes(4, 10))) == 1


# A seasonal series of 160 values: a validation split of 20 windows (fewer than the 30 of
# fit.folds_below_windows), two folds (a third would keep fewer than half the train windows).
SHORT = (
    "data=seasonal",
    "data.length=160",
    "trainer.max_steps=60",
    "fit.val_every_steps=30",
    "data.batch_size=32",
    "fit.naive_fallback=false",
    "logger=none",
)


@pytest.fixture(scope="module")
def short_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("folds")
    for name, folds in (("folds", "fit.folds=3"), ("alone", "fit.folds=0")):
        run_train(tmp / name, tmp / name / "run", *SHORT, folds)
    return {name: tmp / name / "run" for name in ("folds", "alone")}


def test_a_short_validation_split_weighs_and_calibrates_on_the_folds_too(
    short_runs: dict[str, Path],
) -> None:
    run = short_runs["folds"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["folds"]["folds"], metrics["folds"]["windows"]) == (2, 40)
    # A seasonal series: the fit beats the last price on the folds' windows too.
    assert 0 < metrics["folds"]["mae_vs_naive"] < 0.95
    spec = model_spec(run / "model")
    combination, intervals = spec["combination"], spec["intervals"]
    assert (combination["validation_windows"], combination["fold_windows"]) == (20, 40)
    assert (intervals["calibration_windows"], intervals["fold_windows"]) == (60, 40)
    # The 20 validation windows are enough for a split-conformal 80% band (9 needed), so it
    # comes from them alone; the 95% band (39 needed) from all 60.
    assert intervals["methods"] == {"80": "split_conformal", "95": "split_conformal"}
    assert intervals["fold_levels"] == ["95"]
    # The weights are the pooled errors to the power -model.combination_power, normalised.
    inverse = np.array([m["validation_mse"] for m in combination["members"]]) ** -float(
        combination["power"]
    )
    np.testing.assert_allclose(combination["weights"], inverse / inverse.sum())
    assert np.all(np.array(intervals["bounds"]["95"][1]) > intervals["bounds"]["80"][1])


def test_without_folds_the_validation_windows_alone_decide(short_runs: dict[str, Path]) -> None:
    run = short_runs["alone"]
    assert "folds" not in json.loads((run / "metrics.json").read_text())
    spec = model_spec(run / "model")
    assert "fold_windows" not in spec["combination"] and "fold_windows" not in spec["intervals"]
    assert spec["intervals"]["calibration_windows"] == 20
    # The same fit either way (folds only add evidence after it): the validation errors of the
    # members differ because the folds' windows join them.
    pooled = model_spec(short_runs["folds"] / "model")["combination"]["members"]
    alone = spec["combination"]["members"]
    assert [m["name"] for m in pooled] == [m["name"] for m in alone]
    assert [m["validation_mse"] for m in pooled] != [m["validation_mse"] for m in alone]


def test_the_folds_repeat_the_evaluated_learning_rate_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each fold is fitted with the evaluated budget, batch and learning-rate schedule: the
    drops the fit recorded before its best step, at their shares of it."""
    from stockcast.training import folds

    fitted = []
    real_refit_network = folds.refit_network

    def refit_network(*args: Any) -> Any:
        fitted.append(args[2:])
        return real_refit_network(*args)

    monkeypatch.setattr(folds, "refit_network", refit_network)
    lowered = ("fit.val_every_steps=4", "optim.scheduler.patience=0", "optim.lr=0.01")
    stopping = ("callbacks.early_stopping.patience=30", "fit.folds_beside=false")
    run_train(tmp_path, tmp_path / "run", *SHORT, "fit.folds=3", *lowered, *stopping)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    best, drops = metrics["best_step"], metrics["lr_drops"]
    # At least one drop before the best step: how many the fit makes varies with the process's
    # history (one alone, two after other tests), which the folds repeat either way.
    assert drops and drops[-1][0] < best, drops
    shares = [(step / best, tuple(scales)) for step, scales in drops]
    assert fitted == [(best, metrics["batch_size"], shares)] * metrics["folds"]["folds"]


def test_folds_fitted_beside_each_other_forecast_the_same_as_in_turn(make_cfg) -> None:
    """Every second fold in a forked child (fit.folds_beside): the same forecasts, in fold
    order, as fitting them one after the other here."""
    from stockcast.config.compose import plain
    from stockcast.data.prepared import prepare_data
    from stockcast.training.beside import forks_safely
    from stockcast.training.folds import fold_evidence

    cfg = make_cfg(*SHORT, "fit.folds=3")
    if not forks_safely(cfg):
        pytest.skip("a fit cannot fork here (one core, or not Linux)")
    prepared = prepare_data(plain(cfg.data))
    beside = fold_evidence(cfg, prepared, FitSchedule(20, 16))
    cfg.fit.folds_beside = False
    in_turn = fold_evidence(cfg, prepared, FitSchedule(20, 16))
    assert beside is not None and in_turn is not None and beside.folds == in_turn.folds == 2
    np.testing.assert_array_equal(beside.inputs, in_turn.inputs)
    np.testing.assert_array_equal(beside.member_forecasts, in_turn.member_forecasts)
    # The first fold's windows come first: they end one validation span before the second's.
    assert beside.actual[0, 0] != beside.actual[20, 0]
    np.testing.assert_array_equal(beside.times, in_turn.times)


def test_the_held_out_windows_times_follow_the_series_dated_or_not(make_cfg) -> None:
    """What the fallback's Diebold-Mariano test orders and groups by: the validation windows'
    and the folds' first targets in time, the same order without dates (fold 1, the latest,
    had been placed first)."""
    from dataclasses import replace

    from stockcast.config.compose import plain
    from stockcast.data.prepared import prepare_data
    from stockcast.training.folds import fold_evidence
    from stockcast.training.validation import held_out_times

    cfg = make_cfg(*SHORT, "fit.folds=3", "fit.folds_beside=false")
    prepared = prepare_data(plain(cfg.data))
    undated = replace(
        prepared, splits={k: replace(v, dates=None) for k, v in prepared.splits.items()}
    )
    orders = []
    for data in (prepared, undated):
        folds = fold_evidence(cfg, data, FitSchedule(5, 16))
        assert folds is not None and folds.folds == 2
        times = held_out_times(data, folds)
        assert times is not None and len(np.unique(times)) == len(times)
        orders.append(np.argsort(times))
    np.testing.assert_array_equal(*orders)
    val = len(prepared.splits["val"].window_starts(prepared.window))
    # Fold 2's windows, then fold 1's, then the validation windows: a run of rising positions.
    assert orders[0][-val:].tolist() == list(range(val))


def test_a_fold_scales_by_its_own_train_part_not_the_train_splits(make_cfg) -> None:
    """The train split's statistics include the span a fold forecasts: a fold whose train
    split ends otherwise (its last value, a target of the fold's last window and no input)
    forecasts the same."""
    from dataclasses import replace

    from stockcast.config.compose import plain
    from stockcast.data.prepared import prepare_data
    from stockcast.data.scaling import refit_scaler
    from stockcast.training.folds import fold_forecasts, fold_plan

    cfg = make_cfg(*SHORT, "fit.folds=3", "fit.folds_beside=false")
    prepared = prepare_data(plain(cfg.data))
    fold = fold_plan(cfg, prepared)[0]
    later = prepared.splits["train"].values.copy()
    later[-1] += 40 * later.std()
    moved = replace(prepared, scaler=refit_scaler(prepared.scaler, later))
    standard = [m for m in moved.scaler["members"] if m["kind"] == "standard"]
    assert standard and standard != [
        m for m in prepared.scaler["members"] if m["kind"] == "standard"
    ]
    first = fold_forecasts(cfg, prepared, fold, FitSchedule(20, 16))[2]
    np.testing.assert_array_equal(fold_forecasts(cfg, moved, fold, FitSchedule(20, 16))[2], first)


def test_a_warm_start_fits_no_folds(make_cfg) -> None:
    """The weights it starts from were trained on the train split the folds cut, so a fold
    started from them scored windows they had seen: the bands and weights came out too sure."""
    from stockcast.config.compose import plain
    from stockcast.data.prepared import prepare_data
    from stockcast.training.folds import fold_plan

    cfg = make_cfg(*SHORT, "fit.folds=3")
    prepared = prepare_data(plain(cfg.data))
    assert len(fold_plan(cfg, prepared)) == 2
    # Only weights actually loaded count: a warm start that fell back to cold (another window
    # than the champion's) fits its folds as any cold fit does.
    cfg.train.init_from = "champion"
    assert len(fold_plan(cfg, prepared)) == 2
    assert fold_plan(cfg, prepared, warm=True) == []


def test_a_folds_level_members_step_aside_outside_its_own_train_part(make_cfg) -> None:
    """A fold's network was fitted on its cut of the train split: its level members step aside
    for a scored window outside that cut's range (here any value outside it), though every
    such window lies inside the whole train split's range; and the folds' windows are then
    combined as the network combines its own."""
    from stockcast.config.compose import plain
    from stockcast.data.prepared import prepare_data
    from stockcast.training.folds import FoldEvidence, fold_forecasts, fold_plan

    cfg = make_cfg(*SHORT, "fit.folds=3", "fit.folds_beside=false")
    cfg.fit.level_members_max_outside = 0.0
    prepared = prepare_data(plain(cfg.data))
    fold_train, scored = fold_plan(cfg, prepared)[0]
    inputs, actual, members, series, set_aside, *_ = fold_forecasts(
        cfg, prepared, (fold_train, scored), FitSchedule(20, 16)
    )
    lo, hi = fold_train.values.min(), fold_train.values.max()
    outside = ((inputs < lo) | (inputs > hi)).any(axis=1)
    train = prepared.splits["train"].values
    assert inputs.min() >= train.min() and inputs.max() <= train.max()
    assert 0 < outside.sum() < len(outside)
    # The members reading the level: the standard and per_window_level views of the mlp.
    np.testing.assert_array_equal(set_aside, np.outer([False, True, True], outside))
    evidence = FoldEvidence(inputs, actual, members, 1, series, set_aside)
    weights = np.array([0.2, 0.3, 0.5])
    expected = np.where(outside[:, None], members[0], np.tensordot(weights, members, axes=1))
    np.testing.assert_allclose(evidence.combined(weights), expected, rtol=1e-12)


def test_a_fit_judges_its_steps_on_every_member_and_forecasts_with_the_rule_after(
    make_cfg,
) -> None:
    """While a fit validates (the checkpoint, early stopping, the LR schedule) every member
    forecasts every window; a validation after the fit sets the level members aside for the
    windows outside the fitted range, as every forecast does."""
    import lightning as L

    from stockcast.config.compose import plain
    from stockcast.data.prepared import prepare_data
    from stockcast.models.level_range import LevelRange
    from stockcast.training.build import build_datamodule_and_model

    cfg = make_cfg(*SHORT)
    prepared = prepare_data(plain(cfg.data))
    datamodule, model, _ = build_datamodule_and_model(cfg, prepared)
    # A range no value lies in: every validation window is outside it.
    model.net.level_range = LevelRange(-2.0, -1.0, 0.5)
    during: list[float] = []

    class Record(L.Callback):
        def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
            during.append(float(trainer.callback_metrics["val/mae"]))

    trainer = L.Trainer(
        max_epochs=1,
        limit_train_batches=1,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Record()],
    )
    trainer.fit(model, datamodule=datamodule)
    with_rule = trainer.validate(model, datamodule=datamodule, verbose=False)[0]["val/mae"]
    model.net.level_range = None
    without = trainer.validate(model, datamodule=datamodule, verbose=False)[0]["val/mae"]
    assert during[0] == pytest.approx(without, rel=1e-6)
    assert abs(with_rule - without) > 1e-6 * without
