"""Dates that skip a step of their calendar: refused in training data and in a forecast's window,
where a missing month would be read as the month before it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import DictConfig

from stockcast.config.compose import plain
from stockcast.data.daily_holes import (
    LONGEST_CLOSURE_TRADING_DAYS,
    long_daily_holes,
    warn_of_every_day_holes,
    warn_of_long_daily_holes,
)
from stockcast.data.date_steps import (
    first_date_gap,
    refuse_date_gaps,
    repeated_day,
    repeated_step,
    window_dates_refusal,
)
from stockcast.data.prepared import prepare_data
from stockcast.data.rhythm import date_rhythm, other_rhythm
from stockcast.data.seasonality import season_from_dates
from stockcast.data.series import UNNAMED, Series
from stockcast.errors import DataError
from stockcast.prediction.batch import SeriesBatch
from stockcast.prediction.batch_forecast import forecast_batch
from stockcast.prediction.forecast import forecast_held_out, forecast_next
from stockcast.prediction.inputs import InputSeries
from tests.test_predict_units import P, model
from tests.test_seasonality import on_weekdays


def dates(*days: str) -> np.ndarray:
    return pd.DatetimeIndex(days).to_numpy("datetime64[ns]")


def without(index: pd.DatetimeIndex, *dropped: int) -> np.ndarray:
    return index.delete(list(dropped)).to_numpy("datetime64[ns]")


def preparing_refused(cfg: DictConfig) -> str:
    """The one sentence preparing `cfg`'s data is refused with (the test fails if it is not)."""
    with pytest.raises(DataError) as refused:
        prepare_data(plain(cfg.data))
    return str(refused.value)


@pytest.mark.parametrize(
    ("calendar", "dropped", "gap"),
    [
        (pd.date_range("1990-01-31", periods=24, freq="ME"), (5,), ("1990-05-31", "1990-07-31", 1)),
        (
            pd.date_range("1990-01-01", periods=24, freq="QS"),
            (3, 4),
            ("1990-07-01", "1991-04-01", 2),
        ),
        (pd.date_range("1990-01-01", periods=10, freq="YS"), (4,), ("1993-01-01", "1995-01-01", 1)),
        (
            pd.date_range("2024-01-05", periods=30, freq="W-FRI"),
            (7,),
            ("2024-02-16", "2024-03-01", 1),
        ),
        # Four-week periods (13 a year): two skipped, where months would count one.
        (
            pd.date_range("2010-01-03", periods=30, freq="4W-SUN"),
            (5, 6),
            ("2010-04-25", "2010-07-18", 2),
        ),
    ],
)
def test_a_skipped_month_quarter_year_or_week_is_found(
    calendar: pd.DatetimeIndex, dropped: tuple[int, ...], gap: tuple[str, str, int]
) -> None:
    assert first_date_gap(calendar.to_numpy("datetime64[ns]")) is None
    found = first_date_gap(without(calendar, *dropped))
    assert found is not None and (found.before, found.after, found.missing) == gap
    assert found.gaps == 1


