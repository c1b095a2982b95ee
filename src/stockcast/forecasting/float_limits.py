"""What a float holds: the magnitudes the network's float32 arithmetic can scale, and decimals
written as nonzero that float() reads as 0. Training data (`data.checks`, a table's cells) and
every forecast's input (`forecasting.guard`) are held to the same limits: reading a table
takes them from here without importing the guard of forecasts."""

from __future__ import annotations

import re

import numpy as np

# The network computes in float32: a window's spread (squares of deviations) must stay finite
# and distinguishable.
FLOAT32 = np.finfo(np.float32)
LARGEST_VALUE = float(np.sqrt(FLOAT32.max) / 4)
SMALLEST_VALUE = float(np.sqrt(FLOAT32.tiny))
# A decimal as written (`-2.5E-400`, `0.000...1`): `underflows` reads its mantissa's digits.
DECIMAL_TEXT = re.compile(r"\s*[+-]?(?P<mantissa>[0-9_]*\.?[0-9_]*)(?:[eE][+-]?[0-9_]+)?\s*")
TOO_SMALL_FOR_A_FLOAT = (
    "the input holds a decimal too small for a float (not 0, yet it reads as 0); rescale the "
    "prices, e.g. multiply them by a power of 10."
)


def underflows(text: str) -> bool:
    """True for a decimal's text that writes a nonzero number float() reads as 0."""
    written = DECIMAL_TEXT.fullmatch(text)
    if written is None or not any(char in "123456789" for char in written["mantissa"]):
        return False
    try:
        return float(text) == 0
    except ValueError:
        return False
