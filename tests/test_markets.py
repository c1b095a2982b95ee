"""Point-in-time data: markets revealed up to as_of, files cut at as_of, Parquet tables, the
prepared meta's record of what a run saw, and the refusal of a run without new data."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockcast.config.compose import plain
from stockcast.data.known_data import known_data
from stockcast.data.prepared import PreparedData, data_hash, prepare_data
from stockcast.data.sources import load_series, read_csv_series, read_table_series
from stockcast.data.split import min_series_length
from stockcast.errors import ConfigError, DataError, StockcastError
from stockcast.forecasting.windows import WindowSizes
from stockcast.orchestration.steps.prepare import run_prepare
from stockcast.registry.freshness import AS_OF_TAG, HASH_TAG
from stockcast.registry.store import ModelRegistry
from tests.conftest import LENIENT_GATE, MODEL, PIPELINE_FAST, run_local_pipeline

FRIDAY, SATURDAY, MONDAY = "2026-06-26", "2026-06-27", "2026-06-29"
MARKETS = ("gbm", "seasonal", "market")


def market_cfg(make_cfg, source: str, as_of: str, *overrides: str) -> dict:
    size = ("data.num_series=7",) if source == "market" else ()
    return plain(make_cfg(f"data={source}", f"data.as_of={as_of}", *size, *overrides).data)


@pytest.mark.parametrize("source", MARKETS)
def test_one_more_business_day_reveals_one_more_value_and_keeps_the_past(make_cfg, source) -> None:
    friday = load_series(market_cfg(make_cfg, source, FRIDAY, "data.length=null"))
    saturday = load_series(market_cfg(make_cfg, source, SATURDAY, "data.length=null"))
    monday = load_series(market_cfg(make_cfg, source, MONDAY, "data.length=null"))
    for old, weekend, new in zip(friday, saturday, monday, strict=True):
        assert len(new) == len(old) + 1 and len(weekend) == len(old)
        np.testing.assert_array_equal(new.values[:-1], old.values)
        np.testing.assert_array_equal(new.dates[:-1], old.dates)
        np.testing.assert_array_equal(weekend.values, old.values)
        assert str(old.dates[-1])[:10] == FRIDAY and str(new.dates[-1])[:10] == MONDAY
        assert str(old.dates[0])[:10] == "2015-01-01"


@pytest.mark.parametrize("source", MARKETS)
def test_length_keeps_the_most_recent_values_of_the_same_path(make_cfg, source) -> None:
    whole = load_series(market_cfg(make_cfg, source, MONDAY, "data.length=null"))
    recent = load_series(market_cfg(make_cfg, source, MONDAY, "data.length=300"))
    for full, tail in zip(whole, recent, strict=True):
        assert len(tail) == 300
        np.testing.assert_array_equal(tail.values, full.values[-300:])
        np.testing.assert_array_equal(tail.dates, full.dates[-300:])


def test_market_is_deterministic_per_seed_with_a_shared_factor(make_cfg) -> None:
    cfg = market_cfg(make_cfg, "market", FRIDAY, "data.num_series=40", "data.length=null")
    first, again = load_series(cfg), load_series(cfg)
    other = load_series(cfg | {"seed": cfg["seed"] + 1})
    assert [s.series_id for s in first] == [f"T{i:04d}" for i in range(1, 41)]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.values, b.values)
    assert not np.allclose(first[0].values, other[0].values)
    returns = np.diff(np.log(np.stack([s.values for s in first])), axis=1)
    correlation = np.corrcoef(returns)[np.triu_indices(40, 1)]
    volatility = returns.std(axis=1)
    assert correlation.mean() > 0.1, "the tickers share a market factor"
    assert volatility.max() > 1.5 * volatility.min(), "volatility varies by ticker"
    # A ticker's parameters do not depend on how many tickers there are.
    fewer = load_series(cfg | {"num_series": 5})
    assert fewer[0].values[0] == first[0].values[0]


def test_as_of_before_the_market_opens_or_too_early_is_one_sentence(make_cfg) -> None:
    with pytest.raises(DataError, match=r"^data.as_of=2014-12-31 is before the market's first"):
        prepare_data(market_cfg(make_cfg, "gbm", "2014-12-31"))
    # A weekend start opens on the Monday after it: an as_of on the Sunday is before that.
    with pytest.raises(DataError) as refused:
        prepare_data(market_cfg(make_cfg, "gbm", "2015-01-04", "data.start_date=2015-01-03"))
    assert str(refused.value).startswith(
        "data.as_of=2015-01-04 is before the market's first business day (2015-01-05, the "
        "business day data.start_date=2015-01-03 rolls to), so there is no data yet"
    )
    with pytest.raises(DataError, match=r"^data.as_of=2015-01-20 leaves 14 business day\(s\)"):
        prepare_data(market_cfg(make_cfg, "gbm", "2015-01-20"))
    # Where data.length caps the days too, the advice names it: no start date alone helps.
    with pytest.raises(DataError) as refused:
        prepare_data(market_cfg(make_cfg, "gbm", "2015-01-20", "data.length=20"))
    assert str(refused.value).endswith(
        "pick a later data.as_of or an earlier data.start_date and raise data.length=20 (or set "
        "it to null), or shorten the windows."
    )
    with pytest.raises(ConfigError, match=r"data.as_of is 'yesterday'; it must be a date written"):
        from stockcast.config.schema import validate_config

        validate_config(make_cfg("data.as_of=yesterday"))


def test_a_panel_too_large_to_hold_is_one_sentence_before_any_value_is_drawn(make_cfg) -> None:
    """data.num_series=10000000 was numpy's MemoryError traceback (232 GiB); data.length does
    not shrink it, since every path is drawn from data.start_date."""
    cfg = market_cfg(make_cfg, "market", FRIDAY, "data.num_series=10000000", "data.length=100")
    with pytest.raises(ConfigError) as refused:
        load_series(cfg)
    assert str(refused.value) == (
        "data.num_series=10000000 tickers over the 2997 business days from "
        f"data.start_date=2015-01-01 to data.as_of={FRIDAY} are 29,970,000,000 values, more than "
        "a market holds (at most 50,000,000); lower data.num_series, or give a later "
        "data.start_date."
    )


def test_a_market_is_not_read_on_a_day_that_has_not_come(
    make_cfg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo (2030 for 2026) registered a champion of invented prices whose data no later run
    could pass until 2030 (data.require_new_data), nor a better model replace."""
    from stockcast.data import calendar

    monkeypatch.setattr(calendar, "today_utc", lambda: MONDAY)
    assert len(prepare_data(market_cfg(make_cfg, "gbm", MONDAY)).splits["test"].values)
    with pytest.raises(DataError) as refused:
        prepare_data(market_cfg(make_cfg, "gbm", "2026-06-30"))
    assert str(refused.value) == (
        f"data.as_of=2026-06-30 is after today ({MONDAY}, UTC), and a market cannot be read on a "
        "day that has not come; leave data.as_of unset for today, or give a past day."
    )