def test_calendars_that_skip_by_design_are_not_gaps() -> None:
    """Holidays move a weekly date by a day and a month's last trading day off its end; daily and
    intraday data skip holidays and nights; undated data has no calendar."""
    weekly = pd.date_range("2024-01-05", periods=30, freq="W-FRI")
    holiday_week = weekly.delete(10).insert(10, weekly[10] - pd.Timedelta(days=1))
    month_ends = pd.date_range("2023-01-31", periods=24, freq="BME")
    good_friday = month_ends.delete(14).insert(14, pd.Timestamp("2024-03-28"))
    business_days = pd.bdate_range("2023-12-20", "2024-01-10").delete([3, 7])  # two holidays
    hours = pd.date_range("2024-01-02 09:00", periods=40, freq="h")
    sessions = hours[(hours.hour >= 9) & (hours.hour < 16)]
    # A month end on a weekend moved to the next business day (31 August -> 2 October 2023),
    # and a 4-4-5 retail calendar's five-week month (25 February -> 1 April 2023).
    next_business_day = pd.DatetimeIndex(
        ["2023-06-30", "2023-07-31", "2023-08-31", "2023-10-02", "2023-10-31", "2023-11-30"]
    )
    retail = pd.DatetimeIndex(
        ["2022-12-31", "2023-01-28", "2023-02-25", "2023-04-01", "2023-04-29"]
    )
    # A first value dated mid-month, then month ends: one calendar month on, not one and a half.
    mid_month_start = pd.DatetimeIndex(["2000-01-10"]).append(
        pd.date_range("2000-02-29", periods=20, freq="ME")
    )
    # Irregular dates, one to sixty days apart: no calendar, so no gaps to judge.
    rng = np.random.default_rng(1)
    irregular = pd.Timestamp("2000-01-01") + pd.to_timedelta(
        np.cumsum(rng.integers(1, 61, 300)), "D"
    )
    for calendar in (
        holiday_week,
        good_friday,
        business_days,
        sessions,
        next_business_day,
        retail,
        mid_month_start,
        pd.DatetimeIndex(irregular),
    ):
        assert first_date_gap(calendar.to_numpy("datetime64[ns]")) is None
    assert first_date_gap(None) is None


@pytest.mark.parametrize(
    ("days", "gap"),
    [
        # Three dates: the step is the commonest one, the shorter of a tie (not their median).
        (("2024-01-31", "2024-02-29", "2024-04-30"), ("2024-02-29", "2024-04-30", "month")),
        (("2000-01-01", "2001-01-01", "2003-01-01"), ("2001-01-01", "2003-01-01", "year")),
        (("2024-01-05", "2024-01-12", "2024-01-26"), ("2024-01-12", "2024-01-26", "week")),
        # September's value dated 2 October, October missing, November's dated 1 December.
        (
            ("2023-07-31", "2023-08-31", "2023-10-02", "2023-12-01", "2023-12-31"),
            ("2023-10-02", "2023-12-01", "month"),
        ),
    ],
)
def test_a_gap_in_few_dates_or_beside_a_moved_one_is_found(
    days: tuple[str, ...], gap: tuple[str, str, str]
) -> None:
    found = first_date_gap(dates(*days))
    assert found is not None and (found.before, found.after, found.step) == gap


def test_four_weekly_dates_repeat_13_times_a_year_and_a_4_4_5_calendar_12() -> None:
    """Four-week periods were monthly data to the rhythm and the season (12): a monthly series
    beside them made one panel, and a seasonal model read a year as twelve of its periods."""
    periods = pd.date_range("2010-01-03", periods=60, freq="4W-SUN").to_numpy("datetime64[ns]")
    assert (date_rhythm(periods), season_from_dates(periods)) == ("four-weekly", 13)
    found = first_date_gap(np.delete(periods, 9))
    assert found is not None and found.sentence().startswith(
        "skip from 2010-08-15 to 2010-10-10 (1 four-week period missing), though they are one "
        "four-week period apart elsewhere"
    )
    # A 4-4-5 calendar: two four-week months and a five-week one, twelve a year.
    steps = np.tile([28, 28, 35], 20)
    retail = np.datetime64("2010-01-02") + np.concatenate([[0], np.cumsum(steps)])
    retail_days = retail.astype("datetime64[ns]")
    assert (date_rhythm(retail_days), season_from_dates(retail_days)) == ("monthly", 12)
    # A model fitted on them before they were told apart recorded them as monthly: the
    # refusal of its own data says so.
    assert other_rhythm({"date_rhythm": "monthly"}, periods) == (
        "are four-weekly, but the model was fitted on monthly data; a model fitted on "
        "four-weekly data before they were told from monthly records them as monthly: train it "
        "again on this data, or give it monthly values"
    )


