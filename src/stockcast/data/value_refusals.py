"""A table's value cells that refuse the file: one that is no number, one missing, one written
as nonzero that no float holds. Each refusal names the first such cell's data row and series;
rows a caller reads unchecked (`checked` False) are left alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from stockcast.data.value_cells import number_fix, underflowed
from stockcast.errors import DataError, first_few
from stockcast.forecasting.float_limits import TOO_SMALL_FOR_A_FLOAT

SHOWN_ROWS = 5  # how many rows with a missing value a refusal names


def refuse_unread_values(
    frame: Any,
    values: Any,
    checked: np.ndarray,
    label: str,
    key: str,
    decimal: str,
    written: Callable[[], Any | None],
    date_column: str | None,
    value_column: str,
    id_column: str | None,
) -> None:
    """Refuse the `checked` rows whose cell `values` (the cells read as numbers) does not hold:
    a non-numeric cell, then a missing one, then one too small for a float (`written`: the
    column's text as the file writes it, for the cells read as 0)."""
    _refuse_non_numeric(frame, values, checked, label, key, decimal, value_column, id_column)
    _refuse_missing(frame, values, checked, label, value_column, id_column)
    tiny = underflowed(frame[value_column], values, checked, decimal, written)
    if tiny:
        raise DataError(_underflow(frame, tiny, label, date_column, value_column, id_column))


def _refuse_non_numeric(
    frame: Any,
    values: Any,
    checked: np.ndarray,
    label: str,
    key: str,
    decimal: str,
    value_column: str,
    id_column: str | None,
) -> None:
    """A cell that holds something but no number: the first named, with the fix for its
    text (a thousands separator, another decimal mark, ...)."""
    bad = (values.isna() & frame[value_column].notna()).to_numpy() & checked
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        cell = frame[value_column].iloc[row]
        more = f" (and {int(bad.sum()) - 1} more)" if bad.sum() > 1 else ""
        fix = number_fix(str(cell).strip(), key, decimal)
        # A file of several series names whose row it is, as a missing value's refusal does.
        whose = "" if id_column is None else f" (series {str(frame[id_column].iloc[row])!r})"
        raise DataError(
            f"{label} has a non-numeric value {cell!r} in column {value_column!r} at data row "
            f"{row + 1}{whose}{more}; {fix}."
        )


def _refuse_missing(
    frame: Any,
    values: Any,
    checked: np.ndarray,
    label: str,
    value_column: str,
    id_column: str | None,
) -> None:
    """Missing values: the first few rows named, and their series."""
    missing = np.flatnonzero(values.isna().to_numpy() & checked)
    if missing.size:
        rows = first_few(missing + 1, SHOWN_ROWS)
        ids = "" if id_column is None else frame[id_column].iloc[missing].astype(str).unique()
        whose = "" if id_column is None else f" (series {first_few(map(repr, ids), SHOWN_ROWS)})"
        raise DataError(
            f"{label} has {missing.size} missing value(s) in column {value_column!r} "
            f"at data row(s) {rows}{whose}; fill or drop them first."
        )


def _underflow(
    frame: Any,
    cells: dict[int, str],
    label: str,
    date_column: str | None,
    value_column: str,
    id_column: str | None,
) -> str:
    """The sentence for values written as nonzero that no float holds, naming the first's row,
    series and date, in the words the serving guard refuses one with."""
    row, cell = next(iter(cells.items()))
    where = [] if id_column is None else [f"series {str(frame[id_column].iloc[row])!r}"]
    if date_column is not None:
        where.append(np.datetime_as_string(frame[date_column].to_numpy("datetime64[ns]")[row], "D"))
    whose = f" ({', '.join(where)})" if where else ""
    more = f" (and {len(cells) - 1} more)" if len(cells) > 1 else ""
    return (
        f"{label} holds {cell!r} in column {value_column!r} at data row {row + 1}{whose}{more}, "
        f"{TOO_SMALL_FOR_A_FLOAT.removeprefix('the input holds ')}"
    )
