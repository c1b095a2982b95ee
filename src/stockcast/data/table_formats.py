"""A table file's format (CSV or Parquet: from the config, or the file's suffix), and the file
checked and read as a frame in it: a file of the other format, a missing file or a folder each
refused in one sentence naming the setting that reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stockcast.data.compressed import compression_of
from stockcast.data.csv_file import read_csv_frame
from stockcast.errors import DataError, first_line

# Table formats by name, and the file suffixes that imply them.
TABLE_FORMATS = {"csv": "CSV", "parquet": "Parquet"}
SUFFIX_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
# Formats whose suffix may be followed by a compression's (prices.csv.gz): pandas decompresses a
# CSV by its suffix, while a Parquet file compresses inside itself and pandas opens no .gz of it.
COMPRESSIBLE_FORMATS = frozenset({"csv"})
# The bytes every Parquet file starts with: such a file read as CSV is no text at all.
PARQUET_MAGIC = b"PAR1"


def table_format(path: Path, format: str | None, key: str, otherwise: str | None = None) -> str:
    """`format` when given, else the one the file's suffix names: a CSV's may be followed by
    one of the compressions pandas reads it in (prices.csv.gz, prices.csv.zip). A suffix that
    names no format is refused, or read as `otherwise` when given (predict's input=csv reads
    prices.txt as CSV); a Parquet suffix followed by a compression's is refused either way."""
    if format is not None:
        if format not in TABLE_FORMATS:
            raise DataError(
                f"{key}.format is {format!r}; choose one of {sorted(TABLE_FORMATS)} or null "
                "(from the file's suffix)."
            )
        return format
    suffix, compression = format_suffix(path)
    found = SUFFIX_FORMATS.get(suffix, otherwise)
    if found is None or (compression and found not in COMPRESSIBLE_FORMATS):
        raise DataError(
            f"cannot tell the format of {path} from its suffix {suffix + compression!r}; name it "
            f".csv or .parquet, or set {key}.format."
        )
    return found


def format_suffix(path: Path) -> tuple[str, str]:
    """(the suffix that names the format, the compression's after it), lower case: ('.csv',
    '.gz') for prices.csv.gz, ('.csv', '') for prices.csv, ('', '.tar.gz') for prices.tar.gz."""
    compression = compression_of(path)
    return Path(path.name.lower().removesuffix(compression)).suffix, compression


def check_file(path: Path, label: str, key: str) -> None:
    """A file is there to read: a missing path and a folder each get their own sentence."""
    if path.is_dir():
        raise DataError(f"{label} is a directory, not a file; set {key}.path to the file itself.")
    if not path.is_file():
        raise DataError(f"{label} does not exist; set {key}.path to an existing file.")


def refuse_parquet_as_csv(path: Path, key: str) -> None:
    """A Parquet file given as CSV is named as Parquet, not as text that is not UTF-8."""
    with path.open("rb") as handle:
        if handle.read(len(PARQUET_MAGIC)) != PARQUET_MAGIC:
            return
    fix = (
        "use data=parquet (columns date, id and value by default), or set data.format=parquet"
        if key == "data"
        else f"set {key}.format=parquet"
    )
    raise DataError(f"{path} is a Parquet file, not CSV; {fix}.")


def refuse_text_as_parquet(path: Path, label: str, key: str) -> None:
    """A file read as Parquet that does not begin as every Parquet file does (a CSV given to
    data=parquet): named so, with the setting that reads a CSV, not in pyarrow's words alone."""
    with path.open("rb") as handle:
        if handle.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC:
            return
    fix = "use data=csv, or set data.format=csv" if key == "data" else f"set {key}.format=csv"
    raise DataError(
        f"{label} is not a readable Parquet file (it does not begin with the bytes "
        f"{PARQUET_MAGIC.decode()} that every Parquet file begins with); if it is a CSV file, "
        f"{fix}."
    )


def read_frame(
    path: Path, format: str, key: str, id_column: str | None, separator: str, decimal: str
) -> Any:
    """The file as a DataFrame with at least one row, or one sentence saying why not. A CSV's
    `id_column` is read as text: ids are names, and 001 is not 1."""
    import pandas as pd

    label = f"{TABLE_FORMATS[format]} file {path}"
    check_file(path, label, key)
    if format == "csv":
        refuse_parquet_as_csv(path, key)
        text_columns = [] if id_column is None else [id_column]
        frame = read_csv_frame(path, label, text_columns, separator, decimal, key)
    else:
        refuse_text_as_parquet(path, label, key)
        try:
            frame = pd.read_parquet(path)
        except ImportError:
            raise DataError(
                f"reading {label} needs pyarrow; install it (pip install pyarrow)."
            ) from None
        except Exception as err:  # pyarrow's errors for damaged files vary by version
            raise DataError(
                f"{label} is not a readable Parquet file ({first_line(err)})."
            ) from None
        # A frame saved with its dates (or ids) as its index: pandas reads those back as the
        # index, not as the columns the file holds (a level also kept as a column stays out).
        if any(name is not None for name in frame.index.names):
            apart = [n for n in frame.index.names if n is not None and n not in frame.columns]
            frame = (frame.reset_index(level=apart) if apart else frame).reset_index(drop=True)
    if frame.empty:
        raise DataError(f"{label} has a header but no rows.")
    return frame
