"""Data as users write it: dates in their own layout and zone, compressed and Parquet files,
short series, each read as meant or refused in one sentence saying what to do."""

from __future__ import annotations

import gzip
import io
import sys
import tarfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockcast.config.compose import plain
from stockcast.data.calendar import BUSINESS_WEEK, trading_week
from stockcast.data.prepared import prepare_data
from stockcast.data.seasonality import season_from_dates
from stockcast.data.series import Series
from stockcast.data.sources import read_csv_series, read_table_series
from stockcast.data.split import split_series
from stockcast.errors import DataError
from stockcast.forecasting.windows import WindowSizes
from tests.conftest import table_refusal

SPLIT = {"train": 0.7, "val": 0.15, "test": 0.15}

# A quarter of business days (their first numbers run past 12 as days and as years).
BUSINESS_DAYS = pd.bdate_range("2021-01-04", "2021-03-31")
# A year of them without Good Friday and Easter Monday: a five-day closure, a gap of four times
# their median step.
EASTER_CLOSED = pd.bdate_range("2021-01-04", "2021-12-31").drop(
    pd.DatetimeIndex(["2021-04-02", "2021-04-05"])
)
FRIDAYS = pd.date_range("2021-01-08", "2022-12-30", freq="W-FRI")
MONTH_STARTS = pd.date_range("2021-01-01", "2022-12-01", freq="MS")


def test_a_too_short_series_is_told_the_length_that_works() -> None:
    """31 values split 0.7/0.15/0.15 leave the test split 4 of the 5 it needs; 32 suffice."""
    window = WindowSizes(10, 5)
    with pytest.raises(DataError, match=r"has 31 points.*at least 32 points"):
        split_series([Series("s", np.arange(1.0, 32.0))], window, SPLIT)
    assert len(split_series([Series("s", np.arange(1.0, 33.0))], window, SPLIT)["test"].values)


def test_a_short_panel_member_is_refused_as_short_not_as_another_season(
    tmp_path: Path, make_cfg
) -> None:
    days = pd.bdate_range("2024-01-01", periods=60)
    frame = pd.concat(
        [
            pd.DataFrame({"Date": days, "Ticker": "AAA", "Close": np.arange(1.0, 61.0)}),
            pd.DataFrame({"Date": days[:3], "Ticker": "BBB", "Close": [1.0, 2.0, 3.0]}),
        ]
    )
    frame.to_csv(tmp_path / "panel.csv", index=False)
    cfg = make_cfg("data=csv", f"data.path={tmp_path / 'panel.csv'}", "data.id_column=Ticker")
    # Its rows stop long before the others': not a listing building its history, so refused.
    with pytest.raises(DataError, match=r"series 'BBB' has 3 points.*at least 32 points"):
        prepare_data(plain(cfg.data))


def test_daily_data_with_a_gap_of_years_keeps_its_week_and_season() -> None:
    """Weeks without a value do not count: business days of 2012, then of 2020, trade Monday to
    Friday (5 a season), not on no day at all (season 0)."""
    days = pd.bdate_range("2012-01-01", "2012-12-31").append(
        pd.bdate_range("2020-01-01", "2020-12-31")
    )
    assert trading_week(days.to_numpy()) == BUSINESS_WEEK
    assert season_from_dates(days.to_numpy()) == 5
    # Once every eight days no weekday reaches the share: every weekday held counts, not none.
    every_eight_days = pd.date_range("2024-01-01", periods=40, freq="8D")
    assert trading_week(every_eight_days.to_numpy()) == (True,) * 7
    # A stray Saturday weeks after three weeks of business days adds no day to the week.
    stray = pd.bdate_range("2024-01-01", periods=15).append(pd.DatetimeIndex(["2024-02-17"]))
    assert trading_week(stray.to_numpy()) == BUSINESS_WEEK


def test_a_categorical_id_reads_only_the_series_it_holds(tmp_path: Path) -> None:
    """Parquet keeps a category no row uses; it is no series."""
    days = pd.bdate_range("2024-01-01", periods=3)
    frame = pd.DataFrame(
        {
            "date": days.append(days),
            "id": pd.Categorical(["AAA"] * 3 + ["BBB"] * 3, categories=["AAA", "BBB", "CCC"]),
            "value": np.arange(1.0, 7.0),
        }
    )
    frame.to_parquet(tmp_path / "panel.parquet")
    read = read_table_series(tmp_path / "panel.parquet", "date", "value", "id")
    assert [(item.series_id, item.values.tolist()) for item in read] == [
        ("AAA", [1.0, 2.0, 3.0]),
        ("BBB", [4.0, 5.0, 6.0]),
    ]


