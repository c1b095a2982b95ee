"""The refit step: the registered model is fitted on all history, and champion comparisons never
score a model on windows it was fitted on."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from stockcast.data.prepared import PreparedData
from stockcast.data.series import Series
from stockcast.data.split import split_series
from stockcast.data.split_recuts import join_splits, split_in_time
from stockcast.errors import ArtifactError, ConfigError
from stockcast.evaluation.champion_score import unseen_windows
from stockcast.evaluation.reports import REPORT_FILE, WINDOWS_FILE
from stockcast.forecasting.windows import WindowSizes
from stockcast.orchestration.steps.refit import run_refit
from stockcast.orchestration.steps.run_folders import step_folders
from stockcast.orchestration.steps.table import DECISION_FILE, STEPS, step_named
from stockcast.registry.integrity import folder_contents
from stockcast.registry.store import ModelRegistry
from stockcast.serving.metadata import model_artifact, model_spec, read_model_metadata
from stockcast.serving.model import open_model_dir
from stockcast.training.evaluated_recipe import evaluated_budget, pinned_warm_start
from stockcast.training.summary import METRICS_FILE
from tests.conftest import (
    AS_OF,
    MODEL,
    global_state_restored,
    isolated_overrides,
    run_local_pipeline,
    run_task,
    run_train,
    seed_store,
)

pytestmark = pytest.mark.slow

POINTS = 300
FAST = (
    "trainer.max_epochs=3",
    "data.batch_size=32",
    "gate.max_mase=100",
    "data.require_new_data=false",
)
LENIENT = ("gate.max_mase_vs_naive=null", "gate.champion_tolerance=100")
# Test windows from day 210 on, before champion v1's fitted data ends (day 255).
LONG_TEST = ("data.split.train=0.6", "data.split.val=0.1", "data.split.test=0.3")


def write_prices(path: Path, points: int) -> Path:
    """One dated seasonal series (a model beats naive on it, so it is not replaced by the naive
    fallback), the same path whatever `points` (a longer file extends it)."""
    t = np.arange(POINTS)
    noise = np.random.default_rng(7).normal(0.0, 0.3, size=POINTS)
    prices = (100.0 + 0.02 * t + 5.0 * np.sin(2 * np.pi * t / 10) + noise)[:points]
    dates = pd.bdate_range("2024-01-01", periods=POINTS)[:points]
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "price": prices}).to_csv(path, index=False)
    return path


def csv_data(path: Path) -> tuple[str, ...]:
    return ("data=csv", f"data.path={path}", "data.date_column=date", "data.value_column=price")


def refit_step_overrides(store: Path, folders: dict[str, Path], *settings: str) -> list[str]:
    """The refit step run alone on a copied run's `folders`: the store's overrides, the fast
    ones and all the data, then a test's own `settings`."""
    bindings = step_named("refit").bindings({k: str(v) for k, v in folders.items()}, {"refit"})
    return [
        *isolated_overrides(store),
        *FAST,
        *csv_data(store / "full.csv"),
        *settings,
        *(f"{key}={value}" for key, value in bindings.items()),
    ]


@pytest.fixture(scope="module")
def refit_runs(tmp_path_factory: pytest.TempPathFactory, store_template: Path) -> dict[str, Path]:
    """Three pipeline runs into one store: all 300 days with a refit (champion v1); the same days
    without a refit and with a test split twice as long (its test windows partly after v1's
    fitted data); the first 200 (a run of an earlier day)."""
    tmp = seed_store(store_template, tmp_path_factory.mktemp("refit"))
    runs = {}
    with global_state_restored():
        for name, points, extra in (
            ("full", POINTS, ()),
            ("partial", POINTS, ("pipeline.refit=false", *LONG_TEST, *LENIENT)),
            ("inside", 200, LENIENT),
        ):
            csv = write_prices(tmp / f"{name}.csv", points)
            run_local_pipeline(tmp, *FAST, *csv_data(csv), *extra)
            runs[name] = sorted((tmp / "logs" / "pipeline" / "runs").iterdir())[-1]
    runs["store"] = tmp
    return runs


def test_joined_splits_give_back_each_series_with_its_dates() -> None:
    dates = pd.bdate_range("2024-01-01", periods=100).to_numpy("datetime64[ns]")
    series = [Series("a", np.arange(100.0), dates), Series("b", np.arange(60.0) + 1e3, dates[:60])]
    splits = split_series(series, WindowSizes(5, 2), {"train": 0.7, "val": 0.15, "test": 0.15})
    joined = join_splits(splits, ("train", "val", "test"))
    assert joined.offsets.tolist() == [0, 100, 160]
    np.testing.assert_array_equal(joined.values, np.r_[np.arange(100.0), np.arange(60.0) + 1e3])
    np.testing.assert_array_equal(joined.dates, np.r_[dates, dates[:60]])
    without_test = join_splits(splits, ("train", "val"))
    assert without_test.offsets.tolist() == [0, 85, 136]
    assert without_test.values[84] == 84.0 and without_test.values[85] == 1e3


def test_a_train_output_without_the_evaluated_budget_is_refused_in_one_sentence(
    tmp_path: Path,
) -> None:
    path = tmp_path / METRICS_FILE
    assert evaluated_budget({"best_step": 120, "batch_size": 8}, path) == (120, 8)
    with pytest.raises(ArtifactError) as refused:
        evaluated_budget({"batch_size": 8}, path)
    assert str(refused.value) == (
        f"{path} has no best_step (an older train step wrote it); run the train step again "
        "before the refit."
    )


