"""The field types and the base section every config schema section is built from (the config
sections and each model kind's settings): each constrained type says in words what it must be
(`description`), which becomes the error sentence."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from stockcast.data.calendar import canonical_day

SPLIT_NAMES = ("train", "val", "test")
NORMALIZATIONS = ("per_window", "per_window_level", "standard", "minmax", "none")
EXECUTORS = ("inprocess", "subprocess")
PREDICT_MODES = ("forecast", "backtest")
# Lightning's accelerator names; whether one is present on this machine is Lightning's to say.
ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "tpu", "auto")
INPUT_KINDS = ("values", "synthetic", "csv", "test_split")
TABLE_FORMATS = ("csv", "parquet")
SPLIT_SUM_TOLERANCE = 1e-6

# Floats up to here hold every whole number exactly: 1e300 is not read as an integer.
EXACT_WHOLE_FLOATS = 2**53


def _whole_float_as_int(value: Any) -> Any:
    """`2.0` and `1e3` (Hydra reads both as floats) are the whole numbers they write; 2.5, text
    and booleans stay what they are, for the strict check to refuse."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= EXACT_WHOLE_FLOATS:
        return int(value)
    return value


AsWhole = BeforeValidator(_whole_float_as_int)
WholeAbove0 = Annotated[
    int, Field(strict=True, gt=0, description="a whole number above 0"), AsWhole
]
WholeAtLeast0 = Annotated[
    int, Field(strict=True, ge=0, description="a whole number, 0 or more"), AsWhole
]
Whole = Annotated[int, Field(strict=True, description="a whole number"), AsWhole]
Above0 = Annotated[float, Field(gt=0, allow_inf_nan=False, description="a number above 0")]
AtLeast0 = Annotated[float, Field(ge=0, allow_inf_nan=False, description="a number, 0 or more")]
Fraction = Annotated[
    float, Field(gt=0, lt=1, description="a fraction in (0, 1): each split needs some data")
]


class Section(BaseModel):
    """Keys the schema does not name are left to Hydra (which refuses unknown ones)."""

    model_config = ConfigDict(extra="allow")


def _iso_date(value: Any) -> str:
    text = value.isoformat() if isinstance(value, date) else str(value)
    try:
        canonical_day(text)
    except ValueError:
        raise ValueError(f"is {text!r}; it must be a date written YYYY-MM-DD") from None
    return text


IsoDate = Annotated[Any, AfterValidator(_iso_date)]
TrailingLength = Annotated[
    int | None,
    Field(strict=True, ge=2, description="a whole number of at least 2 points, or null (all)"),
    AsWhole,
]
Range = Annotated[
    tuple[float, float], Field(description="two numbers [low, high], low at most high")
]


def _ordered_positive(bounds: tuple[float, float]) -> tuple[float, float]:
    if not 0 < bounds[0] <= bounds[1]:
        raise ValueError(f"is {list(bounds)}; it must be [low, high] with 0 < low <= high")
    return bounds


def _distinct(kinds: list[str]) -> list[str]:
    if len(set(kinds)) != len(kinds):
        raise ValueError(
            f"is {kinds}; name each kind at most once (a repeated kind adds an identical member)"
        )
    return kinds


def _ordered(bounds: tuple[float, float]) -> tuple[float, float]:
    if bounds[0] > bounds[1]:
        raise ValueError(f"is {list(bounds)}; it must be [low, high] with low <= high")
    return bounds


PositiveRange = Annotated[Range, AfterValidator(_ordered_positive)]
OrderedRange = Annotated[Range, AfterValidator(_ordered)]
