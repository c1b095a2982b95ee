"""The one input guard every forecast passes (predict, serve, evaluate): what a model is given
(its answer passes `output_guard`).

Input: numbers only (no text, booleans or nulls: `True` is not a price of 1.0), finite, within
what the model's float32 arithmetic can scale, and positive unless the model was trained with
`data.allow_non_positive=true`. Each refusal is one sentence naming the row and position and
what to do, the same wherever the input came from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from stockcast.errors import DataError, quoted
from stockcast.forecasting.float_limits import LARGEST_VALUE, SMALLEST_VALUE, TOO_SMALL_FOR_A_FLOAT

# What a model's metadata says when its training data could hold values <= 0; a model without
# the key (trained before it was recorded) is taken as a price model.
ALLOW_NON_POSITIVE = "allow_non_positive"


class Underflowed(float):
    """What a reader gives for a decimal written as nonzero that no float holds (`1e-400`,
    which float() reads as 0.0): the guard refuses it as too small to rescale, not as the 0 the
    user never sent."""

    def __new__(cls) -> Underflowed:
        return super().__new__(cls, 0.0)


def allows_non_positive(metadata: Any) -> bool:
    """True only for a model whose metadata records `allow_non_positive: true`."""
    return bool(metadata.get(ALLOW_NON_POSITIVE, False))


def _is_number(item: Any) -> bool:
    # bool is an int subclass (and np.bool_ converts to 1.0): neither is a price.
    return isinstance(item, int | float | np.integer | np.floating) and not isinstance(
        item, bool | np.bool_
    )


_numbers = np.frompyfunc(_is_number, 1, 1)


# Where the value at a position of one row lies in the caller's own terms ('on 2024-01-08').
Placer = Callable[[int], str]


def _where(row: int, column: int, rows: int, placed: Placer | None = None) -> str:
    """Where a value is: 'at position 3', or 'in row 2 at position 3' when there are several;
    `placed` names a single row's position as its caller knows it (a dated series: its date)."""
    if rows == 1 and placed is not None:
        return placed(column)
    return (
        f"at position {column + 1}" if rows == 1 else f"in row {row + 1} at position {column + 1}"
    )


def first_flagged(mask: np.ndarray) -> tuple[int, int, str]:
    """The first flagged (row, column), and how many more there are, as a clause."""
    row, column = (int(i) for i in np.argwhere(mask)[0])
    more = int(mask.sum()) - 1
    return row, column, f" (and {more} more)" if more else ""


def _grid(values: Any, width: int) -> np.ndarray:
    """A 2-D array of `width` columns, numeric when the input is, else of Python objects."""
    names = list(values.columns) if hasattr(values, "columns") else None
    values = values.to_numpy() if hasattr(values, "to_numpy") else values
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        grid = values
    else:
        try:
            grid = np.array(values, dtype=object)
        except ValueError:  # rows of different lengths nested deeper than numpy can hold
            grid = np.array([None], dtype=object)
        rows = (list, tuple, np.ndarray)
        if grid.ndim == 1 and any(isinstance(item, rows) for item in grid):
            loose = [number for number, item in enumerate(grid) if not isinstance(item, rows)]
            if loose:
                raise DataError(
                    f"the input's row {loose[0] + 1} is {quoted(grid[loose[0]])}, not a window "
                    f"of prices; send every row as a list of {width} prices."
                )
            lengths = sorted({len(item) for item in grid})
            # The first row off the width, so a long batch's one bad row can be found.
            wrong = next((n for n, item in enumerate(grid) if len(item) != width), 0)
            raise wrong_width(
                width,
                f"rows of {', '.join(map(str, lengths))} values (row {wrong + 1} has "
                f"{len(grid[wrong])})",
            )
    grid = grid.reshape(1, -1) if grid.ndim == 1 else grid
    if grid.ndim > 2:
        # A window wrapped in one list too many ([[[...]]]): its shape said nothing of why.
        raise wrong_width(
            width,
            f"rows nested {grid.ndim} deep (shape {grid.shape}); send each window as one flat "
            "list of numbers, one window per row",
        )
    refuse_label_columns(grid, width, names)
    if grid.ndim != 2 or grid.shape[1] != width or grid.shape[0] == 0:
        raise wrong_width(width, f"rows of shape {grid.shape}")
    return grid


