"""Table files as users have them: malformed CSVs are refused in one sentence naming the file and
line, numeric dates read as the years (or months, days) they are, and yearly data goes through
the whole pipeline with future dates on the calendar."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockcast.config.compose import plain
from stockcast.config.schema import validate_config
from stockcast.data.prepared import prepare_data
from stockcast.data.sources import SOURCES, read_csv_series, read_table_series
from stockcast.errors import ConfigError, DataError
from stockcast.paths import project_path
from stockcast.prediction.input_tables import read_input_table
from stockcast.prediction.task import run_predict
from stockcast.prediction.zoned_dates import future_dates
from stockcast.registry.ledger import LEDGER_FILE
from tests.conftest import (
    LENIENT_GATE,
    isolated_overrides,
    run_local_pipeline,
    run_task,
    table_refusal,
)

HEADER = b"Date,Close\n"
ROWS = b"2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n"

MALFORMED: dict[str, tuple[bytes, str]] = {
    # name: (file content, the sentence after "CSV file <path> ")
    "an unterminated quote": (
        HEADER + b'2024-01-01,1\n2024-01-02,"2\n2024-01-03,3\n',
        'opens a quoted field on line 3 that is never closed; add the closing quote (") or '
        "remove the stray one.",
    ),
    "a row with an extra field": (
        HEADER + b"2024-01-01,1\n2024-01-02,2\n2024-01-03,3,9\n",
        "has 3 fields on line 4 where its header has 2; remove the extra field(s), or quote a "
        "value that holds a comma.",
    ),
    # pandas would read this one as an index column and report "1 missing value".
    "an extra field in the first row": (
        HEADER + b"2024-01-01,1,9\n2024-01-02,2\n2024-01-03,3\n",
        "has 3 fields on line 2 where its header has 2; remove the extra field(s), or quote a "
        "value that holds a comma.",
    ),
    "a short row": (
        HEADER + b"2024-01-01,1\n\n2024-01-02\n2024-01-03,3\n",
        "has 1 field on line 4 where its header has 2; complete the row or remove it.",
    ),
    "a byte that is not UTF-8": (
        HEADER + b"2024-01-01,1\n2024-01-02,2\xff\n",
        "is not UTF-8 text (line 3 holds the byte 0xff); save it as UTF-8 and try again.",
    ),
    "Latin-1 text": (
        b"Date,Close,Note\n2024-01-01,1,caf\xe9\n",
        "is not UTF-8 text (line 2 holds the byte 0xe9); save it as UTF-8 and try again.",
    ),
    # pandas cut the value at the NUL byte: 2.5 was read as 2.0, without a word.
    "a NUL byte inside a value": (
        HEADER + b"2024-01-01,1\n2024-01-02,2.\x005\n2024-01-03,3\n",
        "holds a NUL byte (0x00) on line 3, which no CSV text holds (its value would be cut "
        "short there); save the file as UTF-8 text, or remove the byte.",
    ),
    # UTF-8 has no byte it refuses there: this was "1 field on line 3 where its header has 2".
    "UTF-16 text without a byte order mark": (
        "Date,Close\n2024-01-01,1\n".encode("utf-16-le"),
        "holds a NUL byte (0x00) on line 1, which no CSV text holds (its value would be cut "
        "short there); save the file as UTF-8 text, or remove the byte.",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_csv_is_one_sentence_naming_the_line(case: str, tmp_path: Path) -> None:
    content, sentence = MALFORMED[case]
    path = tmp_path / "prices.csv"
    path.write_bytes(content)
    with pytest.raises(DataError) as refused:
        read_csv_series(path, "Date", "Close", key="input")
    assert str(refused.value) == f"CSV file {path} {sentence}"


def test_a_well_formed_csv_with_quotes_blank_lines_and_a_bom_reads_whole(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_bytes(b'\xef\xbb\xbfDate,Close,Note\n2024-01-01,1,"a, ""b"""\n\n2024-01-02,2,\n')
    (series,) = read_csv_series(path, "Date", "Close")
    assert series.values.tolist() == [1.0, 2.0]