@pytest.mark.parametrize("format", ["csv", "parquet"])
def test_a_file_is_not_read_on_a_day_that_has_not_come(
    make_cfg, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, format: str
) -> None:
    """A market refused a day after today, while a file took it without a word: its rows of
    that day are not out yet, so the same as_of on that day reads other data than the run
    recorded. Refused before the file is read, as a market is before it is drawn."""
    from stockcast.data import calendar

    monkeypatch.setattr(calendar, "today_utc", lambda: MONDAY)
    path = tmp_path / f"prices.{format}"
    frame = write_prices(tmp_path / "prices.csv")
    if format == "parquet":
        frame.set_axis(["date", "id", "value"], axis=1).to_parquet(path)
    columns = ("data.id_column=Ticker",) if format == "csv" else ()
    cfg = plain(make_cfg(f"data={format}", f"data.path={path}", *columns).data)
    assert prepare_data(cfg | {"as_of": MONDAY}).meta["last_date"] == MONDAY
    for read in (path, tmp_path / "not-there"):
        with pytest.raises(DataError) as refused:
            prepare_data(cfg | {"as_of": "2026-06-30", "path": str(read)})
        assert str(refused.value) == (
            f"data.as_of=2026-06-30 is after today ({MONDAY}, UTC), and a file cannot be read "
            "on a day that has not come; leave data.as_of unset for today, or give a past day."
        )