def test_weekly_closes_at_a_time_of_day_are_weekly_data() -> None:
    """One value a day at 16:00 is no intraday data: its skipped week is found, and its rhythm
    is weekly."""
    closes = pd.date_range("2024-01-05 16:00", periods=30, freq="W-FRI")
    assert date_rhythm(closes.to_numpy("datetime64[ns]")) == "weekly"
    found = first_date_gap(without(closes, 7))
    assert found is not None and (found.before, found.after) == ("2024-02-16", "2024-03-01")


def test_a_window_is_judged_by_the_step_of_all_its_series_dates() -> None:
    """Three quarters of a window, Q1, Q2 and Q4, read alone as a 4-month step; the whole
    input's dates say quarters, and a gap before the window is no reason to refuse."""
    quarters = pd.date_range("2000-01-01", periods=20, freq="QS")
    found = first_date_gap(without(quarters, 18), since=16)
    assert found is not None and (found.step, found.missing) == ("quarter", 1)
    assert first_date_gap(without(quarters, 3), since=10) is None


@pytest.mark.parametrize(
    ("index", "rhythm"),
    [
        (pd.bdate_range("2024-01-01", periods=90), "daily"),
        (on_weekdays([0, 2, 4]), "daily"),
        # From a Thursday to a Tuesday: more five-day gaps than two-day ones.
        (on_weekdays([1, 3])[1:-1], "daily"),
        # One to four days apart, but on no week: every fourth day, half the days at random.
        (pd.date_range("2024-01-01", periods=480, freq="D")[1::4], None),
        (
            pd.bdate_range("2018-01-01", "2023-12-31")[np.random.default_rng(3).random(1565) < 0.5],
            None,
        ),
    ],
)
def test_daily_dates_step_day_by_day_on_their_week(
    index: pd.DatetimeIndex, rhythm: str | None
) -> None:
    """Daily is one rhythm for the season and for predict's check, read the same way: data a
    model repeats with its week, and data it does not."""
    times = index.to_numpy("datetime64[ns]")
    assert date_rhythm(times) == rhythm
    assert (season_from_dates(times) > 1) == (rhythm is not None)


def test_prepared_data_records_the_rhythm_of_its_dates(tmp_path: Path, make_cfg) -> None:
    months = pd.date_range("2000-01-31", periods=120, freq="ME")
    path = tmp_path / "monthly.csv"
    pd.DataFrame({"Date": months.strftime("%Y-%m-%d"), "Value": 100 + np.arange(120.0)}).to_csv(
        path, index=False
    )
    cfg = make_cfg("data=csv", f"data.path={path}", "data.value_column=Value")
    assert prepare_data(plain(cfg.data)).meta["date_rhythm"] == "monthly"
    undated = make_cfg(
        "data=csv", f"data.path={path}", "data.value_column=Value", "data.date_column=null"
    )
    assert prepare_data(plain(undated.data)).meta["date_rhythm"] is None


def test_training_data_with_a_missing_month_is_refused_before_any_work(
    tmp_path: Path, make_cfg
) -> None:
    months = pd.date_range("2000-01-31", periods=120, freq="ME").delete([40, 90])
    path = tmp_path / "monthly.csv"
    pd.DataFrame({"Date": months.strftime("%Y-%m-%d"), "Value": 100 + np.arange(118.0)}).to_csv(
        path, index=False
    )
    cfg = make_cfg("data=csv", f"data.path={path}", "data.value_column=Value")
    assert preparing_refused(cfg) == (
        "the dates skip from 2003-04-30 to 2003-06-30 (1 month missing; 1 more "
        "gap(s) after it), though they are one month apart elsewhere, and a model reads values by "
        "position: every value after the gap would be read as the month before it; add the "
        "missing months (their values, or the last value carried forward), or keep only the rows "
        "after the last gap."
    )