def test_a_missing_value_is_still_reported_as_one(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_bytes(HEADER + b"2024-01-01,1\n2024-01-02,\n2024-01-03,3\n")
    with pytest.raises(DataError, match=r"1 missing value\(s\) in column 'Close' at data row"):
        read_csv_series(path, "Date", "Close")


TOO_SMALL = (
    "a decimal too small for a float (not 0, yet it reads as 0); rescale the prices, e.g. "
    "multiply them by a power of 10."
)


@pytest.mark.parametrize(
    ("name", "tiny", "separator", "decimal"),
    [
        ("prices.csv", "1e-400", ",", "."),
        ("prices.csv.gz", f"0.{'0' * 400}1", ",", "."),
        ("prices.csv", "-2,5E-999", ";", ","),
    ],
)
def test_a_decimal_too_small_for_a_float_is_refused_by_row_not_read_as_0(
    tmp_path: Path, name: str, tiny: str, separator: str, decimal: str
) -> None:
    """pandas reads `1e-400` as 0.0: a price model refused "0 on 2024-01-02", a value the user
    never wrote. Training data and predict's input refuse it as serving does, by its row and
    date; a 0 written `0e-400` is still read as 0."""
    path = tmp_path / name
    table = pd.DataFrame(
        {
            "Ticker": "AAA",
            "Date": ["2024-01-01", "2024-01-02", "2024-01-03"],
            "Close": ["1", tiny, "0"],
        }
    )
    table.to_csv(path, sep=separator, index=False)
    settings = {"separator": separator, "decimal": decimal}
    expected = (
        f"CSV file {path} holds {tiny!r} in column 'Close' at data row 2 (series 'AAA', "
        f"2024-01-02), {TOO_SMALL}"
    )
    with pytest.raises(DataError) as caught:
        read_table_series(path, "Date", "Close", "Ticker", **settings)
    assert str(caught.value) == expected
    cfg = {"path": str(path), "date_column": "Date", "value_column": "Close", **settings}
    with pytest.raises(DataError) as caught:
        read_input_table({**cfg, "id_column": "Ticker"})
    assert str(caught.value) == expected
    table.loc[1, "Close"] = "0e-400"
    table.to_csv(path, sep=separator, index=False)
    (series,) = read_table_series(path, "Date", "Close", "Ticker", **settings)
    assert series.values.tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("name", ["prices.csv", "prices.parquet"])
def test_a_directory_as_the_path_says_it_is_a_directory(tmp_path: Path, name: str) -> None:
    folder = tmp_path / name
    folder.mkdir()
    kind = "CSV" if name.endswith("csv") else "Parquet"
    assert table_refusal(folder, "Date", "Close", key="data") == (
        f"{kind} file {folder} is a directory, not a file; set data.path to the file itself."
    )


def test_prepare_names_the_file_and_line(tmp_path: Path, make_cfg) -> None:
    path = tmp_path / "prices.csv"
    path.write_bytes(HEADER + ROWS + b"2024-01-04,4,4\n")
    cfg = make_cfg("data=csv", f"data.path={path}")
    with pytest.raises(DataError, match=f"^CSV file {path} has 3 fields on line 5 "):
        prepare_data(plain(cfg.data))


def test_a_data_path_under_home_is_read_from_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`data.path='~/prices.csv'` (quoted, Hydra passes the `~` on as typed) is the file in the
    home folder, as a shell reads it: it was refused as a file that does not exist."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "prices.csv").write_bytes(HEADER + ROWS)
    (series,) = read_csv_series("~/prices.csv", "Date", "Close")
    assert len(series) == len(ROWS.splitlines())
    # Where a model trained on it finds it again (predict's input=test_split).
    assert project_path("~/prices.csv") == tmp_path / "prices.csv"


# ---- numeric and quarterly dates ----------------------------------------------------------


def dates_of(tmp_path: Path, cells: list[str], suffix: str = "csv") -> list[str]:
    path = tmp_path / f"dated.{suffix}"
    frame = pd.DataFrame({"when": cells, "value": np.arange(1.0, len(cells) + 1)})
    if suffix == "csv":
        path.write_text("when,value\n" + "".join(f"{c},{v}\n" for c, v in frame.values))
    else:
        frame.assign(when=pd.to_numeric(frame["when"])).to_parquet(path)
    (series,) = read_table_series(path, "when", "value")
    return [str(day) for day in series.dates.astype("datetime64[D]")]


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["1700", "1701", "1703"], ["1700-01-01", "1701-01-01", "1703-01-01"]),
        (["199011", "199012", "199101"], ["1990-11-01", "1990-12-01", "1991-01-01"]),
        (["19900131", "19900201"], ["1990-01-31", "1990-02-01"]),
        (["1990Q4", "1991-Q1", "1991q2"], ["1990-10-01", "1991-01-01", "1991-04-01"]),
        # As statistics offices write them: ONS, the quarter first, IMF and Eurostat's months.
        (["1959 Q1", "1959 Q2"], ["1959-01-01", "1959-04-01"]),
        (["Q4 1959", "Q1 1960"], ["1959-10-01", "1960-01-01"]),
        (["1990M01", "1990-M02", "1990m12"], ["1990-01-01", "1990-02-01", "1990-12-01"]),
        # Without the leading zero pandas read 1990-m1 as one second past midnight of 1990.
        (["1990-m1", "1990M2", "1990 M10"], ["1990-01-01", "1990-02-01", "1990-10-01"]),
        (["1959:Q1", "1959:Q2"], ["1959-01-01", "1959-04-01"]),
        (["M11 1990", "m12 1990"], ["1990-11-01", "1990-12-01"]),
    ],
)
def test_numbers_and_quarters_read_as_the_dates_they_write(
    tmp_path: Path, cells: list[str], expected: list[str]
) -> None:
    assert dates_of(tmp_path, cells) == expected