def write_prices(path: Path, dates: bool = True) -> pd.DataFrame:
    days = pd.bdate_range("2026-01-01", periods=200)
    frame = pd.DataFrame(
        {
            "Date": np.tile(days, 2),
            "Ticker": np.repeat(["AAA", "BBB"], len(days)),
            "Close": np.concatenate([100 + np.arange(200.0), 50 + 0.5 * np.arange(200.0)]),
        }
    )
    (frame if dates else frame.drop(columns="Date").iloc[:200]).to_csv(path, index=False)
    return frame


def test_csv_rows_after_as_of_are_ignored_and_the_meta_records_the_window(
    make_cfg, tmp_path: Path
) -> None:
    path = tmp_path / "prices.csv"
    frame = write_prices(path)
    as_of = "2026-08-14"
    cfg = make_cfg("data=csv", f"data.path={path}", "data.id_column=Ticker", f"data.as_of={as_of}")
    prepared = prepare_data(plain(cfg.data))
    kept = frame[frame["Date"] <= as_of]
    meta = PreparedData.load(prepared.save(tmp_path / "prepared")).meta
    assert meta["as_of"] == as_of and meta["rows"] == len(kept) < len(frame)
    assert (meta["first_date"], meta["last_date"]) == ("2026-01-01", as_of)
    assert "as_of_note" not in meta
    cut = load_series(plain(cfg.data))
    np.testing.assert_array_equal(cut[0].values, kept[kept.Ticker == "AAA"].Close.to_numpy())
    later = prepare_data(plain(cfg.data) | {"as_of": "2026-11-30"})
    assert later.meta["rows"] == len(frame) and later.meta["data_hash"] != meta["data_hash"]
    with pytest.raises(DataError, match=r"^data.as_of=2026-01-10 leaves series 'AAA' 7 of its"):
        prepare_data(plain(cfg.data) | {"as_of": "2026-01-10"})


def test_a_file_too_short_whatever_the_day_is_not_blamed_on_as_of(make_cfg, tmp_path) -> None:
    """An as_of that cut rows from a file whose every row is still too few for the windows was
    told to "pick a later data.as_of", which can never help: the windows' refusal says what
    does."""
    path = tmp_path / "prices.csv"
    write_prices(path)
    cfg = make_cfg(
        "data=csv",
        f"data.path={path}",
        "data.id_column=Ticker",
        "data.as_of=2026-09-01",
        "data.previous_time_window=150",
    )
    with pytest.raises(DataError) as refused:
        prepare_data(plain(cfg.data))
    assert "data.as_of" not in str(refused.value)
    assert str(refused.value).endswith(
        "or smaller windows (data.previous_time_window, data.next_time_window)."
    )


