"""Predict's input file: its format told from its suffix as data reading tells it, a suffix
naming no format still read as CSV (input=csv); the one series of a file of several that
input.series_id chooses."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockcast.errors import ConfigError, DataError
from stockcast.prediction.input_tables import read_input_table, with_trained_value_column
from stockcast.prediction.inputs import build_input

DAYS = pd.bdate_range("2024-01-01", periods=3)
CLOSES = [1.5, 2.5, 3.5]


def _cfg(path: Path, **extra: str) -> dict[str, object]:
    return {"path": str(path), "date_column": "Date", "value_column": "Close", **extra}


def _table() -> pd.DataFrame:
    return pd.DataFrame({"Date": DAYS, "Close": CLOSES})


def _read(cfg: dict[str, object]) -> list[float]:
    (series,) = read_input_table(cfg)
    np.testing.assert_array_equal(series.dates, DAYS.to_numpy("datetime64[ns]"))
    return series.values.tolist()


@pytest.mark.parametrize(
    "name", ["prices.csv", "prices.CSV", "prices.txt", "prices", "prices.csv.gz", "prices.csv.zip"]
)
def test_a_csv_is_read_whatever_its_suffix_and_compression(tmp_path: Path, name: str) -> None:
    """Any suffix naming no format reads as CSV, as input=csv always has; a CSV's may be
    followed by a compression's."""
    path = tmp_path / name
    _table().to_csv(path, index=False)
    assert _read(_cfg(path)) == CLOSES