def test_two_values_on_a_day_of_daily_closes_are_refused_in_training_and_in_a_window(
    tmp_path: Path, make_cfg
) -> None:
    """Closes stamped 16:00 and one more row at 11:30 of a day: not the same timestamp, so no
    repeated date, and a model reading one value a day read them as two days."""
    closes = pd.bdate_range("2026-01-05", periods=120) + pd.Timedelta(hours=16)
    stamps = closes.append(pd.DatetimeIndex([closes[70] - pd.Timedelta(hours=4, minutes=30)]))
    path = tmp_path / "closes.csv"
    frame = pd.DataFrame({"Date": stamps.strftime("%Y-%m-%d %H:%M"), "Close": 100.0})
    frame.assign(Close=100 + np.arange(121.0)).to_csv(path, index=False)
    cfg = make_cfg("data=csv", f"data.path={path}")
    assert preparing_refused(cfg) == (
        "the dates hold two values on 2026-04-13 (2026-04-13 11:30 and 2026-04-13 16:00), "
        "though they hold one a day elsewhere, and a model reads values by position: the second "
        "would be read as the next step's; keep one row per day (its close, say)."
    )
    days = np.sort(stamps.to_numpy("datetime64[ns]"))[69 : 70 + P]
    values = np.arange(P + 1, dtype=float) + 100
    with pytest.raises(DataError) as refused:
        forecast_next(model(), InputSeries(values, days, "closes"))
    assert str(refused.value).startswith(
        f"the dates of the last {P} values of the input (closes), which the model reads, hold "
        "two values on"
    )
    # Where the window the model reads holds one of the day's two values, it reads one a day.
    second = np.sort(stamps.to_numpy("datetime64[ns]"))[70 : 71 + P]
    assert repeated_day(second, since=1) is None
    assert repeated_day(second, since=0) is not None


@pytest.mark.parametrize(
    ("calendar", "extra", "pair"),
    [
        # A month written twice (a restated value on the 20th beside the month's end).
        (pd.date_range("2000-01-31", periods=100, freq="ME"), "2004-03-20", "month"),
        (pd.date_range("1980-01-01", periods=80, freq="QS"), "1990-02-10", "quarter"),
        (pd.date_range("1900-01-01", periods=100, freq="YS"), "1950-04-01", "year"),
        # A holiday week's Thursday beside its Friday.
        (pd.date_range("2015-01-02", periods=120, freq="W-FRI"), "2016-02-25", "week"),
    ],
)
def test_two_values_within_one_step_of_a_calendar_are_refused_in_training_and_in_a_window(
    tmp_path: Path, make_cfg, calendar: pd.DatetimeIndex, extra: str, pair: str
) -> None:
    """A second value within a week, month, quarter or year shifts every later value by a step,
    as a skipped one does: it was read as the next step's without a word."""
    stamps = calendar.append(pd.DatetimeIndex([extra])).sort_values()
    path = tmp_path / "twice.csv"
    frame = pd.DataFrame({"Date": stamps.strftime("%Y-%m-%d"), "Close": 100.0})
    frame.assign(Close=100 + np.arange(len(stamps), dtype=float)).to_csv(path, index=False)
    cfg = make_cfg("data=csv", f"data.path={path}")
    refusal = preparing_refused(cfg)
    assert refusal.startswith("the dates hold ") and f"{extra}" in refusal
    assert refusal.endswith(
        f"less than half a {pair} apart, though they are one {pair} apart elsewhere, and a model "
        f"reads values by position: the second would be read as the next {pair}'s; keep one "
        f"row per {pair}."
    )
    # Only where both values lie in the window the model reads.
    at = int(stamps.get_loc(pd.Timestamp(extra)))
    first = at if stamps[at + 1] - stamps[at] < stamps[at] - stamps[at - 1] else at - 1
    window = stamps[: first + 5].to_numpy("datetime64[ns]")
    assert repeated_step(window, since=len(window) - 4) is None
    assert repeated_step(window, since=len(window) - 5) is not None
    metadata = {"date_rhythm": date_rhythm(calendar.to_numpy("datetime64[ns]"))}
    refused = window_dates_refusal(window, metadata, 5, "the input")
    assert refused is not None and refused.endswith(f"; keep one row per {pair}.")


