"""Predict's input file: its format told from its suffix as data reading tells it, a suffix
naming no format still read as CSV (input=csv)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockcast.errors import DataError
from stockcast.prediction.inputs import read_input_table

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
