"""The forecast ledger: append-only, idempotent per (model, version, series, origin), safe under
two concurrent writers; forecasts mature on the values after their origin."""

from __future__ import annotations

import itertools
import multiprocessing
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from stockcast.data.series import Series
from stockcast.data.split import SplitData, split_series
from stockcast.errors import ConfigError
from stockcast.evaluation.live import last_origins, live_scores, score_live
from stockcast.evaluation.live_verdict import judge
from stockcast.evaluation.maturity import Maturity, Observed, mature
from stockcast.forecasting.windows import WindowSizes
from stockcast.registry.ledger import (
    LEDGER_FILE,
    ChampionSeen,
    Ledger,
    LedgerForecast,
    champion_since,
)
from stockcast.registry.rollback import previous_champion

TIMEOUT_S = 30.0


def forecast(origin: str, version: int = 1, series: str = "A", offset: float = 0.0):
    targets = tuple(str(d) for d in np.busday_offset(np.datetime64(origin), [1, 2], roll="forward"))
    return LedgerForecast(
        model_name="m",
        model_version=version,
        series_id=series,
        origin_date=origin,
        target_dates=targets,
        point=(100.0 + offset, 101.0 + offset),
        naive=100.0,
        bands={"80": ((99.0, 99.5), (101.0, 102.5))},
    )