def test_calendars_holding_one_value_a_step_by_design_hold_no_two_within_one() -> None:
    """A month's value dated on the next month's first business day beside that month's end, a
    holiday moving a weekly date by a day, a 4-4-5 retail calendar, four-week periods and data
    twice a month are each one value a step of their own calendar."""
    weekly = pd.date_range("2024-01-05", periods=30, freq="W-FRI")
    holiday_week = weekly.delete(10).insert(10, weekly[10] - pd.Timedelta(days=1))
    next_business_day = pd.DatetimeIndex(
        ["2023-06-30", "2023-07-31", "2023-08-31", "2023-10-02", "2023-10-31", "2023-11-30"]
    )
    retail = pd.DatetimeIndex(
        ["2022-12-31", "2023-01-28", "2023-02-25", "2023-04-01", "2023-04-29"]
    )
    four_weeks = pd.date_range("2010-01-03", periods=30, freq="4W-SUN")
    twice_a_month = pd.date_range("2020-01-01", periods=48, freq="SMS")
    month_ends = pd.date_range("2023-01-31", periods=24, freq="BME")
    for calendar in (
        holiday_week,
        next_business_day,
        retail,
        four_weeks,
        twice_a_month,
        month_ends,
    ):
        assert repeated_step(calendar.to_numpy("datetime64[ns]")) is None


def test_daily_holes_longer_than_any_market_closure_are_found() -> None:
    business = pd.bdate_range("2020-01-01", periods=300)
    assert long_daily_holes(business.to_numpy("datetime64[ns]")) == []
    # A closure of the longest length is a holiday; one trading day more is a hole.
    longest = LONGEST_CLOSURE_TRADING_DAYS
    closed = without(business, *range(50, 50 + longest))
    assert long_daily_holes(closed) == []
    holes = without(business, *range(50, 51 + longest), *range(200, 240))
    assert long_daily_holes(holes) == [
        (str(business[49].date()), str(business[51 + longest].date()), longest + 1),
        (str(business[199].date()), str(business[240].date()), 40),
    ]
    # Counted on the data's own trading week: a week of seven days counts its weekends.
    every_day = pd.date_range("2020-01-01", periods=300, freq="D")
    assert long_daily_holes(without(every_day, *range(50, 51 + longest)))[0][2] == longest + 1
    # Weekly data's skipped weeks are refused elsewhere; undated data has no holes.
    weekly = pd.date_range("2020-01-03", periods=100, freq="W-FRI")
    assert long_daily_holes(without(weekly, *range(20, 40))) == []
    assert long_daily_holes(None) == []


def test_training_data_with_a_long_daily_hole_trains_with_a_warning(
    tmp_path: Path, make_cfg, caplog: pytest.LogCaptureFixture
) -> None:
    days = pd.bdate_range("2020-01-01", periods=420).delete([*range(100, 140), *range(300, 320)])
    path = tmp_path / "daily.csv"
    pd.DataFrame(
        {"Date": days.strftime("%Y-%m-%d"), "Value": 100 + np.sin(np.arange(360.0))}
    ).to_csv(path, index=False)
    cfg = make_cfg("data=csv", f"data.path={path}", "data.value_column=Value")
    with caplog.at_level("WARNING", logger="stockcast.data.daily_holes"):
        prepared = prepare_data(plain(cfg.data))
    assert prepared.meta["date_rhythm"] == "daily"
    assert [r.getMessage() for r in caplog.records] == [
        f"the dates skip from {days[99].date()} to {days[100].date()} (40 trading days "
        "missing; 1 more such hole(s) after it), longer than any market closure: every window "
        "across the hole reads the move "
        "over it as one day's; add the missing days (their values, or the last value carried "
        "forward), or keep only the rows after the hole"
    ]
    # A panel says it once: its first series with a hole, and how many more have one.
    whole = pd.bdate_range("2020-01-01", periods=len(days))
    caplog.clear()
    with caplog.at_level("WARNING", logger="stockcast.data.daily_holes"):
        warn_of_long_daily_holes(
            [
                Series("FULL", np.ones(len(whole)), whole.to_numpy("datetime64[ns]")),
                *(
                    Series(name, np.ones(len(days)), days.to_numpy("datetime64[ns]"))
                    for name in "ABC"
                ),
            ]
        )
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith(f"series 'A': its dates skip from {days[99].date()} to ")
    assert "longer than any market closure (2 more series have such holes): " in message