@pytest.mark.parametrize("name", ["prices.parquet", "prices.PQ"])
def test_a_parquet_suffix_reads_as_parquet(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    _table().to_parquet(path)
    assert _read(_cfg(path)) == CLOSES


@pytest.mark.parametrize("suffix", [".parquet.gz", ".pq.gz", ".parquet.zip"])
def test_a_compressed_parquet_file_is_refused_by_its_suffix(tmp_path: Path, suffix: str) -> None:
    """The .gz made it CSV, refused as text that is not UTF-8; pandas opens no compressed
    Parquet file."""
    buffer = io.BytesIO()
    _table().to_parquet(buffer)
    path = tmp_path / f"prices{suffix}"
    path.write_bytes(gzip.compress(buffer.getvalue()))
    with pytest.raises(DataError) as refused:
        read_input_table(_cfg(path))
    assert str(refused.value) == (
        f"cannot tell the format of {path} from its suffix {suffix!r}; name it .csv or "
        ".parquet, or set input.format."
    )


def test_input_format_still_decides(tmp_path: Path) -> None:
    csv = tmp_path / "prices.parquet"
    _table().to_csv(csv, index=False)
    assert _read(_cfg(csv, format="csv")) == CLOSES
    parquet = tmp_path / "prices.data"
    _table().to_parquet(parquet)
    assert _read(_cfg(parquet, format="parquet")) == CLOSES
    with pytest.raises(DataError) as refused:
        read_input_table(_cfg(parquet, format="xlsx"))
    assert str(refused.value) == (
        "input.format is 'xlsx'; choose one of ['csv', 'parquet'] or null (from the file's suffix)."
    )


def test_one_series_of_a_file_is_judged_by_its_own_rows(tmp_path: Path) -> None:
    """Another ticker's missing value refused the file for every series_id, a misspelt id too,
    and the sentence named no ticker."""
    days = pd.bdate_range("2024-01-01", periods=12)
    rows = [("AAA", 100.0 + i) for i in range(12)] + [("BAD", 50.0 + i) for i in range(12)]
    frame = pd.DataFrame(rows, columns=["Ticker", "Close"]).assign(Date=list(days) * 2)
    frame.loc[15, "Close"] = np.nan
    path = tmp_path / "watch.csv"
    frame.to_csv(path, index=False)
    cfg = {"kind": "csv", **_cfg(path, id_column="Ticker")}
    metadata = {"previous_time_window": 10, "next_time_window": 5}

    chosen = build_input({**cfg, "series_id": "AAA"}, metadata)
    assert chosen.values.tolist() == [100.0 + i for i in range(12)]
    # Ids are read without the spaces around them, and so is the one asked for.
    assert build_input({**cfg, "series_id": "AAA "}, metadata).values.tolist() == [
        100.0 + i for i in range(12)
    ]
    with pytest.raises(DataError, match=r"^series 'BAD' has 1 missing value"):
        build_input({**cfg, "series_id": "BAD"}, metadata)
    with pytest.raises(ConfigError) as refused:
        build_input({**cfg, "series_id": "ZZZ"}, metadata)
    assert str(refused.value) == (
        "input.series_id 'ZZZ' is not in the data; its ids are 'AAA', 'BAD'."
    )
    with pytest.raises(ConfigError, match=r"holds 2 series in column 'Ticker'; pick one with"):
        build_input(cfg, metadata)
    # Read as one series, an id names nothing: the sentence says which setting reads several.
    with pytest.raises(ConfigError, match=r"input.id_column is null\); set input.id_column"):
        build_input({"kind": "csv", **_cfg(path), "series_id": "AAA"}, metadata)


def test_a_table_input_reads_the_value_column_the_model_was_trained_on_unless_named() -> None:
    trained_on_sales = {"data_source": {"source": "csv", "value_column": "Sales"}}
    csv = {"kind": "csv", "path": "p.csv", "value_column": None}
    assert with_trained_value_column(csv, trained_on_sales)[0]["value_column"] == "Sales"
    named = csv | {"value_column": "Adj Close"}
    # A column the user named needs no why.
    assert with_trained_value_column(named, trained_on_sales) == (named, None)
    # A synthetic market's model names no column: data=csv's default.
    synthetic = {"data_source": {"source": "gbm"}}
    assert with_trained_value_column(csv, synthetic)[0]["value_column"] == "Close"
    test_split = {"kind": "test_split"}
    assert with_trained_value_column(test_split, trained_on_sales) == (test_split, None)


def test_a_bad_value_of_a_dated_file_is_named_by_its_date(tmp_path: Path) -> None:
    """The refusal named the value's position in the series sorted by date, which is no row of
    a file written newest first; a dated file's value is named by its date."""
    days = pd.bdate_range("2024-01-01", periods=12)
    closes = [100.0 + i for i in range(12)]
    closes[5] = -5.0
    frame = pd.DataFrame({"Date": days, "Close": closes}).iloc[::-1]
    path = tmp_path / "newest_first.csv"
    frame.to_csv(path, index=False)
    metadata = {"previous_time_window": 10, "next_time_window": 5}
    with pytest.raises(DataError) as refused:
        build_input({"kind": "csv", **_cfg(path)}, metadata)
    assert str(refused.value).startswith("the input holds -5 on 2024-01-08, but prices are above 0")
    # Given values have no dates: their position is named, as before.
    with pytest.raises(DataError, match=r"^the input holds -5 at position 2, but prices"):
        build_input({"kind": "values", "values": [1.0, -5.0, 2.0]}, metadata)


@pytest.mark.parametrize(
    ("held", "read_as"), [("1e3", 1000.0), ("1_000", 1000), ("true", True), ("007", "007")]
)
def test_an_id_the_command_line_reads_as_a_number_still_picks_its_series(
    tmp_path: Path, held: str, read_as: object
) -> None:
    """Hydra reads an unquoted input.series_id=1e3 as 1000.0 and =true as True: a file whose ids
    are read as text was refused as not holding them, naming the id it was asked for."""
    days = pd.bdate_range("2024-01-01", periods=12)
    rows = [(held, 100.0 + i) for i in range(12)] + [("ZZZ", 50.0 + i) for i in range(12)]
    frame = pd.DataFrame(rows, columns=["Ticker", "Close"]).assign(Date=list(days) * 2)
    path = tmp_path / "watch.csv"
    frame.to_csv(path, index=False)
    cfg = {"kind": "csv", **_cfg(path, id_column="Ticker"), "series_id": read_as}
    metadata = {"previous_time_window": 10, "next_time_window": 5}
    assert build_input(cfg, metadata).values.tolist() == [100.0 + i for i in range(12)]
    with pytest.raises(ConfigError, match=r"^input.series_id 2000.0 is not in the data"):
        build_input(cfg | {"series_id": 2000.0}, metadata)


def test_a_file_without_the_value_column_chosen_for_it_says_why_that_column(
    tmp_path: Path,
) -> None:
    """With input.value_column unset, a file without 'Close' was told it 'has no column
    'Close' (input.value_column)', a column the user never named."""
    path = tmp_path / "p.csv"
    pd.DataFrame({"Date": DAYS, "Price": CLOSES}).to_csv(path, index=False)
    unset = {"kind": "csv", **_cfg(path), "value_column": None}
    trained = {
        "synthetic series": ({"data_source": {"source": "gbm"}}, "Close"),
        "training file": ({"data_source": {"source": "csv", "value_column": "Sales"}}, "Sales"),
    }
    said = {
        "synthetic series": "unset: Close, the default for a model trained on a synthetic series",
        "training file": "unset: the column the model's training file held its values in",
    }
    for kind, (metadata, column) in trained.items():
        chosen, why = with_trained_value_column(unset, metadata)
        # Why that column travels beside the config, not inside it where it could be written.
        assert (chosen, why) == (unset | {"value_column": column}, said[kind])
        with pytest.raises(DataError) as refused:
            read_input_table(chosen, value_column_why=why)
        assert str(refused.value) == (
            f"CSV file {path} has no column {column!r} (input.value_column, {said[kind]}); its "
            "columns are ['Date', 'Price']: set input.value_column to one of them."
        )
    # A column the user named is refused as before.
    with pytest.raises(DataError, match=r"no column 'Close' \(input.value_column\); its"):
        read_input_table(_cfg(path))
