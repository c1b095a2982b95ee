"""A table's value cells as numbers: the missing-value markers of data sources, and numbers
written with the decimal comma or with thousands separators, read or refused with a hint."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from stockcast.forecasting.float_limits import underflows

# Cells that mean "no value" beside those pandas already reads as missing (NA, null, #N/A, ...):
# FRED's downloads write a day without an observation as ".".
MISSING_MARKERS = frozenset({"."})
# A number written with thousands separators, by its decimal mark: "15,136.0" (which no parser
# reads as a number, and is refused with a hint) and "15.136,0" (read where the comma is the
# decimal mark: a spreadsheet writes the point only there).
THOUSANDS = {
    ".": re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?"),
    ",": re.compile(r"[+-]?\d{1,3}(\.\d{3})+(,\d*)?"),
}
# A number whose thousands are grouped by spaces, as French, Nordic and other locales write them
# (a space, a no-break space or a narrow one: "1 234,5"): no parser reads it as a number.
SPACED_THOUSANDS = re.compile(r"[+-]?\d{1,3}([ \u00a0\u202f]\d{3})+([.,]\d*)?")
# A number with a decimal comma ("1002,51"), as a file read with the decimal point holds it.
DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")


def cells_as_numbers(column: Any, decimal: str) -> Any:
    """The value column as floats, by `decimal` (the file's decimal mark): a cell that is no
    number is NaN, told from a missing one by the cell itself."""
    import pandas as pd

    return pd.to_numeric(_with_points(column, decimal), errors="coerce")


def underflowed(
    column: Any, values: Any, checked: np.ndarray, decimal: str, texts: Callable[[], Any | None]
) -> dict[int, str]:
    """{row: cell} for the `checked` rows that write a nonzero number read as 0 (`1e-400`): a
    price model would refuse the 0 the user never wrote. Only cells read as 0 are looked at,
    and a column read as numbers (its text gone) is read again as `texts()` only when it holds
    one (None: no cell can be such), so a file without a 0 costs nothing more."""
    import pandas as pd

    rows = np.flatnonzero((values == 0).to_numpy() & checked)
    if not rows.size:
        return {}
    textual = column.dtype == object or pd.api.types.is_string_dtype(column)
    written = column if textual else texts()
    if written is None:
        return {}
    cells = {int(row): str(written.iloc[row]).strip() for row in rows}
    return {row: cell for row, cell in cells.items() if underflows(cell.replace(decimal, "."))}


def spaces_only(cell: Any) -> bool:
    """A text cell of nothing but spaces: no data, as a blank cell is."""
    return isinstance(cell, str) and not cell.strip()


def _with_points(column: Any, decimal: str) -> Any:
    """A text column's numbers as a point-decimal parser reads them, where the comma is the
    decimal mark (pandas reads a column by it only where every cell is a plain number): a point
    there only groups thousands (1.234,5), so a cell with another point (2.5, 1.234 read as
    one and a quarter) is no number and is refused, not read a thousand times off."""
    import pandas as pd

    if decimal == "." or (column.dtype != object and not pd.api.types.is_string_dtype(column)):
        return column

    def pointed(cell: Any) -> Any:
        if not isinstance(cell, str):
            return cell
        text = cell.strip()
        if THOUSANDS[decimal].fullmatch(text):
            text = text.replace(".", "")
        elif "." in text:
            return None
        return text.replace(decimal, ".")

    return column.map(pointed)


def number_fix(cell: str, key: str, decimal: str) -> str:
    """What to do about a value cell that is no number, by how it is written (in a comma file,
    1002,51 reaches here quoted: read with the decimal comma it is 1002.51 there too)."""
    if SPACED_THOUSANDS.fullmatch(cell):
        return "write its numbers without the spaces that group their thousands"
    if decimal == "," and "." in cell:
        return (
            f"a point is no decimal mark with {key}.decimal=',' (only 1.234,5 groups thousands); "
            f"write the number with a comma, or read the file with \"{key}.decimal='.'\""
        )
    if decimal == "." and THOUSANDS["."].fullmatch(cell):
        return "write its numbers without thousands separators"
    if decimal == "." and _decimal_comma(cell):
        return f"its decimal mark is a comma: read it with \"{key}.decimal=','\""
    return "clean the file or pick another column"


def _decimal_comma(cell: str) -> bool:
    """A number written with the decimal comma: 1002,51, or 1.002,51 with its thousands."""
    return bool(DECIMAL_COMMA.fullmatch(cell) or THOUSANDS[","].fullmatch(cell))


def markers_missing(column: Any) -> Any:
    """The column with MISSING_MARKERS cells as missing values (counted and refused as blank
    cells are, rather than as text)."""
    import pandas as pd

    if column.dtype != object and not pd.api.types.is_string_dtype(column):
        return column
    return column.mask(column.astype(str).str.strip().isin(MISSING_MARKERS))