def _compressed(path: Path, text: str) -> Path:
    """`text` written to `path`, compressed as its suffix says."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("prices.csv", text)
    else:
        path.write_bytes(gzip.compress(text.encode()))
    return path


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.zip"])
def test_a_compressed_csv_is_checked_on_its_own_lines(tmp_path: Path, suffix: str) -> None:
    """A blank last cell makes the reader scan the lines: it scans the text, not the bytes."""
    blank_volume = "Date,Close,Volume\n2024-01-01,1,10\n2024-01-02,2,\n2024-01-03,3,30\n"
    (series,) = read_csv_series(_compressed(tmp_path / f"v{suffix}", blank_volume), "Date", "Close")
    assert series.values.tolist() == [1.0, 2.0, 3.0]
    blank_close = "Date,Close\n2024-01-01,1\n2024-01-02,\n2024-01-03,3\n"
    with pytest.raises(DataError, match=r"1 missing value\(s\) in column 'Close' at data row"):
        read_csv_series(_compressed(tmp_path / f"c{suffix}", blank_close), "Date", "Close")
    extra = "Date,Close\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3,9\n"
    with pytest.raises(DataError, match="has 3 fields on line 4 where its header has 2"):
        read_csv_series(_compressed(tmp_path / f"e{suffix}", extra), "Date", "Close")


@pytest.mark.parametrize(
    "suffix", [".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".CSV.GZ", ".csv.tar.gz"]
)
def test_a_compressed_csv_is_known_by_its_suffix(tmp_path: Path, suffix: str) -> None:
    """Without a format, only `.csv` was known: a `.csv.gz` was refused for its suffix '.gz'."""
    path = tmp_path / f"prices{suffix}"
    days = pd.bdate_range("2024-01-01", periods=3)
    pd.DataFrame({"Date": days, "Close": [1.5, 2.5, 3.5]}).to_csv(path, index=False)
    (series,) = read_table_series(path, "Date", "Close")
    assert series.values.tolist() == [1.5, 2.5, 3.5]
    np.testing.assert_array_equal(series.dates, days.to_numpy("datetime64[ns]"))


def test_a_zst_csv_without_zstandard_says_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pandas raised its ImportError for the optional package."""
    monkeypatch.setitem(sys.modules, "zstandard", None)  # not importable, installed or not
    path = tmp_path / "prices.csv.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd")
    assert table_refusal(path, "Date", "Close") == (
        f"reading CSV file {path} needs the zstandard package for its .zst compression; install "
        "it (pip install zstandard), or save the CSV uncompressed or as .csv.gz."
    )


@pytest.mark.parametrize(
    ("suffix", "cut_short", "reason"),
    [
        (".csv.gz", False, "Not a gzipped file"),
        (".csv.gz", True, "Compressed file ended before the end-of-stream marker was reached"),
        (".csv.bz2", False, "Invalid data stream"),
        (".csv.xz", False, "Input format not supported by decoder"),
        (".csv.zip", False, "File is not a zip file"),
        (".csv.tar.gz", False, "file could not be opened successfully"),
    ],
)
def test_a_compressed_csv_that_is_not_that_compression_is_one_sentence(
    tmp_path: Path, suffix: str, cut_short: bool, reason: str
) -> None:
    """A plain CSV named .gz, or a download cut short: the decompressor's traceback before."""
    path = tmp_path / f"prices{suffix}"
    text = "Date,Close\n2024-01-01,1\n2024-01-02,2\n"
    path.write_bytes(gzip.compress(text.encode())[:20] if cut_short else text.encode())
    refusal = table_refusal(path, "Date", "Close")
    compression = suffix.removeprefix(".csv")
    assert refusal.startswith(f"CSV file {path} cannot be read as {compression} data ({reason}")
    assert refusal.endswith(
        "; compress the CSV again (the file may be cut short, damaged or named for another "
        "compression), or give the CSV itself."
    )


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.zip"])
def test_a_compressed_csv_damaged_inside_is_one_sentence(tmp_path: Path, suffix: str) -> None:
    """Bytes changed in the middle: pandas read garbage, and the line scans that then name the
    bad line opened the file again and met the checksum error as a traceback."""
    text = "Date,Close\n" + "".join(f"2024-01-{d % 28 + 1:02d},{d}.5\n" for d in range(20000))
    path = tmp_path / f"prices{suffix}"
    if suffix == ".csv.gz":
        packed = bytearray(gzip.compress(text.encode()))
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("prices.csv", text)
        packed = bytearray(buffer.getvalue())
    middle = len(packed) // 2
    packed[middle : middle + 16] = bytes(range(16))
    path.write_bytes(bytes(packed))
    assert f"cannot be read as {suffix.removeprefix('.csv')} data" in table_refusal(
        path, "Date", "Close"
    )


ZIP_FIX = "zip the CSV on its own, or unzip it and give the CSV's own path"


@pytest.mark.parametrize(
    ("names", "held"),
    [
        (["a.csv", "b.csv"], "2 files (a.csv, b.csv)"),
        # What macOS's Finder writes beside the file.
        (
            ["prices.csv", "__MACOSX/", "__MACOSX/._prices.csv", "notes.txt"],
            "4 files (prices.csv, __MACOSX/, __MACOSX/._prices.csv and 1 more)",
        ),
        ([], "no file"),
    ],
)
def test_a_zip_not_holding_one_csv_is_refused(tmp_path: Path, names: list[str], held: str) -> None:
    """pandas raised a ValueError naming the files, or "Zero files found in ZIP file"."""
    path = tmp_path / "prices.csv.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, "Date,Close\n2024-01-01,1\n")
    assert table_refusal(path, "Date", "Close") == (
        f"CSV file {path} holds {held}, but pandas reads only a zip archive that holds the CSV "
        f"alone; {ZIP_FIX}."
    )


def test_a_tar_holding_several_files_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name in ("a.csv", "b.csv"):
            data = b"Date,Close\n2024-01-01,1\n"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    assert table_refusal(path, "Date", "Close") == (
        f"CSV file {path} holds 2 files (a.csv, b.csv), but pandas reads only a tar archive "
        "that holds the CSV alone; archive the CSV on its own, or extract it and give the CSV's "
        "own path."
    )


def test_the_compressions_known_are_those_pandas_reads_a_csv_in() -> None:
    from pandas.io.common import extension_to_compression

    from stockcast.data.compressed import COMPRESSIONS

    assert set(COMPRESSIONS) == set(extension_to_compression)


@pytest.mark.parametrize(
    ("name", "suffix"),
    [
        ("prices.parquet.gz", ".parquet.gz"),  # pandas opens no compressed Parquet file
        ("prices.txt.gz", ".txt.gz"),
        ("prices.gz", ".gz"),
        ("prices.tar.gz", ".tar.gz"),
        ("prices.txt", ".txt"),
    ],
)
def test_a_suffix_naming_no_table_format_is_refused(tmp_path: Path, name: str, suffix: str) -> None:
    path = tmp_path / name
    path.write_bytes(gzip.compress(b"Date,Close\n2024-01-01,1\n"))
    assert table_refusal(path, "Date", "Close", key="input") == (
        f"cannot tell the format of {path} from its suffix {suffix!r}; name it .csv or "
        ".parquet, or set input.format."
    )