def test_a_rerun_stores_nothing_new_and_reads_back_the_same_rows(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.db", TIMEOUT_S)
    batch = [forecast("2024-01-05"), forecast("2024-01-05", series="B"), forecast("2024-01-08")]
    assert ledger.append(batch) == 3
    first = ledger.forecasts("m")
    # Same keys again, even with other values: the first record stands, nothing is duplicated.
    assert ledger.append([*batch, forecast("2024-01-05", offset=50.0)]) == 0
    assert (
        ledger.forecasts("m") == first == sorted(batch, key=lambda f: (f.origin_date, f.series_id))
    )
    assert ledger.append([forecast("2024-01-05", version=2)]) == 1, "another version is new"
    assert ledger.forecasts("other") == []


def test_the_ledger_refuses_updates_and_deletes(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.db", TIMEOUT_S)
    ledger.append([forecast("2024-01-05")])
    connection = sqlite3.connect(tmp_path / "ledger.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        connection.execute("UPDATE forecasts SET naive = 0")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        connection.execute("DELETE FROM forecasts")
    connection.close()
    assert ledger.forecasts("m")[0].naive == 100.0


def _write(path: str, origins: list[str], seen: list[int]) -> int:
    ledger = Ledger(path, TIMEOUT_S)
    stored = 0
    for origin in origins:  # one transaction per forecast: many chances to interleave
        stored += ledger.append([forecast(origin), forecast(origin, series="B")])
    for version in seen:
        ledger.record_champion("m", "champion", version, "2024-01-05", "seen")
    return stored


def test_two_concurrent_writers_neither_lose_nor_duplicate_rows(tmp_path: Path) -> None:
    origins = [str(d) for d in np.arange("2023-01-02", "2023-07-01", dtype="datetime64[D]")]
    path = str(tmp_path / "ledger.db")
    # Overlapping halves: the middle third is written by both.
    first, second = origins[: 2 * len(origins) // 3], origins[len(origins) // 3 :]
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        stored = pool.starmap(_write, [(path, first, [1, 2]), (path, second, [1, 2])])
    rows = Ledger(path, TIMEOUT_S).forecasts("m")
    assert sum(stored) == len(rows) == 2 * len(origins)
    assert len({row.key for row in rows}) == len(rows)
    history = Ledger(path, TIMEOUT_S).champion_history("m", "champion")
    # Compare-and-insert: consecutive repeats of a version are never recorded twice in a row.
    versions = [seen.model_version for seen in history]
    assert all(a != b for a, b in itertools.pairwise(versions))
    assert versions[0] == 1 and versions[-1] == 2


def test_forecasts_mature_on_the_business_days_they_target() -> None:
    friday = forecast("2024-01-05")  # targets Monday 8th and Tuesday 9th
    assert friday.target_dates == ("2024-01-08", "2024-01-09")
    dates = [str(d) for d in np.arange("2024-01-01", "2024-01-10", dtype="datetime64[D]")]
    business = [d for d in dates if np.is_busday(np.datetime64(d))]
    values = np.arange(len(business), dtype=float) + 100.0
    by_monday = Observed("A", values[:-1], tuple(business[:-1]))
    waiting = Maturity([], 1, 0, {})
    assert mature([friday], [by_monday]) == waiting, "Tuesday's target has not arrived on Monday"
    matured = mature([friday], [Observed("A", values, tuple(business))]).matured
    assert len(matured) == 1
    np.testing.assert_array_equal(matured[0].actual, values[-2:])


@pytest.mark.parametrize(
    ("origin", "targets", "observed_after"),
    [
        # Targets a holiday (Christmas): the values come on the 24th's next trading days.
        ("2024-12-24", ("2024-12-25", "2024-12-26"), ("2024-12-26", "2024-12-27")),
        # New York closes at 20:00 UTC, then 21:00 once daylight saving ends.
        (
            "2024-11-01T20:00:00",
            ("2024-11-04T20:00:00", "2024-11-05T20:00:00"),
            ("2024-11-04T21:00:00", "2024-11-05T21:00:00"),
        ),
        # A Friday series whose Good Friday week is dated Thursday.
        ("2024-03-22", ("2024-03-29", "2024-04-05"), ("2024-03-28", "2024-04-05")),
        # An origin stored without a time, its values later dated with one.
        ("2024-11-01", ("2024-11-04", "2024-11-05"), ("2024-11-04T21:00:00", "2024-11-05T21:00")),
        # Hourly bars: a target at midnight, written without its time.
        (
            "2024-06-07T23:00:00",
            ("2024-06-08", "2024-06-08T01:00:00"),
            ("2024-06-08T00:00:00", "2024-06-08T01:00:00"),
        ),
    ],
)
def test_a_forecast_matures_on_the_values_after_its_origin_whatever_their_dates(
    origin: str, targets: tuple[str, str], observed_after: tuple[str, str]
) -> None:
    """Step k is the series' k-th value after the origin: where the calendar guessed a date the
    data does not have, the forecast still matures (matched by date, it waited for good)."""
    stored = LedgerForecast(
        **{**vars(forecast("2024-01-05")), "origin_date": origin, "target_dates": targets}
    )
    # The origin's own value, dated as the later values are (with a time where they have one).
    timed = "T" in observed_after[0] and "T" not in origin
    dates = (f"{origin}T20:00:00" if timed else origin, *observed_after)
    maturity = mature([stored], [Observed("A", np.array([100.0, 101.0, 102.0]), dates)])
    assert maturity.waiting == 0 and len(maturity.matured) == 1
    np.testing.assert_array_equal(maturity.matured[0].actual, [101.0, 102.0])
    maturity = mature([stored], [Observed("A", np.array([100.0, 101.0]), dates[:2])])
    assert maturity == Maturity([], 1, 0, {}), "the second step has not arrived"


def test_a_forecast_older_than_the_data_is_not_scored_against_its_first_values() -> None:
    """Data that keeps its latest values (a market's `data.length`, a rolling download) no
    longer reaches a year-old origin: its forecast was matched to the first values there."""
    old = forecast("2024-01-05")
    dates = tuple(str(d) for d in np.arange("2024-06-03", "2024-06-08", dtype="datetime64[D]"))
    maturity = mature([old], [Observed("A", np.arange(5.0) + 100.0, dates)])
    assert maturity == Maturity([], 0, 1, {})


def test_a_forecast_of_a_series_gone_from_the_data_is_orphaned_not_waiting() -> None:
    """A ticker no longer in the data (delisted, dropped from a panel) never brings the values
    its forecasts wait for; one whose last date merely lags the others' (a late download) still
    may, though the days its forecast targets have passed."""
    dates = ("2024-01-04", "2024-01-05", "2024-01-08", "2024-01-09")
    friday = {series: forecast("2024-01-05", series=series) for series in "ABCD"}
    observed = [
        Observed("A", np.arange(4.0) + 100.0, dates),
        # Two values behind A: its last value is the origin's.
        Observed("B", np.arange(2.0) + 100.0, dates[:2]),
    ]
    older = forecast("2024-01-04", series="C")
    maturity = mature([*friday.values(), older], observed)
    assert [m.forecast.series_id for m in maturity.matured] == ["A"]
    assert maturity.waiting == 1, "B is late, not gone"
    assert maturity.orphaned_by_series == {"C": 2, "D": 1}
    # Its targets (8 and 9 January) are gone by on A's last date, but not by as long again
    # (four days, to the 13th): behind, not yet overdue. Past that, as a stopped series is.
    assert maturity.overdue_by_series == {}
    days = np.arange("2024-01-04", "2024-01-17", dtype="datetime64[D]")
    weeks = tuple(str(d) for d in days[np.is_busday(days)])
    on = [Observed("A", np.arange(len(weeks)) + 100.0, weeks), observed[1]]
    assert mature([friday["B"]], on).overdue_by_series == {"B": 1}
    day_late = [observed[0], Observed("B", np.arange(3.0) + 100.0, dates[:3])]
    assert mature([forecast("2024-01-08", series="B")], day_late).overdue_by_series == {}
    # Once C is back, its forecasts mature again: the ledger's record was never lost.
    back = mature([friday["C"], older], [Observed("C", np.arange(4.0) + 100.0, dates)])
    assert (len(back.matured), back.waiting, back.orphaned_by_series) == (2, 0, {})


@pytest.mark.parametrize(
    ("a_dates", "b_dates"),
    [
        # A's exchange closed early (12:30) and B's did not (15:30): half-hour targets of A's
        # from 13:00 to 15:00 lie before B's last bar.
        (
            ("2024-11-29T12:00:00", "2024-11-29T12:30:00"),
            ("2024-11-29T15:00:00", "2024-11-29T15:30:00"),
        ),
        # A's bank holiday (26 August), B open: A's Monday target lies before B's last date.
        (("2024-08-22", "2024-08-23"), ("2024-08-23", "2024-08-26")),
    ],
)
def test_a_series_behind_by_its_own_calendar_is_not_overdue(
    a_dates: tuple[str, str], b_dates: tuple[str, str]
) -> None:
    """Series of different exchanges in one panel: one closed for a holiday or early on a day
    the other trades is behind for a day or an afternoon, which is no stopped series."""
    timed = "T" in a_dates[0]
    step = np.timedelta64(30, "m") if timed else np.timedelta64(1, "D")
    origin = np.datetime64(a_dates[-1])
    steps = 5 if timed else 1
    targets = tuple(
        str(origin + step * (k + 1)) if timed else str(np.busday_offset(origin, k + 1))
        for k in range(steps)
    )
    late = LedgerForecast(
        **{**vars(forecast("2024-01-05")), "origin_date": a_dates[-1], "target_dates": targets}
    )
    observed = [
        Observed("A", np.array([100.0, 101.0]), a_dates),
        Observed("B", np.array([100.0, 101.0]), b_dates),
    ]
    maturity = mature([late], observed)
    assert maturity.waiting == 1 and maturity.overdue_by_series == {}


def test_live_scores_compare_with_the_naive_forecast_of_the_same_origin() -> None:
    matured = mature(
        [forecast("2024-01-05", offset=3.0)],
        [
            Observed(
                "A", np.array([100.0, 100.0, 103.0]), ("2024-01-05", "2024-01-08", "2024-01-09")
            )
        ],
    ).matured
    scores = live_scores(matured, {"A": 2.0})
    # forecasts 103, 104 vs actual 100, 103: MAE 2.0; the naive 100, 100: MAE 1.5
    assert scores["mae"] == pytest.approx(2.0) and scores["mase"] == pytest.approx(1.0)
    assert scores["naive_mae"] == pytest.approx(1.5) and scores["naive_mase"] == pytest.approx(0.75)
    assert scores["ratio_vs_naive"] == pytest.approx(4 / 3)
    # 100 lies in [99, 101]; 103 is above [99.5, 102.5]
    assert scores["coverage"] == {"80": 0.5}
    assert (scores["matured"], scores["origins"]) == (1, 1)


@pytest.mark.parametrize(
    ("point", "flagged"),
    [(105.0, True), (85.9586, False), (float(np.float32(85.9586)), False)],
)
def test_a_champion_that_errs_where_the_last_price_was_exact_is_flagged(
    point: float, flagged: bool
) -> None:
    """A series that did not move: naive's live MASE is 0. Enough matured forecasts are judged
    all the same: any error is infinitely worse, as the gate counts it, and none is a tie (a
    fallback's float32 answer of the last price is none: it was flagged, and rolled back)."""
    dates = tuple(f"2024-01-{day:02d}" for day in range(2, 12))
    forecasts = [
        LedgerForecast("m", 1, "A", dates[i], dates[i + 1 : i + 3], (point, point), 85.9586, {})
        for i in range(6)
    ]
    matured = mature(forecasts, [Observed("A", np.full(10, 85.9586), dates)]).matured
    scores = live_scores(matured, {"A": 1.0})
    assert scores["naive_mase"] == 0.0
    assert scores["ratio_vs_naive"] == (None if flagged else 1.0)
    cfg = OmegaConf.create({"monitor": {"max_ratio_vs_naive": 1.2, "min_matured": 3}})
    verdict = judge(cfg, scores, 1)
    assert verdict["flagged"] is flagged
    over = "over its last 6 matured origin dates (6 forecasts)"
    said = (
        f"where the naive forecast's is 0 {over}"
        if flagged
        else f"1.000x the naive forecast's {over}"
    )
    assert said in verdict["reason"]
    too_few = judge(
        OmegaConf.create({"monitor": {"max_ratio_vs_naive": 1.2, "min_matured": 7}}), scores, 1
    )
    assert not too_few["flagged"] and "judging needs monitor.min_matured=7" in too_few["reason"]


def test_a_panel_is_judged_on_matured_days_not_on_its_tickers_forecasts() -> None:
    """Fifty tickers matured on one day are one day's evidence (they err together), not fifty
    forecasts': monitor.min_matured counts origin dates, as it always did for one series."""
    dates = ("2024-01-04", "2024-01-05", "2024-01-08", "2024-01-09")
    tickers = [f"T{i}" for i in range(50)]
    observed = [Observed(t, np.full(4, 100.0) + np.arange(4.0), dates) for t in tickers]
    far_off = [
        LedgerForecast("m", 1, t, dates[day], dates[day + 1 : day + 3], (110.0, 110.0), 100.0, {})
        for day in range(2)
        for t in tickers
    ]
    cfg = OmegaConf.create({"monitor": {"max_ratio_vs_naive": 1.2, "min_matured": 2}})
    scales = dict.fromkeys(tickers, 1.0)
    one_day = live_scores(mature(far_off[:50], observed).matured, scales)
    verdict = judge(cfg, one_day, 1)
    assert (one_day["matured"], one_day["origins"]) == (50, 1)
    assert not verdict["flagged"]
    assert verdict["reason"] == (
        "version 1 has 1 matured origin date in the window; judging needs monitor.min_matured=2"
    )
    two_days = live_scores(mature(far_off, observed).matured, scales)
    verdict = judge(cfg, two_days, 1)
    assert verdict["flagged"]
    assert "over its last 2 matured origin dates (100 forecasts)" in verdict["reason"]


def test_an_intraday_panel_whose_last_bars_differ_is_judged_by_its_days() -> None:
    """Two tickers whose last bars of the day are a minute apart: one day's forecasts have two
    origin times, but they are one day's evidence."""
    times = ("2024-01-04 15:59", "2024-01-04 16:00", "2024-01-05 15:59", "2024-01-05 16:00")
    bars = {
        "A": [times[0], times[2], "2024-01-08 15:59"],
        "B": [times[1], times[3], "2024-01-08 16:00"],
    }
    observed = [Observed(t, np.array([100.0, 101.0, 102.0]), bars[t]) for t in bars]
    far_off = [
        LedgerForecast("m", 1, t, bars[t][0], (bars[t][1],), (110.0,), 100.0, {}) for t in bars
    ]
    cfg = OmegaConf.create({"monitor": {"max_ratio_vs_naive": 1.2, "min_matured": 2}})
    one_day = live_scores(mature(far_off, observed).matured, dict.fromkeys(bars, 1.0))
    assert (one_day["matured"], one_day["origins"], one_day["series_origins"]) == (2, 2, 1)
    verdict = judge(cfg, one_day, 1)
    assert not verdict["flagged"] and "has 1 matured origin date in the window" in verdict["reason"]


def test_the_window_keeps_each_series_last_origins_whatever_their_times() -> None:
    """Five tickers closing a minute apart: counted across the panel, the last 20 origin times
    were four days, fewer than min_matured=5, so a champion far worse than naive was never
    judged."""
    days = pd.bdate_range("2024-01-01", periods=32)
    bars = {f"T{k}": [f"{day.date()} 15:5{5 + k}" for day in days] for k in range(5)}
    observed = [Observed(t, 100.0 + np.arange(32.0), bars[t]) for t in bars]
    far_off = [
        LedgerForecast("m", 1, t, bars[t][d], (bars[t][d + 1],), (500.0,), 100.0 + d, {})
        for t in bars
        for d in range(31)
    ]
    window = last_origins(mature(far_off, observed).matured, 20)
    assert len(window) == 5 * 20
    scores = live_scores(window, dict.fromkeys(bars, 1.0))
    assert scores["series_origins"] == 20
    cfg = OmegaConf.create({"monitor": {"max_ratio_vs_naive": 1.2, "min_matured": 5}})
    assert judge(cfg, scores, 1)["flagged"]


def test_live_scores_weigh_each_series_in_its_own_units() -> None:
    """A ticker at 10,000 and one at 100: the model is worse than naive on the cheap one only;
    in prices the dear one hides it, in each series' units it shows."""
    dates = ("2024-01-05", "2024-01-08", "2024-01-09")
    dear = LedgerForecast("m", 1, "B", "2024-01-05", dates[1:], (10_002.0, 10_002.0), 10_000.0, {})
    cheap = LedgerForecast("m", 1, "A", "2024-01-05", dates[1:], (104.0, 104.0), 100.0, {})
    observed = [
        Observed("A", np.array([100.0, 101.0, 101.0]), dates),
        Observed("B", np.array([10_000.0, 10_010.0, 10_010.0]), dates),
    ]
    matured = mature([dear, cheap], observed).matured
    scores = live_scores(matured, {"A": 1.0, "B": 100.0})
    # Model errors: B 8, 8 (0.08 each in its units), A 3, 3 (3 each): MASE (0.16 + 6) / 4.
    # Naive: B 10, 10 (0.1), A 1, 1 (1): 2.2 / 4. In prices the ratio is 22 / 22 = 1.
    assert scores["mase"] == pytest.approx(6.16 / 4)
    assert scores["naive_mase"] == pytest.approx(2.2 / 4)
    assert scores["ratio_vs_naive"] == pytest.approx(6.16 / 2.2)
    assert scores["mae"] == pytest.approx(scores["naive_mae"])
    # The monitor's scoring takes each series' scale from the train split it is given.
    zigzag = np.tile([0.0, 1.0], 20)
    train = split_series(
        [Series("A", 100 + zigzag), Series("B", 10_000 + 100 * zigzag)],
        WindowSizes(3, 2),
        {"train": 0.5, "val": 0.25, "test": 0.25},
    )["train"]
    live = score_live([dear, cheap], observed, 1, 20, train)
    assert live.champion == scores
    # monitor.png's one origin: the same units.
    (origin,) = live.history
    assert (origin["mase"], origin["naive_mase"]) == (scores["mase"], scores["naive_mase"])


def test_the_previous_champion_skips_the_current_and_rolled_back_versions() -> None:
    history = [ChampionSeen(v, "2024-01-05", "seen") for v in (1, 2, 3, 2)]
    assert previous_champion(history, current=2) == 3
    assert previous_champion(history, current=2, excluded=[3]) == 1
    assert previous_champion(history[:1], current=1) is None


def test_a_series_whose_values_stopped_leaves_the_window() -> None:
    """Still in the file but no longer moving on, its last forecasts are months old: kept in a
    window of each series' last origins, they flagged today's champion for good."""
    days = [str(day.date()) for day in pd.bdate_range("2024-01-01", periods=80)]
    observed = [
        Observed("A", 100.0 + np.arange(80.0), days),
        Observed("B", 100.0 + np.arange(16.0), days[:16]),
    ]
    good_on_a = [
        LedgerForecast("m", 1, "A", days[d], (days[d + 1],), (101.0 + d,), 100.0 + d, {})
        for d in range(79)
    ]
    bad_on_b = [
        LedgerForecast("m", 1, "B", days[d], (days[d + 1],), (500.0,), 100.0 + d, {})
        for d in range(15)
    ]
    window = last_origins(mature(good_on_a + bad_on_b, observed).matured, 20)
    assert {m.forecast.series_id for m in window} == {"A"} and len(window) == 20
    cfg = OmegaConf.create({"monitor": {"max_ratio_vs_naive": 1.2, "min_matured": 5}})
    assert not judge(cfg, live_scores(window, {"A": 1.0, "B": 1.0}), 1)["flagged"]


def test_a_young_series_cuts_no_other_series_window_short() -> None:
    """A ticker added a few days ago that ends with the others (or a day after them) set the
    window's start for every series, which then held two days: the champion was not judged."""
    days = [str(day.date()) for day in pd.bdate_range("2024-01-01", periods=31)]
    spans = {"A": days[:30], "B": days[:30], "C": days[-3:]}
    observed = [Observed(t, 100.0 + np.arange(float(len(s))), s) for t, s in spans.items()]
    far_off = [
        LedgerForecast("m", 1, t, s[d], (s[d + 1],), (500.0,), 100.0 + d, {})
        for t, s in spans.items()
        for d in range(len(s) - 1)
    ]
    window = last_origins(mature(far_off, observed).matured, 20)
    counts = {t: sum(m.forecast.series_id == t for m in window) for t in spans}
    assert counts == {"A": 19, "B": 19, "C": 2}
    cfg = OmegaConf.create({"monitor": {"max_ratio_vs_naive": 1.2, "min_matured": 5}})
    assert judge(cfg, live_scores(window, dict.fromkeys(spans, 1.0)), 1)["flagged"]


def _rolled_back_ledger(tmp_path: Path) -> tuple[Ledger, list[Observed], SplitData]:
    """v1 forecast 60 days, then v2 20 days (the last of them badly); on the last day the
    monitor stored v2's forecast, rolled back to v1 and stored v1's of the same origin."""
    days = [str(day.date()) for day in pd.bdate_range("2024-01-01", periods=82)]
    observed = [Observed("A", 100.0 + np.arange(82.0), tuple(days))]
    ledger = Ledger(tmp_path / "ledger.db", TIMEOUT_S)
    exact = [(1, d, 101.0 + d) for d in range(60)] + [(2, d, 101.0 + d) for d in range(60, 79)]
    for version, d, point in [*exact, (2, 79, 150.0), (1, 79, 180.0 + 79)]:
        ledger.append([LedgerForecast("m", version, "A", days[d], (days[d + 1],), (point,), 0.0)])
    train = split_series(
        [Series("A", 100.0 + np.arange(40.0))],
        WindowSizes(3, 1),
        {"train": 0.5, "val": 0.25, "test": 0.25},
    )["train"]
    return ledger, observed, train


def test_a_champion_restored_by_a_rollback_is_judged_on_the_panels_last_days(
    tmp_path: Path,
) -> None:
    """Its own last origins were months before it was demoted: judged on them it would be
    flagged (or cleared) on evidence from another time. Within the ledger's last 20 days it has
    the one origin it was restored on."""
    ledger, observed, train = _rolled_back_ledger(tmp_path)
    live = score_live(ledger.forecasts("m"), observed, 1, 20, train)
    assert live.champion["origins"] == 1
    assert live.champion["first_origin"] == observed[0].dates[79]
    assert live.by_version["1"]["origins"] == 61, "per version: all of its forecasts"


def test_a_restored_champion_is_judged_only_on_its_forecasts_since_its_restoration(
    tmp_path: Path,
) -> None:
    """Demoted on day 60 and restored on day 79: within a window of 30 days its forecasts of
    days 50-59 are from before it was demoted, evidence of another time that could flag it
    again the day after its restoration. Only those stored since it came back count: by when
    they were stored, so a series whose last bar closed before the panel's latest keeps its
    restoration-day forecast, and an intraday morning's forecast made before the demotion
    does not count however close its origin."""
    import dataclasses

    ledger, observed, train = _rolled_back_ledger(tmp_path)
    days = observed[0].dates
    ledger.record_champion("m", "champion", 1, days[0], "seen")
    ledger.record_champion("m", "champion", 2, days[60], "seen")
    ledger.record_champion("m", "champion", 1, days[79], "rolled back")
    history = ledger.champion_history("m", "champion")
    assert champion_since(history, 1) == history[-1].recorded_at != ""
    assert champion_since(history, 2) is None, "the history does not end on version 2"
    # Each forecast stored in the evening of its origin day; the restoration at 19:00 of day 79,
    # after version 2's forecast of that day and before version 1's.
    stored = [
        dataclasses.replace(f, stored_at=f"{f.origin_date}T{19 + f.model_version % 2}:00:00")
        for f in ledger.forecasts("m")
    ]
    restored = f"{days[79]}T19:30:00"
    assert score_live(stored, observed, 1, 30, train).champion["origins"] == 11
    live = score_live(stored, observed, 1, 30, train, restored)
    assert live.champion["origins"] == 1
    assert live.champion["first_origin"] == days[79]
    assert live.by_version["1"]["origins"] == 61, "per version: all of its forecasts"
    # Restored later that evening, after its forecast of the day was stored: none is its own.
    later = score_live(stored, observed, 1, 30, train, f"{days[79]}T21:00:00")
    assert later.champion == {"matured": 0, "origins": 0}


def test_each_origin_counts_once_in_the_overall_live_score(tmp_path: Path) -> None:
    """The rollback's second forecast of the day's origin is not pooled with the first: the
    overall score counts what the day published first, v2's."""
    ledger, observed, train = _rolled_back_ledger(tmp_path)
    stored = ledger.forecasts("m")
    assert [f.model_version for f in stored if f.origin_date == observed[0].dates[79]] == [1, 2]
    live = score_live(stored, observed, 1, 20, train).overall
    assert (live["matured"], live["origins"]) == (20, 20)
    # 19 exact forecasts and v2's 150 against 180 (the value after day 79): 30 off, not 79.
    assert live["mae"] == pytest.approx(30.0 / 20)


def test_a_ledger_keeps_one_stores_forecasts_of_a_model_name(seeded_tmp: Path) -> None:
    """Two stores' version 1 of one name: the second's forecast hit the first's row and was
    dropped, and a rollback could target the other store's version. The ledger records the
    store whose model it keeps, and refuses another, at the monitor and before a pipeline's
    first step alike (read from MLflow's table there, as MLflow itself gives it)."""
    from stockcast.registry.ledger_check import check_ledger
    from stockcast.registry.registration import ensure_registered_model
    from stockcast.registry.store import ModelRegistry

    uri = f"sqlite:///{seeded_tmp}/mlruns.db"
    store = ModelRegistry(uri, "m", create=True)
    check_ledger(None, uri, "m", TIMEOUT_S)  # no ledger yet
    with store.writing():
        ensure_registered_model(store.client(), store.model_name)
    stamp = store.registered_stamp()
    assert stamp is not None and ModelRegistry(uri, "other").registered_stamp() is None
    # A registry that leaves the time out claims nothing, rather than failing the monitor.
    from types import SimpleNamespace

    untimed = SimpleNamespace(
        get_registered_model=lambda name: SimpleNamespace(creation_timestamp=None)
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ModelRegistry, "client", lambda self: untimed)
        assert store.registered_stamp() is None
    ledger = Ledger(seeded_tmp / LEDGER_FILE, TIMEOUT_S)
    ledger.claim_store("m", stamp)
    ledger.claim_store("m", stamp)  # the same store again
    ledger.claim_store("n", "1")  # another name is another claim
    ledger.append([forecast("2024-01-02")])
    check_ledger(None, uri, "m", TIMEOUT_S)
    check_ledger(None, uri, "n2", TIMEOUT_S)

    with pytest.raises(ConfigError) as refused:
        ledger.claim_store("m", "1700000000123")
    assert str(refused.value).startswith(
        f"the forecast ledger {seeded_tmp / LEDGER_FILE} keeps the forecasts of m from another "
        "store (its model was registered at "
    )
    assert str(refused.value).endswith(
        ", this one's at 2023-11-14 22:13:20.123 UTC): their versions would be mixed; give this "
        "store a ledger of its own with monitor.ledger_dir, or point registry.tracking_uri back "
        "at that store."
    )
    # A fresh store beside the old ledger: refused before a pipeline's first step, whether the
    # ledger claims the model or (written before claims) only holds its forecasts.
    fresh = f"sqlite:///{seeded_tmp}/fresh.db"
    with pytest.raises(ConfigError, match=r"from another store .*, this one has none\)"):
        check_ledger(None, fresh, "m", TIMEOUT_S)
    ledger.append([LedgerForecast("A1", 1, "A", "2024-01-02", ("2024-01-03",), (1.0,), 1.0)])
    with pytest.raises(ConfigError, match="keeps the forecasts of A1 from another store"):
        check_ledger(None, fresh, "A1", TIMEOUT_S)
    check_ledger(None, fresh, "never-forecast", TIMEOUT_S)


def test_a_ledger_from_before_claims_is_another_stores_where_it_predates_the_model(
    seeded_tmp: Path,
) -> None:
    """Unclaimed forecasts of a name, stored before this store registered the model, are of
    another store, even where this one has registered the name since; stored after, they may
    be its own, and the monitor's first claim records it."""
    from stockcast.registry.ledger_check import check_ledger
    from stockcast.registry.registration import ensure_registered_model
    from stockcast.registry.store import ModelRegistry

    uri = f"sqlite:///{seeded_tmp}/mlruns.db"
    ledger = Ledger(seeded_tmp / LEDGER_FILE, TIMEOUT_S)
    ledger.forecasts("old")  # the ledger's tables
    with sqlite3.connect(seeded_tmp / LEDGER_FILE) as connection:
        connection.execute(
            "INSERT INTO forecasts VALUES ('old', 1, 'A', '2020-01-02', '[]', '[1.0]', 1.0, '{}', "
            "'2020-01-02T18:00:00+00:00')"
        )
    for name in ("old", "new"):
        registry = ModelRegistry(uri, name, create=True)
        with registry.writing():
            ensure_registered_model(registry.client(), registry.model_name)
    ledger.append([LedgerForecast("new", 1, "A", "2024-01-02", ("2024-01-03",), (1.0,), 1.0)])
    with pytest.raises(ConfigError, match=r"keeps the forecasts of old from another store \(this"):
        check_ledger(None, uri, "old", TIMEOUT_S)
    with pytest.raises(ConfigError, match="keeps the forecasts of old from another store"):
        ledger.claim_store("old", ModelRegistry(uri, "old").registered_stamp())
    check_ledger(None, uri, "new", TIMEOUT_S)
    ledger.claim_store("new", ModelRegistry(uri, "new").registered_stamp())


def test_a_ledger_a_killed_writer_left_is_rolled_back_not_refused(tmp_path: Path) -> None:
    """A process killed inside a transaction leaves a journal beside the file; a read-only
    check could not roll it back and called the ledger damaged, advice that threw away its
    whole history."""
    from stockcast.registry.ledger_check import check_ledger

    path = tmp_path / LEDGER_FILE
    Ledger(path, TIMEOUT_S).append([forecast("2024-01-02")])
    # Rows enough to spill a one-page cache into the file: the journal left is then "hot".
    killed = "\n".join(
        [
            "import os, sqlite3",
            f"c = sqlite3.connect({str(path)!r}, isolation_level=None)",
            "c.execute('PRAGMA cache_size=1')",
            "c.execute('BEGIN IMMEDIATE')",
            "for _ in range(200):",
            "    c.execute('INSERT INTO champions (model_name, alias, model_version, seen_on, "
            "reason, recorded_at) VALUES (?, ?, 9, ?, ?, ?)', ('m', 'champion', 'd', 'x' * 3000, 't'))",
            "os._exit(9)",
        ]
    )
    subprocess.run([sys.executable, "-c", killed], check=False)
    assert (tmp_path / f"{LEDGER_FILE}-journal").exists(), "a transaction left behind"
    check_ledger(str(tmp_path), f"sqlite:///{tmp_path}/mlruns.db", "z", TIMEOUT_S)
    assert Ledger(path, TIMEOUT_S).champion_history("m", "champion") == []


def test_a_damaged_ledger_is_refused_before_a_pipelines_first_step(tmp_path: Path) -> None:
    """The monitor runs last: a ledger it cannot read failed the run after register had
    registered a version."""
    from tests.conftest import global_state_restored, run_local_pipeline

    (tmp_path / "pipeline").mkdir()
    (tmp_path / "pipeline" / LEDGER_FILE).write_text("not a database\n")
    with global_state_restored(), pytest.raises(ConfigError) as refused:
        run_local_pipeline(tmp_path / "pipeline")
    assert str(refused.value) == (
        f"the forecast ledger {tmp_path / 'pipeline' / LEDGER_FILE} cannot be read (file is not "
        "a database); move the damaged file aside, or set monitor.ledger_dir to another folder."
    )
    assert not list(tmp_path.glob("pipeline/logs/pipeline/runs/*/prepare")), "before any step"


def test_the_ledger_check_judges_a_local_store_and_refuses_one_it_cannot_read(
    tmp_path: Path,
) -> None:
    """Beside a remote store the monitor compares the registration with the claim (the check
    before the first step has no store file to read); a local store that is no database is one
    sentence, not "nothing registered"."""
    from stockcast.registry.ledger_check import check_ledger

    Ledger(tmp_path / LEDGER_FILE, TIMEOUT_S).claim_store("m", "1700000000000")
    check_ledger(str(tmp_path), "azureml://subscriptions/s/workspaces/w", "m", TIMEOUT_S)
    (tmp_path / "mlruns.db").write_text("not a database\n")
    with pytest.raises(ConfigError) as refused:
        check_ledger(str(tmp_path), f"sqlite:///{tmp_path}/mlruns.db", "m", TIMEOUT_S)
    assert str(refused.value) == (
        f"the MLflow store {tmp_path / 'mlruns.db'} cannot be read (file is not a database); if "
        "another run holds it, rerun when it is done, otherwise check registry.tracking_uri."
    )


def test_a_ledger_damaged_where_the_claim_is_not_read_is_refused(tmp_path: Path) -> None:
    """A damaged forecasts table passed the check, which read only the claim: the monitor's
    write then failed after register, every day."""
    from stockcast.registry.ledger_check import check_ledger

    path = tmp_path / LEDGER_FILE
    ledger = Ledger(path, TIMEOUT_S)
    ledger.append([forecast(f"2024-01-{day:02d}") for day in range(1, 28)])
    ledger.claim_store("m", "1700000000000")
    remote = "azureml://subscriptions/s/workspaces/w"  # the claim is the monitor's to judge
    check_ledger(str(tmp_path), remote, "m", TIMEOUT_S)
    damaged = bytearray(path.read_bytes())
    damaged[4096:4100] = b"\xff\xff\xff\xff"  # the forecasts table's root page
    path.write_bytes(bytes(damaged))
    with pytest.raises(ConfigError, match=r"cannot be read \(.*\); move the damaged file aside"):
        check_ledger(str(tmp_path), remote, "m", TIMEOUT_S)


def test_a_store_folder_that_cannot_be_made_is_named_as_the_store_s(tmp_path: Path) -> None:
    """With monitor.ledger_dir unset the ledger is kept beside the store: a store folder that
    could not be made was refused as the ledger's, asking for monitor.ledger_dir, after which
    the train step failed on the same folder."""
    from stockcast.registry.ledger_check import check_ledger_folder

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with pytest.raises(ConfigError) as refused:
        check_ledger_folder(None, f"sqlite:///{blocked}/store/mlruns.db")
    assert str(refused.value) == (
        f"cannot make the folder of the store registry.tracking_uri names, {blocked / 'store'} "
        "(Not a directory), where the forecast ledger is kept too; set registry.tracking_uri to "
        "a store in a folder this user can write."
    )
    with pytest.raises(ConfigError, match=r"^cannot make the forecast ledger's folder "):
        check_ledger_folder(str(blocked / "ledgers"), f"sqlite:///{tmp_path}/mlruns.db")


def test_the_monitor_plots_one_score_a_day_for_a_panel_whose_last_bars_differ() -> None:
    """Five tickers closing a minute apart: the plot's history held a point per ticker and
    origin time, each that ticker's own score, drawn as a comb at the day's midnight instead of
    the day's pooled score, which is what the flag counts as one origin."""
    from stockcast.evaluation.live import origin_history

    days = pd.bdate_range("2024-01-01", periods=4)
    bars = {f"T{k}": [f"{day.date()} 15:5{5 + k}" for day in days] for k in range(5)}
    observed = [Observed(t, 100.0 + np.arange(4.0), bars[t]) for t in bars]
    off_by = {t: float(k) for k, t in enumerate(bars)}  # T0 exact, T4 four off
    forecasts = [
        LedgerForecast(
            "m", 1, t, bars[t][d], (bars[t][d + 1],), (101.0 + d + off_by[t],), 100.0 + d, {}
        )
        for t in bars
        for d in range(3)
    ]
    history = origin_history(mature(forecasts, observed).matured, dict.fromkeys(bars, 1.0))
    assert [h["origin"] for h in history] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert {(h["mase"], h["naive_mase"]) for h in history} == {(2.0, 1.0)}