def test_a_ticker_too_young_as_of_the_day_is_left_out_of_that_days_panel(
    make_cfg, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Days before BBB listed, and its first weeks, see the panel of that day: AAA alone, with
    BBB named in the log and in meta.json, where they had refused the run."""
    path = tmp_path / "prices.csv"
    frame = write_prices(path)
    listed = pd.Timestamp("2026-06-01")
    frame = frame[(frame.Ticker == "AAA") | (frame.Date >= listed)]
    frame.to_csv(path, index=False)
    cfg = plain(make_cfg("data=csv", f"data.path={path}", "data.id_column=Ticker").data)
    needs = min_series_length(WindowSizes(10, 5), cfg["split"])
    for day, known in (("2026-05-29", 0), ("2026-06-03", 3)):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="stockcast.data.sources"):
            prepared = prepare_data(cfg | {"as_of": day})
        assert prepared.meta["series_ids"] == ["AAA"]
        assert prepared.meta["left_out_series"] == {"BBB": known}
        # What rebuilds a model's training data later (input=test_split) leaves it out too.
        assert data_hash(known_data(cfg | {"as_of": day}).series) == prepared.meta["data_hash"]
        assert (
            f"1 series hold fewer than the {needs} values the windows and split need as of "
            f"{day} (listed after it or too recently), so that day's panel leaves them out: "
            f"BBB ({known} rows)"
        ) in caplog.text
    # A daily run's file ends on its day: nothing is cut, and the young ticker still waits.
    daily = tmp_path / "daily.csv"
    frame[frame.Date <= pd.Timestamp("2026-06-12")].to_csv(daily, index=False)
    today = prepare_data(cfg | {"path": str(daily), "as_of": "2026-06-12"}).meta
    assert (today["series_ids"], today["left_out_series"]) == (["AAA"], {"BBB": 10})
    # A model trained that day rebuilds its test split (input=test_split) from the same panel.
    from stockcast.prediction.inputs import build_input

    metadata = {
        "data_source": today["source"],
        "data_hash": today["data_hash"],
        "previous_time_window": 10,
        "next_time_window": 5,
    }
    rebuilt = build_input({"kind": "test_split", "path": None, "series_id": None}, metadata)
    assert rebuilt.details["series_id"] == "AAA" and len(rebuilt) > 10
    # Once it holds enough values it joins; no series known at all is still refused.
    assert prepare_data(cfg | {"as_of": "2026-09-30"}).meta["series_ids"] == ["AAA", "BBB"]
    assert "left_out_series" not in prepare_data(cfg | {"as_of": "2026-09-30"}).meta
    with pytest.raises(DataError, match=r"leaves series 'AAA' 0 of its"):
        load_series(cfg | {"as_of": "2025-12-31"}, min_values=20)


def test_a_test_split_of_a_ticker_the_models_day_left_out_says_so(make_cfg, tmp_path: Path) -> None:
    """input=test_split input.series_id=BBB of a model whose day left young BBB out of its panel:
    'not in the data' misled, as the file holds BBB; it says why BBB has no test split."""
    from stockcast.prediction.inputs import build_input

    path = tmp_path / "prices.csv"
    frame = write_prices(path)
    frame = frame[(frame.Ticker == "AAA") | (frame.Date >= pd.Timestamp("2026-06-01"))]
    frame.to_csv(path, index=False)
    cfg = plain(make_cfg("data=csv", f"data.path={path}", "data.id_column=Ticker").data)
    meta = prepare_data(cfg | {"as_of": "2026-06-03"}).meta
    metadata = {
        "data_source": meta["source"],
        "data_hash": meta["data_hash"],
        "previous_time_window": 10,
        "next_time_window": 5,
    }
    with pytest.raises(ConfigError) as refused:
        build_input({"kind": "test_split", "path": None, "series_id": "BBB"}, metadata)
    assert str(refused.value) == (
        "input.series_id 'BBB' was left out of the model's training data as too short as of "
        "2026-06-03 (3 rows), so it has no test split; pick one of 'AAA', or forecast it with "
        "input=csv."
    )


def test_a_stopped_short_member_is_refused_by_name_beside_a_young_ticker(
    make_cfg, tmp_path: Path
) -> None:
    """A ticker listed after the day (BBB, no rows yet) is left out while a mistyped one that
    stopped early (TYPO) is refused: the refusal names TYPO, where it named BBB with 0 points,
    a ticker the file holds 200 rows of and that day's panel would have left out."""
    path = tmp_path / "prices.csv"
    frame = write_prices(path)
    frame = frame[(frame.Ticker == "AAA") | (frame.Date >= pd.Timestamp("2026-06-01"))]
    typo = pd.DataFrame(
        {"Date": frame.Date.iloc[:5], "Ticker": "TYPO", "Close": [1.0, 2.0, 3.0, 4.0, 5.0]}
    )
    pd.concat([frame, typo]).to_csv(path, index=False)
    cfg = plain(make_cfg("data=csv", f"data.path={path}", "data.id_column=Ticker").data)
    with pytest.raises(DataError, match=r"^series 'TYPO' has 5 points, so the train split"):
        prepare_data(cfg | {"as_of": "2026-05-29"})


def test_a_release_lag_hides_rows_until_they_are_known(make_cfg, tmp_path: Path) -> None:
    """Monthly values dated on the first of their month are known once the month is over: with
    release_lag_days=31 the run of 2024-03-15 sees February's value, not March's."""
    path = tmp_path / "monthly.csv"
    months = pd.date_range("2019-01-01", "2024-06-01", freq="MS")
    pd.DataFrame({"Date": months, "Close": 100 + np.arange(len(months))}).to_csv(path, index=False)
    cfg = plain(make_cfg("data=csv", f"data.path={path}", "data.as_of=2024-03-15").data)
    assert str(load_series(cfg)[0].dates[-1])[:10] == "2024-03-01"
    lagged = cfg | {"release_lag_days": 31}
    (series,) = load_series(lagged)
    assert str(series.dates[-1])[:10] == "2024-02-01"
    meta = prepare_data(lagged).meta
    assert (meta["last_date"], meta["release_lag_days"]) == ("2024-02-01", 31)
    assert "release_lag_days" not in prepare_data(cfg).meta
    with pytest.raises(
        DataError,
        match=r"^data.as_of=2019-03-15 with data.release_lag_days=31 \(rows dated up to "
        r"2019-02-12\) leaves the data 2 of its 66 rows",
    ):
        load_series(lagged | {"as_of": "2019-03-15"}, min_values=10)
    # A lag reaching back before nanosecond dates begin (1677) keeps nothing, never everything.
    with pytest.raises(DataError, match=r"leaves the data 0 of its 66 rows.*a smaller data"):
        load_series(lagged | {"release_lag_days": 1_000_000})
    from stockcast.config.schema import validate_config

    with pytest.raises(ConfigError, match="release_lag_days"):
        validate_config(make_cfg("data=csv", f"data.path={path}", "data.release_lag_days=-1"))


def test_rows_the_as_of_cut_drops_are_not_checked(make_cfg, tmp_path: Path) -> None:
    """An official download lists the newest month before its value is out (an empty cell), and
    a replay runs as of days before rows a later fix repeated: the run as of an earlier day
    used to be refused for rows it never reads. Rows it keeps are checked as ever."""
    path = tmp_path / "monthly.csv"
    months = pd.date_range("2019-01-01", "2025-01-01", freq="MS")
    frame = pd.DataFrame({"Date": months, "Sales": (100 + np.arange(len(months))).astype(object)})
    frame.loc[len(frame) - 1, "Sales"] = None
    frame = pd.concat([frame, frame.iloc[[40]]])  # 2022-05-01 twice
    frame.to_csv(path, index=False)
    cfg = plain(
        make_cfg(
            "data=csv", f"data.path={path}", "data.value_column=Sales", "data.as_of=2022-04-20"
        ).data
    )
    (series,) = load_series(cfg)
    assert str(series.dates[-1])[:10] == "2022-04-01" and np.isfinite(series.values).all()
    lagged = cfg | {"as_of": "2025-01-20", "release_lag_days": 31}
    with pytest.raises(DataError, match=r"rows on a repeated date \(2022-05-01"):
        load_series(lagged)
    with pytest.raises(DataError, match=r"1 missing value\(s\) in column 'Sales' at data row"):
        load_series(lagged | {"as_of": "2025-02-20", "release_lag_days": 0})


def test_a_file_without_dates_is_used_whole_and_the_meta_says_why(make_cfg, tmp_path) -> None:
    path = tmp_path / "undated.csv"
    write_prices(path, dates=False)
    cfg = make_cfg(
        "data=csv", f"data.path={path}", "data.date_column=null", "data.as_of=2026-01-02"
    )
    meta = prepare_data(plain(cfg.data)).meta
    assert meta["rows"] == 200 and meta["first_date"] is None and meta["last_date"] is None
    assert "as_of could not cut it" in meta["as_of_note"]


def test_parquet_long_table_round_trips_like_the_csv(make_cfg, tmp_path: Path) -> None:
    frame = write_prices(tmp_path / "prices.csv")
    long = frame.rename(columns={"Date": "date", "Ticker": "id", "Close": "value"})
    long.sample(frac=1.0, random_state=0).to_parquet(tmp_path / "prices.parquet")
    from_csv = read_csv_series(tmp_path / "prices.csv", "Date", "Close", "Ticker")
    from_parquet = read_table_series(tmp_path / "prices.parquet", "date", "value", "id")
    assert [s.series_id for s in from_parquet] == ["AAA", "BBB"]
    for a, b in zip(from_csv, from_parquet, strict=True):
        np.testing.assert_array_equal(a.values, b.values)
        np.testing.assert_array_equal(a.dates, b.dates)
    cfg = make_cfg(
        "data=parquet", f"data.path={tmp_path / 'prices.parquet'}", "data.as_of=2026-08-14"
    )
    meta = prepare_data(plain(cfg.data)).meta
    assert meta["source"]["source"] == "parquet" and meta["last_date"] == "2026-08-14"
    # Saved with the dates, or the dates and ids, as the frame's index (df.set_index("date")):
    # the file holds them as columns, and they are read as such; an index kept as a column
    # too, or named like one, is left out.
    renamed = long.set_axis(pd.Index(range(len(long)), name="value"))
    saved = [long.set_index(["date"]), long.set_index(["date", "id"])]
    saved += [long.set_index(["date", "id"], drop=False), renamed]
    for number, frame in enumerate(saved):
        indexed = tmp_path / f"indexed_{number}.parquet"
        frame.to_parquet(indexed)
        from_index = read_table_series(indexed, "date", "value", "id")
        for a, b in zip(from_csv, from_index, strict=True):
            np.testing.assert_array_equal(a.values, b.values)
            np.testing.assert_array_equal(a.dates, b.dates)


def test_table_format_problems_are_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "prices.txt").write_text("Date,Close\n2026-01-01,1\n")
    with pytest.raises(DataError, match=r"cannot tell the format of .*prices.txt.*set data.format"):
        read_table_series(tmp_path / "prices.txt", "Date", "Close")
    assert len(read_table_series(tmp_path / "prices.txt", "Date", "Close", format="csv")[0]) == 1
    (tmp_path / "broken.parquet").write_text("not parquet")
    with pytest.raises(DataError, match=r"broken.parquet is not a readable Parquet file"):
        read_table_series(tmp_path / "broken.parquet", "date", "value")
    # A CSV read as Parquet (data=parquet data.path=prices.csv) is told how to read a CSV.
    with pytest.raises(DataError) as refused:
        read_table_series(tmp_path / "prices.txt", "Date", "Close", format="parquet")
    assert str(refused.value) == (
        f"Parquet file {tmp_path / 'prices.txt'} is not a readable Parquet file (it does not "
        "begin with the bytes PAR1 that every Parquet file begins with); if it is a CSV file, "
        "use data=csv, or set data.format=csv."
    )
    (tmp_path / "cut.parquet").write_bytes(b"PAR1 cut short")
    with pytest.raises(DataError, match=r"cut.parquet is not a readable Parquet file \(\w"):
        read_table_series(tmp_path / "cut.parquet", "date", "value")