def test_the_refit_starts_from_the_version_the_evaluated_fit_started_from(
    tmp_path: Path,
) -> None:
    cfg = OmegaConf.create({"train": {"init_from": "champion"}})
    path = tmp_path / METRICS_FILE
    # The champion alias may point at a newer version by the time the refit runs.
    pinned = pinned_warm_start(cfg, {"warm_start": {"version": 3, "model_hash": "ab"}}, path)
    assert pinned.train.init_from == 3 and cfg.train.init_from == "champion"
    assert pinned_warm_start(cfg, {"warm_start": None}, path).train.init_from is None
    assert pinned_warm_start(cfg, {}, path).train.init_from is None
    for edited in ({"model_hash": "ab"}, {"version": "3"}, {"version": True}, 3):
        with pytest.raises(ArtifactError) as refused:
            pinned_warm_start(cfg, {"warm_start": edited}, path)
        assert str(refused.value) == (
            f"{path} names a warm start without a version number ({edited!r}); run the train "
            "step again before the refit."
        )


def test_a_refits_record_says_whose_bands_it_serves() -> None:
    """A quantile model's refit serves its own refitted quantile outputs: its record said it
    served the evaluated model's calibrated band widths, which it has none of."""
    from stockcast.training.refit_folder import bands_record

    calibrated = {"bounds": {"80": [[-1.0], [1.0]]}}
    assert bands_record(calibrated, []) == (
        "the evaluated model's calibrated band widths, centred on the forecast"
    )
    quantile = {"method": "quantile", "bounds": {}}
    assert bands_record(quantile, [0.1, 0.5, 0.9]) == "its own quantile outputs, refitted with it"
    conformalized = quantile | {"corrections": {"80": [0.3]}}
    assert bands_record(conformalized, [0.1, 0.5, 0.9]) == (
        "its own quantile outputs, refitted with it, widened by the evaluated model's conformal "
        "corrections"
    )
    assert bands_record({"bounds": {}}, []) == "none"


def test_unseen_windows_are_those_after_the_fitted_data() -> None:
    dates = pd.bdate_range("2024-03-01", periods=6).to_numpy("datetime64[ns]")
    windows = {"actual": np.zeros((6, 2)), "first_target_dates": dates}
    assert unseen_windows(windows, str(dates[2])[:10]).tolist() == [False] * 3 + [True] * 3
    assert unseen_windows(windows, None).all()
    assert unseen_windows({"actual": np.zeros((6, 2))}, "2024-03-05").all(), "undated: all"


def test_a_split_is_cut_in_time_with_context_before_each_half() -> None:
    series = [Series("a", np.arange(30.0)), Series("b", np.arange(20.0) + 100)]
    val = split_series(series, WindowSizes(4, 2), {"train": 0.4, "val": 0.3, "test": 0.3})["val"]
    early, late = split_in_time(val, 4)
    for index in range(2):
        own = val.segment(index)[val.context :]
        half = len(own) // 2
        np.testing.assert_array_equal(early.segment(index), val.segment(index)[: 4 + half])
        cut = val.context + half
        np.testing.assert_array_equal(late.segment(index), val.segment(index)[cut - 4 :])
    # Every late window's first target lies in the late half: none was seen by the early half.
    late_origins = late.origins(WindowSizes(4, 2))
    assert set(late_origins.actual[:, 0]).isdisjoint(early.values[early.context :])


def test_the_registered_model_is_refit_on_all_history(refit_runs: dict[str, Path]) -> None:
    run = refit_runs["full"]
    candidate = run / "refit" / "candidate"
    report = json.loads((run / "evaluate" / "report" / REPORT_FILE).read_text())
    metrics = json.loads((run / "train" / "train_output" / METRICS_FILE).read_text())
    # The evaluated bytes travel inside the refit, and they are what the report scored.
    assert folder_contents(candidate / "evaluated").digest == report["model_hash"]
    assert folder_contents(run / "train" / "model").digest == report["model_hash"]
    refit = read_model_metadata(candidate)["refit"]
    # The held-back check said more history helps: the fit with half the validation split added
    # forecast the other half at least as well.
    check = refit["check"]
    assert check["helps"] and check["held_back_windows"] > 0
    assert check["with_more_history_mase"] <= check["evaluated_mase"]
    # One series: the MASE is the MAE over the train scale, so both say the same.
    scale = check["evaluated_mae"] / check["evaluated_mase"]
    assert check["with_more_history_mae"] / check["with_more_history_mase"] == pytest.approx(scale)
    # With two cores it was fitted in a child process while the check ran.
    assert refit["beside_check"] is (len(os.sched_getaffinity(0)) >= 2)
    # pipeline.refit_budget=epochs: as many passes over all history as the fit made over train.
    train_windows = round(POINTS * 0.7) - 15 + 1
    assert refit["evaluated_optimizer_steps"] == metrics["best_step"] > 0
    assert refit["budget"] == "epochs"
    assert refit["optimizer_steps"] == round(
        metrics["best_step"] * (POINTS - 15 + 1) / train_windows
    )
    assert refit["batch_size"] == metrics["batch_size"]
    assert refit["training_windows"] == POINTS - 10 - 5 + 1
    assert refit["trained_through"].startswith(
        str(pd.bdate_range("2024-01-01", periods=POINTS)[-1].date())
    )
    assert report["scored"]["windows"] == report["n_windows"]
    # The refit has no held-out windows: it combines its members with the evaluated weights.
    assert (
        model_spec(candidate)["combination"] == model_spec(candidate / "evaluated")["combination"]
    )
    assert refit["combination"] == "the evaluated model's member weights"
    # Its level members step aside outside the values each was fitted on: all history's for
    # the refit, the train split's for the evaluated model.
    prices = pd.read_csv(refit_runs["store"] / "full.csv")["price"].to_numpy()
    for folder, fitted in ((candidate, prices), (candidate / "evaluated", prices[:210])):
        expected = {"low": fitted.min(), "high": fitted.max(), "max_outside": 0.5}
        assert model_spec(folder)["level_range"] == expected
    assert prices.max() > prices[:210].max()
    # Its bands are the evaluated widths, centred on its own forecast as the evaluated model's
    # are on its: a bias the validation windows showed is not carried into either.
    evaluated_bounds = model_spec(candidate / "evaluated")["intervals"]["bounds"]
    refit_bounds = model_spec(candidate)["intervals"]["bounds"]
    assert refit_bounds == evaluated_bounds and set(refit_bounds) == {"80", "95"}
    for lower, upper in refit_bounds.values():
        np.testing.assert_allclose(lower, -np.array(upper))
        assert np.all(np.array(upper) > 0)
    assert (
        refit["intervals"]
        == "the evaluated model's calibrated band widths, centred on the forecast"
    )
    # Different weights: the refit saw 30% more prices.
    inputs = np.linspace(100.0, 104.0, 10).reshape(1, -1)
    refit_out = open_model_dir(candidate).frame(inputs)
    evaluated_out = open_model_dir(candidate / "evaluated").frame(inputs)
    assert list(refit_out.columns) == list(evaluated_out.columns)
    assert not np.allclose(refit_out.to_numpy(), evaluated_out.to_numpy())
    tags = ModelRegistry(f"sqlite:///{refit_runs['store']}/mlruns.db", MODEL).resolve(1).tags
    assert tags["refit"] == "true" and tags["scored_model_hash"] == report["model_hash"]