@pytest.mark.parametrize("name", ["prices.parquet", "prices.PQ"])
def test_a_parquet_suffix_still_reads_as_parquet(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    pd.DataFrame({"date": ["2024-01-01", "2024-01-02"], "value": [1.0, 2.0]}).to_parquet(path)
    (series,) = read_table_series(path, "date", "value")
    assert series.values.tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("cells", "shown", "row"),
    [
        (["True", "False", "True"], "True", 1),
        (["false", "true", "true"], "False", 1),
        (["TRUE", "FALSE", "TRUE"], "True", 1),
        # A blank cell left the column of Python objects pandas turned into 1.0, NaN, 0.0.
        (["", "False", "True"], "False", 2),
    ],
)
def test_a_csv_true_false_value_column_is_refused(
    tmp_path: Path, cells: list[str], shown: str, row: int
) -> None:
    """pandas reads the words as booleans, and those as the prices 1 and 0."""
    path = tmp_path / "flags.csv"
    path.write_text(
        "Date,Close\n" + "".join(f"2024-01-0{i + 1},{c}\n" for i, c in enumerate(cells))
    )
    with pytest.raises(DataError) as refused:
        read_csv_series(path, "Date", "Close", key="input")
    assert str(refused.value) == (
        f"CSV file {path} has a true/false value {shown} in column 'Close' at data row {row}, "
        "which is no price; set input.value_column to a numeric column."
    )


@pytest.mark.parametrize(
    ("columns", "named"),
    [
        # Dates parsed as numbers had been read as prices: nanoseconds since 1970.
        (("Date", "Date", None), ("value_column", "date_column")),
        (("Date", "Close", "Close"), ("value_column", "id_column")),
        (("Ticker", "Close", "Ticker"), ("date_column", "id_column")),
    ],
)
def test_one_column_named_for_two_roles_is_refused(
    tmp_path: Path, columns: tuple[str, str, str | None], named: tuple[str, str]
) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("Date,Ticker,Close\n2024-01-01,A,1.0\n2024-01-02,A,2.0\n2024-01-03,A,3.0\n")
    date, value, ticker = columns
    first, second = named
    column = {"date_column": date, "value_column": value, "id_column": ticker}[first]
    assert table_refusal(path, date, value, ticker, key="input") == (
        f"input.{first} and input.{second} both name column {column!r} of CSV file {path}; its "
        "columns are ['Date', 'Ticker', 'Close']: set each to its own column."
    )


@pytest.mark.parametrize(
    ("header", "fields"),
    [("Date,Close,Close,Open", "2 and 3"), ("Date,Close,Open, Close", "2 and 4")],
)
def test_a_column_the_header_names_twice_is_refused(
    tmp_path: Path, header: str, fields: str
) -> None:
    """pandas reads the second as Close.1: the first was read without a word."""
    path = tmp_path / "prices.csv"
    rows = "2024-01-01,1,2,3\n2024-01-02,1,2,3\n2024-01-03,1,2,3\n"
    path.write_text(f"{header}\n{rows}")
    assert table_refusal(path, "Date", "Close", None, key="data") == (
        f"CSV file {path} has 2 columns named 'Close' (fields {fields} of its header), which "
        "data.value_column names; give each column its own name."
    )
    path.write_text(f"\n{header}\n{rows}")  # after a blank line, which pandas skips
    assert table_refusal(path, "Date", "Close", None, key="data").startswith(
        f"CSV file {path} has 2 columns named 'Close'"
    )
    path.write_text(f"Date,Close,Open,Open\n{rows}")  # a column the settings do not name
    assert read_csv_series(path, "Date", "Close")[0].values.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("id_column", [None, "Ticker"])
def test_times_of_day_kept_apart_from_the_dates_are_refused_as_such(
    tmp_path: Path, id_column: str | None
) -> None:
    """Date, Time, Close (as intraday downloads write them): the file was told to set
    data.id_column=Time, which read each half-hour's values as a series of days, or, with an
    id column, to drop its rows as duplicates."""
    stamps = pd.DatetimeIndex(
        [day + pd.Timedelta(minutes=570 + 30 * k) for day in BUSINESS_DAYS[:20] for k in range(13)]
    )
    frame = pd.DataFrame(
        {"Date": stamps.strftime("%Y-%m-%d"), "Time": stamps.strftime("%H:%M"), "Close": 1.0}
    )
    path = tmp_path / "bars.csv"
    frame.assign(Ticker="AAA", Close=np.arange(1.0, len(stamps) + 1)).to_csv(path, index=False)
    assert table_refusal(path, "Date", "Close", id_column) == (
        f"CSV file {path} repeats dates (2021-01-04 at data row 1 and others) and keeps the "
        "times of day apart from them, in column 'Time'; join the two into one column of dates "
        "with times (2021-01-04 09:30) and set data.date_column to it."
    )
    # Joined, the same rows read as the half-hours they are.
    frame.assign(Date=stamps.strftime("%Y-%m-%d %H:%M")).to_csv(path, index=False)
    assert len(read_csv_series(path, "Date", "Close")[0].values) == len(stamps)


def test_a_non_numeric_value_of_a_panel_names_its_series(tmp_path: Path) -> None:
    """As a missing value's refusal does: the user fixes that ticker's rows."""
    path = tmp_path / "panel.csv"
    path.write_text("Date,Ticker,Close\n2024-01-01,A,1\n2024-01-01,B,abc\n2024-01-02,A,2\n")
    assert table_refusal(path, "Date", "Close", "Ticker", key="input") == (
        f"CSV file {path} has a non-numeric value 'abc' in column 'Close' at data row 2 "
        "(series 'B'); clean the file or pick another column."
    )


