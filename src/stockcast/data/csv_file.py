"""Reading a CSV file into a DataFrame, and saying in one sentence which line breaks it.

pandas reports a malformed file as a multi-line tokenizer or codec error, silently reads a row
with one extra field as an index column, and fills a short row with NaN. A file is read by
pandas' fast parser; only when that fails, or its result shows one of those silent repairs, is
the file scanned again line by line (`csv_scans`) to name the first line at fault (that scan
costs nothing on a well-formed file).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from stockcast.data.compressed import DAMAGED_COMPRESSION, damaged, locked_zip, unopened
from stockcast.data.csv_scans import (
    QUOTE,
    first_non_utf8_line,
    first_nul_line,
    holds_any,
    open_text,
    ragged_line,
    scannable,
    unclosed_quote_line,
)
from stockcast.errors import DataError, first_line

# The separators files are written with, as a refusal names them: a spreadsheet writes
# semicolons where the comma is the decimal mark.
SEPARATOR_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "'|'"}
# The line Excel writes (and reads) above the header to name the separator: `sep=;`.
SEPARATOR_LINE = re.compile(r"sep=(.)", re.IGNORECASE)
# What a decimal that reads as 0 though written as nonzero holds: a negative exponent, or more
# zeros after the point than the smallest float's (5e-324) before its first digit.
UNDERFLOW_MARKS = (b"e-", b"E-", b"0" * -(math.floor(math.log10(math.ulp(0.0))) + 1))


def separator_char(setting: str) -> str:
    """The character a separator setting names: a tab written as `\\t` (as a shell passes
    '\\t' to Hydra) is a tab."""
    return "\t" if setting == "\\t" else setting


def read_csv_frame(
    path: Path,
    label: str,
    text_columns: Sequence[str] = (),
    separator: str = ",",
    decimal: str = ".",
    key: str = "data",
) -> Any:
    """The CSV file as a DataFrame (possibly without rows), or a DataError naming the line that
    is not UTF-8, holds the wrong number of fields, or opens a quote it never closes.
    `text_columns` are read as written (ids 001 and 002, not the numbers 1 and 2; a ticker
    `NA` or `None`, not a missing value), less the spaces around them: only a blank cell is
    missing there. A compressed file that is not what its suffix names, or is damaged anywhere
    (read by pandas or by the line scans after it), is one sentence too. `separator` and
    `decimal` are `<key>.separator` and `<key>.decimal`."""
    try:
        return _read_csv_frame(path, label, text_columns, separator, decimal, key)
    except (RuntimeError, *DAMAGED_COMPRESSION) as err:
        # A RuntimeError is zipfile's word (NotImplementedError is one) for a member that is
        # encrypted or packed by a method it lacks; any other one is not the archive's.
        sentence = locked_zip if isinstance(err, RuntimeError) else damaged
        problem = sentence(path, label, err)
        if problem is None:
            raise
        raise DataError(problem) from None


def _read_csv_frame(
    path: Path, label: str, text_columns: Sequence[str], separator: str, decimal: str, key: str
) -> Any:
    import pandas as pd

    try:
        frame = pd.read_csv(
            path, sep=separator, decimal=decimal, converters=dict.fromkeys(text_columns, str)
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{label} is empty; it needs a header and rows.") from None
    except UnicodeDecodeError:
        raise DataError(_not_utf8(path, label)) from None
    except pd.errors.ParserError as err:
        refuse_a_separator_line(path, label, separator, key)
        refuse_other_separator(path, label, separator, key, decimal)
        refuse_a_nul_byte(path, label)
        problem = layout_problem(path, label, separator)
        raise DataError(problem or _unparsed(label, err)) from None
    except (ImportError, ValueError) as err:
        problem = unopened(path, label, err)
        if problem is None:
            raise
        raise DataError(problem) from None
    # After pandas opened the file: an archive without one file to read has its own sentence.
    refuse_a_separator_line(path, label, separator, key)
    refuse_a_nul_byte(path, label)
    if len(frame.columns) == 1:
        refuse_other_separator(path, label, separator, key, decimal)
    if _maybe_ragged(frame):
        problem = layout_problem(path, label, separator)
        if problem is not None:
            raise DataError(problem)
    for column in text_columns:
        if column in frame.columns:
            # `AAA` and `AAA ` (a space after a comma, a padded export) are one series.
            stripped = frame[column].str.strip()
            frame[column] = stripped.mask(stripped == "")
    return frame


def column_text(path: Path, column: str, separator: str = ",") -> Any:
    """One column of the file as written, row for row as `read_csv_frame` read it (blank lines
    skipped alike): the text of cells its number no longer shows (`1e-400`, read as 0.0). None
    where no cell can be such (the file holds no UNDERFLOW_MARKS): it is not read again."""
    import pandas as pd

    if scannable(path) and not holds_any(path, UNDERFLOW_MARKS):
        return None
    return pd.read_csv(path, sep=separator, usecols=[column], dtype=str, keep_default_na=False)[
        column
    ]


def refuse_a_nul_byte(path: Path, label: str) -> None:
    """A NUL byte anywhere in the file's text: pandas' parser ends a field there, so `2.\\x005`
    was read as 2.0 without a word, and UTF-16 text without a byte order mark (a NUL beside
    every character) was refused as rows of the wrong width."""
    line = first_nul_line(path) if scannable(path) else None
    if line is not None:
        raise DataError(
            f"{label} holds a NUL byte (0x00) on line {line}, which no CSV text holds (its "
            "value would be cut short there); save the file as UTF-8 text, or remove the byte."
        )


def refuse_a_separator_line(path: Path, label: str, separator: str, key: str) -> None:
    """A first line `sep=;`, Excel's note of the file's separator: read as the header, it named
    the columns `sep=` and `Unnamed: 1`, and the refusal of a missing column offered those."""
    if not scannable(path):
        return
    with open_text(path) as handle:
        found = SEPARATOR_LINE.fullmatch(handle.readline().rstrip("\r\n"))
    if found is None:
        return
    named = found.group(1)
    setting = "" if named == separator else f' and read it with "{key}.separator={named!r}"'
    raise DataError(
        f"{label} begins with the line {found.group(0)!r}, a spreadsheet's note of its "
        f"separator rather than its header; delete that line{setting}."
    )


def refuse_other_separator(
    path: Path, label: str, separator: str = ",", key: str = "data", decimal: str = "."
) -> None:
    """A header of one field holding another separator than `separator`: the file separates
    its fields with that, which pandas would read as one column (or as rows of too many
    fields). The settings that read it are written as a shell passes them to Hydra."""
    if not scannable(path):
        return
    with open_text(path) as handle:
        header = next(csv.reader(handle, delimiter=separator), [])
        if len(header) != 1:
            return
        # Read on only where a semicolon is refused: a file of one column is read once.
        points_only = ";" in header[0] and _decimal_points_only(handle)
    for other, name in SEPARATOR_NAMES.items():
        if other != separator and other in header[0]:
            settings = [f'"{key}.separator={other!r}"']
            # A spreadsheet's, with the decimal comma; not where the values write points.
            if other == ";" and decimal == "." and not points_only:
                settings.append(f"\"{key}.decimal=','\"")
            elif other == "," and decimal == ",":
                settings.append(f"\"{key}.decimal='.'\"")
            expected = SEPARATOR_NAMES.get(separator, repr(separator))
            raise DataError(
                f"{label} separates its fields with {name} (its header is {header[0]!r}), not "
                f"{expected}; read it with {' '.join(settings)}."
            )


def _decimal_points_only(lines: Iterable[str]) -> bool:
    """Whether the rows after the header hold points but no comma: their decimal mark is the
    point, so the decimal comma's setting would refuse every value written with one."""
    point = False
    for line in lines:
        if "," in line:
            return False
        point = point or "." in line
    return point