def test_without_refit_the_evaluated_bytes_are_registered(refit_runs: dict[str, Path]) -> None:
    run = refit_runs["partial"]
    report = json.loads((run / "evaluate" / "report" / REPORT_FILE).read_text())
    candidate = run / "refit" / "candidate"
    assert not (candidate / "evaluated").exists()
    assert folder_contents(candidate).digest == report["model_hash"]
    decision = json.loads((run / "register" / "decision" / DECISION_FILE).read_text())
    assert decision["version"] == 2
    tags = ModelRegistry(f"sqlite:///{refit_runs['store']}/mlruns.db", MODEL).resolve(2).tags
    assert tags["refit"] == "false"


def test_the_champion_is_scored_only_on_windows_after_its_fitted_data(
    refit_runs: dict[str, Path],
) -> None:
    run = refit_runs["partial"]
    decision = json.loads((run / "register" / "decision" / DECISION_FILE).read_text())["decision"]
    windows = np.load(run / "evaluate" / "report" / WINDOWS_FILE)
    # Champion v1's evaluated model was selected on validation data up to day 255 of 300.
    v1_fit_end = pd.bdate_range("2024-01-01", periods=POINTS)[round(POINTS * 0.85) - 1]
    unseen = int((windows["first_target_dates"] > np.datetime64(v1_fit_end)).sum())
    assert 0 < unseen < len(windows["actual"])
    assert decision["champion"]["version"] == 1
    assert decision["champion"]["windows"] == unseen
    assert f"the {unseen} test windows after its fitted data" in decision["reasons"][0]


def test_the_report_keeps_each_test_windows_whole_past(refit_runs: dict[str, Path]) -> None:
    """What a champion that reads more values than today's windows is scored from: each test
    window's inputs and targets sit in the stored history, after all of its series' past."""
    windows = np.load(refit_runs["partial"] / "evaluate" / "report" / WINDOWS_FILE)
    history, targets = windows["history"], windows["history_targets"]
    width, horizon = windows["inputs"].shape[1], windows["actual"].shape[1]
    assert list(windows["history_offsets"]) == [0, len(history)]
    np.testing.assert_array_equal(
        history[targets[:, None] - width + np.arange(width)], windows["inputs"]
    )
    np.testing.assert_array_equal(history[targets[:, None] + np.arange(horizon)], windows["actual"])
    assert targets[-1] + horizon == len(history)
    assert targets[0] > len(history) // 2  # the test split's windows, after train and val


def test_a_run_of_an_earlier_day_is_registered_and_the_champion_stays(
    refit_runs: dict[str, Path],
) -> None:
    decision = json.loads(
        (refit_runs["inside"] / "register" / "decision" / DECISION_FILE).read_text()
    )
    reason = decision["decision"]["reasons"][0]
    assert reason.startswith("its data ends on ") and reason.endswith(
        "so the champion stays: a run of an earlier day does not replace a model of later data"
    )
    assert decision["registered"] and decision["decision"]["promote"] is False


def test_a_warm_start_from_a_refit_starts_from_its_evaluated_model(
    refit_runs: dict[str, Path], tmp_path: Path
) -> None:
    """The refit saw this run's test windows; its evaluated model did not."""
    run_dir = tmp_path / "warm"
    with global_state_restored():
        run_train(
            refit_runs["store"],
            run_dir,
            *FAST[:2],
            *csv_data(refit_runs["store"] / "full.csv"),
            "logger=none",
            "train.init_from=1",
            "train.warm_max_steps=3",
            "optim.lr=1e-12",
            "fit.naive_fallback=false",
        )
    metrics = json.loads((run_dir / METRICS_FILE).read_text())
    assert metrics["warm_start"] | {"model_hash": None} == {
        "version": 1,
        "model_name": MODEL,
        "model_hash": None,
        "weights": "evaluated",
    }
    inputs = np.linspace(100.0, 104.0, 10).reshape(1, -1)
    evaluated = refit_runs["full"] / "refit" / "candidate" / "evaluated"
    np.testing.assert_allclose(
        open_model_dir(run_dir / "model").frame(inputs).filter(like="forecast_").to_numpy(),
        open_model_dir(evaluated).frame(inputs).filter(like="forecast_").to_numpy(),
        rtol=1e-6,
    )