def test_a_pipeline_run_without_new_data_stops_in_prepare(seeded_tmp: Path) -> None:
    day = ("data.as_of=2026-06-26", "data.require_new_data=true", *LENIENT_GATE)
    first = run_local_pipeline(seeded_tmp, *PIPELINE_FAST, *day)
    assert first.value["registered"], first.value["message"]
    tags = ModelRegistry(f"sqlite:///{seeded_tmp}/mlruns.db", MODEL).versions()[0].tags
    assert tags[AS_OF_TAG] == "2026-06-26" and len(tags[HASH_TAG]) == 16
    for weekend in ("2026-06-26", "2026-06-28"):
        with pytest.raises(StockcastError) as refused:
            run_local_pipeline(seeded_tmp, *PIPELINE_FAST, *day, f"data.as_of={weekend}")
        message = str(refused.value)
        assert message.startswith("step 'prepare' failed: no new data: it ends on 2026-06-26 (")
        assert f"of {MODEL} version 1's data, and no more of its series end on that day (1) " in (
            message
        )
    # The next business day is new data: prepare goes through and records it.
    from tests.conftest import compose_config

    cfg = compose_config("pipeline", [*PIPELINE_FAST, *day, "data.as_of=2026-06-29"], seeded_tmp)
    meta = json.loads((run_prepare(cfg, seeded_tmp / "next") / "meta.json").read_text())
    assert (meta["as_of"], meta["last_date"], meta["rows"]) == ("2026-06-29", "2026-06-29", 400)


