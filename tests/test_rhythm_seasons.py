"""Two-weekly, bimonthly and half-yearly dates: rhythms of their own, with a season of 26, 6 and
2, where their commonest spacing (14, 59 to 62, 181 to 184 days) once fell outside every named
rhythm and the data got no season, no gap refusal and no rhythm for predict to hold an input to."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockcast.config.compose import plain
from stockcast.data.date_steps import (
    first_date_gap,
    refuse_date_gaps,
    repeated_step,
    window_dates_refusal,
)
from stockcast.data.prepared import prepare_data
from stockcast.data.rhythm import date_rhythm, other_rhythm, refuse_mixed_rhythms
from stockcast.data.seasonality import season_from_dates
from stockcast.data.series import Series
from stockcast.errors import DataError
from stockcast.prediction.forecast import forecast_next
from stockcast.prediction.inputs import InputSeries
from stockcast.prediction.zoned_dates import future_dates
from tests.test_date_steps import preparing_refused
from tests.test_predict_units import formatted, model


def ns(index: pd.DatetimeIndex) -> np.ndarray:
    return index.to_numpy("datetime64[ns]")


def moved(index: pd.DatetimeIndex, day: str, to: str) -> pd.DatetimeIndex:
    """The dates with `day` moved to `to` (a holiday's payday a day early)."""
    return index.where(index != pd.Timestamp(day), pd.Timestamp(to))


HALF_YEAR_ENDS = pd.date_range("2000-06-30", periods=30, freq="6ME")  # 30 June, 31 December
HALF_YEAR_STARTS = pd.date_range("2000-01-01", periods=30, freq="6MS")
HALF_YEAR_TRADING_ENDS = pd.date_range("2000-06-30", periods=30, freq="6BME")
ODD_MONTH_ENDS = pd.date_range("2000-01-31", periods=40, freq="2ME")  # 31 Jan, 31 Mar, 31 May
EVEN_MONTH_STARTS = pd.date_range("2000-02-01", periods=40, freq="2MS")
PAYDAYS = pd.date_range("2020-01-03", periods=60, freq="2W-FRI")


@pytest.mark.parametrize(
    ("dates", "rhythm", "season"),
    [
        (HALF_YEAR_ENDS, "half-yearly", 2),
        (HALF_YEAR_STARTS, "half-yearly", 2),
        (HALF_YEAR_TRADING_ENDS, "half-yearly", 2),
        (ODD_MONTH_ENDS, "bimonthly", 6),
        (EVEN_MONTH_STARTS, "bimonthly", 6),
        (pd.date_range("2016-01-29", periods=40, freq="2BME"), "bimonthly", 6),
        (PAYDAYS, "two-weekly", 26),
        (moved(PAYDAYS, "2020-04-10", "2020-04-09"), "two-weekly", 26),  # Good Friday
        (pd.date_range("2020-01-06 16:00", periods=60, freq="2W-MON"), "two-weekly", 26),
    ],
)
def test_two_weekly_bimonthly_and_half_yearly_dates_give_their_season(
    dates: pd.DatetimeIndex, rhythm: str, season: int
) -> None:
    assert (date_rhythm(ns(dates)), season_from_dates(ns(dates))) == (rhythm, season)


@pytest.mark.parametrize(
    ("dates", "rhythm", "season"),
    [
        (pd.date_range("2020-01-03", periods=60, freq="W-FRI"), "weekly", 52),
        (pd.date_range("2010-01-03", periods=60, freq="4W-SUN"), "four-weekly", 13),
        (pd.date_range("2000-01-31", periods=60, freq="ME"), "monthly", 12),
        (pd.date_range("2000-03-31", periods=60, freq="QE"), "quarterly", 4),
        (pd.date_range("1950-01-01", periods=60, freq="YS"), "yearly", 1),
        (pd.bdate_range("2024-01-01", periods=60), "daily", 5),
        # Twice a month steps 14 days about half the time: no two-week periods, as before.
        (pd.date_range("2020-01-01", periods=48, freq="SMS"), None, 1),
        (pd.date_range("2020-01-15", periods=48, freq="SME"), None, 1),
    ],
)
def test_the_other_rhythms_keep_their_season(
    dates: pd.DatetimeIndex, rhythm: str | None, season: int
) -> None:
    assert (date_rhythm(ns(dates)), season_from_dates(ns(dates))) == (rhythm, season)


@pytest.mark.parametrize(
    ("dates", "dropped", "gap"),
    [
        (HALF_YEAR_ENDS, (4,), ("2001-12-31", "2002-12-31", 1, "half-year")),
        (HALF_YEAR_STARTS, (4, 5), ("2001-07-01", "2003-01-01", 2, "half-year")),
        (ODD_MONTH_ENDS, (3,), ("2000-05-31", "2000-09-30", 1, "two-month period")),
        (EVEN_MONTH_STARTS, (6,), ("2000-12-01", "2001-04-01", 1, "two-month period")),
        (PAYDAYS, (5,), ("2020-02-28", "2020-03-27", 1, "two-week period")),
        (
            moved(PAYDAYS, "2020-04-10", "2020-04-09"),
            (7,),
            ("2020-03-27", "2020-04-24", 1, "two-week period"),
        ),
    ],
)
def test_a_skipped_half_year_two_months_or_two_weeks_is_a_date_gap(
    dates: pd.DatetimeIndex, dropped: tuple[int, ...], gap: tuple[str, str, int, str]
) -> None:
    assert first_date_gap(ns(dates)) is None
    found = first_date_gap(ns(dates.delete(list(dropped))))
    assert found is not None and (found.before, found.after, found.missing, found.step) == gap


@pytest.mark.parametrize(
    ("freq", "rhythm", "season"),
    [("2W-FRI", "two-weekly", 26), ("2ME", "bimonthly", 6), ("6ME", "half-yearly", 2)],
)
def test_prepared_data_records_these_rhythms_and_their_season(
    tmp_path: Path, make_cfg, freq: str, rhythm: str, season: int
) -> None:
    """What predict holds an input to, and the season a model reads."""
    stamps = pd.date_range("1990-01-05", periods=120, freq=freq)
    path = tmp_path / "data.csv"
    values = 100 + np.arange(120.0) + np.sin(np.arange(120.0))
    frame = pd.DataFrame({"Date": stamps.strftime("%Y-%m-%d"), "Value": values})
    frame.to_csv(path, index=False)
    cfg = make_cfg("data=csv", f"data.path={path}", "data.value_column=Value")
    meta = prepare_data(plain(cfg.data)).meta
    assert (meta["date_rhythm"], meta["season_length"], meta["season_from"]) == (
        rhythm,
        season,
        "dates",
    )


def test_training_data_with_a_missing_half_year_is_refused_before_any_work(
    tmp_path: Path, make_cfg
) -> None:
    """As a monthly file with a missing month is: a model of a season of 2 read every half-year
    after the gap as the other one."""
    half_years = HALF_YEAR_ENDS.delete(10)
    path = tmp_path / "half_years.csv"
    values = 100 + np.arange(len(half_years), dtype=float)
    frame = pd.DataFrame({"Date": half_years.strftime("%Y-%m-%d"), "Value": values})
    frame.to_csv(path, index=False)
    cfg = make_cfg("data=csv", f"data.path={path}", "data.value_column=Value")
    assert preparing_refused(cfg) == (
        "the dates skip from 2004-12-31 to 2005-12-31 (1 half-year missing), though they are "
        "one half-year apart elsewhere, and a model reads values by position: every value after "
        "the gap would be read as the half-year before it; add the missing half-years (their "
        "values, or the last value carried forward), or keep only the rows after the last gap."
    )


@pytest.mark.parametrize(
    ("dates", "extra", "step"),
    [
        (HALF_YEAR_ENDS, "2003-07-31", "half-year"),  # a month after 30 June
        (ODD_MONTH_ENDS, "2002-04-10", "two-month period"),  # ten days after 31 March
        (PAYDAYS, "2020-06-09", "two-week period"),  # the Tuesday after a payday
    ],
)
def test_two_values_within_one_step_are_refused(
    dates: pd.DatetimeIndex, extra: str, step: str
) -> None:
    twice = dates.append(pd.DatetimeIndex([extra])).sort_values()
    assert repeated_step(ns(dates)) is None
    found = repeated_step(ns(twice))
    assert found is not None and found[1] == step and extra in found[0]
    values = np.arange(len(twice), dtype=float) + 100
    with pytest.raises(DataError) as refused:
        refuse_date_gaps([Series("AAA", values, ns(twice))])
    assert str(refused.value).startswith("series 'AAA': its dates hold ")
    assert str(refused.value).endswith(
        f"less than half a {step} apart, though they are one {step} apart elsewhere, and a model "
        f"reads values by position: the second would be read as the next {step}'s; keep one "
        f"row per {step}."
    )


def test_predict_refuses_an_input_of_another_rhythm_than_the_models_data() -> None:
    """A monthly file fed to a bimonthly model read a year of months as two years of its
    two-month periods, and the other way round."""
    months = ns(pd.date_range("2020-01-31", periods=60, freq="ME"))
    assert other_rhythm({"date_rhythm": "bimonthly"}, months) == (
        "are monthly, but the model was fitted on bimonthly data: give it bimonthly values, or "
        "use a model fitted on monthly data"
    )
    assert other_rhythm({"date_rhythm": "monthly"}, ns(ODD_MONTH_ENDS)).startswith(
        "are bimonthly, but the model was fitted on monthly data"
    )
    assert other_rhythm({"date_rhythm": "quarterly"}, ns(HALF_YEAR_ENDS)).startswith(
        "are half-yearly, but the model was fitted on quarterly data"
    )
    weeks = ns(pd.date_range("2020-01-03", periods=60, freq="W-FRI"))
    assert other_rhythm({"date_rhythm": "two-weekly"}, weeks).startswith(
        "are weekly, but the model was fitted on two-weekly data"
    )
    for rhythm, dates in (
        ("half-yearly", HALF_YEAR_ENDS),
        ("bimonthly", ODD_MONTH_ENDS),
        ("two-weekly", PAYDAYS),
    ):
        assert other_rhythm({"date_rhythm": rhythm}, ns(dates)) is None
    fitted = model()
    fitted.metadata.update({"date_rhythm": "bimonthly", "season_length": 6})
    monthly_input = InputSeries(np.arange(60.0) + 100, months, "monthly input")
    with pytest.raises(DataError, match=r"^the dates of the input \(monthly input\) are monthly, "):
        forecast_next(fitted, monthly_input)


def test_a_model_saved_before_the_record_never_read_these_rhythms() -> None:
    """Such a model's season of 6 came from a six-day trading week (these dates were irregular
    then): bimonthly dates are not its data's."""
    six_day_week = {"season_length": 6, "season_from": "dates"}
    assert other_rhythm(six_day_week, ns(ODD_MONTH_ENDS)) == (
        "are bimonthly, but the model was fitted on daily data (its season, 6 values, came from "
        "its dates): give it daily values, or use a model fitted on bimonthly data"
    )
    assert other_rhythm({"season_length": 2, "season_from": "dates"}, ns(HALF_YEAR_ENDS))
    sessions = {"season_length": 26, "season_from": "dates"}
    assert other_rhythm(sessions, ns(PAYDAYS)).startswith("are two-weekly, but the model was")


def test_a_window_judges_these_rhythms_on_the_dates_the_model_reads() -> None:
    """A gap among the half-years a model reads is refused; one before them is not."""
    half_yearly = {"date_rhythm": "half-yearly", "season_length": 2}
    late = ns(HALF_YEAR_ENDS.delete(27))
    refused = window_dates_refusal(late, half_yearly, 4, "the input")
    assert refused is not None and refused.endswith("add the missing half-years to them.")
    early = ns(HALF_YEAR_ENDS.delete(3))
    assert window_dates_refusal(early, half_yearly, 4, "the input") is None


def test_a_panel_mixing_these_rhythms_with_others_is_refused() -> None:
    months = pd.date_range("2000-01-31", periods=80, freq="ME")
    series = [
        Series("M", np.arange(80.0), ns(months)),
        Series("B", np.arange(40.0), ns(ODD_MONTH_ENDS)),
    ]
    with pytest.raises(DataError, match=r"^series 'M' has monthly dates and series 'B' bimonthly"):
        refuse_mixed_rhythms(series, [60, 30])
    weeks = Series("W", np.arange(60.0), ns(pd.date_range("2020-01-03", periods=60, freq="W-FRI")))
    paydays = Series("P", np.arange(60.0), ns(PAYDAYS))
    with pytest.raises(DataError, match=r"^series 'W' has weekly dates and series 'P' two-weekly"):
        refuse_mixed_rhythms([weeks, paydays], [45, 45])


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        (ODD_MONTH_ENDS[:10], ["2001-09-30", "2001-11-30", "2002-01-31"]),
        (EVEN_MONTH_STARTS[:10], ["2001-10-01", "2001-12-01", "2002-02-01"]),
        (HALF_YEAR_ENDS[:10], ["2005-06-30", "2005-12-31", "2006-06-30"]),
        (HALF_YEAR_STARTS[:10], ["2005-01-01", "2005-07-01", "2006-01-01"]),
        (PAYDAYS[:10], ["2020-05-22", "2020-06-05", "2020-06-19"]),
        # A payday a holiday moved a day early does not move the next ones.
        (
            moved(PAYDAYS, "2020-04-10", "2020-04-09")[:10],
            ["2020-05-22", "2020-06-05", "2020-06-19"],
        ),
    ],
)
def test_a_forecast_steps_on_the_datas_own_calendar(
    dates: pd.DatetimeIndex, expected: list[str]
) -> None:
    future, _ = future_dates(ns(dates), 3)
    assert formatted(future) == expected
    values = np.arange(len(dates), dtype=float) + 100
    forecast = forecast_next(model(), InputSeries(values, ns(dates), "input"))
    assert forecast.x is not None and formatted(forecast.x) == expected