def refuse_a_repeated_column(
    path: Path, label: str, named: Sequence[tuple[str, str]], separator: str, key: str
) -> None:
    """A column the settings name that the header names twice: pandas reads the second as
    `<name>.1`, so the first was read without a word, whichever the user meant. `named`:
    (setting, column) pairs."""
    if not scannable(path):
        return
    with open_text(path) as handle:
        # pandas skips blank lines before the header.
        rows = (row for row in csv.reader(handle, delimiter=separator) if row)
        header = [name.strip() for name in next(rows, [])]
    for setting, column in named:
        fields = [number for number, name in enumerate(header, 1) if name == column]
        if len(fields) > 1:
            where = ", ".join(map(str, fields[:-1])) + f" and {fields[-1]}"
            raise DataError(
                f"{label} has {len(fields)} columns named {column!r} (fields {where} of its "
                f"header), which {key}.{setting} names; give each column its own name."
            )


def _maybe_ragged(frame: Any) -> bool:
    """pandas' silent repairs: a first data row with one field too many becomes an index
    column; a row with too few fields ends in NaN."""
    import pandas as pd

    if not isinstance(frame.index, pd.RangeIndex):
        return True
    return len(frame.columns) > 0 and bool(frame.iloc[:, -1].isna().any())


def layout_problem(path: Path, label: str, separator: str = ",") -> str | None:
    """The sentence for the first line whose quotes or field count break the table, or None."""
    if not scannable(path):
        return None
    quote_line = unclosed_quote_line(path)
    ragged = ragged_line(path, separator)
    if quote_line is not None and (ragged is None or quote_line <= ragged[0]):
        return (
            f"{label} opens a quoted field on line {quote_line} that is never closed; add the "
            f"closing quote ({QUOTE}) or remove the stray one."
        )
    if ragged is None:
        return None
    line, fields, width = ragged
    fix = (
        f"remove the extra field(s), or quote a value that holds a {_written(separator)}"
        if fields > width
        else "complete the row or remove it"
    )
    counted = f"{fields} field" + ("" if fields == 1 else "s")
    return f"{label} has {counted} on line {line} where its header has {width}; {fix}."


def _written(separator: str) -> str:
    return SEPARATOR_NAMES.get(separator, repr(separator)).removesuffix("s")


def _not_utf8(path: Path, label: str) -> str:
    found = first_non_utf8_line(path) if scannable(path) else None
    where = "" if found is None else f" (line {found[0]} holds the byte 0x{found[1]:02x})"
    return f"{label} is not UTF-8 text{where}; save it as UTF-8 and try again."


def _unparsed(label: str, err: Exception) -> str:
    """pandas' own reason, when the line scan found none (its first line, without prefixes)."""
    detail = first_line(err).removeprefix("Error tokenizing data. ").removeprefix("C error: ")
    detail = detail.rstrip(".")
    return f"{label} cannot be read as CSV ({detail}); fix the file at that line."
