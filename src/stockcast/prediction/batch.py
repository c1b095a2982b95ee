"""The series of a long table a batch prediction forecasts, one per id, and the sentences that
refuse them (prediction/batch_forecast.py forecasts them in one call of the model)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from stockcast.data.series import Series
from stockcast.errors import ConfigError, DataError, first_few
from stockcast.prediction.input_tables import read_input_table, with_trained_value_column

# How many ids a refusal names before it only counts the rest.
NAMED_IDS = 10


def is_batch(input_cfg: Mapping[str, Any]) -> bool:
    """A table with an id column and no chosen id: forecast every id it holds."""
    return (
        input_cfg.get("values") is None
        and input_cfg.get("kind") == "csv"
        and input_cfg.get("id_column") is not None
        and input_cfg.get("series_id") is None
    )


def named(ids: Sequence[str], limit: int = NAMED_IDS) -> str:
    """'A', 'B' and 3 more: the first few ids, then a count."""
    return first_few(map(repr, ids), limit)


@dataclass(frozen=True)
class Refused:
    """A series a batch left out (`input.skip_refused`), and the sentence that refused it."""

    series_id: str
    reason: str


@dataclass(frozen=True)
class SeriesBatch:
    """The series of one table, in id order, and where they came from."""

    series: list[Series]
    id_column: str
    description: str
    details: dict[str, Any]
    # The ids left out as the file was read (`input.skip_refused`), in id order.
    refused: tuple[Refused, ...] = ()

    @property
    def ids(self) -> list[str]:
        return [item.series_id for item in self.series]

    def __len__(self) -> int:
        return len(self.series)

    def without(self, ids: set[str]) -> SeriesBatch:
        """The same batch less the series `ids` name."""
        if not ids:
            return self
        return replace(self, series=[item for item in self.series if item.series_id not in ids])


def build_batch(input_cfg: Mapping[str, Any], metadata: Mapping[str, Any]) -> SeriesBatch:
    """Read every id of `input.path` (validated as the single-series reader validates); an id
    whose own rows the reader refuses (a value that is not a number or is missing, a repeated
    date) is left out and kept in `refused`: without `input.skip_refused` the forecast names
    it in one refusal beside those the input guard refuses, not before and alone. An unset
    `input.value_column` is the one the model was trained on (`with_trained_value_column`)."""
    input_cfg, value_column_why = with_trained_value_column(input_cfg, metadata)
    refused: dict[str, str] = {}
    series = read_input_table(input_cfg, refused, value_column_why)
    left_out = tuple(Refused(i, reason) for i, reason in refused.items())
    path, id_column = input_cfg["path"], str(input_cfg["id_column"])
    details = {
        "kind": input_cfg["kind"],
        "path": str(path),
        "value_column": input_cfg.get("value_column"),
        "id_column": id_column,
    }
    count = len(series) + len(left_out)
    description = f"{input_cfg.get('value_column')} of {count} series ({id_column}) in {path}"
    return SeriesBatch(series, id_column, description, details, left_out)


def check_long_enough(batch: SeriesBatch, needed: int, model_label: str) -> None:
    """Refuse, in one sentence naming them, the ids too short for one model window."""
    short = [item.series_id for item in batch.series if len(item) < needed]
    if short:
        skip = ", or set input.skip_refused=true to forecast the others" * (len(short) < len(batch))
        raise DataError(
            f"{len(short)} of {len(batch)} series in {batch.details['path']} hold fewer than the "
            f"{needed} values {model_label} needs: {named(short)}; drop them or give more "
            f"history{skip}."
        )


def refused_together(refused: Sequence[Refused], count: int, path: Any) -> DataError:
    """One refusal for every series of a batch refused without `input.skip_refused`: a lone
    series' own sentence, or all of them named with the first one's sentence, so a file with
    several bad series is fixed in one pass, not one rerun per series."""
    if len(refused) == 1:
        return DataError(refused[0].reason)
    # skip_refused forecasts the others only where there are others.
    skip = ", or set input.skip_refused=true to forecast the others" * (len(refused) < count)
    return DataError(
        f"{len(refused)} of {count} series in {path} are refused (fix them{skip}): "
        f"{named([item.series_id for item in refused])}; the first: {refused[0].reason}"
    )


def refuse_backtest() -> None:
    raise ConfigError(
        "mode=backtest works on one series; pick one with input.series_id=... "
        "(without it, input.id_column forecasts every id with mode=forecast)."
    )