def test_market_ranges_are_checked_by_the_schema(make_cfg) -> None:
    from stockcast.config.schema import validate_config

    with pytest.raises(ConfigError) as caught:
        validate_config(make_cfg("data=market", "data.volatility_range=[0.03,0.01]"))
    assert str(caught.value) == (
        "data.volatility_range is [0.03, 0.01]; it must be [low, high] with 0 < low <= high."
    )


def test_the_last_date_tag_wins_over_as_of(monkeypatch: pytest.MonkeyPatch) -> None:
    from stockcast.registry import freshness

    metadata = {"data_source": {"as_of": "2026-06-28"}, "data_last_date": "2026-06-26"}
    assert freshness.data_tags(metadata, "abc") == {
        HASH_TAG: "abc",
        AS_OF_TAG: "2026-06-28",
        freshness.LAST_DATE_TAG: "2026-06-26",
    }
    registry = {"model_name": "m"}
    previous = freshness.PreviousData(3, "data_last_date", "2026-06-26", None)
    monkeypatch.setattr(freshness, "previous_data", lambda cfg: previous)
    freshness.check_new_data({"last_date": "2026-06-29", "as_of": "2026-06-29"}, registry)
    with pytest.raises(DataError, match=r"not after 2026-06-26, the last date of m version 3's"):
        freshness.check_new_data({"last_date": "2026-06-26", "as_of": "2026-06-28"}, registry)
    lagged = {"last_date": "2026-06-26", "as_of": "2026-07-03", "release_lag_days": 7}
    with pytest.raises(DataError, match=r"\(data.as_of=2026-07-03, data.release_lag_days=7\)"):
        freshness.check_new_data(lagged, registry)
    monkeypatch.setattr(freshness, "previous_data", lambda cfg: None)
    freshness.check_new_data({"last_date": "2020-01-01", "as_of": "2020-01-01"}, registry)


