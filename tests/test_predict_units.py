"""Prediction pieces without a registry: values parsing, calendars, windows, backtest alignment."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from stockcast.data.date_format import format_date, format_dates
from stockcast.data.series import Series
from stockcast.data.table_file import read_table_series
from stockcast.errors import ArtifactError, ConfigError, DataError, counted, first_few
from stockcast.forecasting.frame import forecast_frame
from stockcast.prediction.batch_dates import shared_future_dates
from stockcast.prediction.forecast import (
    check_window_overrides,
    forecast_held_out,
    forecast_next,
    rolling_backtest,
)
from stockcast.prediction.inputs import InputSeries, build_input, parse_values
from stockcast.prediction.outputs import forecast_rows, format_table
from stockcast.prediction.zoned_dates import SHOWN_ZONES, future_dates
from stockcast.serving.model import OpenModel

P, H = 4, 3
META = {"previous_time_window": P, "next_time_window": H}


class LastPlusStep:
    """Forecasts last value + 1, + 2, ... with a band of +-0.5: easy to check by hand. Answers
    with the served model's DataFrame contract."""

    def predict(self, rows: np.ndarray) -> pd.DataFrame:
        assert rows.shape[1] == P and rows.flags.writeable
        point = rows[:, -1:] + np.arange(1, H + 1)
        return forecast_frame(point, {"80": (point - 0.5, point + 0.5)})


def formatted(dates: np.ndarray) -> list[str]:
    """Forecast dates as the output prints them."""
    return [format_date(d) for d in dates]


def model() -> OpenModel:
    return OpenModel(LastPlusStep(), Path("m"), "digest", dict(META), "m", 3, ("champion",))


def series(n: int, dates: bool = False) -> InputSeries:
    x = pd.bdate_range("2024-01-01", periods=n).to_numpy("datetime64[ns]") if dates else None
    return InputSeries(np.arange(n, dtype=float) * 10, x, f"{n} values")


def test_parse_values_accepts_numbers_of_any_kind() -> None:
    np.testing.assert_array_equal(parse_values([1, 2.5, np.float32(3)]), [1.0, 2.5, 3.0])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([1, float("nan")], "holds nan at position 2"),
        ([1, float("inf")], "holds inf at position 2"),
        ([1, "x"], "holds 'x' at position 2, which is not a number"),
        ([True, 2], "holds True at position 1, which is not a number"),
        ([1, None], "holds None at position 2, which is not a number"),
        ([1, "3"], "holds '3' at position 2, which is not a number"),
        ("1,2,3", "must be a list of prices"),
        # Rows of a square list of lists passed the guard as rows, and all but the first were
        # dropped; a list of one row was refused as windows of one price.
        ([[1, 2], [3, 4]], "holds a list at position 1; give one flat list of prices"),
        ([[1, 2, 3, 4]], "holds a list at position 1"),
        ([1, np.array([2, 3])], "holds a list at position 2"),
        ([], "is empty"),
        ("???", "is not set"),
        (None, "is not set"),
    ],
)
def test_parse_values_refuses_what_is_not_a_finite_price(raw, message: str) -> None:
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        parse_values(raw)


def test_business_days_continue_over_a_holiday_gap() -> None:
    dates = pd.bdate_range("2024-03-01", periods=30).delete(10).to_numpy()  # ends Thu 11 April
    future, freq = future_dates(dates, 3)
    assert freq == "B"
    assert formatted(future) == ["2024-04-12", "2024-04-15", "2024-04-16"]


def test_daily_data_continues_on_the_days_of_the_week_it_trades_on() -> None:
    """A Sunday-to-Thursday exchange continues on Sunday, not Friday; business days with one
    Saturday session continue on business days, not every day."""
    sunday_to_thursday = pd.bdate_range(
        "2024-01-01", periods=60, freq="C", weekmask="Sun Mon Tue Wed Thu"
    )
    thursdays = sunday_to_thursday[sunday_to_thursday.dayofweek == 3]
    future, freq = future_dates(
        sunday_to_thursday[sunday_to_thursday <= thursdays[-1]].to_numpy(), 3
    )
    assert [pd.Timestamp(d).day_name() for d in future] == ["Sunday", "Monday", "Tuesday"]
    assert freq == "C (Mon Tue Wed Thu Sun)"
    with_a_saturday = pd.bdate_range("2024-01-01", periods=120).append(
        pd.DatetimeIndex(["2024-03-09"])
    )
    future, freq = future_dates(with_a_saturday.sort_values().to_numpy(), 3)  # ends Fri 14 June
    assert freq == "B"
    assert formatted(future) == ["2024-06-17", "2024-06-18", "2024-06-19"]
    # Ending on the Saturday session itself: Monday comes next, not Tuesday.
    future, freq = future_dates(with_a_saturday[with_a_saturday <= "2024-03-09"].to_numpy(), 2)
    assert formatted(future) == ["2024-03-11", "2024-03-12"]


def test_daily_data_with_years_or_months_missing_continues_on_business_days() -> None:
    """Weeks without a value do not thin the week out: 2012 then 2020, or November and December
    of each year, still trade Monday to Friday."""
    gap = pd.bdate_range("2012-01-01", "2012-12-31").append(
        pd.bdate_range("2020-01-01", "2020-12-31")
    )
    winters = pd.DatetimeIndex(
        [
            day
            for year in range(2010, 2021)
            for day in pd.bdate_range(f"{year}-11-01", f"{year}-12-31")
        ]
    )
    for dates in (gap, winters):
        future, freq = future_dates(dates.to_numpy(), 3)  # both end on Thu 31 December 2020
        assert freq == "B"
        assert formatted(future) == ["2021-01-01", "2021-01-04", "2021-01-05"]


def test_month_end_closes_with_a_time_of_day_continue_on_month_ends() -> None:
    """New York's 16:00 closes in UTC are 21:00 in winter and 20:00 in summer, and Good Friday
    moved March's to the 28th: they continue on months' last business days at the last time,
    not every 30 days."""
    days = pd.to_datetime(["2024-01-31", "2024-02-29", "2024-03-28", "2024-04-30", "2024-05-31"])
    closes = days + pd.to_timedelta([21, 21, 20, 20, 20], unit="h")
    future, freq = future_dates(closes.to_numpy(), 2)
    assert freq == "1BME"
    assert formatted(future) == ["2024-06-28T20:00:00", "2024-07-31T20:00:00"]