def test_every_day_data_skipping_single_days_trains_with_a_warning(
    tmp_path: Path, make_cfg, caplog: pytest.LogCaptureFixture
) -> None:
    """No market closes on a calendar of every day, so each missing day moves every later
    value's weekday in the weekly season: such data was read in silence, as weekday data skips
    its holidays, where a hole longer than any closure is warned of."""
    every_day = pd.date_range("2020-01-01", periods=420, freq="D")
    days = every_day.delete([50, 120, 121, 300])
    path = tmp_path / "every_day.csv"
    pd.DataFrame(
        {"Date": days.strftime("%Y-%m-%d"), "Value": 100 + np.sin(np.arange(len(days)) * 0.9)}
    ).to_csv(path, index=False)
    cfg = make_cfg("data=csv", f"data.path={path}", "data.value_column=Value")
    with caplog.at_level("WARNING", logger="stockcast.data.daily_holes"):
        prepare_data(plain(cfg.data))
    assert [r.getMessage() for r in caplog.records] == [
        "the dates hold every day of the week but skip 4 day(s) in 3 gap(s), the first from "
        "2020-02-19 to 2020-02-21: each gap shifts the weekday every later value is read at; "
        "add the missing days (their values, or the last value carried forward)"
    ]
    # Weekday data skips its holidays by design; whole every-day data skips nothing.
    caplog.clear()
    business = pd.bdate_range("2020-01-01", periods=420).delete([50, 120, 121, 300])
    with caplog.at_level("WARNING", logger="stockcast.data.daily_holes"):
        warn_of_every_day_holes(
            [
                Series("B", np.ones(len(business)), business.to_numpy("datetime64[ns]")),
                Series("FULL", np.ones(len(every_day)), every_day.to_numpy("datetime64[ns]")),
            ]
        )
    assert caplog.records == []
    # A panel says it once: its first series with gaps, and how many more have some.
    with caplog.at_level("WARNING", logger="stockcast.data.daily_holes"):
        warn_of_every_day_holes(
            [Series(name, np.ones(len(days)), days.to_numpy("datetime64[ns]")) for name in "AB"]
        )
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith("series 'A': its dates hold every day of the week but skip 4 ")
    assert "2020-02-21 (1 more series skip days too): " in message


def test_a_panel_of_two_calendars_is_refused_whatever_its_season(tmp_path: Path, make_cfg) -> None:
    """data.season_length once let a monthly and a quarterly series train together, into a model
    predict then refused the quarterly one for (it holds every series to the fitted calendar)."""
    months = pd.date_range("2000-01-31", periods=120, freq="ME")
    quarters = pd.date_range("2000-03-31", periods=60, freq="QE")
    days = pd.bdate_range("2020-01-01", periods=200)
    every_day = pd.date_range("2020-01-01", periods=200, freq="D")

    def panel(name: str, **series: pd.DatetimeIndex) -> Path:
        rows = [
            (day.strftime("%Y-%m-%d"), ticker, 100.0 + i + np.sin(i))
            for ticker, dates in series.items()
            for i, day in enumerate(dates)
        ]
        path = tmp_path / f"{name}.csv"
        pd.DataFrame(rows, columns=["Date", "Ticker", "Value"]).to_csv(path, index=False)
        return path

    mixed = panel("mixed", M=months, Q=quarters)
    for season in ([], ["data.season_length=12"]):
        cfg = make_cfg(
            "data=csv",
            f"data.path={mixed}",
            "data.value_column=Value",
            "data.id_column=Ticker",
            *season,
        )
        assert preparing_refused(cfg) == (
            "series 'M' has monthly dates and series 'Q' quarterly ones, but a model reads values "
            "by position, one step of one calendar, and predict holds every series to the "
            "calendar it was fitted on: train those series apart."
        )
    # One calendar, two trading weeks: the season's choice (data.season_length) to make.
    weeks = panel("weeks", B=days, D=every_day)
    cfg = make_cfg(
        "data=csv", f"data.path={weeks}", "data.value_column=Value", "data.id_column=Ticker"
    )
    with pytest.raises(DataError, match=r"set data\.season_length to the one to use"):
        prepare_data(plain(cfg.data))
    chosen = make_cfg(
        "data=csv",
        f"data.path={weeks}",
        "data.value_column=Value",
        "data.id_column=Ticker",
        "data.season_length=5",
    )
    assert prepare_data(plain(chosen.data)).meta["date_rhythm"] == "daily"