@pytest.mark.parametrize(
    ("flags", "shown", "row"),
    [
        (pd.Series([True, False, True]), "True", 1),
        # A bool column with a null comes back as Python objects, or as pandas' boolean.
        (pd.Series([None, False, True], dtype=object), "False", 2),
        (pd.Series([None, False, True], dtype="boolean"), "False", 2),
    ],
)
def test_a_parquet_bool_value_column_is_refused(
    tmp_path: Path, flags: pd.Series, shown: str, row: int
) -> None:
    path = tmp_path / "flags.parquet"
    days = pd.bdate_range("2024-01-01", periods=3)
    pd.DataFrame({"date": days, "value": flags}).to_parquet(path)
    assert table_refusal(path, "date", "value") == (
        f"Parquet file {path} has a true/false value {shown} in column 'value' at data row "
        f"{row}, which is no price; set data.value_column to a numeric column."
    )


@pytest.mark.parametrize(
    ("stamps", "held"),
    [
        (pd.date_range("2024-03-01", periods=3, freq="h"), "dates"),
        (pd.date_range("2024-03-01", periods=3, freq="h", tz="UTC"), "dates"),
        (pd.to_timedelta([1, 2, 3], unit="s"), "durations"),
    ],
)
def test_a_parquet_column_of_times_is_refused_as_values(
    tmp_path: Path, stamps: pd.Index, held: str
) -> None:
    """Read as numbers, a timestamp column was trained on as prices of 10^18 (nanoseconds)."""
    path = tmp_path / "stamps.parquet"
    days = pd.bdate_range("2024-01-01", periods=3)
    pd.DataFrame({"date": days, "updated": stamps}).to_parquet(path)
    dtype = pd.Series(stamps).dtype
    assert table_refusal(path, "date", "updated") == (
        f"Parquet file {path} holds {held} in column 'updated' ({dtype}), which are no prices; "
        "set data.value_column to a numeric column."
    )


@pytest.mark.parametrize(
    ("key", "fix"),
    [
        (
            "data",
            "use data=parquet (columns date, id and value by default), or set data.format=parquet",
        ),
        ("input", "set input.format=parquet"),
    ],
)
def test_a_parquet_file_read_as_csv_is_named_parquet(tmp_path: Path, key: str, fix: str) -> None:
    path = tmp_path / "prices.parquet"
    pd.DataFrame({"date": ["2024-01-01"], "value": [1.0]}).to_parquet(path)
    refusal = table_refusal(path, "date", "value", key=key, format="csv")
    assert refusal == f"{path} is a Parquet file, not CSV; {fix}."


@pytest.mark.parametrize(
    ("content", "name", "header", "fix"),
    [
        (
            "Date;Close\n2024-01-01;100,5\n2024-01-02;101,5\n",
            "semicolons",
            "'Date;Close'",
            "\"data.separator=';'\" \"data.decimal=','\"",
        ),
        (
            "Date;Close\n2024-01-01;100\n2024-01-02;101\n",
            "semicolons",
            "'Date;Close'",
            "\"data.separator=';'\" \"data.decimal=','\"",
        ),
        ("Date\tClose\n2024-01-01\t100.5\n", "tabs", "'Date\\tClose'", "\"data.separator='\\t'\""),
        (  # points as decimal marks: the decimal comma would refuse every value
            "Date;Close\n2024-01-01;100.5\n2024-01-02;101.25\n",
            "semicolons",
            "'Date;Close'",
            "\"data.separator=';'\"",
        ),
    ],
)
def test_a_csv_not_separated_by_commas_says_how_to_read_it(
    tmp_path: Path, content: str, name: str, header: str, fix: str
) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(content)
    with pytest.raises(DataError) as refused:
        read_csv_series(path, "Date", "Close")
    assert str(refused.value) == (
        f"CSV file {path} separates its fields with {name} (its header is {header}), not "
        f"commas; read it with {fix}."
    )


def test_csv_ids_are_read_as_written(tmp_path: Path) -> None:
    path = tmp_path / "panel.csv"
    rows = [f"2024-01-0{day},{ticker},{day}" for ticker in ("001", "002") for day in (1, 2)]
    path.write_text("Date,Ticker,Close\n" + "\n".join(rows) + "\n")
    read = read_csv_series(path, "Date", "Close", "Ticker")
    assert [item.series_id for item in read] == ["001", "002"]
    # Tickers pandas reads as missing values by default; a blank cell still is one.
    tickers = ("NA", "None", "nan")
    rows = [f"2024-01-0{day},{ticker},{day}" for ticker in tickers for day in (1, 2)]
    path.write_text("Date,Ticker,Close\n" + "\n".join(rows) + "\n")
    assert [item.series_id for item in read_csv_series(path, "Date", "Close", "Ticker")] == sorted(
        tickers
    )
    path.write_text("Date,Ticker,Close\n2024-01-01,A,1\n2024-01-02, ,2\n")
    with pytest.raises(DataError, match=r"has no 'Ticker' \(data\.id_column\) at data row 2;"):
        read_csv_series(path, "Date", "Close", "Ticker")
    # Spaces around an id (after a comma, a padded export) were a second series of that name.
    path.write_text("Date,Ticker,Close\n2024-01-01,AAA,1\n2024-01-02,AAA ,2\n2024-01-03, AAA,3\n")
    (series,) = read_csv_series(path, "Date", "Close", "Ticker")
    assert series.series_id == "AAA" and series.values.tolist() == [1.0, 2.0, 3.0]
    # The same rows in Parquet read alike.
    frame = pd.DataFrame({"Date": ["2024-01-01"] * 3, "Ticker": ["AAA", "AAA ", " AAA"]})
    frame = frame.assign(Date=pd.bdate_range("2024-01-01", periods=3), Close=[1.0, 2.0, 3.0])
    frame.to_parquet(tmp_path / "panel.parquet")
    (series,) = read_table_series(tmp_path / "panel.parquet", "Date", "Close", "Ticker")
    assert series.series_id == "AAA" and series.values.tolist() == [1.0, 2.0, 3.0]