@pytest.mark.parametrize(
    ("rule", "moved", "expected"),
    [
        # Lunar New Year: Shanghai's January close on the 27th.
        ("BME", {"2025-01-31": "2025-01-27"}, ["2025-07-31", "2025-08-29", "2025-09-30"]),
        # Golden Week: October opens on the 8th.
        ("BMS", {"2024-10-01": "2024-10-08"}, ["2025-07-01", "2025-08-01", "2025-09-01"]),
    ],
)
def test_monthly_closes_moved_by_a_long_closure_keep_their_month_edge(
    rule: str, moved: dict[str, str], expected: list[str]
) -> None:
    """One month's close four or more days off its edge made the whole series a fixed count of
    business days: July and October came a day early and November was skipped."""
    days = pd.date_range("2020-07-01", periods=60, freq=rule)
    days = pd.DatetimeIndex([pd.Timestamp(moved.get(str(day.date()), day)) for day in days])
    future, freq = future_dates(days.to_numpy("datetime64[ns]"), 3)
    assert freq == f"1{rule}"
    assert formatted(future) == expected


@pytest.mark.parametrize(
    ("rule", "last", "expected"),
    [
        ("MS", "2024-01-02", ["2024-02-01", "2024-03-01", "2024-04-01"]),
        ("ME", "2023-12-29", ["2024-01-31", "2024-02-29", "2024-03-31"]),
        ("12MS", "2024-01-02", ["2025-01-01", "2026-01-01", "2027-01-01"]),
    ],
)
@pytest.mark.parametrize("before", [23, 7])
def test_calendar_months_whose_latest_date_is_a_trading_day_stay_on_the_calendar(
    rule: str, last: str, expected: list[str], before: int
) -> None:
    """Month starts whose latest row is January's first trading day (a download's): the
    forecast stepped 31 days from it, 2 February, 4 March, ..., 5 May (a Sunday); a short
    input (a model's window of rows) too."""
    # Calendar months (or years) before the last date's, then the last date.
    end = pd.Timestamp(last) - pd.Timedelta(days=10)
    days = pd.date_range(end=end, periods=before, freq=rule)
    days = days.append(pd.DatetimeIndex([last]))
    future, freq = future_dates(days.to_numpy("datetime64[ns]"), 3)
    assert (freq, formatted(future)) == (rule if rule[0].isdigit() else f"1{rule}", expected)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("ME", ["2024-02-29", "2024-03-31", "2024-04-30"]),
        ("MS", ["2024-02-01", "2024-03-01", "2024-04-01"]),
    ],
)
def test_calendar_months_ending_mid_month_continue_on_the_calendar_and_say_so(
    rule: str, expected: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A month-end file downloaded on 15 January: its forecast stepped 31 days from the 15th
    (15 February, 17 March, ...) without a word, the half month fed as a whole one."""
    days = pd.date_range(end="2023-12-31", periods=12, freq=rule).append(
        pd.DatetimeIndex(["2024-01-15"])
    )
    with caplog.at_level(logging.WARNING, logger="stockcast.prediction.monthly_dates"):
        future, freq = future_dates(days.to_numpy("datetime64[ns]"), 3)
    assert (freq, formatted(future)) == (f"1{rule}", expected)
    edges = "ends" if rule == "ME" else "starts"
    assert caplog.messages == [
        f"the input's latest date 2024-01-15 is not on the month {edges} the dates before it "
        f"keep: it is read as January 2024's value, and the forecast continues on the month "
        f"{edges} after it"
    ]
    # A quarter's partial latest row is no month's value: no month rule, and no such word.
    caplog.clear()
    quarters = pd.date_range(end="2022-12-31", periods=16, freq=f"Q{rule[-1]}").append(
        pd.DatetimeIndex(["2023-02-15"])
    )
    with caplog.at_level(logging.WARNING, logger="stockcast.prediction.monthly_dates"):
        _, freq = future_dates(quarters.to_numpy("datetime64[ns]"), 3)
    assert not str(freq).startswith("3M") and caplog.messages == []


@pytest.mark.parametrize(
    ("rule", "latest", "edges", "expected"),
    [
        ("BMS", "2024-01-17", "starts", ["2024-02-01", "2024-03-01", "2024-04-01"]),
        ("BME", "2024-01-10", "ends", ["2024-02-29", "2024-03-29", "2024-04-30"]),
    ],
)
def test_trading_months_ending_mid_month_continue_on_their_trading_days_and_say_so(
    rule: str, latest: str, edges: str, expected: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Months' first (last) trading days downloaded mid-month: the forecast stepped 22 (21)
    business days from the latest date (16 February, 19 March, ...) without a word, as calendar
    months did before they were read as a month not yet over."""
    days = pd.date_range("2022-01-01", "2023-12-31", freq=rule).append(pd.DatetimeIndex([latest]))
    with caplog.at_level(logging.WARNING, logger="stockcast.prediction.monthly_dates"):
        future, freq = future_dates(days.to_numpy("datetime64[ns]"), 3)
    assert (freq, formatted(future)) == (f"1{rule}", expected)
    assert caplog.messages == [
        f"the input's latest date {latest} is not on the month {edges} the dates before it "
        f"keep: it is read as January 2024's value, and the forecast continues on the month "
        f"{edges} after it"
    ]


@pytest.mark.parametrize(("rule", "expected"), [("BME", "1BME"), ("BQE", "3BME")])
def test_month_end_closes_without_a_holiday_stay_on_business_days(rule: str, expected: str) -> None:
    """Five years of New York's 16:00 closes on months' (quarters') last business days, in UTC:
    their days alone read as business month ends to pandas, and the calendar's month ends
    (Sunday 31 March 2024) must not pass for them."""
    days = pd.date_range("2019-01-01", "2023-12-31", freq=rule)
    closes = (days + pd.Timedelta(hours=16)).tz_localize("America/New_York").tz_convert(None)
    future, freq = future_dates(closes.to_numpy(), 2)
    assert freq == expected
    first = "2024-01-31T21:00:00" if rule == "BME" else "2024-03-29T21:00:00"
    assert formatted(future)[0] == first
    assert (pd.DatetimeIndex(future).dayofweek <= 4).all()


def test_weeks_and_months_continue_on_their_own_days() -> None:
    """Friday closes whose Good Friday week is dated Thursday continue on Fridays, Monday ones
    whose week is dated the Friday before on the Monday a week on; the 30th of
    every month (February's last) on the 30th; the last Friday of every month, a fifth Friday
    among them, on last Fridays (pandas infers fourth Fridays there)."""
    fridays = pd.date_range("2023-11-03", "2024-03-22", freq="W-FRI").append(
        pd.DatetimeIndex(["2024-03-28"])
    )
    future, freq = future_dates(fridays.to_numpy(), 2)
    assert freq == "W-FRI"
    assert formatted(future) == ["2024-04-05", "2024-04-12"]
    # Monday's week dated the Friday before it (a Monday holiday): the next week is a week on.
    mondays = pd.date_range("2023-11-06", "2024-02-12", freq="W-MON").append(
        pd.DatetimeIndex(["2024-02-16"])
    )
    future, freq = future_dates(mondays.to_numpy(), 1)
    assert (freq, format_date(future[0])) == ("W-MON", "2024-02-26")
    # Thursdays, then Fridays for the latest five of ten weeks: the move is followed.
    moved = pd.date_range("2025-01-02", periods=20, freq="W-THU")
    moved = moved.append(pd.date_range(moved[-1] + pd.Timedelta(days=8), periods=5, freq="W-FRI"))
    future, freq = future_dates(moved.to_numpy(), 1)
    assert freq == "W-FRI" and pd.Timestamp(future[0]).day_name() == "Friday"
    thirtieths = pd.DatetimeIndex([f"2019-{m:02d}-{28 if m == 2 else 30}" for m in range(1, 13)])
    future, _ = future_dates(thirtieths.to_numpy(), 3)
    assert formatted(future) == ["2020-01-30", "2020-02-29", "2020-03-30"]
    last_fridays = pd.date_range(
        "2019-01-01", "2019-12-31", freq=pd.offsets.LastWeekOfMonth(weekday=4)
    )
    assert (last_fridays.day > 28).any(), "a fifth Friday among them"
    future, freq = future_dates(last_fridays.to_numpy(), 2)
    assert freq == "LWOM-FRI"
    assert formatted(future) == ["2020-01-31", "2020-02-28"]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("SMS", ["2025-04-15", "2025-05-01", "2025-05-15"]),
        ("SME", ["2025-04-15", "2025-04-30", "2025-05-15"]),
        ("SMS-20", ["2025-04-20", "2025-05-01", "2025-05-20"]),
    ],
)
def test_data_twice_a_month_continues_on_its_two_days(rule: str, expected: list[str]) -> None:
    """pandas infers no semi-month rule, and the gaps (13-16 days) read as a fortnight drifted
    off the days; a missing date is no obstacle, as for months."""
    dates = pd.date_range("2024-01-15", periods=30, freq=rule).delete([5, 6])
    future, freq = future_dates(dates.to_numpy(), 3)
    assert formatted(future) == expected
    assert freq.startswith(rule)
    monthly = pd.date_range("2024-01-15", periods=12, freq=pd.DateOffset(months=1))
    assert formatted(future_dates(monthly.to_numpy(), 1)[0]) == ["2025-01-15"]
    # The 28th and the month's end: no pandas rule takes day 28, so the dates step by their gap.
    late = pd.DatetimeIndex([f"2024-{m:02d}-{d}" for m in range(3, 9) for d in ("28", "01")[::-1]])
    assert len(future_dates(late[1:].to_numpy(), 2)[0]) == 2