def test_a_forecast_refuses_a_gap_in_the_window_it_reads_and_not_before_it() -> None:
    months = pd.date_range("2020-01-31", periods=12, freq="ME")
    values = np.arange(11, dtype=float) + 100
    early_gap = InputSeries(values, without(months, 2), "early gap")
    assert len(forecast_next(model(), early_gap).forecast) == 3
    late_gap = InputSeries(values, without(months, 9), "late gap")
    with pytest.raises(DataError) as refused:
        forecast_next(model(), late_gap)
    assert str(refused.value).startswith(
        f"the dates of the last {P} values of the input (late gap), which the model reads, skip "
        "from "
        "2020-09-30 to 2020-11-30 (1 month missing)"
    )
    assert str(refused.value).endswith("add the missing months to them.")
    with pytest.raises(DataError, match=r"^the dates of the last 7 values of the input"):
        forecast_held_out(model(), InputSeries(values, without(months, 5), "gap"))


def test_a_batch_refuses_or_skips_the_series_whose_window_skips_a_month() -> None:
    months = pd.date_range("2020-01-31", periods=12, freq="ME")
    whole = Series("AAA", np.arange(12, dtype=float) + 100, months.to_numpy("datetime64[ns]"))
    gappy = Series("BBB", np.arange(11, dtype=float) + 100, without(months, 9))
    batch = SeriesBatch([whole, gappy], "Ticker", "prices.csv", {"path": "prices.csv"})
    with pytest.raises(DataError, match=r"^the dates of the last 4 values of series 'BBB', which"):
        forecast_batch(model(), batch)
    skipped = forecast_batch(model(), batch, skip_refused=True)
    assert [refused.series_id for refused in skipped.refused] == ["BBB"]


def test_the_frequency_of_an_inputs_dates_is_that_of_the_values_the_model_reads() -> None:
    """Judged on the whole file, a monthly file whose last year was weekly fed a monthly model
    48 weeks, and one whose quarters lay long before the months it reads was refused."""
    metadata = {"date_rhythm": "monthly", "season_length": 12}
    months = pd.date_range("1990-01-31", periods=240, freq="ME")
    weeks = pd.date_range(months[-1] + pd.Timedelta(days=7), periods=60, freq="W-FRI")
    then_weekly = months.append(weeks).to_numpy("datetime64[ns]")
    refused = window_dates_refusal(then_weekly, metadata, 48, "the input")
    assert refused is not None and refused.startswith("the dates of the input are weekly")
    quarters = pd.date_range("1960-03-31", periods=120, freq="QE")
    then_monthly = quarters.append(pd.date_range("1990-01-31", periods=60, freq="ME"))
    assert window_dates_refusal(then_monthly.to_numpy("datetime64[ns]"), metadata, 48, "x") is None
    # A short window is judged on more of the latest dates: two weeks were no rhythm at all,
    # and a week moved by Good Friday among four read as daily data.
    fridays = pd.date_range("2023-01-06", periods=60, freq="W-FRI")
    assert window_dates_refusal(fridays.to_numpy("datetime64[ns]"), metadata, 2, "x") is not None
    moved = fridays.where(fridays != pd.Timestamp("2024-03-29"), pd.Timestamp("2024-03-28"))
    weekly = {"date_rhythm": "weekly", "season_length": 52}
    window = moved[moved <= pd.Timestamp("2024-04-05")].to_numpy("datetime64[ns]")
    assert window_dates_refusal(window, weekly, 4, "x") is None