def _dates(tmp_path: Path, cells: list[str]) -> list[str]:
    """The days a CSV date column of `cells` reads as."""
    path = tmp_path / "dates.csv"
    path.write_text("Date,Close\n" + "".join(f"{c},{i + 1}\n" for i, c in enumerate(cells)))
    (series,) = read_csv_series(path, "Date", "Close")
    assert series.dates is not None
    return [str(d) for d in series.dates.astype("datetime64[D]")]


def _refusal(tmp_path: Path, cells: list[str]) -> str:
    """The sentence a CSV date column of `cells` is refused with, after the file's name."""
    with pytest.raises(DataError) as refused:
        _dates(tmp_path, cells)
    return str(refused.value).removeprefix(f"CSV file {tmp_path / 'dates.csv'} ")


@pytest.mark.parametrize(
    ("cells", "days"),
    [
        # pandas guessed month first from the first date, and refused the 13th.
        (["12/01/2020", "13/01/2020", "14/01/2020"], ["2020-01-12", "2020-01-13", "2020-01-14"]),
        (["01/12/2020", "01/13/2020", "01/14/2020"], ["2020-01-12", "2020-01-13", "2020-01-14"]),
        (["1.2.2020 16:00", "13.2.2020 16:00"], ["2020-02-01", "2020-02-13"]),
        # No number over 12: monthly data written day first read month first jumps a day
        # eleven times, then 354 days; read day first it steps by months.
        (
            [f"01/{m:02d}/2010" for m in range(1, 13)] + ["01/01/2011"],
            [f"2010-{m:02d}-01" for m in range(1, 13)] + ["2011-01-01"],
        ),
        # Half-year starts written day first: read month first they step 6 days, then 359,
        # and with an even count of gaps their median (182.5) had both within four times it.
        (
            [f"01/{m:02d}/{y}" for y in range(2010, 2015) for m in (1, 7)],
            [f"{y}-{m:02d}-01" for y in range(2010, 2015) for m in (1, 7)],
        ),
        (
            [f"01/{m:02d}/{y}" for y in range(2010, 2015) for m in (1, 7)][:-1],
            [f"{y}-{m:02d}-01" for y in range(2010, 2015) for m in (1, 7)][:-1],
        ),
        # Both orders step evenly (months, or the first twelve days): month first, as pandas
        # reads them (US monthly and daily files read as before).
        (
            [f"{m:02d}/01/2023" for m in range(1, 13)],
            [f"2023-{m:02d}-01" for m in range(1, 13)],
        ),
        (
            ["01/02/2024", "01/03/2024", "01/04/2024", "01/05/2024", "01/08/2024"],
            ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"],
        ),
        # Two-digit years by the same rule: pandas read each cell month first unless only day
        # first could be read, so 01/02/10 was 2 January beside 13/02/10's 13 February.
        (["01/02/10", "13/02/10"], ["2010-02-01", "2010-02-13"]),
        (["1.2.10 16:00", "13.2.10 16:00"], ["2010-02-01", "2010-02-13"]),
        (["31/12/99", "03/01/00"], ["1999-12-31", "2000-01-03"]),
        (
            [f"01/{m:02d}/10" for m in range(1, 13)] + ["01/01/11"],
            [f"2010-{m:02d}-01" for m in range(1, 13)] + ["2011-01-01"],
        ),
        (
            ["01/02/24", "01/03/24", "01/04/24", "01/05/24", "01/08/24"],
            ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"],
        ),
        # With points, where both orders step evenly, day first: the locales that write dates
        # with points put the day first (the first ten days of a daily file read as ten months).
        (
            [f"{d:02d}.01.2024" for d in range(1, 11)],
            [f"2024-01-{d:02d}" for d in range(1, 11)],
        ),
        (
            [f"01.{m:02d}.2023" for m in range(1, 13)],
            [f"2023-{m:02d}-01" for m in range(1, 13)],
        ),
        (["02.01.24", "03.01.24", "04.01.24"], ["2024-01-02", "2024-01-03", "2024-01-04"]),
        # Two-digit years written first (%y-%m-%d), where only that order steps evenly: read
        # year last, 21-01-04 was 21 January 2004 and the rows scattered over thirty years.
        (
            [day.strftime("%y-%m-%d") for day in BUSINESS_DAYS],
            [str(day.date()) for day in BUSINESS_DAYS],
        ),
        # Written day first, the same days stay day first, also across a closure of days.
        (
            [day.strftime("%d-%m-%y") for day in BUSINESS_DAYS],
            [str(day.date()) for day in BUSINESS_DAYS],
        ),
        (
            [day.strftime("%d/%m/%y") for day in EASTER_CLOSED],
            [str(day.date()) for day in EASTER_CLOSED],
        ),
        # Weekly and monthly data written year first, over two years.
        (
            [day.strftime("%y-%m-%d") for day in FRIDAYS],
            [str(day.date()) for day in FRIDAYS],
        ),
        (
            [day.strftime("%y/%m/%d") for day in MONTH_STARTS],
            [str(day.date()) for day in MONTH_STARTS],
        ),
    ],
)
def test_dates_written_year_last_are_read_in_the_order_a_day_over_12_shows(
    tmp_path: Path, cells: list[str], days: list[str]
) -> None:
    assert _dates(tmp_path, cells) == days