def test_a_row_without_a_date_says_so_and_an_unreadable_one_offers_the_forms(
    tmp_path: Path,
) -> None:
    """A spreadsheet's empty last rows read as "an unreadable date nan", and the advice to drop
    the date column would have thrown every date away."""
    path = tmp_path / "export.csv"
    # A spreadsheet's empty rows at the end are no data; one between rows is refused.
    path.write_text("when,value\n2024-01-01,1\n2024-01-02,2\n,\n,\n")
    (series,) = read_table_series(path, "when", "value")
    assert list(series.values) == [1.0, 2.0]
    path.write_text("when,value\n2024-01-01,1\n2024-01-02,2\n , \n\t,  \n")  # spaces only
    (series,) = read_table_series(path, "when", "value")
    assert list(series.values) == [1.0, 2.0]
    path.write_text("when,value\n2024-01-01,1\n,\n2024-01-03,3\n,4\n")
    assert table_refusal(path, "when", "value") == (
        f"CSV file {path} has no date in column 'when' at data row 2 (1 more row(s) without "
        "one); give each row its date, or delete the rows that hold nothing."
    )
    with pytest.raises(DataError) as refused:
        dates_of(tmp_path, ["2024-01-01", "sometime"])
    assert str(refused.value).endswith(
        "data row 2; write it as a date (1990-04-15, 04/15/1990, 1990Q2 or 1990M04, every row in "
        "one form), or set data.date_column=null to read the values without their dates."
    )


def test_a_parquet_year_column_reads_as_years(tmp_path: Path) -> None:
    assert dates_of(tmp_path, ["1821", "1822"], "parquet") == ["1821-01-01", "1822-01-01"]


def test_years_spanning_three_centuries_are_not_one_instant(tmp_path: Path) -> None:
    """Their span in nanoseconds overflows int64: 1700 to 1999 wrapped to a negative span and
    was refused as every date falling on 1700-01-01."""
    years = [str(year) for year in range(1700, 2000)]
    dates = dates_of(tmp_path, years)
    assert dates[0] == "1700-01-01" and dates[-1] == "1999-01-01" and len(dates) == 300


def test_times_whose_utc_offset_changes_with_daylight_saving_read_in_utc(tmp_path: Path) -> None:
    """New York closes are 16:00-05:00 in winter and 16:00-04:00 in summer: pandas parses such a
    column to one Timestamp per offset, which stopped the read with a pandas AttributeError."""
    closes = pd.bdate_range("2020-03-02", "2020-03-13") + pd.Timedelta(hours=16)
    zoned = closes.tz_localize("America/New_York")
    path = tmp_path / "ny.csv"
    path.write_text(
        "Date,Close\n" + "".join(f"{t.isoformat()},{i + 1}\n" for i, t in enumerate(zoned))
    )
    assert "-05:00" in path.read_text() and "-04:00" in path.read_text()
    (series,) = read_table_series(path, "Date", "Close")
    expected = zoned.tz_convert("UTC").tz_localize(None)
    np.testing.assert_array_equal(series.dates, expected.to_numpy("datetime64[ns]"))
    # Every close stays on its own business day in UTC, an hour apart across the change.
    assert {pd.Timestamp(d).hour for d in series.dates} == {20, 21}