def test_new_data_is_judged_against_the_latest_end_of_any_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A rerun of an earlier day (data.require_new_data=false) registers a version whose data
    ends before its predecessor's: the day after it is still judged against the later end, not
    the newest version's, which let a run register again on data a version already had."""
    from stockcast.registry import freshness
    from stockcast.registry.store import ModelRegistry
    from stockcast.registry.versions import PENDING, PROMOTION_TAG, VersionInfo

    def version(number: int, **tags: str) -> VersionInfo:
        return VersionInfo(version=number, aliases=(), tags=tags, run_id="", source="")

    held = [
        version(4, data_last_date="2026-03-02", data_series_at_last_date="1"),
        version(3, data_last_date="2026-03-04", data_series_at_last_date="1"),
        version(2, data_as_of="2026-03-03"),
        version(1),
    ]

    class Held:
        def versions(self) -> list[VersionInfo]:
            return held

    monkeypatch.setattr(ModelRegistry, "from_config", staticmethod(lambda cfg: Held()))
    registry = {"model_name": "m", "tracking_uri": f"sqlite:///{tmp_path}/mlruns.db"}
    (tmp_path / "mlruns.db").touch()
    assert freshness.previous_data(registry) == freshness.PreviousData(
        3, freshness.LAST_DATE_TAG, "2026-03-04", 1
    )
    with pytest.raises(DataError, match="not after 2026-03-04, the last date of m version 3's"):
        freshness.check_new_data({"last_date": "2026-03-04", "as_of": "2026-03-04"}, registry)
    freshness.check_new_data({"last_date": "2026-03-05", "as_of": "2026-03-05"}, registry)
    # On the same day, the version whose data had more series reach it, older or not.
    held[0] = version(4, data_last_date="2026-03-04", data_series_at_last_date="1")
    held[1] = version(3, data_last_date="2026-03-04", data_series_at_last_date="3")
    assert freshness.previous_data(registry).version == 3
    held[:] = [version(1)]
    assert freshness.previous_data(registry) is None
    # A day registered by a run killed inside its register step: the rerun's hint to train
    # with data.require_new_data=false registered the day a second time.
    held[:] = [version(5, data_last_date="2026-03-06", **{PROMOTION_TAG: PENDING})]
    with pytest.raises(DataError) as refused:
        freshness.check_new_data({"last_date": "2026-03-06", "as_of": "2026-03-06"}, registry)
    assert str(refused.value).startswith(
        "no new data: it ends on 2026-03-06 (data.as_of=2026-03-06), not after 2026-03-06, the "
        "last date of m version 5's data, which a register step stopped before its promotion "
        "to champion was settled; run the register step alone on the run that registered it"
    )
    assert str(refused.value).endswith(
        "data.require_new_data=false would register this day a second time."
    )


