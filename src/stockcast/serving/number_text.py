"""A request's numbers as their text writes them, alike in a JSON body (its parser's hooks) and a
CSV body's cells: a whole number as an int, one beyond a float as too large, a nonzero one too
small for a float as the guard's `Underflowed`, so both bodies are refused in the same words;
a CSV cell's other text is kept for the guard to name."""

from __future__ import annotations

import math
import re
import sys
from typing import Any

from stockcast.forecasting.float_limits import underflows
from stockcast.forecasting.guard import Underflowed


def cell_value(cell: str) -> int | float | str:
    """A CSV value as the number it writes, read as JSON reads it (a whole number as an int,
    one beyond a float as too large), so both bodies are refused in the same words; or the text
    itself for the guard to name (Python reads `1_000` and full-width digits such as `１０１` as
    numbers; a CSV writes neither, and JSON refuses both)."""
    if "_" in cell or not cell.isascii():
        return cell
    for number in (whole_number, decimal_number):
        try:
            return number(cell)
        except ValueError:
            continue
    return cell


# A whole number no float holds (float64's largest is about 1.8e308).
BEYOND_FLOAT = 10**400
# One sign at most, then more digits than int() converts: what `whole_number` reads as too large.
LONG_WHOLE_NUMBER = re.compile(rf"\s*[+-]?[0-9]{{{sys.get_int_max_str_digits() + 1},}}\s*")


def whole_number(text: str) -> int:
    """A whole number's digits as an int; one of more digits than Python converts (4300) as an
    int of the same sign that is still too large for a float, so the guard refuses it in the
    same words as one of 400 digits (JSON's parse failed as "not valid JSON", CSV's read inf)."""
    try:
        return int(text)
    except ValueError:
        if not LONG_WHOLE_NUMBER.fullmatch(text):
            raise
        return beyond_float(text)


def decimal_number(text: str) -> float | int:
    """A decimal's text as a float; one beyond a float's range (`1e400`, which float() reads as
    inf) as `whole_number` gives one too large, so the guard refuses it as too large (rescale),
    not as an infinity the user never wrote (`inf` itself, no digits, stays inf); a nonzero one
    too small for a float (`1e-400`, read as 0.0) as the guard's `Underflowed`, refused as too
    small, not as a 0 the user never wrote."""
    value = float(text)
    if math.isinf(value) and any(char.isdigit() for char in text):
        return beyond_float(text)
    if value == 0 and underflows(text):
        return Underflowed()
    return value


def beyond_float(text: str) -> int:
    """An int of the sign `text` writes, too large for a float: what the guard refuses as a
    number to rescale."""
    return (-1 if text.strip().startswith("-") else 1) * BEYOND_FLOAT


def is_number_text(name: Any) -> bool:
    try:
        float(str(name))
    except ValueError:
        return False
    return True