def test_times_with_their_zone_in_brackets_read_as_their_offsets_say(tmp_path: Path) -> None:
    """java.time and Temporal write a time's zone after its offset, in brackets (RFC 9557):
    such a column was refused as unreadable, its advice naming only dates without times."""
    closes = pd.bdate_range("2024-03-04", "2024-03-15") + pd.Timedelta(hours=16)
    zoned = closes.tz_localize("America/New_York")
    path = tmp_path / "ny.csv"
    cells = [f"{t.isoformat()}[America/New_York]" for t in zoned]
    path.write_text("Date,Close\n" + "".join(f"{c},{i + 1}\n" for i, c in enumerate(cells)))
    assert "-05:00[America" in path.read_text() and "-04:00[America" in path.read_text()
    (series,) = read_table_series(path, "Date", "Close")
    expected = zoned.tz_convert("UTC").tz_localize(None).to_numpy("datetime64[ns]")
    np.testing.assert_array_equal(series.dates, expected)
    # The repeated hour as clocks go back is two times, told apart by their offsets; Z gives
    # the time in UTC; the critical flag (!) is read too.
    fold = [
        "2024-11-03T01:30:00-04:00[America/New_York]",
        "2024-11-03T01:30:00-05:00[!America/New_York]",
    ]
    assert dates_of(tmp_path, fold) == ["2024-11-03", "2024-11-03"]
    (series,) = read_table_series(tmp_path / "dated.csv", "when", "value")
    assert list(np.diff(series.dates)) == [np.timedelta64(1, "h")]
    assert dates_of(tmp_path, ["2024-03-08T23:30Z[Asia/Tokyo]", "2024-03-09T23:30Z[UTC]"]) == [
        "2024-03-08",
        "2024-03-09",
    ]


def test_times_with_tags_after_their_zone_or_a_lowercase_t_and_z_read_as_written(
    tmp_path: Path,
) -> None:
    """RFC 9557 allows `[key=value]` tags after the zone (a calendar: `[u-ca=gregory]`) and
    RFC 3339 a lowercase t and z: such times were refused as a bracket that is not read."""
    cells = [
        "2024-03-08t09:30:00-05:00[America/New_York][u-ca=gregory]",
        "2024-03-11T09:30:00-04:00[!America/New_York][!u-ca=iso8601][x-note=a-b1]",
        "2024-03-12T13:30:00z[u-ca=hebrew]",
        "2024-03-13t13:30:00z[Europe/London][!u-ca=gregory]",
    ]
    assert dates_of(tmp_path, cells) == ["2024-03-08", "2024-03-11", "2024-03-12", "2024-03-13"]
    (series,) = read_table_series(tmp_path / "dated.csv", "when", "value")
    expected = ["2024-03-08T14:30", "2024-03-11T13:30", "2024-03-12T13:30", "2024-03-13T13:30"]
    np.testing.assert_array_equal(series.dates, np.array(expected, dtype="datetime64[ns]"))


def test_a_critical_tag_other_than_the_iso_calendar_is_one_sentence(tmp_path: Path) -> None:
    """A critical tag (`!`) is one a reader must understand or refuse (RFC 9557)."""
    cells = [
        "2024-03-08T09:30:00-05:00[America/New_York][!u-ca=iso8601]",
        "2024-03-11T09:30:00-04:00[America/New_York][!u-ca=hebrew]",
    ]
    with pytest.raises(DataError) as refused:
        dates_of(tmp_path, cells)
    assert str(refused.value) == (
        f"CSV file {tmp_path / 'dated.csv'} writes the time {cells[1]!r} in column 'when' at data "
        "row 2 with the critical tag [!u-ca=hebrew], which is not read: only the ISO calendar's "
        "([!u-ca=iso8601] or [!u-ca=gregory]) is; drop the tag or its '!'."
    )


@pytest.mark.parametrize(
    ("cells", "why"),
    [
        (
            [
                "2024-03-08T09:30-05:00[America/New_York]",
                "2024-03-11T09:30-05:00[America/New_York]",
            ],
            "with the UTC offset -05:00, but America/New_York is -04:00 at that time; correct the "
            "offset or the zone.",
        ),
        (
            ["2024-03-08T09:30-05:00[America/NewYork]", "2024-03-11T09:30-04:00[America/NewYork]"],
            "with 'America/NewYork' in brackets, which names no time zone; write the zone's IANA "
            "name (America/New_York), or leave the bracket out: the UTC offset says the time.",
        ),
        (
            ["2024-03-08T09:30[America/New_York]", "2024-03-11T09:30[America/New_York]"],
            "with a bracket that is not read: only a time with its UTC offset, then its zone in "
            "brackets (2024-03-08T09:30:00-05:00[America/New_York]), is; write it so, or with its "
            "UTC offset alone (2024-03-08T09:30:00-05:00).",
        ),
    ],
)
def test_a_zone_in_brackets_that_its_time_does_not_bear_out_is_one_sentence(
    tmp_path: Path, cells: list[str], why: str
) -> None:
    """Which of a zone and an offset that disagree is wrong is not known, so neither wins."""
    with pytest.raises(DataError) as refused:
        dates_of(tmp_path, cells)
    row = 2 if "-04:00" in why else 1
    assert str(refused.value) == (
        f"CSV file {tmp_path / 'dated.csv'} writes the time {cells[row - 1]!r} in column 'when' "
        f"at data row {row} {why}"
    )