@pytest.mark.parametrize(
    ("cells", "problem"),
    [
        (
            ["13/01/2010", "01/14/2010"],
            "writes some dates day first and '01/14/2010' at data row 2 month first",
        ),
        # A blank cell before them: the row is counted in the file.
        (
            ["", "13/01/2010", "01/14/2010"],
            "writes some dates day first and '01/14/2010' at data row 3 month first",
        ),
        # pandas read both as 13 January 2010.
        (
            ["13/01/10", "01/14/10"],
            "writes some dates day first and '01/14/10' at data row 2 month first",
        ),
    ],
)
def test_dates_written_year_last_in_no_order_the_data_tells_are_refused(
    tmp_path: Path, cells: list[str], problem: str
) -> None:
    assert _refusal(tmp_path, cells) == (
        f"{problem} in column 'Date'; write every date as YYYY-MM-DD (2010-02-01 for 1 February "
        "2010)."
    )


@pytest.mark.parametrize(
    ("cells", "problem"),
    [
        # Read by the two rules apart, 14/01/10 after 13/01/1910 was 2010: a century's jump.
        (["13/01/1910", "14/01/10"], "'14/01/10' at data row 2 in column 'Date' with 2 digits, "
         "and that of its first date '13/01/1910' with 4"),
        # A file that turned to four digits at 2000: pandas read the rest month first.
        (["30/12/99", "31/12/99", "03/01/2000", "04/01/2000"], "'03/01/2000' at data row 3 in "
         "column 'Date' with 4 digits, and that of its first date '30/12/99' with 2"),
        (["Nov-1970", "Dec-70"], "'Dec-70' at data row 2 in column 'Date' with 2 digits, and that "
         "of its first date 'Nov-1970' with 4"),
    ],
)  # fmt: skip
def test_years_of_two_digits_beside_years_of_four_are_refused(
    tmp_path: Path, cells: list[str], problem: str
) -> None:
    assert _refusal(tmp_path, cells) == (
        f"writes the year of {problem}; write every year with four digits."
    )


