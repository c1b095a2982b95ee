"""Per-series scores: each series on its own scale, aggregates over series, best and worst."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stockcast.data.mase_scales import series_of_windows, series_scales
from stockcast.data.series import Series
from stockcast.data.split import split_series
from stockcast.evaluation.reports import REPORT_FILE, WINDOWS_FILE
from stockcast.evaluation.series_scores import best_and_worst, per_series_scores
from stockcast.forecasting.windows import WindowSizes
from tests.conftest import LENIENT_GATE, global_state_restored, run_local_pipeline


def test_windows_belong_to_the_series_they_start_in() -> None:
    series = [Series(name, np.arange(n, dtype=float) + 1) for name, n in (("a", 40), ("b", 60))]
    test = split_series(series, WindowSizes(3, 2), {"train": 0.5, "val": 0.25, "test": 0.25})[
        "test"
    ]
    starts = test.window_starts(WindowSizes(3, 2))
    owners = series_of_windows(test, starts + 3)
    assert owners.tolist() == [0] * 9 + [1] * 14


def test_scores_by_hand() -> None:
    # "none" has no test windows: every later series' row sits one place before its index.
    ids = ("a", "none", "b", "flat")
    owners = np.array([0, 0, 2, 3])
    actual = np.array([[10.0, 10.0], [12.0, 12.0], [100.0, 100.0], [5.0, 5.0]])
    model = actual + np.array([[1.0, 1.0], [1.0, 3.0], [10.0, 10.0], [0.0, 0.0]])
    naive = actual + np.array([[2.0, 2.0], [2.0, 2.0], [5.0, 5.0], [1.0, 1.0]])
    scales = np.array([2.0, 7.0, 10.0, 1.0])
    lower, upper = actual - 1.5, actual + 1.5
    result = per_series_scores(
        ids, owners, scales, {"model": model, "naive": naive}, actual, {"80": (lower, upper)}
    )
    rows = {row["id"]: row for row in result["series"]}
    # a: model errors 1,1,1,3 -> MAE 1.5 / scale 2; naive MAE 2 / 2
    assert rows["a"]["model_mase"] == pytest.approx(0.75)
    assert rows["a"]["naive_mase"] == pytest.approx(1.0)
    assert rows["a"]["mase_vs_naive"] == pytest.approx(0.75)
    assert rows["b"]["mase_vs_naive"] == pytest.approx(2.0)
    assert rows["flat"]["model_mase"] == 0.0 and rows["a"]["windows"] == 2
    assert "none" not in rows
    assert [rows[i]["mase_scale"] for i in ("a", "b", "flat")] == [2.0, 10.0, 1.0]
    assert rows["a"]["coverage_80"] == 1.0 and rows["b"]["coverage_80"] == 1.0
    aggregate = result["aggregate"]
    assert aggregate["series"] == 3
    assert aggregate["share_beating_naive"] == pytest.approx(2 / 3)
    assert aggregate["median_mase"]["model"] == pytest.approx(0.75)
    assert aggregate["mean_mase"]["naive"] == pytest.approx((1.0 + 0.5 + 1.0) / 3)


def test_a_flat_train_series_is_scaled_in_its_own_units() -> None:
    """A series that never moved in train has no naive MAE: it takes the moving series' median
    MAE relative to their level, times its own level (the others' MAE itself is in their prices:
    a dear series would then score its first move as many MASEs)."""
    fractions = {"train": 0.5, "val": 0.25, "test": 0.25}
    # Train parts: 0, 3, ..., 57 (MAE 3, level 28.5) and 1000, 1002, ... (MAE 2, level 1019).
    moving = [Series("dear", 1000 + np.arange(40.0) * 2), Series("cheap", np.arange(40.0) * 3)]
    series = [Series("flat", np.full(40, 5.0)), *moving]
    scales = series_scales(split_series(series, WindowSizes(3, 2), fractions)["train"])
    relative = np.median([2 / 1019, 3 / 28.5])
    np.testing.assert_allclose(scales, [5 * relative, 2.0, 3.0], rtol=1e-12)
    # At a level of 0 there is no own unit: the moving series' mean MAE; none moving: 1.
    series = [Series("zero", np.zeros(40)), *moving]
    zero = series_scales(split_series(series, WindowSizes(3, 2), fractions)["train"])
    np.testing.assert_allclose(zero, [2.5, 2.0, 3.0])
    still = [Series("a", np.full(40, 5.0)), Series("b", np.full(40, 7.0))]
    none_moved = series_scales(split_series(still, WindowSizes(3, 2), fractions)["train"])
    assert none_moved.tolist() == [1.0, 1.0]


def test_best_and_worst_pick_both_ends() -> None:
    rows = [{"mase_vs_naive": r} for r in (0.9, 1.3, 0.5, 1.1, 0.7, 2.0)]
    assert best_and_worst(rows, 2) == [2, 4, 1, 5]
    assert sorted(best_and_worst(rows, 3)) == list(range(6))
    assert best_and_worst(rows, 0) == []
    # An undefined ratio (naive exact on its windows) sorted last, so it was drawn as the worst.
    halted = [{"mase_vs_naive": r} for r in (1.00000034, 1.00000008, float("nan"), 0.9)]
    assert best_and_worst(halted, 1) == [3, 0]
    assert best_and_worst(halted[1:], 2) == [2, 0, 1]


def test_the_naive_forecast_carried_through_float32_does_not_beat_naive() -> None:
    """A panel that fell back to the last price scored ratios of 0.999999 and 1.0000002: three
    of four series counted as beating naive, by round-off."""
    actual = np.array([[10.0, 11.0], [20.0, 19.0], [30.0, 31.0], [40.0, 41.0]])
    naive = actual + 1.0
    model = naive * np.array([[1 - 1e-7], [1 + 1e-7], [1 - 2e-7], [1.0]])
    model[3] = actual[3] + 0.5  # half naive's errors: beats it
    result = per_series_scores(
        ("a", "b", "c", "d"), np.arange(4), np.ones(4), {"model": model, "naive": naive}, actual
    )
    assert result["aggregate"]["share_beating_naive"] == 0.25


def test_a_series_id_becomes_a_file_name_every_system_takes() -> None:
    """A ticker `BRK/B` made evaluate's plot path a folder that does not exist: a traceback
    after training. Ids that are already safe keep their name."""
    from stockcast.files import file_name_part

    assert file_name_part("T0001") == "T0001" and file_name_part("BRK.B") == "BRK.B"
    slashed, underscored = file_name_part("BRK/B"), file_name_part("BRK_B")
    assert slashed.startswith("BRK_B-") and "/" not in slashed and slashed != underscored
    assert len(file_name_part("x" * 400)) < 120


def test_ids_that_differ_only_in_case_get_file_names_apart_in_any_case() -> None:
    """On a case-insensitive file system (macOS, Windows) `AAPL` and `aapl` would name one plot
    file, and the second drawn would overwrite the first."""
    from stockcast.files import file_name_parts

    names = file_name_parts(["AAPL", "aapl", "MSFT", "BRK/B"])
    assert names["MSFT"] == "MSFT" and names["BRK/B"].startswith("BRK_B-")
    assert names["AAPL"].startswith("AAPL-") and names["aapl"].startswith("aapl-")
    assert len({name.lower() for name in names.values()}) == 4
    assert file_name_parts(["AAPL", "MSFT"]) == {"AAPL": "AAPL", "MSFT": "MSFT"}


@pytest.mark.slow
def test_a_twenty_ticker_market_gets_a_report_per_series(seeded_tmp: Path) -> None:
    with global_state_restored():
        run_local_pipeline(
            seeded_tmp,
            "data=market",
            "data.num_series=20",
            "data.length=200",
            "trainer.max_epochs=2",
            "data.batch_size=64",
            *LENIENT_GATE,
        )
    run = sorted((seeded_tmp / "logs" / "pipeline" / "runs").iterdir())[-1]
    report_dir = run / "evaluate" / "report"
    report = json.loads((report_dir / REPORT_FILE).read_text())
    rows, aggregate = report["per_series"]["series"], report["per_series"]["aggregate"]
    assert [row["id"] for row in rows] == [f"T{i:04d}" for i in range(1, 21)]
    assert aggregate["series"] == 20 and 0.0 <= aggregate["share_beating_naive"] <= 1.0
    ratios = np.array([row["mase_vs_naive"] for row in rows])
    assert aggregate["median_mase_vs_naive"] == pytest.approx(float(np.median(ratios)))
    assert set(aggregate["mean_coverage"]) == {"80", "95"}
    # The headline MASE, which the gate reads, weighs each window in its series' units: the
    # per-series MASEs' mean weighted by their windows, not the pooled errors in prices.
    windows = np.array([row["windows"] for row in rows])
    in_units = float(np.average([row["model_mase"] for row in rows], weights=windows))
    assert report["metrics"]["model"]["pooled"]["mase"] == pytest.approx(in_units, rel=1e-9)
    assert report["gate"]["test_mase"] == report["metrics"]["model"]["pooled"]["mase"]
    scored = np.load(report_dir / WINDOWS_FILE)
    # Each scored window keeps its series' scale, which the champion comparison divides by:
    # over a series' windows (they come series by series) it gives that series' MASE.
    owners = np.repeat(np.arange(len(rows)), windows)
    in_own_units = np.abs(scored["forecast"] - scored["actual"]).mean(axis=1) / scored["scales"]
    np.testing.assert_allclose(
        np.bincount(owners, weights=in_own_units) / windows,
        [row["model_mase"] for row in rows],
        rtol=1e-9,
    )
    in_prices = np.abs(scored["forecast"] - scored["actual"]).mean() / report["mase_scale"]
    # The tickers' price levels differ, so the two measures do (by 1% as of the suite's day).
    assert abs(in_prices - in_units) > 1e-6 * in_units
    # One forecast plot for the best and one for the worst series, plus the distribution.
    # Ranked stably: a market the model fell back on ties every series at naive's 1.0.
    order = np.argsort(ratios, kind="stable")
    best, worst = rows[int(order[0])]["id"], rows[int(order[-1])]["id"]
    drawn = sorted(p.name for p in report_dir.glob("forecast_vs_actual_*.png"))
    assert drawn == sorted({f"forecast_vs_actual_{best}.png", f"forecast_vs_actual_{worst}.png"})
    assert (report_dir / "mase_by_series.png").stat().st_size > 5000