@pytest.mark.parametrize(
    "cells",
    [
        ["2024-01-01T16:00:00", "2024-01-02T16:00:00", "2024-01-03T16:00:00+00:00"],
        ["2024-01-01T16:00:00+00:00", "2024-01-02T16:00:00+00:00", "2024-01-03T16:00:00"],
    ],
)
def test_times_with_and_without_an_offset_in_one_column_are_refused(
    tmp_path: Path, cells: list[str]
) -> None:
    """pandas reads a column in its first date's form, so the other form is no date to it:
    the sentence says the forms differ, not that a readable date is unreadable."""
    with pytest.raises(DataError) as refused:
        dates_of(tmp_path, cells)
    message = str(refused.value)
    assert (
        f"writes the date {cells[2]!r} in column 'when' at data row 3 in another form " in message
    )
    assert f"than its first date {cells[0]!r}" in message
    assert message.endswith("set data.date_column=null.")


@pytest.mark.parametrize(
    "cells",
    [
        [" 2024-01-05", "2024-01-08", "2024-01-09"],
        ["01/05/2024 ", "01/08/2024", "01/09/2024"],
        ["2024-01-05 ", "2024-01-08 ", "\t2024-01-09"],
    ],
)
def test_a_date_padded_with_spaces_in_some_rows_is_that_date(
    tmp_path: Path, cells: list[str]
) -> None:
    """Spaces around an id or a value are dropped; around a date in some rows they made
    pandas read the other rows as another form, and the file was refused."""
    assert dates_of(tmp_path, cells) == ["2024-01-05", "2024-01-08", "2024-01-09"]


def test_the_layout_a_bracket_refusal_offers_is_itself_read(tmp_path: Path) -> None:
    """The refusal's example was 09:30-05:00 in New York on 10 March 2024, a day its clocks
    showed -04:00 at that hour, so the example was refused as a zone that disagrees."""
    from stockcast.data.zone_brackets import LAYOUT

    later = "2024-03-11T09:30:00-04:00[America/New_York]"
    assert dates_of(tmp_path, [LAYOUT, later]) == [LAYOUT[:10], "2024-03-11"]
    assert dates_of(tmp_path, [LAYOUT.split("[")[0], later.split("[")[0]])[0] == LAYOUT[:10]


FORMS = "numbers are read as years (1990), months as YYYYMM (199004) or days as YYYYMMDD"