def refuse_label_columns(grid: np.ndarray, width: int, names: list[Any] | None) -> None:
    """Refuse rows of `width` prices beside columns of text (a panel's ticker sent with each
    window), naming the first: the width alone did not say that a model reads no series'
    name, as it forecasts any series from its window's prices."""
    if grid.dtype != object or grid.ndim != 2 or grid.shape[0] == 0 or grid.shape[1] <= width:
        return
    # Only a column of text in the first row can be one, and there must be as many as the
    # columns past `width`: a row of four million numbers was as many column slices (9 s)
    # before its width was refused.
    first = grid[0].tolist()
    if sum(map(str.__instancecheck__, first)) < grid.shape[1] - width:
        return
    labels = [
        n
        for n, item in enumerate(first)
        if isinstance(item, str) and all(isinstance(i, str) for i in grid[:, n])
    ]
    if not labels or grid.shape[1] - len(labels) != width:
        return
    column = labels[0]
    named = f"column {names[column]!r}" if names is not None else f"position {column + 1}"
    raise DataError(
        f"the input's {named} holds {quoted(grid[0, column])}, not a price; a model reads no "
        f"series' name (it forecasts any series from its window), so send each window's "
        f"{width} prices alone."
    )


def wrong_width(width: int, got: str) -> DataError:
    """The refusal of input that is no rows of `width` prices (`got`: what came instead)."""
    return DataError(
        f"the model reads windows of exactly {width} prices (its previous_time_window); got {got}."
    )


def price_rows(
    values: Any, width: int, allow_non_positive: bool, placed: Placer | None = None
) -> np.ndarray:
    """Rows of `width` prices (a list of rows, one row, an array or a DataFrame) as float64,
    or one DataError sentence naming the first value that is not a price the model can read
    (`placed`: how a single row's positions are named instead of by number)."""
    grid = _grid(values, width)
    rows = grid.shape[0]
    if grid.dtype == object:
        bad = ~_numbers(grid).astype(bool)
        if bad.any():
            row, column, more = first_flagged(bad)
            raise DataError(
                f"the input holds {quoted(grid[row, column])} "
                f"{_where(row, column, rows, placed)}{more}, "
                "which is not a number; send prices as plain numbers (no text, booleans or nulls)."
            )
        if any(isinstance(item, Underflowed) for item in grid.flat):
            raise DataError(TOO_SMALL_FOR_A_FLOAT)
    try:
        matrix = grid.astype(np.float64)
    except OverflowError:  # a whole number beyond float64
        raise DataError(
            "the input holds a whole number too large for a float; rescale the prices, e.g. "
            "divide them by a power of 10."
        ) from None
    _check_values(matrix, rows, allow_non_positive, placed)
    return matrix


def _check_values(
    matrix: np.ndarray, rows: int, allow_non_positive: bool, placed: Placer | None
) -> None:
    finite = np.isfinite(matrix)
    if not finite.all():
        row, column, more = first_flagged(~finite)
        raise DataError(
            f"the input holds {matrix[row, column]} {_where(row, column, rows, placed)}{more}; send "
            "finite prices (no NaN or infinity)."
        )
    if not allow_non_positive and (matrix <= 0).any():
        row, column, more = first_flagged(matrix <= 0)
        raise DataError(
            f"the input holds {matrix[row, column]:g} {_where(row, column, rows, placed)}{more}, but prices "
            "are above 0; send prices, or use a model trained with data.allow_non_positive=true."
        )
    magnitude = np.abs(matrix)
    for mask, size, fix in (
        (magnitude > LARGEST_VALUE, "large", "divide"),
        ((magnitude < SMALLEST_VALUE) & (matrix != 0), "small", "multiply"),
    ):
        if mask.any():
            row, column, more = first_flagged(mask)
            raise DataError(
                f"the input holds {matrix[row, column]:g} {_where(row, column, rows, placed)}{more}, too "
                f"{size} for the model's float32 arithmetic; rescale the prices, e.g. {fix} them "
                "by a power of 10."
            )