@pytest.mark.parametrize(
    ("freq", "expected"),
    [("D", "2024-01-11"), ("W-FRI", "2024-03-15"), ("h", "2024-01-01T10:00:00")],
)
def test_regular_calendars_keep_their_frequency(freq: str, expected: str) -> None:
    dates = pd.date_range("2024-01-01", periods=10, freq=freq).to_numpy()
    future, _ = future_dates(dates, 2)
    assert format_date(future[0]) == expected


def session_times(
    days: pd.DatetimeIndex, opens: float, bars: int, step: str = "30min"
) -> pd.DatetimeIndex:
    """`bars` times `step` apart from `opens` hours (UTC) on each of `days`."""
    return pd.DatetimeIndex(
        [
            day + pd.Timedelta(hours=opens) + k * pd.Timedelta(step)
            for day in days
            for k in range(bars)
        ]
    )


def test_intraday_session_data_continues_at_its_own_times_on_its_trading_days() -> None:
    """Half-hours of a 14:30-20:30 UTC session on business days: past the last half-hour of a
    Friday the forecasts fall on Monday's session, not at 21:00 that night, and data held
    around the clock still steps by its gap."""
    session = session_times(pd.bdate_range("2024-01-01", "2024-01-26"), 14.5, 13)  # to a Friday
    future, freq = future_dates(session.to_numpy(), 3)
    assert freq == "session (13 a day, Mon Tue Wed Thu Fri)"
    assert formatted(future) == [
        "2024-01-29T14:30:00",
        "2024-01-29T15:00:00",
        "2024-01-29T15:30:00",
    ]
    # A bar missing late in the last session does not start a session there.
    future, _ = future_dates(session.delete(-3).to_numpy(), 1)
    assert format_date(future[0]) == "2024-01-29T14:30:00"
    # A daylight-saving change moves the session an hour earlier in UTC: the next session
    # opens at the new time, not at the old one.
    summer = session_times(pd.bdate_range("2024-01-29", "2024-01-31"), 13.5, 13)
    future, _ = future_dates(session.append(summer).to_numpy(), 2)
    assert formatted(future) == ["2024-02-01T13:30:00", "2024-02-01T14:00:00"]
    # Data ending on the close of the first session after the change (a daily run after
    # Monday's close): that whole session is the one to follow, not Friday's.
    monday = session_times(pd.bdate_range("2024-01-29", "2024-01-29"), 13.5, 13)
    future, _ = future_dates(session.append(monday).to_numpy(), 2)
    assert formatted(future) == ["2024-01-30T13:30:00", "2024-01-30T14:00:00"]
    # Cut on Thursday at 19:30 (a day cut short keeps the full days' times): 20:00, 20:30, then
    # Friday's open.
    thursday = session[session <= "2024-01-25 19:30"]
    future, _ = future_dates(thursday.to_numpy(), 3)
    assert formatted(future) == [
        "2024-01-25T20:00:00",
        "2024-01-25T20:30:00",
        "2024-01-26T14:30:00",
    ]
    # Sydney's 10:00-15:00 hours are 23:00-04:00 in UTC, started Sunday to Thursday: Friday
    # 04:00 is followed by Sunday 23:00, then Monday's early hours.
    sydney_days = pd.bdate_range(
        "2024-01-07", "2024-02-29", freq="C", weekmask="Sun Mon Tue Wed Thu"
    )
    sydney = session_times(sydney_days, 23, 6, "1h")
    future, freq = future_dates(sydney.to_numpy(), 3)
    assert freq == "session (6 a day, Mon Tue Wed Thu Sun)"
    assert formatted(future) == [
        "2024-03-03T23:00:00",
        "2024-03-04",
        "2024-03-04T01:00:00",
    ]
    # Sydney's daylight saving ends on 7 April: its 10:00 open moves from 23:00 UTC the day
    # before to 00:00 UTC on the day, Monday to Friday. Friday's close is followed by Monday's
    # open, not by a session on Sunday.
    summer_days = pd.bdate_range(
        "2024-01-07", "2024-04-04", freq="C", weekmask="Sun Mon Tue Wed Thu"
    )
    winter_days = pd.bdate_range("2024-04-08", "2024-04-19")
    after = session_times(summer_days, 23, 6, "1h").append(session_times(winter_days, 0, 6, "1h"))
    future, freq = future_dates(after.to_numpy(), 2)
    assert freq == "session (6 a day, Mon Tue Wed Thu Fri)"
    assert formatted(future) == ["2024-04-22", "2024-04-22T01:00:00"]
    # Futures' hours: Sunday 22:00 to Friday 21:00 UTC, halted from 21:00 to 22:00 each day.
    hours = pd.date_range("2024-01-07 22:00", "2024-03-01 20:00", freq="h")
    day, hour = hours.dayofweek, hours.hour
    weekend = ((day == 4) & (hour > 21)) | (day == 5) | ((day == 6) & (hour < 22))
    futures = hours[(hour != 21) & ~weekend]
    future, _ = future_dates(futures[:-2].to_numpy(), 4)
    assert formatted(future) == [
        "2024-03-01T19:00:00",
        "2024-03-01T20:00:00",
        "2024-03-03T22:00:00",
        "2024-03-03T23:00:00",
    ]
    hourly = pd.date_range("2024-01-01", periods=24 * 7, freq="h")[1:]
    future, freq = future_dates(hourly.to_numpy(), 2)
    assert freq == "h" and formatted(future) == ["2024-01-08", "2024-01-08T01:00:00"]
    # Hours missing at random over eight weeks leave every hour of the week forecast.
    weeks = pd.date_range("2024-01-01", periods=24 * 7 * 8, freq="h")
    weeks = weeks[np.random.default_rng(4).random(len(weeks)) >= 0.05]
    assert future_dates(weeks.to_numpy(), 1)[1] == "the times its weeks hold (168 a week)"
    # An hour missing on the last full day does not drop that hour from the forecasts.
    gappy = hourly.delete(-20)
    future, _ = future_dates(gappy.to_numpy(), 2)
    assert formatted(future) == ["2024-01-08", "2024-01-08T01:00:00"]