@pytest.mark.parametrize(
    ("year", "expected"),
    [("00", 2000), ("68", 2068), ("69", 1969), ("75", 1975), ("76", 1976), ("99", 1999)],
)
@pytest.mark.parametrize("today", [None, 2026, 2027, 2080])
def test_a_two_digit_year_reads_in_the_same_century_whatever_today_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, year: str, expected: int, today: int | None
) -> None:
    """pandas hands two-digit years to dateutil, which puts them within 50 years of the year it
    was imported in: in 2026 75 was 2075, and from 2027 76 became 2076. They now read as
    strptime's %y does, whatever year dateutil thinks it is."""
    if today is not None:
        from dateutil.parser import DEFAULTPARSER

        monkeypatch.setattr(DEFAULTPARSER.info, "_year", today)
        monkeypatch.setattr(DEFAULTPARSER.info, "_century", today // 100 * 100)
    read = _dates(tmp_path, [f"13/01/{year}", f"14/01/{year}"])
    assert read == [f"{expected}-01-13", f"{expected}-01-14"]
    assert _dates(tmp_path, [f"01/13/{year}", f"01/14/{year}"]) == read


@pytest.mark.parametrize("today", [None, 2040, 2080])
def test_a_two_digit_year_beside_a_month_name_reads_in_the_same_century(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, today: int | None
) -> None:
    """`31-May-76` and `Jan-76` (monthly data as spreadsheets write it) went to dateutil's
    moving century as well: with its year at 2040, 76 was 2076."""
    if today is not None:
        from dateutil.parser import DEFAULTPARSER

        monkeypatch.setattr(DEFAULTPARSER.info, "_year", today)
        monkeypatch.setattr(DEFAULTPARSER.info, "_century", today // 100 * 100)
    assert _dates(tmp_path, ["31-May-76", "01-Jun-76"]) == ["1976-05-31", "1976-06-01"]
    assert _dates(tmp_path, ["Jan-76", "Feb-76"]) == ["1976-01-01", "1976-02-01"]
    assert _dates(tmp_path, ["Nov/68", "Dec/68"]) == ["2068-11-01", "2068-12-01"]
    assert _dates(tmp_path, ["Jun-04-76", "Jun-07-76"]) == ["1976-06-04", "1976-06-07"]
    assert _dates(tmp_path, ["31 Dec 99 16:00", "3 Jan 00 16:00"]) == ["1999-12-31", "2000-01-03"]


def test_dates_with_month_names_read_whatever_month_comes_first(tmp_path: Path) -> None:
    """pandas reads a column in its first date's form, and took `May` for a month written in
    full: a column starting 31-May-1976 refused 01-Jun-1976 as another form."""
    assert _dates(tmp_path, ["31-May-1976", "01-Jun-1976"]) == ["1976-05-31", "1976-06-01"]
    assert _dates(tmp_path, ["May 1976", "June 1976", "Sept 1976"]) == [
        "1976-05-01",
        "1976-06-01",
        "1976-09-01",
    ]
    # A month's name, its day and then the year: left to pandas, which reads them as before.
    assert _dates(tmp_path, ["Jun-04-2024", "Jun-05-2024"]) == ["2024-06-04", "2024-06-05"]
    assert _dates(tmp_path, ["Jun/04/2024", "Jun/05/2024"]) == ["2024-06-04", "2024-06-05"]
    assert _dates(tmp_path, ["May-31-2024", "Jun-03-2024"]) == ["2024-05-31", "2024-06-03"]


def test_the_two_digit_year_pivot_is_strptimes() -> None:
    from datetime import datetime

    from stockcast.data.year_last import four_digit_year

    assert [four_digit_year(y) for y in range(100)] == [
        datetime.strptime(f"{y:02d}", "%y").year for y in range(100)
    ]


def test_two_digit_years_step_on_across_the_turn_of_the_century(tmp_path: Path) -> None:
    """Monthly data from 1998 to 2001 written day first: 99 is followed by 00, not by 1900."""
    months = pd.date_range("1998-01-01", "2001-12-01", freq="MS")
    read = _dates(tmp_path, [day.strftime("%d/%m/%y") for day in months])
    assert read == [str(day.date()) for day in months]


@pytest.mark.parametrize(
    ("freq", "first"), [("M", "2000-01-01"), ("Q", "2000-01-01"), ("D", "2000-01-01")]
)
def test_a_parquet_period_column_is_read_as_each_periods_first_day(
    tmp_path: Path, freq: str, first: str
) -> None:
    """pandas' period index, as `to_parquet` keeps it, was refused as an unreadable date."""
    periods = pd.period_range("2000-01", periods=24, freq=freq).rename("date")
    path = tmp_path / "periods.parquet"
    pd.DataFrame({"value": np.arange(1.0, 25.0)}, index=periods).to_parquet(path)
    (series,) = read_table_series(path, "date", "value")
    assert series.dates is not None
    expected = periods.to_timestamp(how="start").to_numpy("datetime64[ns]")
    np.testing.assert_array_equal(series.dates, expected)
    assert str(series.dates[0])[:10] == first


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_zoned_dates_at_local_midnight_are_read_as_their_own_days(
    tmp_path: Path, suffix: str
) -> None:
    """A Europe/Berlin daily index (+01:00 in winter, +02:00 in summer), as pandas writes it:
    in UTC each date was the evening before."""
    days = pd.bdate_range("2024-03-20", "2024-04-05", tz="Europe/Berlin")
    frame = pd.DataFrame({"Close": np.arange(1.0, len(days) + 1)}, index=days.rename("Date"))
    path = tmp_path / f"berlin{suffix}"
    frame.to_csv(path) if suffix == ".csv" else frame.reset_index().to_parquet(path)
    if suffix == ".csv":
        assert "00:00:00+01:00" in path.read_text() and "00:00:00+02:00" in path.read_text()
    (series,) = read_table_series(path, "Date", "Close")
    assert series.dates is not None
    expected = days.tz_localize(None).to_numpy("datetime64[ns]")
    np.testing.assert_array_equal(series.dates, expected)


def test_pandas_notices_do_not_print_before_a_refusal(tmp_path: Path) -> None:
    """pandas' notice that it guessed the day first printed before stockcast's own sentence,
    which is what decides the column."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DataError, match="has an unreadable date 'not a date'"):
            _dates(tmp_path, ["13/01/1910", "not a date"])
    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)] == []


@pytest.mark.parametrize(
    ("cells", "row"),
    [
        (["2024-01-02 17:30 CET", "2024-01-03 17:30 CET"], 1),
        (["2024-03-08 16:00 EST", "2024-03-11 16:00 EDT"], 1),
        (["2024-03-08 16:00", "2024-03-11 16:00 edt"], 2),
        (["2024-01-02 4:00 PM EST", "2024-01-03 4:00 PM EST"], 1),
        # An IANA name or a name in brackets was refused as an unreadable date.
        (["2024-03-08 09:30:00 America/New_York", "2024-03-08 10:00:00 America/New_York"], 1),
        (["2024-03-08 09:30 (EST)", "2024-03-08 10:00 (EST)"], 1),
    ],
)
def test_a_time_zone_written_as_a_name_is_refused(
    tmp_path: Path, cells: list[str], row: int
) -> None:
    """pandas dropped CET and read the time as UTC, and refused EDT beside EST as unreadable."""
    assert _refusal(tmp_path, cells) == (
        f"gives the time zone of {cells[row - 1]!r} in column 'Date' at data row {row} as a "
        "name, which is not read; write a UTC offset instead (2024-01-02 17:30+01:00 for 17:30 "
        "CET)."
    )
    # An hour after GMT or UTC is read as a POSIX zone, its sign reversed (17:00 UTC).
    with pytest.raises(DataError, match=r"as GMT or UTC and an hour, which is read with the sign"):
        _dates(tmp_path, ["2024-01-02 16:00 GMT+1", "2024-01-03 16:00 GMT+1"])
    for words in ("17:30 UTC", "5:30 PM"):
        read = _dates(tmp_path, [f"2024-01-02 {words}", f"2024-01-03 {words}"])
        assert read == ["2024-01-02", "2024-01-03"]


def test_an_hour_local_clock_times_repeat_as_daylight_saving_ends_is_named(
    tmp_path: Path,
) -> None:
    """New York's clocks read 01:00 twice on 3 November 2024: the refusal said only to drop the
    duplicates, which would lose a real bar; a repeated day says what it said."""
    hours = ["2024-11-03 00:00", "2024-11-03 01:00", "2024-11-03 01:00", "2024-11-03 02:00"]
    assert _refusal(tmp_path, hours) == (
        "has 2 rows on a repeated date (2024-11-03 01:00:00 at data rows 2, 3); keep one row "
        "per date in each series, e.g. drop the duplicates, or, where the times are local "
        "clock times that repeat an hour as daylight saving ends, write them with their UTC "
        "offset (2024-11-03T01:00-04:00) or in UTC."
    )
    days = ["2024-11-01", "2024-11-04", "2024-11-04", "2024-11-05"]
    assert _refusal(tmp_path, days).endswith("e.g. drop the duplicates.")


def test_moves_float32_cannot_hold_at_the_series_level_are_refused(
    make_cfg, tmp_path: Path
) -> None:
    """A series near 1e9 that moves by about 1: float32 holds values there 64 apart, so every
    window was rounding noise and the run scored a perfect 0.0 without a word."""
    from stockcast.data.checks import refuse_moves_float32_cannot_hold
    from stockcast.data.series import Series
    from stockcast.data.split import split_series
    from stockcast.forecasting.windows import WindowSizes

    walk = np.cumsum(np.random.default_rng(0).normal(0, 1, 300))
    fractions = {"train": 0.7, "val": 0.15, "test": 0.15}
    for level, refused in ((1e9, True), (1e6, False), (100.0, False)):
        train = split_series([Series("a", level + walk)], WindowSizes(10, 5), fractions)["train"]
        if refused:
            with pytest.raises(DataError, match=r"where float32, which the model computes in"):
                refuse_moves_float32_cannot_hold(train.series_ids, train.segments())
        else:
            refuse_moves_float32_cannot_hold(train.series_ids, train.segments())
    # Prepare refuses it before anything is trained.
    from stockcast.orchestration.steps.prepare import run_prepare

    csv = tmp_path / "billions.csv"
    csv.write_text("Close\n" + "\n".join(repr(float(1e9 + v)) for v in walk) + "\n")
    cfg = make_cfg("data=csv", f"data.path={csv}", "data.date_column=null")
    with pytest.raises(DataError, match=r"^series .* moves by about"):
        run_prepare(cfg, tmp_path / "prepared")


def test_year_last_dates_of_a_table_joined_from_frames_read_by_position(tmp_path: Path) -> None:
    """Per-ticker frames joined with pd.concat repeat their index labels (0, 1, 2, 0, 1, 2):
    read by label, a refusal named a row as a whole Series, and a blank date crashed."""
    frames = [
        pd.DataFrame({"id": ticker, "date": ["13/01/2020", "14/01/2020"], "value": [1.0, 2.0]})
        for ticker in ("AAA", "BBB")
    ]
    path = tmp_path / "panel.parquet"
    pd.concat(frames).to_parquet(path)
    series = read_table_series(path, "date", "value", "id")
    assert [[str(d) for d in s.dates.astype("datetime64[D]")] for s in series] == [
        ["2020-01-13", "2020-01-14"]
    ] * 2
    frames[1]["date"] = ["13/01/20", "14/01/20"]
    pd.concat(frames).to_parquet(path)
    assert "writes the year of '13/01/20' at data row 3 in column 'date' with 2 digits" in (
        table_refusal(path, "date", "value", "id")
    )
    frames[1]["date"] = ["2020-01-13 17:30 CET", "2020-01-14 17:30 CET"]
    pd.concat(frames).to_parquet(path)
    with pytest.raises(DataError, match="'2020-01-13 17:30 CET' in column 'date' at data row 3"):
        read_table_series(path, "date", "value", "id")
    frames[0]["date"] = ["2020-01-13 00:00:00+01:00", "2020-01-14 00:00:00+01:00"]
    frames[1]["date"] = ["2020-01-13 00:00:00+01:00", None]
    pd.concat(frames).to_parquet(path)
    with pytest.raises(DataError, match="has no date in column 'date' at data row 4; give each"):
        read_table_series(path, "date", "value", "id")


def test_an_encrypted_zip_is_one_sentence(tmp_path: Path) -> None:
    """zipfile raised its RuntimeError for a member that needs a password."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("prices.csv", "Date,Close\n2024-01-01,1\n2024-01-02,2\n")
    packed = bytearray(buffer.getvalue())
    # Mark the member encrypted, as `zip -P` does: bit 0 of both of its headers' flags.
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        packed[packed.index(signature) + flags_at] |= 1
    path = tmp_path / "prices.csv.zip"
    path.write_bytes(bytes(packed))
    assert table_refusal(path, "Date", "Close") == (
        f"CSV file {path} cannot be read as .zip data (File 'prices.csv' is encrypted, password "
        "required for extraction): it is encrypted or packed by a method Python cannot unpack; "
        "zip the CSV again without a password (deflate), or give the CSV itself."
    )


def test_a_zip_packed_by_a_module_this_python_lacks_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Python built without lzma: zipfile raised its RuntimeError for an lzma-packed member."""
    path = tmp_path / "prices.csv.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_LZMA) as archive:
        archive.writestr("prices.csv", "Date,Close\n2024-01-01,1\n2024-01-02,2\n")
    monkeypatch.setattr(zipfile, "lzma", None)
    assert table_refusal(path, "Date", "Close").startswith(
        f"CSV file {path} cannot be read as .zip data (Compression requires the (missing) lzma "
        "module): it is encrypted or packed by a method Python cannot unpack;"
    )


def test_prepare_logs_the_dates_it_read_and_no_dates_for_undated_data(
    make_cfg, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Undated data was logged as spanning `None to None, as of None`."""
    import logging

    from stockcast.orchestration.steps.prepare import run_prepare

    walk = 100 + np.cumsum(np.random.default_rng(1).normal(0, 1, 60))
    undated, dated = tmp_path / "undated.csv", tmp_path / "dated.csv"
    undated.write_text("Close\n" + "\n".join(f"{v:.4f}" for v in walk) + "\n")
    days = pd.bdate_range("2024-01-01", periods=len(walk)).strftime("%Y-%m-%d")
    dated.write_text(
        "Date,Close\n" + "\n".join(f"{d},{v:.4f}" for d, v in zip(days, walk, strict=True))
    )
    lines = {}
    for name, csv, dates in (("undated", undated, "null"), ("dated", dated, "Date")):
        cfg = make_cfg("data=csv", f"data.path={csv}", f"data.date_column={dates}")
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="stockcast.orchestration.steps.prepare"):
            run_prepare(cfg, tmp_path / name)
        lines[name] = next(r.getMessage() for r in caplog.records if "prepared" in r.getMessage())
    assert "from 60 points, data hash" in lines["undated"] and "None" not in lines["undated"]
    assert f"from 60 points (2024-01-01 to {days[-1]}, as of " in lines["dated"]