def test_dates_of_another_frequency_than_the_models_data_are_refused() -> None:
    """A weekly file fed to a monthly model read 48 weeks as four years of months."""
    monthly = {"season_length": 12, "season_from": "dates"}
    weeks = pd.date_range("2020-01-04", periods=60, freq="W-SAT").to_numpy("datetime64[ns]")
    months = pd.date_range("2020-01-31", periods=60, freq="ME").to_numpy("datetime64[ns]")
    hours = pd.date_range("2024-01-02", periods=60, freq="2h").to_numpy("datetime64[ns]")
    days = pd.bdate_range("2024-01-01", periods=60).to_numpy("datetime64[ns]")
    assert other_rhythm(monthly, months) is None
    assert other_rhythm(monthly, hours) is None, "twelve two-hour steps a day also read as 12"
    weekly = {"season_length": 52, "season_from": "dates"}
    assert other_rhythm(weekly, hours).startswith(
        "are intraday, but the model was fitted on weekly"
    )
    # One day written twice at two times does not make weekly data intraday.
    twice = np.sort(np.append(weeks, weeks[10] + np.timedelta64(9, "h")))
    assert other_rhythm(weekly, twice) is None and other_rhythm(monthly, twice) is not None
    assert other_rhythm(monthly, weeks) == (
        "are weekly, but the model was fitted on monthly data (its season, 12 values, came from "
        "its dates): give it monthly values, or use a model fitted on weekly data"
    )
    business = {"season_length": 5, "season_from": "dates"}
    assert other_rhythm(business, days) is None
    assert other_rhythm(business, months).startswith(
        "are monthly, but the model was fitted on daily"
    )
    # A season the data's dates did not give, or none, says nothing sure of the frequency.
    for metadata in (
        {"season_length": 12, "season_from": "data.season_length"},
        {"season_length": 1, "season_from": "dates"},
        {},
    ):
        assert other_rhythm(metadata, weeks) is None
    # A model records its data's rhythm: that decides, where a season could not (12 two-hour
    # steps a day), and a model of undated or irregular data holds no input to one.
    recorded = {**monthly, "date_rhythm": "monthly"}
    assert other_rhythm(recorded, hours).startswith("are intraday, but the model was fitted on ")
    assert other_rhythm(recorded, weeks) == (
        "are weekly, but the model was fitted on monthly data: give it monthly values, or use a "
        "model fitted on weekly data"
    )
    assert other_rhythm({**monthly, "date_rhythm": None}, weeks) is None
    fitted = model()
    fitted.metadata.update(monthly)
    weekly_input = InputSeries(np.arange(60.0) + 100, weeks, "weekly input")
    with pytest.raises(DataError, match=r"^the dates of the input \(weekly input\) are weekly, "):
        forecast_next(fitted, weekly_input)


def test_a_gap_is_named_by_series_unless_the_table_names_none() -> None:
    """A panel's one series left after the others were left out is still named by its id."""
    days = np.array(["2020-01-31", "2020-02-29", "2020-03-31", "2020-05-31"], "datetime64[ns]")
    values = np.arange(4.0) + 1
    with pytest.raises(DataError, match=r"^series 'AAA': its dates skip from 2020-03-31"):
        refuse_date_gaps([Series("AAA", values, days)])
    with pytest.raises(DataError, match=r"^the dates skip from 2020-03-31"):
        refuse_date_gaps([Series(UNNAMED, values, days)])