@pytest.mark.parametrize(
    ("cells", "phrase"),
    [
        (["1990.0", "1990.25"], "has 1990.25 in date column 'when' at data row 2, which does not "),
        (["1", "2"], "has 1 in date column 'when' at data row 1, which does not read as a date: "),
        (["1990", "199001"], "has 199001 in date column 'when' at data row 2, which does not "),
        (["199001", "199013"], "has an unreadable date 199013 in column 'when' at data row 2; "),
        (["0000M01", "0000M02"], "has an unreadable date '0000M01' in column 'when' at data row 1"),
        (["1000Q1", "1000Q2"], "has an unreadable date '1000Q1' in column 'when' at data row 1"),
        # A period that does not exist is refused by its own row, not read by pandas as seconds.
        (
            ["1990-m1", "1990-m13"],
            "has an unreadable date '1990-m13' in column 'when' at data row 2",
        ),
        (["1990M11", "1990M13"], "has an unreadable date '1990M13' in column 'when' at data row 2"),
        (["1500", "1501"], "has the date 1500-01-01 in column 'when' at data row 1, outside "),
        (["2024-01-01", "2024-01-01"], "falls on one instant (2024-01-01T00:00:00), so its 2 "),
    ],
)
def test_numbers_that_are_no_date_and_a_single_instant_are_refused(
    tmp_path: Path, cells: list[str], phrase: str
) -> None:
    with pytest.raises(DataError) as refused:
        dates_of(tmp_path, cells)
    message = str(refused.value)
    assert phrase in message and "set data.date_column=null" in message
    assert "\n" not in message
    if "does not" in phrase:
        assert FORMS in message


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        # A missing year: pandas infers no frequency, and 365-day steps would drift.
        (["1700-01-01", "1701-01-01", "1703-01-01", "1704-01-01"], ["1705-01-01", "1706-01-01"]),
        (["1700-01-01", "1701-01-01"], ["1702-01-01", "1703-01-01"]),
        (["2000-01-31", "2000-02-29", "2000-04-30"], ["2000-05-31", "2000-06-30"]),
        (["2000-01-01", "2000-04-01", "2000-10-01", "2001-01-01"], ["2001-04-01", "2001-07-01"]),
        (["2000-01-15", "2000-02-15", "2000-04-15"], ["2000-05-15", "2000-06-15"]),
        (["1700-01-01", "1701-01-01", "1702-01-01"], ["1703-01-01", "1704-01-01"]),
        # Months' last trading days, Good Friday moving March's to the 28th: no 31-day steps.
        (["2024-01-31", "2024-02-29", "2024-03-28"], ["2024-04-30", "2024-05-31"]),
        (["2024-05-31", "2024-06-28", "2024-07-31", "2024-09-30"], ["2024-10-31", "2024-11-29"]),
        # Months' first business days with one missing, ending on a holiday-free 1 March.
        (["2023-12-01", "2024-01-02", "2024-03-01"], ["2024-04-01", "2024-05-01"]),
        (["2024-05-01", "2024-06-03", "2024-08-01"], ["2024-09-02", "2024-10-01"]),
    ],
)
def test_future_dates_of_yearly_monthly_and_quarterly_data_stay_on_the_calendar(
    dates: list[str], expected: list[str]
) -> None:
    future, _ = future_dates(np.array(dates, dtype="datetime64[ns]"), 2)
    assert [str(day) for day in future.astype("datetime64[D]")] == expected


# ---- through the commands -----------------------------------------------------------------


@pytest.mark.slow
def test_predict_and_batch_predict_name_the_line_and_write_nothing(
    registered_store: Path, tmp_path: Path
) -> None:
    path = tmp_path / "panel.csv"
    path.write_bytes(b"Date,Ticker,Close\n2024-01-01,A,1\n2024-01-01,B,2\n2024-01-02,A,3,4\n")
    for extra in ((), ("input.id_column=Ticker",)):
        run_dir = tmp_path / f"run{len(extra)}"
        with pytest.raises(DataError) as refused:
            run_task(
                run_predict,
                "predict",
                [*isolated_overrides(registered_store), "input=csv", f"input.path={path}", *extra],
                run_dir,
            )
        assert str(refused.value).startswith(f"CSV file {path} has 4 fields on line 4 ")
        assert not (run_dir / "forecast.csv").exists()


def yearly_csv(path: Path, years: int = 120) -> Path:
    """A yearly series (a `year` column of whole numbers) with an 11-year cycle."""
    year = np.arange(1821, 1821 + years)
    noise = np.random.default_rng(3).normal(0.0, 2.0, years)
    value = 60 + 30 * np.sin(2 * np.pi * (year - 1821) / 11) + noise
    pd.DataFrame({"year": year, "count": value.round(2)}).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_a_yearly_file_goes_through_the_whole_pipeline(seeded_tmp: Path) -> None:
    csv = yearly_csv(seeded_tmp / "yearly.csv")
    ran = run_local_pipeline(
        seeded_tmp,
        "data=csv",
        f"data.path={csv}",
        "data.date_column=year",
        "data.value_column=count",
        "data.previous_time_window=8",
        "data.next_time_window=3",
        "trainer.max_steps=30",
        "data.require_new_data=false",
        *LENIENT_GATE,
    )
    assert "registered pipeline_stock_predictor version 1 as champion" in ran.stdout
    run_dir = sorted((seeded_tmp / "logs" / "pipeline" / "runs").iterdir())[-1]
    meta = json.loads((run_dir / "prepare" / "prepared" / "meta.json").read_text())
    assert meta["n_points"] == 120
    with sqlite3.connect(seeded_tmp / LEDGER_FILE) as ledger:
        (origin, targets), *_ = ledger.execute("SELECT origin_date, target_dates FROM forecasts")
    assert origin == "1940-01-01"
    assert json.loads(targets) == ["1941-01-01", "1942-01-01", "1943-01-01"]
    # Predict reads the column the model was trained on without being told it again.
    predicted = run_task(
        run_predict,
        "predict",
        [
            *isolated_overrides(seeded_tmp),
            "input=csv",
            f"input.path={csv}",
            "input.date_column=year",
        ],
        seeded_tmp / "predict",
    ).value
    assert predicted["input"]["value_column"] == "count"
    assert [row["date"] for row in predicted["forecast"]] == [
        "1941-01-01",
        "1942-01-01",
        "1943-01-01",
    ]


