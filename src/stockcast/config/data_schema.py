"""The schema of the `data` section: one section per data source, chosen by `data.source`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from stockcast.fields import (
    NORMALIZATIONS,
    SPLIT_NAMES,
    SPLIT_SUM_TOLERANCE,
    TABLE_FORMATS,
    Above0,
    AsWhole,
    AtLeast0,
    CsvForm,
    DailyVolatility,
    Finite,
    Fraction,
    IsoDate,
    Number,
    OrderedRange,
    PositiveRange,
    Section,
    Seed,
    TrailingLength,
    WholeAbove0,
    WholeAtLeast0,
    Window,
    WindowOrAuto,
    _distinct,
)


class DataCommon(Section):
    source: str
    previous_time_window: WindowOrAuto
    shortest_window: Window = 10
    season_length: WholeAbove0 | None = None
    next_time_window: WholeAbove0
    split: Annotated[dict[str, Fraction], Field(description="in (0, 1): each split needs data")]
    # One kind, or a list: one ensemble member per kind (each kind at most once).
    normalization: Annotated[
        list[Literal[NORMALIZATIONS]],  # type: ignore[valid-type]
        BeforeValidator(lambda value: [value] if isinstance(value, str) else value),
        Field(min_length=1, description="a kind or a non-empty list of kinds"),
        AfterValidator(_distinct),
    ]
    min_relative_scale: Annotated[
        Number, Field(gt=0, description="above 0 so flat windows stay finite")
    ]
    batch_size: WholeAbove0
    steps_per_batch: WholeAbove0
    eval_batch_size: WholeAbove0
    allow_non_positive: bool = False
    as_of: IsoDate
    require_new_data: bool = False

    @field_validator("split", mode="before")
    @classmethod
    def _named_splits(cls, split: Any) -> Any:
        if not isinstance(split, Mapping):
            shown = "null" if split is None else repr(split)
            *first, last = SPLIT_NAMES
            raise ValueError(
                f"is {shown}; it must name the {', '.join(first)} and {last} fractions, e.g. "
                "data.split.train=0.7 data.split.val=0.15 data.split.test=0.15"
            )
        return split

    @field_validator("split")
    @classmethod
    def _three_splits_summing_to_one(cls, split: dict[str, float]) -> dict[str, float]:
        if set(split) != set(SPLIT_NAMES):
            raise ValueError(f"must give exactly {list(SPLIT_NAMES)}; got {sorted(split)}")
        total = sum(split.values())
        if abs(total - 1.0) > SPLIT_SUM_TOLERANCE:
            # Each fraction named: one the user did not give (Hydra merges
            # `data.split={train:0.7,val:0.3}` into the default test 0.15) is the one to change.
            given = ", ".join(f"{name} {split[name]:g}" for name in SPLIT_NAMES)
            raise ValueError(f"fractions sum to {total:g} ({given}); make them sum to 1")
        return split


SeriesLength = Annotated[
    int, Field(strict=True, ge=2, description="a whole number of at least 2 points"), AsWhole
]


class MarketCommon(DataCommon):
    start_date: IsoDate
    length: TrailingLength
    seed: Seed


class GbmData(MarketCommon):
    source: Literal["gbm"]
    start_price: Above0
    drift: Finite
    volatility: DailyVolatility


class SeasonalData(MarketCommon):
    source: Literal["seasonal"]
    start_price: Finite
    trend: Finite
    season_length: WholeAbove0
    amplitude: Finite
    noise_std: AtLeast0


class MultiTickerData(MarketCommon):
    source: Literal["market"]
    num_series: WholeAbove0
    drift: Finite
    volatility_range: PositiveRange
    start_price_range: PositiveRange
    beta_range: OrderedRange
    market_drift: Finite
    market_volatility: DailyVolatility


class TableData(DataCommon, CsvForm):
    path: str
    date_column: str | None
    value_column: str
    id_column: str | None
    format: Literal[TABLE_FORMATS] | None = None  # type: ignore[valid-type]
    release_lag_days: WholeAtLeast0 = 0


class CsvData(TableData):
    source: Literal["csv"]


class ParquetData(TableData):
    source: Literal["parquet"]


DataConfig = Annotated[
    GbmData | SeasonalData | MultiTickerData | CsvData | ParquetData,
    Field(discriminator="source"),
]
# Pydantic names the chosen member of the union in an error's location: map it back.
DATA_SOURCES: dict[str, type[DataCommon]] = {
    "gbm": GbmData,
    "seasonal": SeasonalData,
    "market": MultiTickerData,
    "csv": CsvData,
    "parquet": ParquetData,
}