def test_a_panels_late_row_of_the_same_day_is_new_data(
    make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run at 18:00 saw AAA through Friday and BBB through Thursday; BBB's Friday row came
    at 20:00, in a file that appends rows and in one that keeps each ticker's latest 150."""
    from stockcast.registry import freshness

    path = tmp_path / "prices.csv"
    frame = write_prices(path)
    friday = pd.Timestamp("2026-06-26")
    late = (frame.Ticker == "BBB") & (frame.Date == friday)
    day = ["data=csv", f"data.path={path}", "data.id_column=Ticker", "data.as_of=2026-06-26"]
    frame[~late].to_csv(path, index=False)
    at_six = prepare_data(plain(make_cfg(*day).data)).meta
    assert (at_six["last_date"], at_six["series_at_last_date"]) == ("2026-06-26", 1)
    tags = freshness.data_tags({"data_series_at_last_date": 1, "data_last_date": "2026-06-26"}, "h")
    assert tags[freshness.SERIES_AT_END_TAG] == "1"
    previous = freshness.PreviousData(3, freshness.LAST_DATE_TAG, "2026-06-26", 1)
    monkeypatch.setattr(freshness, "previous_data", lambda cfg: previous)
    registry = {"model_name": "m"}
    kept = frame[frame.Date <= friday]
    for later in (kept, kept.groupby("Ticker").tail(150)):
        later.to_csv(path, index=False)
        meta = prepare_data(plain(make_cfg(*day).data)).meta
        assert meta["series_at_last_date"] == 2
        freshness.check_new_data(meta, registry)
    with pytest.raises(DataError) as caught:
        freshness.check_new_data(at_six, registry)
    assert str(caught.value) == (
        "no new data: it ends on 2026-06-26 (data.as_of=2026-06-26), not after 2026-06-26, the "
        "last date of m version 3's data, and no more of its series end on that day (1) than "
        "then (1); run again when newer data has arrived, register other data under a "
        "registry.model_name of its own, or set data.require_new_data=false."
    )
    # Data ending earlier is never newer; a version from before the tag, or one judged by its
    # as_of, is compared by date alone.
    with pytest.raises(DataError, match="the last date of m version 3's data; run again"):
        freshness.check_new_data({"last_date": "2026-06-25", "series_at_last_date": 9}, registry)
    for older in (
        freshness.PreviousData(3, freshness.LAST_DATE_TAG, "2026-06-26", None),
        freshness.PreviousData(3, freshness.AS_OF_TAG, "2026-06-26", 1),
    ):
        monkeypatch.setattr(freshness, "previous_data", lambda cfg, older=older: older)
        with pytest.raises(DataError, match="not after 2026-06-26"):
            freshness.check_new_data(meta, registry)