def test_a_file_written_with_semicolons_and_decimal_commas_reads_as_its_comma_twin(
    tmp_path: Path,
) -> None:
    """Where the comma is the decimal mark, spreadsheets write `;` between fields."""
    comma, semicolons, tabs = (tmp_path / name for name in ("comma.csv", "semi.csv", "tab.csv"))
    comma.write_text("when,value,id\n2024-01-01,1.5,a\n2024-01-02,2.25,a\n2024-01-03,3,a\n")
    semicolons.write_text("when;value;id\n2024-01-01;1,5;a\n2024-01-02;2,25;a\n2024-01-03;3;a\n")
    tabs.write_text("when\tvalue\tid\n2024-01-01\t1.5\ta\n2024-01-02\t2.25\ta\n2024-01-03\t3\ta\n")
    (expected,) = read_table_series(comma, "when", "value", "id")
    for path, separator, decimal in ((semicolons, ";", ","), (tabs, "\t", ".")):
        (series,) = read_table_series(
            path, "when", "value", "id", separator=separator, decimal=decimal
        )
        assert series.series_id == expected.series_id == "a"
        assert list(series.values) == list(expected.values) == [1.5, 2.25, 3.0]
        assert list(series.dates) == list(expected.dates)
    # As training reads data=csv with data.separator and data.decimal ('\t' as a shell gives it).
    for path, separator, decimal in ((semicolons, ";", ","), (tabs, "\\t", ".")):
        data = {"path": str(path), "date_column": "when", "value_column": "value"}
        settings = {"id_column": "id", "separator": separator, "decimal": decimal}
        (series,) = SOURCES["csv"](data | settings)
        assert list(series.values) == [1.5, 2.25, 3.0]
    with pytest.raises(DataError, match="separates its fields with commas"):
        SOURCES["csv"](
            {"path": str(comma), "date_column": "when", "value_column": "value"}
            | {"separator": "\\t"}
        )


def test_a_point_groups_thousands_where_the_comma_is_the_decimal_mark(tmp_path: Path) -> None:
    """1.234 there is a thousand and more: read as one and a quarter, it was silently wrong."""
    path = tmp_path / "semi.csv"
    path.write_text("when;value\n2024-01-01;1.234\n2024-01-02;1.002,51\n2024-01-03;999\n")
    (series,) = read_table_series(path, "when", "value", separator=";", decimal=",")
    assert list(series.values) == [1234.0, 1002.51, 999.0]


@pytest.mark.parametrize(
    ("rows", "sentence"),
    [
        # One cell of text keeps the column text: the others are still read by their comma.
        (
            "2024-01-01;1,5\n2024-01-02;abc\n",
            "has a non-numeric value 'abc' in column 'value' "
            "at data row 2; clean the file or pick another column.",
        ),
        (  # 2.5 is no number where the comma is the decimal mark
            "2024-01-01;1,5\n2024-01-02;2.5\n",
            "has a non-numeric value '2.5' in column 'value' at data row 2; a point is no "
            "decimal mark with input.decimal=',' (only 1.234,5 groups thousands); write the "
            "number with a comma, or read the file with \"input.decimal='.'\".",
        ),
        (
            "2024-01-01;1,5;9\n",
            "has 3 fields on line 2 where its header has 2; remove the "
            "extra field(s), or quote a value that holds a semicolon.",
        ),
    ],
)
def test_a_semicolon_files_mistakes_are_named_in_its_own_terms(
    tmp_path: Path, rows: str, sentence: str
) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("when;value\n" + rows)
    assert (
        table_refusal(path, "when", "value", key="input", separator=";", decimal=",")
        == f"CSV file {path} {sentence}"
    )
    # Read with the default comma, the file is named for what separates its fields.
    assert table_refusal(path, "when", "value", key="input").endswith(
        "read it with \"input.separator=';'\" \"input.decimal=','\"."
    )