def zoned_closes(zone: str, start: str, end: str, close: str) -> pd.DatetimeIndex:
    """Business days' closes at `close` on `zone`'s clock."""
    days = pd.bdate_range(start, end)
    return (days + pd.Timedelta(f"{close}:00")).tz_localize(zone)


def read_zoned(path: Path, frame: pd.DataFrame, **columns: str) -> list[Series]:
    frame.to_csv(path, index=False) if path.suffix == ".csv" else frame.to_parquet(path)
    return read_table_series(path, "Date", "Close", **columns)


def test_zoned_daily_closes_continue_on_their_zones_clock(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Closes at 16:00 in New York are 21:00 UTC in winter and 20:00 after the change of 10 March
    2024: the forecast keeps 16:00 there, whichever way the file says the zone."""
    autumn = zoned_closes("America/New_York", "2023-10-02", "2024-03-08", "16:00")
    winter = autumn[autumn >= "2023-12-01"]
    after_change = ["2024-03-11T20:00:00", "2024-03-12T20:00:00", "2024-03-13T20:00:00"]

    def continued(dates: pd.DatetimeIndex, as_text: Any, suffix: str = ".csv") -> list[str]:
        values = np.linspace(100, 110, len(dates))
        frame = pd.DataFrame({"Date": as_text(dates), "Close": values})
        (item,) = read_zoned(tmp_path / f"closes{suffix}", frame)
        return formatted(future_dates(item.dates, 3, item.zones)[0])

    offsets = lambda dates: [t.isoformat() for t in dates]  # noqa: E731
    assert continued(autumn, offsets) == after_change  # offsets that change name the rules
    bracketed = lambda dates: [f"{t.isoformat()}[America/New_York]" for t in dates]  # noqa: E731
    assert continued(winter, bracketed) == after_change
    assert continued(winter, lambda dates: dates, ".parquet") == after_change
    # One offset all winter fits zones with and without daylight saving: UTC, and why.
    with caplog.at_level(logging.WARNING, logger="stockcast.prediction.zoned_dates"):
        assert continued(winter, offsets) == [d.replace("T20", "T21") for d in after_change]
    assert "the input's dates give UTC offsets but not their time zone" in caplog.text
    assert "(2024-03-08T09:30:00-05:00[America/New_York])" in caplog.text
    # Zoned days (local midnights) and intraday bars are no zone's to move.
    days = [f"{t.date()}T00:00:00-05:00" for t in winter]
    frame = pd.DataFrame({"Date": days, "Close": np.linspace(100, 110, len(days))})
    assert read_zoned(tmp_path / "days.csv", frame)[0].zones == ()


def test_a_batch_continues_each_series_in_its_own_zone(tmp_path: Path) -> None:
    new_york = zoned_closes("America/New_York", "2023-10-02", "2024-03-27", "16:00")
    london = zoned_closes("Europe/London", "2023-10-02", "2024-03-27", "16:30")
    frame = pd.concat(
        pd.DataFrame({"Ticker": name, "Date": [t.isoformat() for t in dates], "Close": 100.0})
        for name, dates in (("NYSE", new_york), ("LSE", london))
    )
    batch = read_zoned(tmp_path / "panel.csv", frame, id_column="Ticker")
    dates, _ = shared_future_dates(batch, 3, 10, {})
    assert [item.series_id for item in batch] == ["LSE", "NYSE"]
    assert formatted(dates[0]) == [
        "2024-03-28T16:30:00",
        "2024-03-29T16:30:00",
        "2024-04-01T15:30:00",
    ]
    assert formatted(dates[1]) == [
        "2024-03-28T20:00:00",
        "2024-03-29T20:00:00",
        "2024-04-01T20:00:00",
    ]


def test_a_batch_says_once_that_its_series_zones_disagree(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One offset all winter fits zones with and without daylight saving: a batch warned once
    per distinct calendar, the same sentence over and over for a panel of many. It warns once,
    counting the series it applies to and naming the first one's zones."""
    winter = zoned_closes("America/New_York", "2023-12-01", "2024-03-08", "16:00")
    frame = pd.concat(
        pd.DataFrame({"Ticker": name, "Date": [t.isoformat() for t in dates], "Close": 100.0})
        for name, dates in (("A", winter), ("B", winter[1:]), ("C", winter[2:]), ("D", winter))
    )
    batch = read_zoned(tmp_path / "panel.csv", frame, id_column="Ticker")
    with caplog.at_level(logging.WARNING, logger="stockcast.prediction.zoned_dates"):
        dates, _ = shared_future_dates(batch, 3, 10, {})
    assert formatted(dates[0])[0] == "2024-03-11T21:00:00"
    warned = [record.getMessage() for record in caplog.records]
    assert len(warned) == 1, warned
    assert warned[0].startswith(
        "the dates of 4 series give UTC offsets but not their time zone, and the zones they fit "
        f"({first_few(batch[0].zones, SHOWN_ZONES)} for series 'A') disagree on the forecast's "
        "dates: those keep the last date's time in UTC;"
    )


def test_the_as_of_cut_keeps_a_series_zones(tmp_path: Path) -> None:
    """data.as_of's cut rebuilt each series without its zones, so the prepared data (and the
    monitor's ledger forecasts from it) went on in UTC across a clock change."""
    from stockcast.data.sources import until

    closes = zoned_closes("America/New_York", "2023-10-02", "2024-03-27", "16:00")
    frame = pd.DataFrame({"Date": [t.isoformat() for t in closes], "Close": 100.0})
    (item,) = read_zoned(tmp_path / "closes.csv", frame)
    (cut,) = until([item], np.datetime64("2024-03-08"))
    assert len(cut) < len(item) and cut.zones == item.zones != ()
    assert formatted(future_dates(cut.dates, 1, cut.zones)[0]) == ["2024-03-11T20:00:00"]


def test_irregular_dates_continue_at_the_median_gap() -> None:
    dates = pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-05", "2024-01-08"]).to_numpy()
    future, freq = future_dates(dates, 1)
    assert format_date(future[0]) == "2024-01-10" and freq == "2C (Mon Tue Wed Thu Fri)"
    # Every second day, weekends included: the median gap of the calendar.
    every_other = pd.date_range("2024-01-01", periods=40, freq="2D").to_numpy()
    assert future_dates(every_other, 2)[1] == "2D"


def test_weekday_data_a_few_days_apart_never_continues_on_a_weekend() -> None:
    """Monday, Wednesday and Friday closes continue on those days; weekdays with random gaps
    step over business days. Stepping two calendar days had landed on a Sunday."""
    days = pd.bdate_range("2025-01-06", "2025-04-07")
    mwf = days[days.dayofweek.isin([0, 2, 4])].to_numpy()
    future, freq = future_dates(mwf, 5)
    assert [format_date(d) for d in future] == [
        "2025-04-09",
        "2025-04-11",
        "2025-04-14",
        "2025-04-16",
        "2025-04-18",
    ]
    assert freq == "C (Mon Wed Fri)"
    rng = np.random.default_rng(0)
    for kept in (0.5, 0.15):
        gappy = days[rng.random(len(days)) < kept].to_numpy()
        future, _ = future_dates(gappy, 10)
        assert (pd.DatetimeIndex(future).dayofweek < 5).all(), kept
    # A month's 15th moved to the next business day keeps stepping about a month, not onto
    # the Mondays its moved dates fall on most.
    moved = [
        pd.Timestamp(y, m, 15) + pd.offsets.BDay(0) for y in (2024, 2025) for m in range(1, 13)
    ]
    future, _ = future_dates(pd.DatetimeIndex(moved).to_numpy(), 3)
    assert all(12 <= pd.Timestamp(d).day <= 20 for d in future), future
    # Every sixth business day, 8 or 10 calendar days apart: calendar steps landed on weekends.
    sixth = days[::6].to_numpy()
    future, freq = future_dates(sixth, 10)
    assert freq == "6C (Mon Tue Wed Thu Fri)"
    assert (pd.DatetimeIndex(future).dayofweek < 5).all()
    # Weekly data keeps its weekday and its calendar step.
    fridays = pd.date_range("2025-01-03", periods=20, freq="7D").to_numpy()
    assert future_dates(fridays, 1)[1] == "W-FRI"


def test_window_overrides_that_agree_pass_and_others_are_refused() -> None:
    check_window_overrides({"previous_time_window": P, "next_time_window": None}, META)
    with pytest.raises(ArtifactError, match=r"the model takes 4 values .* previous_time_window=5"):
        check_window_overrides({"previous_time_window": 5}, META)


@pytest.mark.parametrize(
    ("requested", "asked", "them"),
    [
        ({"previous_time_window": None, "next_time_window": 5}, "next_time_window=5", "it"),
        ({"previous_time_window": 9, "next_time_window": None}, "previous_time_window=9", "it"),
        (
            {"previous_time_window": P, "next_time_window": 5},
            f"previous_time_window={P} and next_time_window=5",
            "them",
        ),
    ],
    ids=["next_only", "previous_only", "both"],
)
def test_a_window_override_refused_names_only_what_the_command_line_gave(
    requested: dict[str, int | None], asked: str, them: str
) -> None:
    """`predict.py next_time_window=3` was told "the command line asks for 10 in / 3 out": the
    10 was the model's own, not given, and the advice named both keys."""
    with pytest.raises(ArtifactError) as refused:
        check_window_overrides(requested, META)
    assert str(refused.value) == (
        f"the model takes {P} values and forecasts {H}, but the command line asks for {asked}; "
        f"drop {asked} or pick a model trained with {them}."
    )


def test_forecast_next_uses_the_last_window_and_numbers_steps() -> None:
    result = forecast_next(model(), series(9))
    np.testing.assert_array_equal(result.window, [50, 60, 70, 80])
    np.testing.assert_array_equal(result.forecast, [81, 82, 83])
    rows = forecast_rows(result)
    assert [r["step"] for r in rows] == [1, 2, 3] and rows[0]["date"] is None
    assert "date" not in format_table(rows, 2).splitlines()[0]


def test_the_printed_table_shows_small_prices_to_their_significant_digits() -> None:
    """Prices of a millionth printed as 0.0000 at the default 4 decimals (the files keep them)."""
    rows = [{"step": 1, "date": None, "forecast": 1.234567e-6, "lower_80_1": 1.1e-6}]
    assert format_table(rows, 4).splitlines()[1].split() == ["1", "0.000001235", "0.000001100"]
    prices = [{"step": 1, "date": None, "forecast": 104.0, "lower_80_1": 0.5}]
    assert format_table(prices, 4).splitlines()[1].split() == ["1", "104.0000", "0.5000"]
    # The typical size, not the smallest or the largest: a rate passing near zero adds none.
    rates = [
        {"step": s, "date": None, "forecast": v} for s, v in ((1, 0.000001), (2, 2.5), (3, 3.5))
    ]
    assert [row.split()[1] for row in format_table(rates, 2).splitlines()[1:]] == [
        "0.00",
        "2.50",
        "3.50",
    ]
    tiny = [{"step": s, "date": None, "forecast": v} for s, v in ((1, 2e-6), (2, 3e-6), (3, 500.0))]
    assert format_table(tiny, 2).splitlines()[1].split()[1] == "0.0000020"
    # Not a number, infinite or zero: no digits to show; print_decimals=0 still shows one.
    odd = [{"step": 1, "date": None, "forecast": float("nan"), "a": float("inf"), "b": 0.0}]
    assert format_table(odd, 3).splitlines()[1].split() == ["1", "nan", "inf", "0.000"]
    assert format_table(rows, 0).splitlines()[1].split()[1:] == ["0.000001", "0.000001"]


def test_forecast_next_dates_follow_the_input() -> None:
    result = forecast_next(model(), series(10, dates=True))  # last date Fri 2024-01-12
    assert [r["date"] for r in forecast_rows(result)] == ["2024-01-15", "2024-01-16", "2024-01-17"]


@pytest.mark.parametrize(
    "before",
    [
        pd.date_range("2010-03-31", periods=30, freq="QE"),  # years of quarters
        pd.bdate_range("2019-01-01", periods=200),  # a year of daily closes
    ],
)
def test_months_after_another_rhythm_continue_in_months(before: pd.DatetimeIndex) -> None:
    """A monthly model passes months read after years of another rhythm (the rhythm is judged on
    the latest dates), but their forecast went on in that rhythm's steps: 2021-05-31,
    2021-08-31, ... after quarters, 2021-03-01, 2021-03-02, ... after daily closes."""
    from stockcast.data.series import Series
    from stockcast.prediction.batch_dates import shared_future_dates

    months = pd.date_range("2020-01-31", periods=14, freq="ME")
    dates = before.append(months).to_numpy("datetime64[ns]")
    monthly = OpenModel(LastPlusStep(), Path("m"), "digest", META | {"date_rhythm": "monthly"})
    values = np.linspace(100.0, 110.0, len(dates))
    result = forecast_next(monthly, InputSeries(values, dates, "months after another rhythm"))
    expected = ["2021-03-31", "2021-04-30", "2021-05-31"]
    assert [r["date"] for r in forecast_rows(result)] == expected
    batch, _ = shared_future_dates([Series("A", values, dates)], H, P, monthly.metadata)
    assert formatted(batch[0]) == expected


def test_a_window_of_weekdays_in_a_row_continues_on_business_days() -> None:
    """Dates Monday to Thursday, all a short window's input holds, read as calendar days to
    pandas: the forecast went on on Saturday and Sunday."""
    days = pd.bdate_range("2024-01-01", periods=P).to_numpy("datetime64[ns]")  # Mon 1 to Thu 4
    result = forecast_next(model(), InputSeries(np.arange(1.0, P + 1), days, f"{P} values"))
    assert [r["date"] for r in forecast_rows(result)] == ["2024-01-05", "2024-01-08", "2024-01-09"]
    assert result.date_frequency == "B"


def test_hourly_dates_are_written_with_their_times_midnight_too() -> None:
    """An hourly forecast crossing midnight wrote its midnight bar as a bare date beside the
    others' times: one column of two formats, which pandas could not parse."""
    from stockcast.prediction.outputs import summary

    hours = pd.date_range("2024-04-09 17:00", periods=10, freq="h").to_numpy("datetime64[ns]")
    hourly = InputSeries(np.arange(10, dtype=float) * 10, hours, "10 hours")
    result = forecast_next(model(), hourly)
    dates = [r["date"] for r in forecast_rows(result)]
    assert dates == ["2024-04-10T03:00:00", "2024-04-10T04:00:00", "2024-04-10T05:00:00"]
    window = summary(model(), hourly, result, "forecast", None)["input_window_dates"]
    assert window[:2] == ["2024-04-09T23:00:00", "2024-04-10T00:00:00"]  # midnight's time too
    pd.to_datetime(dates + window, format="ISO8601")  # one format: parses as one column


def test_dates_are_written_as_isoformat_writes_each_one() -> None:
    """One writer for forecasts, inputs and the ledger: whole-second bars the fast way and
    sub-second stamps in full, but for the ledger's keys, cut to the second as before; each as
    `format_date` writes it with its time."""
    days = pd.date_range("2024-01-01", periods=3).to_numpy("datetime64[ns]")
    bars = pd.date_range("2024-01-01 23:30", periods=3, freq="30min").to_numpy("datetime64[ns]")
    ticks = bars + np.timedelta64(500, "ms")
    assert format_dates(days) == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert format_dates(bars) == [
        "2024-01-01T23:30:00",
        "2024-01-02T00:00:00",
        "2024-01-02T00:30:00",
    ]
    assert format_dates(ticks)[0] == "2024-01-01T23:30:00.500000"
    # The ledger's keys, as ledgers written before keep them: to the second.
    assert format_dates(ticks, whole_seconds=True)[0] == "2024-01-01T23:30:00"
    for stamps in (bars, ticks):
        assert format_dates(stamps) == [format_date(d, with_time=True) for d in stamps]
    assert format_dates(days, with_time=True)[0] == "2024-01-01T00:00:00"


def test_a_batchs_dates_are_written_in_one_format_in_every_column() -> None:
    """Each column had decided alone: an hourly batch whose last bars were at 23:00 wrote its
    forecast dates as bare dates beside window ends with times."""
    from stockcast.prediction.batch_forecast import BatchForecast
    from stockcast.prediction.batch_outputs import batch_frame, preview_rows

    ends = np.array(["2024-01-02T23:00", "2024-01-02T23:00"], dtype="datetime64[ns]")
    result = BatchForecast(
        ids=["A", "B"],
        windows=np.ones((2, 4)),
        forecasts=np.ones((2, 1)),
        bands={},
        window_end=ends,
        dates=np.array([["2024-01-03T00:00"], ["2024-01-03T00:00"]], dtype="datetime64[ns]"),
        frequencies=["h", "h"],
    )
    assert batch_frame(result, "id")["date"].tolist() == ["2024-01-03T00:00:00"] * 2
    assert preview_rows(result, "id", 1)[0]["last input"] == "2024-01-02T23:00:00"


def test_too_short_input_says_how_many_values_are_needed() -> None:
    with pytest.raises(DataError, match=r"needs at least 4 input values .* holds 2; give 2 more"):
        forecast_next(model(), series(2))
    with pytest.raises(DataError, match="needs at least 7 input values"):
        forecast_held_out(model(), series(6))


def test_held_out_forecast_compares_with_the_hidden_values() -> None:
    result = forecast_held_out(model(), series(10))
    np.testing.assert_array_equal(result.window, [30, 40, 50, 60])
    np.testing.assert_array_equal(result.actual, [70, 80, 90])
    assert [r["error"] for r in forecast_rows(result)] == [-9.0, -18.0, -27.0]


def test_rolling_backtest_aligns_forecasts_with_their_targets() -> None:
    backtest = rolling_backtest(model(), series(20), span=8)
    assert backtest.stretch_start == 12
    np.testing.assert_array_equal(backtest.origins, np.arange(12, 18))
    # The first origin's step-k target is value 12 + k - 1 (= 10 * index).
    np.testing.assert_array_equal(backtest.actual[0], [120, 130, 140])
    line = backtest.aligned(1, 8)
    assert line[0] == 111 and np.isnan(line[-2:]).all()
    np.testing.assert_allclose(backtest.naive_mae_by_step(), [10, 20, 30])


def test_explicit_values_win_over_the_default_kind() -> None:
    built = build_input({"kind": "synthetic", "values": [1, 2, 3]}, META)
    assert built.details == {"kind": "values"} and len(built) == 3


def test_synthetic_input_refuses_a_model_trained_on_a_csv() -> None:
    meta = META | {"data_source": {"source": "csv", "path": "prices.csv"}}
    with pytest.raises(ConfigError, match=r"not a generator.*input=csv"):
        build_input({"kind": "synthetic", "seed": None, "length": None, "values": None}, meta)


def test_synthetic_input_seed_policy_is_training_seed_plus_one() -> None:
    source = {"source": "gbm", "length": 50, "start_price": 100.0, "drift": 0.0}
    source |= {"start_date": "2024-01-01", "as_of": "2024-06-28"}
    meta = META | {"data_source": source | {"volatility": 0.01, "seed": 7}}
    first = build_input({"kind": "synthetic", "seed": None, "length": None}, meta)
    again = build_input({"kind": "synthetic", "seed": None, "length": None}, meta)
    assert first.details["seed"] == 8 and len(first) == 50
    np.testing.assert_array_equal(first.values, again.values)


def test_synthetic_input_of_a_model_trained_on_every_day_draws_every_day() -> None:
    """data.length=null trains on every business day from start_date to as_of: the fresh series
    spans the same days (it used to be a TypeError from int(None))."""
    source = {"source": "gbm", "length": None, "start_price": 100.0, "drift": 0.0}
    source |= {"start_date": "2024-01-01", "as_of": "2024-06-28"}
    meta = META | {"data_source": source | {"volatility": 0.01, "seed": 7}}
    drawn = build_input({"kind": "synthetic", "seed": None, "length": None}, meta)
    days = len(pd.bdate_range("2024-01-01", "2024-06-28"))
    assert len(drawn) == days and drawn.details["length"] == days
    shorter = build_input({"kind": "synthetic", "seed": None, "length": 40}, meta)
    assert len(shorter) == 40 and shorter.details["length"] == 40


def test_bands_reach_the_rows_and_the_backtest_states_its_coverage() -> None:
    rows = forecast_rows(forecast_next(model(), series(9)))
    assert (rows[0]["lower_80"], rows[0]["forecast"], rows[0]["upper_80"]) == (80.5, 81.0, 81.5)
    backtest = rolling_backtest(model(), series(20), span=8)
    # Targets climb 10 per step, the bands sit +-0.5 around last + k: nothing is covered.
    assert backtest.coverage() == {"80": 0.0}
    assert backtest.bands["80"][0].shape == backtest.forecasts.shape


def prepared_metadata(cfg: Any, tmp_path: Path) -> dict[str, Any]:
    """What a model of 10 values in, 5 out, trained on `cfg`'s prepared data records of it."""
    from stockcast.orchestration.steps.prepare import run_prepare
    from stockcast.paths import portable

    cfg.data.previous_time_window = 10
    meta = json.loads((run_prepare(cfg, tmp_path / "prepared") / "meta.json").read_text())
    return {
        "data_source": portable(meta["source"]),
        "data_hash": meta["data_hash"],
        "previous_time_window": 10,
        "next_time_window": 5,
    }


def test_the_test_split_of_a_file_outside_the_project_is_found_by_input_path(
    make_cfg, tmp_path: Path
) -> None:
    """A training file outside the project is recorded by its name only: predict says so and
    takes `input.path`, whose data must hash as the model's did."""
    from stockcast.orchestration.steps.prepare import run_prepare
    from stockcast.paths import portable

    csv = tmp_path / "monthly.csv"
    dates = pd.date_range("2000-01-01", periods=60, freq="MS")
    pd.DataFrame({"Date": dates, "Close": np.linspace(100, 160, 60)}).to_csv(csv, index=False)
    metadata = prepared_metadata(make_cfg("data=csv", f"data.path={csv}"), tmp_path)
    assert metadata["data_source"]["path"] == ".../monthly.csv"
    asked = {"kind": "test_split", "path": None, "series_id": None}
    with pytest.raises(ArtifactError) as caught:
        build_input(asked, metadata)
    assert str(caught.value) == (
        "the model's training file .../monthly.csv lay outside the project when the model was "
        "trained (only its name was kept), so its test split cannot be rebuilt; give "
        "input.path=<that file> (its hash is checked)."
    )
    found = build_input(asked | {"path": str(csv)}, metadata)
    assert found.details["kind"] == "test_split" and len(found.values) == 10 + 9
    with pytest.raises(ArtifactError, match="is not a file; give the model's training file"):
        build_input(asked | {"path": "/nowhere.csv"}, metadata)
    other = tmp_path / "other.csv"
    other.write_text(csv.read_text().replace("160.0", "161.0"))
    with pytest.raises(ArtifactError) as caught:
        build_input(asked | {"path": str(other)}, metadata)
    assert str(caught.value).startswith(
        f"input.path={other} holds other data than the model was trained on (.../monthly.csv: "
        "the hashes differ)"
    )
    # Another file altogether: its reader's advice (set data.value_column) is training's, which
    # predict has no data.* settings for.
    columns = tmp_path / "columns.csv"
    columns.write_text(csv.read_text().replace("Close", "Open"))
    with pytest.raises(ArtifactError) as caught:
        build_input(asked | {"path": str(columns)}, metadata)
    assert str(caught.value) == (
        f"input.path={columns} cannot be read as the model's training data was (CSV file {columns} has "
        "no column 'Close' (data.value_column); the model was trained on .../monthly.csv), so no "
        "test split can be rebuilt from it; give input.path=<that file>, or use input=csv for "
        "another file."
    )
    # A Parquet file is found the same way.
    table = tmp_path / "monthly.parquet"
    frame = pd.read_csv(csv, parse_dates=["Date"])
    frame.rename(columns={"Date": "date", "Close": "value"}).assign(id="A").to_parquet(table)
    cfg = make_cfg("data=parquet", f"data.path={table}", "data.previous_time_window=10")
    meta = json.loads((run_prepare(cfg, tmp_path / "prepared_pq") / "meta.json").read_text())
    metadata |= {"data_source": portable(meta["source"]), "data_hash": meta["data_hash"]}
    with pytest.raises(ArtifactError, match="outside the project"):
        build_input(asked, metadata)
    assert (
        build_input(asked | {"path": str(table)}, metadata).values.tolist() == found.values.tolist()
    )


def test_the_test_split_of_a_panel_says_which_series_it_is(make_cfg, tmp_path: Path) -> None:
    """Every id gave the same printed line and plot title, `test split of the training csv
    data`: only forecast.json said which series was forecast."""
    csv = tmp_path / "panel.csv"
    dates = pd.date_range("2000-01-01", periods=60, freq="MS")
    frames = [
        pd.DataFrame({"Date": dates, "Ticker": ticker, "Close": np.linspace(100, 160, 60) + i})
        for i, ticker in enumerate(["alpha", "G-3"])
    ]
    pd.concat(frames).to_csv(csv, index=False)
    cfg = make_cfg("data=csv", f"data.path={csv}", "data.id_column=Ticker")
    metadata = prepared_metadata(cfg, tmp_path)
    asked = {"kind": "test_split", "path": str(csv), "series_id": "G-3"}
    found = build_input(asked, metadata)
    assert found.description == "test split of the training csv data (G-3)"


def test_counts_in_sentences_agree_with_their_noun() -> None:
    assert [counted(n, "origin") for n in (0, 1, 2)] == ["0 origins", "1 origin", "2 origins"]
    assert counted(1, "business day") == "1 business day"
    assert counted(3, "series", "series") == "3 series"


class TinyLastPlusStep:
    """LastPlusStep at prices near 1e-6: last value + 1e-9, + 2e-9, ..."""

    def predict(self, rows: np.ndarray) -> pd.DataFrame:
        point = rows[:, -1:] + np.arange(1, H + 1) * 1e-9
        return forecast_frame(point, {"80": (point - 5e-10, point + 5e-10)})


def test_errors_of_small_prices_are_printed_and_plotted_to_their_significant_digits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table showed prices near 1e-6 to their digits, but the held-out MAE, the backtest's
    MAE by step and the plots' titles and legends read 0.0000 and 0.000, as if exact."""
    from stockcast.evaluation import plots as plotting
    from stockcast.prediction import outputs
    from stockcast.prediction.task import _print_report

    tiny = OpenModel(TinyLastPlusStep(), Path("m"), "digest", dict(META), "m", 3, ("champion",))
    prices = InputSeries(1e-6 + np.arange(20) * 1e-8, None, "20 values")
    result = forecast_held_out(tiny, prices)
    backtest = rolling_backtest(tiny, prices, span=8)
    _print_report(
        tiny, prices, result, outputs.summary(tiny, prices, result, "backtest", backtest), [], 4
    )
    printed = capsys.readouterr().out
    assert "MAE of the held-out forecast: 0.00000001800" in printed
    assert "MAE by step: 0.00000000900 (naive 0.00000001000)" in printed

    titles: list[str] = []
    save = plotting.save_figure

    def keep(plt: Any, fig: Any, path: Path) -> Path:
        (ax,) = fig.axes
        titles.append(" ".join([ax.get_title(), *ax.get_legend_handles_labels()[1]]))
        return save(plt, fig, path)

    monkeypatch.setattr(plotting, "save_figure", keep)
    outputs.plot_forecast_png(tmp_path / "forecast.png", tiny, prices, result, 10)
    outputs.plot_backtest_png(tmp_path / "backtest.png", tiny, prices, backtest)
    assert titles[0].startswith("m version 3 (champion): 20 values  (MAE 0.0000000180)")
    assert "naive MAE step 1 0.0000000100, step 3 0.0000000300" in titles[1]
    assert "1-step-ahead forecast (MAE 0.00000000900)" in titles[1]


def test_thousands_of_values_on_the_command_line_are_pointed_to_a_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hydra's override parser slows with the square of a list's length (10,000 values took
    half a minute, 30,000 six): the script waited that long without a word of why, or of the
    file input that takes no time. Said before Hydra reads the list; a short list is not."""
    import runpy
    import sys

    from stockcast.config import task
    from stockcast.prediction.long_values import SLOW_VALUES

    started = []
    monkeypatch.setattr(task, "hydra_task", lambda *args, **kwargs: lambda: started.append(1))
    for count in (SLOW_VALUES, SLOW_VALUES + 1):
        values = ",".join(["100.5"] * count)
        monkeypatch.setattr(sys, "argv", ["scripts/predict.py", f"input.values=[{values}]"])
        runpy.run_path("scripts/predict.py", run_name="__main__")
        said = capsys.readouterr().err
        assert said == ("" if count == SLOW_VALUES else f"warning: input.values holds {count} "
            "values, which Hydra is slow to read from the command line (10,000 take about half a "
            "minute, and the time grows with the square of their number); write them to a "
            "CSV file and give input=csv input.path=<file> input.date_column=null "
            "input.value_column=<its column> instead.\n")  # fmt: skip
    assert started == [1, 1], "the run goes on"