def test_the_refit_step_repeats_the_evaluated_warm_start_not_the_alias(
    refit_runs: dict[str, Path], tmp_path: Path
) -> None:
    """The evaluated fit started from the version that is not the champion now: the refit step
    starts from that version too, and its record says so."""
    store = refit_runs["store"]
    run = tmp_path / "run"
    shutil.copytree(refit_runs["full"], run)
    folders = step_folders(run, STEPS)["refit"]
    metrics_path = folders["train_output"] / METRICS_FILE
    metrics = json.loads(metrics_path.read_text())
    assert metrics["warm_start"] is None and folders["candidate"].is_dir()
    registry = ModelRegistry(f"sqlite:///{store}/mlruns.db", MODEL)
    champion = registry.resolve(alias="champion").version
    started_from = 2 if champion == 1 else 1
    metrics["warm_start"] = {"version": started_from, "model_name": MODEL}
    metrics_path.write_text(json.dumps(metrics))
    overrides = refit_step_overrides(store, folders, "train.init_from=champion")
    with global_state_restored():
        record = run_task(run_refit, "pipeline", overrides, run / "refit").value
    assert record["refit"] is True
    assert record["warm_start"]["version"] == started_from != champion
    assert read_model_metadata(folders["candidate"])["refit"]["warm_start"]["version"] == (
        started_from
    )