@pytest.mark.parametrize("cell", ["1 234,5", "1\u00a0234,5", "1\u202f234,5", "-12 345 678"])
def test_thousands_grouped_by_spaces_are_named_as_such(tmp_path: Path, cell: str) -> None:
    """As French and Nordic spreadsheets write them; refused before with "clean the file"."""
    path = tmp_path / "spaced.csv"
    path.write_text(f"when;value\n2024-01-01;{cell}\n", encoding="utf-8")
    assert table_refusal(path, "when", "value", separator=";", decimal=",").endswith(
        "write its numbers without the spaces that group their thousands."
    )


@pytest.mark.parametrize(
    ("first", "header", "setting"),
    [
        ("sep=;", "when;value", " and read it with \"data.separator=';'\""),
        ("sep=,", "when,value", ""),
    ],
)
def test_a_spreadsheets_separator_line_is_named_not_read_as_the_header(
    tmp_path: Path, first: str, header: str, setting: str
) -> None:
    """Read as the header, `sep=;` named the columns `sep=` and `Unnamed: 1`, and the refusal
    of the missing column offered those, which no setting could use."""
    path = tmp_path / "excel.csv"
    path.write_text(f"{first}\n{header}\n2024-01-01{header[4]}1\n")
    assert table_refusal(path, "when", "value") == (
        f"CSV file {path} begins with the line {first!r}, a spreadsheet's note of its separator "
        f"rather than its header; delete that line{setting}."
    )


def test_a_decimal_comma_read_with_the_point_says_how_to_read_it(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("when;value\n2024-01-01;1002,51\n")
    assert table_refusal(path, "when", "value", separator=";").endswith(
        "its decimal mark is a comma: read it with \"data.decimal=','\"."
    )
    # Also where points group its thousands, as a spreadsheet writes them.
    path.write_text("when;value\n2024-01-01;10.012,57\n")
    assert table_refusal(path, "when", "value", separator=";").endswith(
        "its decimal mark is a comma: read it with \"data.decimal=','\"."
    )
    # A comma file's decimal commas are quoted, and read with that setting too.
    path.write_text('when,value\n2024-01-01,"1002,51"\n2024-01-02,"2,5"\n')
    assert table_refusal(path, "when", "value").endswith(
        "its decimal mark is a comma: read it with \"data.decimal=','\"."
    )
    (series,) = read_table_series(path, "when", "value", decimal=",")
    assert list(series.values) == [1002.51, 2.5]
    # A comma file read as a semicolon one names both settings back.
    path.write_text("when,value\n2024-01-01,1.5\n")
    assert table_refusal(path, "when", "value", separator=";", decimal=",").endswith(
        "read it with \"data.separator=','\" \"data.decimal='.'\"."
    )


def test_a_parquet_column_of_lists_does_not_stop_the_read(tmp_path: Path) -> None:
    path = tmp_path / "table.parquet"
    frame = pd.DataFrame({"date": ["2024-01-01", "2024-01-02"], "value": [1.0, 2.0]})
    frame.assign(tags=[[1, 2], []]).to_parquet(path)
    (series,) = read_table_series(path, "date", "value")
    assert list(series.values) == [1.0, 2.0]


@pytest.mark.parametrize(
    ("overrides", "sentence"),
    [
        (["data.separator=ab"], "data.separator is 'ab'; it must be one character other than"),
        (["data.decimal=','"], "data.decimal is ',', the separator too; separate the fields"),
        (["data.decimal=';'"], "data.decimal is ';'"),
    ],
)
def test_a_separator_that_cannot_be_read_is_one_sentence(
    make_cfg, overrides: list[str], sentence: str
) -> None:
    cfg = make_cfg("data=csv", "data.path=prices.csv", *overrides)
    with pytest.raises(ConfigError) as refused:
        validate_config(cfg)
    assert sentence in str(refused.value)
    assert validate_config(make_cfg("data=csv", "data.path=x.csv", "data.separator='\\t'"))


def test_predict_reads_its_input_with_the_input_separator(tmp_path: Path) -> None:
    path = tmp_path / "input.csv"
    path.write_text("Date;Close\n2024-01-01;1,5\n2024-01-02;2,25\n")
    given = {"path": str(path), "date_column": "Date", "value_column": "Close"}
    (series,) = read_input_table(given | {"separator": ";", "decimal": ","})
    assert list(series.values) == [1.5, 2.25]
    with pytest.raises(DataError, match=r'read it with "input\.separator=\';\'"'):
        read_input_table(given)