def test_the_refit_is_skipped_where_more_history_did_not_help(
    refit_runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockcast.training import refit as refit_training

    store, run = refit_runs["store"], tmp_path / "run"
    shutil.copytree(refit_runs["full"], run)
    folders = step_folders(run, STEPS)["refit"]
    verdict = {"helps": False, "held_back_windows": 7, "evaluated_mase": 1.0,
               "with_more_history_mase": 1.5}  # fmt: skip
    monkeypatch.setattr(refit_training, "held_back_check", lambda *args: verdict)
    overrides = refit_step_overrides(store, folders)
    with global_state_restored():
        result = run_task(run_refit, "pipeline", overrides, run / "refit").value
    assert result["refit"] is False and result["check"] == verdict
    assert "forecast the other half no better (MASE 1.5 against" in result["reason"]
    # The refit started beside the check is stopped, not left running.
    assert multiprocessing.active_children() == []
    evaluated = folders["model"]
    assert folder_contents(folders["candidate"]).digest == folder_contents(evaluated).digest


def test_a_refit_that_diverges_registers_the_evaluated_model(
    refit_runs: dict[str, Path], tmp_path: Path
) -> None:
    """A refit whose weights became NaN (a learning rate far too large) has no held-out windows
    to show it: it was saved and registered as champion, refusing every forecast. The evaluated
    model goes on instead, and the step's record says why."""
    store, run = refit_runs["store"], tmp_path / "run"
    shutil.copytree(refit_runs["full"], run)
    folders = step_folders(run, STEPS)["refit"]
    overrides = refit_step_overrides(store, folders, "optim.lr=1e8", "pipeline.refit_check=false")
    with global_state_restored():
        result = run_task(run_refit, "pipeline", overrides, run / "refit").value
    assert result["refit"] is False and result["diverged"] is True
    assert result["reason"].startswith("the refit diverged: its weights or its forecasts")
    evaluated = folders["model"]
    assert folder_contents(folders["candidate"]).digest == folder_contents(evaluated).digest
    window = np.array(json.loads((evaluated / "input_example.json").read_text()), dtype=float)
    point, _ = open_model_dir(folders["candidate"]).forecast(window)
    assert np.isfinite(point).all()


def test_a_refit_centres_the_bounds_of_a_model_calibrated_per_tail(
    refit_runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An evaluated model saved before bands were centred holds each tail's own bounds (here,
    a band lying wholly above its forecast); its refit gets their widths centred on its own
    forecast, not the lean the evaluated model showed on its validation windows."""
    from stockcast.training import refit as refit_training

    leaning = {"80": [[0.5, 1.0, 1.0, 1.5, 2.0], [2.5, 5.0, 5.0, 6.5, 8.0]],
               "95": [[-1.0, -1.0, -1.0, -1.0, -1.0], [4.0, 7.0, 7.0, 9.0, 11.0]]}  # fmt: skip

    def per_tail(folder: Path) -> dict:
        spec = model_spec(folder)
        return spec | {"intervals": spec["intervals"] | {"bounds": leaning}}

    monkeypatch.setattr(refit_training, "model_spec", per_tail)
    monkeypatch.setattr(refit_training, "held_back_check", lambda *args: {"helps": True})
    store, run = refit_runs["store"], tmp_path / "run"
    shutil.copytree(refit_runs["full"], run)
    folders = step_folders(run, STEPS)["refit"]
    overrides = refit_step_overrides(store, folders, "pipeline.refit_beside_check=false")
    with global_state_restored():
        assert run_task(run_refit, "pipeline", overrides, run / "refit").value["refit"] is True
    bounds = model_spec(folders["candidate"])["intervals"]["bounds"]
    assert bounds == {"80": [[-1.0, -2.0, -2.0, -2.5, -3.0], [1.0, 2.0, 2.0, 2.5, 3.0]],
                      "95": [[-2.5, -4.0, -4.0, -5.0, -6.0], [2.5, 4.0, 4.0, 5.0, 6.0]]}  # fmt: skip


def test_the_refit_step_passes_the_evaluated_schedule_to_the_check_and_the_refit(
    refit_runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The schedule in the train step's metrics.json reaches the held-back check and the
    refit, at its share of the evaluated steps, and the refit's record names it."""
    from stockcast.training import refit as refit_training

    store, run = refit_runs["store"], tmp_path / "run"
    shutil.copytree(refit_runs["full"], run)
    folders = step_folders(run, STEPS)["refit"]
    metrics_path = Path(folders["train_output"]) / METRICS_FILE
    metrics = json.loads(metrics_path.read_text())
    step = metrics["best_step"] // 2
    metrics["lr_drops"] = [[step, [0.5]]]
    metrics_path.write_text(json.dumps(metrics))
    checked, fitted = [], []
    real_check, real_refit_network = refit_training.held_back_check, refit_training.refit_network

    def check(*args: object) -> dict:
        checked.append(args[-1])
        return real_check(*args) | {"helps": True}  # the refit runs whatever the check found

    def refit_network(*args: object) -> object:
        fitted.append(args[-1])
        return real_refit_network(*args)

    monkeypatch.setattr(refit_training, "held_back_check", check)
    monkeypatch.setattr(refit_training, "refit_network", refit_network)
    overrides = refit_step_overrides(store, folders, "pipeline.refit_beside_check=false")
    with global_state_restored():
        record = run_task(run_refit, "pipeline", overrides, run / "refit").value
    shares = [(step / metrics["best_step"], (0.5,))]
    assert checked == [shares]
    assert fitted == [shares, shares], "the check's fit and the refit both repeat the schedule"
    assert record["lr_drop_shares"] == [[shares[0][0], [0.5]]]
    recorded = read_model_metadata(folders["candidate"])["refit"]["lr_drop_shares"]
    assert recorded == record["lr_drop_shares"]


def test_a_refit_cut_short_by_max_time_records_the_steps_it_took(
    refit_runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """trainer.max_time stops the refit early, but its record gave the planned steps as the
    steps it took."""
    import torch

    store, run = refit_runs["store"], tmp_path / "run"
    shutil.copytree(refit_runs["full"], run)
    folders = step_folders(run, STEPS)["refit"]
    planned = read_model_metadata(folders["candidate"])["refit"]["optimizer_steps"]
    taken = []
    step = torch.optim.Adam.step
    monkeypatch.setattr(torch.optim.Adam, "step", lambda *a, **k: taken.append(1) or step(*a, **k))
    settings = ("pipeline.refit_check=false", "+trainer.max_time={seconds:0.001}")
    with global_state_restored():
        overrides = refit_step_overrides(store, folders, *settings)
        record = run_task(run_refit, "pipeline", overrides, run / "refit")
    assert 0 < len(taken) < planned, "the time limit cut the refit short"
    assert record.value["optimizer_steps"] == len(taken)
    assert read_model_metadata(folders["candidate"])["refit"]["optimizer_steps"] == len(taken)


def test_a_refit_beside_the_check_has_the_bytes_of_one_after_it(
    refit_runs: dict[str, Path], tmp_path: Path
) -> None:
    """pipeline.refit_beside_check only moves the refit into a child process: run after the
    check in this process instead, it gives the same weights to the bit."""
    store, run = refit_runs["store"], tmp_path / "run"
    shutil.copytree(refit_runs["full"], run)
    folders = step_folders(run, STEPS)["refit"]
    beside = read_model_metadata(folders["candidate"])["refit"]
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: the pipeline run fitted its refit after the check")
    assert beside["beside_check"] is True, "the pipeline run fitted its refit beside the check"
    overrides = refit_step_overrides(store, folders, "pipeline.refit_beside_check=false")
    weights = model_artifact(refit_runs["full"] / "refit" / "candidate", "weights").read_bytes()
    with global_state_restored():
        record = run_task(run_refit, "pipeline", overrides, run / "refit").value
    assert record["refit"] is True and record["beside_check"] is False
    assert record["check"] == beside["check"]
    assert model_artifact(folders["candidate"], "weights").read_bytes() == weights


def test_a_refit_that_fails_beside_the_check_raises_its_own_error(
    refit_runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockcast.errors import ConfigError
    from stockcast.training import refit as refit_training

    def refuse(*args: object) -> None:
        raise ConfigError("the refit refused its data in the child process.")

    store, run = refit_runs["store"], tmp_path / "run"
    shutil.copytree(refit_runs["full"], run)
    folders = step_folders(run, STEPS)["refit"]
    # Replaced before the fork, so the child runs it; the check (this process) is unchanged.
    monkeypatch.setattr(refit_training, "refit_network", refuse)
    monkeypatch.setattr(
        refit_training, "held_back_check", lambda *args: {"helps": True, "held_back_windows": 1}
    )
    overrides = refit_step_overrides(store, folders)
    with (
        global_state_restored(),
        pytest.raises(ConfigError, match="refused its data in the child") as raised,
    ):
        run_task(run_refit, "pipeline", overrides, run / "refit")
    assert multiprocessing.active_children() == []
    if len(os.sched_getaffinity(0)) >= 2:
        # It came from the child, which says where it arose.
        assert any("in the child process:" in note for note in raised.value.__notes__)


@pytest.mark.parametrize(
    ("override", "why"),
    [
        ({}, None),
        ({"num_threads": 2}, "OpenMP's pool from an earlier fit hangs a forked child"),
        ({"trainer": {"precision": "64-true"}}, "the weights come back as 32-bit"),
        ({"train": {"init_from": "champion"}}, "a warm start opens the registry"),
        ({"trainer": {"devices": 2}}, "not one CPU process"),
        ({"trainer": {"accelerator": "gpu"}}, "not one CPU process"),
        ({"pipeline": {"refit_beside_check": False}}, "switched off"),
    ],
)
def test_the_refit_runs_beside_the_check_only_where_a_fork_is_safe(
    override: dict, why: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockcast.training.beside import fits_beside

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    cfg = OmegaConf.merge(
        {
            "trainer": {"accelerator": "cpu", "devices": 1},
            "pipeline": {"refit_beside_check": True},
            "train": {"init_from": None},
            "num_threads": 1,
        },
        override,
    )
    assert fits_beside(cfg) is (why is None), why


@pytest.mark.parametrize("steps", [20, 33])
def test_a_fixed_step_fit_takes_exactly_its_optimizer_steps(
    make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, steps: int
) -> None:
    """Lightning checks max_steps between its batches of data.steps_per_batch optimizer steps:
    the refit, its held-back check and the folds must stop inside one (20 steps took 27)."""
    import torch

    from stockcast.data.prepared import PreparedData
    from stockcast.orchestration.steps.prepare import run_prepare
    from stockcast.training.fixed_steps import refit_network

    cfg = make_cfg("data=seasonal", "data.length=130", "logger=none", "data.steps_per_batch=16")
    prepared = PreparedData.load(run_prepare(cfg, tmp_path / "prepared"))
    taken = []
    step = torch.optim.Adam.step
    monkeypatch.setattr(torch.optim.Adam, "step", lambda *a, **k: taken.append(1) or step(*a, **k))
    refit_network(cfg, prepared, steps, 9)
    assert len(taken) == steps


def test_the_refit_takes_the_evaluated_fits_processes_not_its_own_config(make_cfg) -> None:
    """A cloud pipeline's train step alone runs on every node: its metrics say how many
    processes took a batch at each step, and the refit's one process takes them all."""
    from stockcast.training.distributed import configured_world_size
    from stockcast.training.evaluated_recipe import pinned_processes
    from stockcast.training.fixed_steps import windows_per_step

    cfg = make_cfg("trainer=ddp", "trainer.devices=2")
    assert configured_world_size(cfg.trainer) == 2
    pinned = pinned_processes(cfg, {"processes": 8, "batch_size": 16})
    assert windows_per_step(pinned.trainer, 16) == 128
    assert pinned_processes(cfg, {"processes": 2}) is cfg, "the same layout: unchanged"
    assert pinned_processes(cfg, {}) is cfg, "metrics written before processes were recorded"
    alone = pinned_processes(cfg, {"processes": 1})
    assert windows_per_step(alone.trainer, 16) == 16 and alone.trainer.strategy == "auto"


def test_the_refit_step_refuses_folders_of_another_run_or_damaged(
    refit_runs: dict[str, Path], tmp_path: Path
) -> None:
    """Each step runs alone from plain folders: a prepared folder of other data was refitted on
    and registered under the evaluated model's data hash, and a metrics.json cut short, or an
    output folder that is a file, were tracebacks."""
    store, run = refit_runs["store"], tmp_path / "run"
    shutil.copytree(refit_runs["full"], run)
    folders = step_folders(run, STEPS)["refit"]

    def refit(**moved: Path) -> None:
        overrides = refit_step_overrides(store, folders | moved)
        with global_state_restored():
            run_task(run_refit, "pipeline", overrides, run / "refit")

    meta_file = folders["prepared"] / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps(meta | {"data_hash": "another"}))
    with pytest.raises(ArtifactError, match=r"holds other data than the model in .* \(data hash "):
        refit()
    meta_file.write_text(json.dumps(meta))
    metrics_file = folders["train_output"] / METRICS_FILE
    metrics = metrics_file.read_text()
    for damaged in ('{"val": {"ma', "null", "[]"):
        metrics_file.write_text(damaged)
        with pytest.raises(ArtifactError, match=r"is not the JSON the train step writes \(cut"):
            refit()
    metrics_file.write_text(metrics)
    (tmp_path / "a_file").write_text("")
    for output in (tmp_path / "a_file", tmp_path / "a_file" / "candidate"):
        with pytest.raises(ArtifactError, match=r"^refit.output_dir .* is a file or inside one"):
            refit(candidate=output)


def test_the_refit_step_refuses_data_split_otherwise_than_the_evaluated_models(
    refit_runs: dict[str, Path], tmp_path: Path
) -> None:
    """The splits leave the data hash as it is: a model of 70/15/15 was refitted on a 60/10/30
    folder of the same prices, its held-back check scoring it on windows of its own train split
    and its budget counted in another train split's windows."""
    store, run = refit_runs["store"], tmp_path / "run"
    shutil.copytree(refit_runs["full"], run)
    folders = step_folders(run, STEPS)["refit"]
    shutil.rmtree(folders["candidate"])
    other = refit_runs["partial"] / "prepare" / "prepared"
    overrides = refit_step_overrides(store, folders | {"prepared": other})
    with pytest.raises(ArtifactError) as refused, global_state_restored():
        run_task(run_refit, "pipeline", overrides, run / "refit")
    assert str(refused.value) == (
        f"refit.prepared_dir {other} was split otherwise than the data of the model in "
        f"{folders['model']} (data.split.train=0.6, data.split.val=0.1, data.split.test=0.3 "
        "there), and the refit repeats the model's fit on its train and validation splits; "
        "prepare the data with the model's splits (data.split.train=0.7, data.split.val=0.15, "
        "data.split.test=0.15), or point both at the same pipeline run."
    )
    assert not folders["candidate"].exists(), "refused before any work"


def evaluate_step(store: Path, model: Path, prepared: Path, report: Path, *settings: str) -> None:
    """The evaluate step alone on `model` and `prepared`, writing `report` (`settings`: a test's
    own overrides)."""
    from stockcast.orchestration.steps.evaluate import run_evaluate

    overrides = [
        *isolated_overrides(store),
        *FAST,
        *csv_data(store / "full.csv"),
        f"evaluate.model_dir={model}",
        f"evaluate.prepared_dir={prepared}",
        f"evaluate.output_dir={report}",
        *settings,
    ]
    with global_state_restored():
        run_task(run_evaluate, "pipeline", overrides, report.parent / "h")


def test_the_evaluate_step_refuses_a_refit_and_names_the_model_to_score(
    refit_runs: dict[str, Path], tmp_path: Path
) -> None:
    """A refit was fitted on the test windows: scored on them it passed the gate with about half
    the evaluated model's MASE and was registered as champion on that score."""
    store, run = refit_runs["store"], refit_runs["full"]
    candidate, prepared = run / "refit" / "candidate", run / "prepare" / "prepared"
    with pytest.raises(ArtifactError) as refused:
        evaluate_step(store, candidate, prepared, tmp_path / "refused")
    assert str(refused.value) == (
        f"evaluate.model_dir {candidate} is a refit, fitted on the test windows it would be "
        "scored on, so its scores would not be held out; evaluate the model it was refitted "
        f"from ({candidate / 'evaluated'}, or the train step's model folder) and register the "
        "refit with that report."
    )
    assert not (tmp_path / "refused").exists(), "refused before any work"
    # The folder it names is the one whose report the register step takes with the refit.
    evaluate_step(store, candidate / "evaluated", prepared, tmp_path / "report")
    scored = json.loads((tmp_path / "report" / REPORT_FILE).read_text())
    earlier = json.loads((run / "evaluate" / "report" / REPORT_FILE).read_text())
    assert scored["model_hash"] == earlier["model_hash"]
    assert scored["metrics"] == earlier["metrics"]


def test_the_evaluate_step_refuses_a_split_whose_test_windows_the_model_was_selected_on(
    refit_runs: dict[str, Path], tmp_path: Path
) -> None:
    """The splits leave the data hash as it is: a model of 70/15/15 scored on a 60/10/30 folder
    of the same prices was scored on its own validation windows as if they were held out."""
    store = refit_runs["store"]
    model = refit_runs["full"] / "train" / "model"
    longer_test = refit_runs["partial"] / "prepare" / "prepared"
    with pytest.raises(ArtifactError) as refused:
        evaluate_step(store, model, longer_test, tmp_path / "refused")
    message = str(refused.value)
    assert message.startswith(
        f"evaluate.prepared_dir {longer_test} was split otherwise than the data of the model in "
        f"{model}: its validation ends on "
    )
    assert message.endswith(
        "so its test windows hold some the model was fitted or selected on; prepare the data "
        "with the model's splits (data.split.train=0.7, data.split.val=0.15, "
        "data.split.test=0.15), or point both at the same pipeline run."
    )
    assert not (tmp_path / "refused").exists(), "refused before any work"
    # A test split later than the model's validation is held out: scored.
    evaluate_step(
        store,
        refit_runs["partial"] / "train" / "model",
        refit_runs["full"] / "prepare" / "prepared",
        tmp_path / "report",
    )
    assert (tmp_path / "report" / REPORT_FILE).is_file()


def test_the_evaluate_step_refuses_a_season_longer_than_the_test_windows_past(
    refit_runs: dict[str, Path], tmp_path: Path
) -> None:
    """A seasonal-naive period set longer than a test window's past was a log line once the
    windows were scored: the report left the baseline out, and the setting did nothing."""
    run = refit_runs["full"]
    model, prepared = run / "train" / "model", run / "prepare" / "prepared"
    data = PreparedData.load(prepared)
    # One series, the test split last: the earliest test window's first target lies this many
    # values into the whole series.
    test, whole = data.splits["test"], join_splits(data.splits, ("train", "val", "test"))
    past = len(whole.values) - (len(test.values) - int(test.origins(data.window).origins.min()))
    with pytest.raises(ConfigError) as refused:
        evaluate_step(
            refit_runs["store"],
            model,
            prepared,
            tmp_path / "refused",
            f"evaluate.season_length={past + 1}",
        )
    assert str(refused.value) == (
        f"evaluate.season_length is {past + 1}, longer than the {past} values one test window "
        "has of its series before it, so the report would have no seasonal-naive baseline; set "
        f"at most {past}, or null for the data's season."
    )
    assert not (tmp_path / "refused").exists(), "refused before any work"
    evaluate_step(
        refit_runs["store"], model, prepared, tmp_path / "report", f"evaluate.season_length={past}"
    )
    report = json.loads((tmp_path / "report" / REPORT_FILE).read_text())
    assert report["season_length"] == past and "seasonal_naive" in report["metrics"]


def refused_registration(store: Path, model: Path, report: Path, tmp_path: Path) -> str:
    """The register step alone on `model` and `report`, which must refuse them before anything
    is registered or written: its sentence."""
    from stockcast.orchestration.steps.register import run_register

    overrides = [
        *isolated_overrides(store),
        *FAST,
        *csv_data(store / "full.csv"),
        f"register.model_dir={model}",
        f"register.report_dir={report}",
        f"register.output_dir={tmp_path / 'decision'}",
    ]
    versions = ModelRegistry(f"sqlite:///{store}/mlruns.db", MODEL).versions()
    with pytest.raises(ArtifactError) as refused, global_state_restored():
        run_task(run_register, "pipeline", overrides, tmp_path / "h")
    assert ModelRegistry(f"sqlite:///{store}/mlruns.db", MODEL).versions() == versions
    assert not (tmp_path / "decision").exists()
    return str(refused.value)


def test_the_register_step_refuses_a_refit_without_its_evaluated_model(
    refit_runs: dict[str, Path], tmp_path: Path
) -> None:
    """With evaluated/ removed, the refit's report named other bytes and the step said to
    evaluate the refit itself, which scores it on the windows it was fitted on."""
    store, run = refit_runs["store"], refit_runs["full"]
    candidate = tmp_path / "candidate"
    shutil.copytree(run / "refit" / "candidate", candidate)
    shutil.rmtree(candidate / "evaluated")
    refused = refused_registration(store, candidate, run / "evaluate" / "report", tmp_path)
    assert refused == (
        f"{candidate} is a refit without the model it was refitted from (evaluated/), whose "
        "report is its only held-out score; register the refit step's whole output folder, or "
        "run the refit step again to write it."
    )


def test_a_refit_given_another_models_report_is_told_to_evaluate_its_evaluated_model(
    refit_runs: dict[str, Path], tmp_path: Path
) -> None:
    """The step said to evaluate the refit folder itself, which the evaluate step refuses (it
    would score the refit on the windows it was fitted on): the report it needs is of the model
    inside it."""
    store, run = refit_runs["store"], refit_runs["full"]
    candidate = run / "refit" / "candidate"
    other = refit_runs["partial"] / "evaluate" / "report"
    refused = refused_registration(store, candidate, other, tmp_path)
    assert refused.startswith(f"report {other} was made for another model (hash ")
    assert refused.endswith(
        f"); evaluate the model it was refitted from, {candidate / 'evaluated'}, first."
    )


def test_the_register_step_refuses_a_report_folder_without_its_windows_or_plots(
    refit_runs: dict[str, Path], tmp_path: Path
) -> None:
    """A report.json copied without a plot, or without the windows the champion is re-scored
    on, was a FileNotFoundError traceback in the middle of registering."""
    store, run = refit_runs["store"], refit_runs["full"]
    candidate = run / "refit" / "candidate"
    report = tmp_path / "report"
    shutil.copytree(run / "evaluate" / "report", report)
    plots = json.loads((report / REPORT_FILE).read_text())["plots"]
    (report / plots[0]).unlink()
    assert refused_registration(store, candidate, report, tmp_path) == (
        f"report {report} lacks {plots[0]}, which the evaluate step wrote beside its report.json "
        "(moved or deleted); point it at the whole folder the evaluate step wrote, or run that "
        "step again."
    )
    (report / WINDOWS_FILE).unlink()
    assert refused_registration(store, candidate, report, tmp_path).startswith(
        f"report {report} lacks {WINDOWS_FILE}, {plots[0]}, which the evaluate step wrote "
    )


@pytest.mark.parametrize(
    "overrides",
    [
        (),
        # Theta's smoothing parameters learn at 30 times the rate, in a group of their own: at
        # the first drop the weights' rate stops at its floor (0.6 of its start), the smoothing
        # group's halves.
        (
            "model=theta",
            "optim.lr=0.05",
            "+optim.scheduler.min_lr=0.03",
            "optim.scheduler.patience=0",
            "data.steps_per_batch=2",
            "fit.val_every_steps=4",
            "trainer.max_steps=120",
            "callbacks.early_stopping.patience=30",
            "fit.naive_fallback=false",
        ),
    ],
    ids=["mlp", "theta-floored"],
)
def test_a_fixed_step_fit_repeats_the_evaluated_learning_rate_schedule(
    tmp_path: Path, overrides: tuple[str, ...]
) -> None:
    """The plateau scheduler lowers the rate after validations, which a fit of a fixed step
    budget (the refit, its held-back check, the folds) never runs: on the evaluated fit's own
    train split and budget it trained at the starting rate throughout and did not rebuild the
    evaluated weights (0.08 apart on a seasonal series whose rate was halved before its best
    step). With the recorded schedule, each parameter group's, it rebuilds them to the bit."""
    from stockcast.data.prepared import PreparedData
    from stockcast.training.checkpoint_file import read_checkpoint
    from stockcast.training.evaluated_recipe import LrDropShares, evaluated_lr_drops
    from stockcast.training.fixed_steps import refit_network

    run_dir = tmp_path / "run"
    # Without MLflow: what is compared is read from the run folder.
    run_train(
        tmp_path,
        run_dir,
        "data=seasonal",
        "data.length=400",
        AS_OF,
        "fit.folds=0",
        "logger=none",
        *overrides,
    )
    summary = json.loads((run_dir / METRICS_FILE).read_text())
    drops = evaluated_lr_drops(summary)
    assert drops and all(0 < share < 1 and max(scales) < 1 for share, scales in drops), summary
    best = read_checkpoint(run_dir / summary["best_checkpoint"])
    evaluated = {k.removeprefix("net."): v for k, v in best["state_dict"].items()}
    cfg = OmegaConf.load(run_dir / "config_resolved.yaml")
    prepared = PreparedData.load(run_dir / "prepared")
    budget = (cfg, prepared, summary["best_step"], summary["batch_size"])

    def apart(lr_drops: LrDropShares) -> float:
        net = refit_network(*budget, lr_drops).net
        state = net.state_dict()
        return max(float((state[k] - v).abs().max()) for k, v in evaluated.items())

    assert apart(drops) == 0.0
    assert apart([]) > 1e-3, "at the starting rate throughout it lands elsewhere"


# The smallest network spec a refit's fit can hold.
SMALL_SPEC = {
    "kind": "mlp",
    "network": {"hidden_sizes": [4], "activation": "relu", "dropout": 0.0},
    "previous_time_window": 10,
    "next_time_window": 5,
    "anchor": "last",
    "scaler": {"kind": "per_window", "loc": 0.0, "scale": 1.0, "min_relative_scale": 1e-4},
}


def test_a_refit_fitted_beside_the_check_comes_back_as_the_same_fit() -> None:
    """The child process sends its fit's weights as arrays; the parent builds the network
    again from them: every field of the fit, weights included, arrives as it was sent."""
    import torch

    from stockcast.models.spec import build_price_forecaster
    from stockcast.training import refit as refit_training
    from stockcast.training.fixed_steps import FixedStepFit

    net = build_price_forecaster(SMALL_SPEC)
    sent = {key: value.numpy() for key, value in net.state_dict().items()}
    fit = FixedStepFit(sent, SMALL_SPEC, {"version": 3}, 17)
    rebuilt = refit_training._rebuilt(fit)
    assert (rebuilt.spec, rebuilt.warm_source, rebuilt.steps) == (SMALL_SPEC, {"version": 3}, 17)
    assert rebuilt.net.state_dict().keys() == net.state_dict().keys()
    for key, value in net.state_dict().items():
        assert torch.equal(rebuilt.net.state_dict()[key], value)


def test_a_model_passed_on_is_a_copy_of_the_evaluated_one(tmp_path: Path) -> None:
    """Where the refit is not registered (the check refused it, or it diverged) the evaluated
    folder is copied as it is, and the record says why with the check's verdict."""
    from stockcast.training import refit as refit_training

    evaluated, output = tmp_path / "evaluated", tmp_path / "output"
    (evaluated / "sub").mkdir(parents=True)
    (evaluated / "sub" / "weights").write_bytes(b"\x00\x01")
    record = refit_training._passed_on(evaluated, output, "why", {"helps": False}, diverged=True)
    assert record == {"refit": False, "reason": "why", "check": {"helps": False}, "diverged": True}
    assert folder_contents(output).digest == folder_contents(evaluated).digest
