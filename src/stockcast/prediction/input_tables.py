"""The table file an input reads (`input.path`): its series, the column its values are in, and
the one series an id picks."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from stockcast.data.series import Series
from stockcast.data.table_file import read_table_series
from stockcast.data.table_formats import table_format
from stockcast.errors import ConfigError, first_few

# How a mandatory setting left unset reads (OmegaConf's `???`).
MISSING_VALUE = "???"
# How many ids a refusal lists before it counts the rest.
LISTED_IDS = 10

# The column a table input reads its values from where input.value_column is null and the
# model's own data named none (a model trained on a synthetic market): data=csv's default.
UNNAMED_VALUE_COLUMN = "Close"


def with_trained_value_column(
    input_cfg: Mapping[str, Any], metadata: Mapping[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """`input_cfg` whose null `value_column` is the one the model's training file held its values
    in (`data_source` in its metadata): a model trained on Sales reads Sales from the same kind
    of file without being told twice. Beside it, why that column where it chose one (None where
    the user named it), for `read_input_table`'s refusal of a file without it to say: the user
    named none. Returned apart, not as a key of the config, which would travel wherever it does."""
    chosen = dict(input_cfg)
    if chosen.get("kind") != "csv" or chosen.get("value_column") is not None:
        return chosen, None
    trained = (metadata.get("data_source") or {}).get("value_column")
    chosen["value_column"] = trained or UNNAMED_VALUE_COLUMN
    if trained:
        return chosen, "unset: the column the model's training file held its values in"
    return chosen, (
        f"unset: {UNNAMED_VALUE_COLUMN}, the default for a model trained on a synthetic series"
    )


def read_input_table(
    input_cfg: Mapping[str, Any],
    refused: dict[str, str] | None = None,
    value_column_why: str | None = None,
) -> list[Series]:
    """Every series of `input.path` (CSV, or Parquet by `input.format` or a .parquet/.pq
    suffix), one per id, each sorted by date and validated. The format is told from the suffix
    as data reading tells it (prices.csv.gz is a compressed CSV, prices.parquet.gz is refused),
    except that a suffix naming no format reads as CSV, as input=csv always has (prices.txt).
    `refused`: takes the ids whose own rows would refuse the file, with why, instead.
    `value_column_why`: why `input.value_column` is the column it is, where the user left it
    unset (`with_trained_value_column`), for a file without it to be told."""
    path = input_cfg.get("path")
    if path is None or str(path).strip() in ("", MISSING_VALUE):
        raise ConfigError(
            "input.path is not set; give the file to forecast from, e.g. input.path=prices.csv."
        )
    fmt = table_format(Path(str(path)), input_cfg.get("format") or None, "input", otherwise="csv")
    return read_table_series(
        path,
        input_cfg.get("date_column"),
        input_cfg.get("value_column"),
        input_cfg.get("id_column"),
        key="input",
        format=fmt,
        refused=refused,
        separator=input_cfg.get("separator") or ",",
        decimal=input_cfg.get("decimal") or ".",
        chosen={"value_column": value_column_why},
    )


def _read_unquoted(text: str) -> Any:
    """What the command line makes of `text` written unquoted after `input.series_id=`
    (None where it is no single value)."""
    try:
        return OverridesParser.create().parse_override(f"input.series_id={text}").value()
    except HydraException:
        return None


def held_series_id(series_id: Any, held: Iterable[str]) -> Any:
    """The id of `held` that `series_id` was written as: the command line reads an unquoted
    1e3, 1_000 or true as a number or a boolean, whose text ('1000.0', 'True') names no id of
    a table whose ids are read as text. `series_id` itself where it is text, names an id as it
    is, or no single held id reads as it."""
    if series_id is None or isinstance(series_id, str):
        return series_id
    ids = list(held)
    if str(series_id).strip() in ids:
        return series_id
    written = [
        item
        for item in ids
        if type(value := _read_unquoted(item)) is type(series_id)
        and (
            value == series_id
            or (isinstance(value, float) and math.isnan(value) and math.isnan(series_id))
        )
    ]
    return written[0] if len(written) == 1 else series_id


def pick_series(
    series: list[Series],
    series_id: Any,
    id_column: str | None,
    *,
    must_choose: bool,
    also_held: list[str] | None = None,
) -> Series:
    """The series `series_id` names; without one, the only series (`must_choose`: refused
    where the file holds several, `also_held` counting the ids refused for their own rows)."""
    held = sorted([item.series_id for item in series] + list(also_held or []))
    listed = first_few(map(repr, held), LISTED_IDS)
    if series_id is None:
        if len(held) > 1 and must_choose:
            raise ConfigError(
                f"the file holds {len(held)} series in column {id_column!r}; pick one with "
                f"input.series_id=... (one of {listed})."
            )
        return series[0]
    # Ids are read without the spaces around them (`read_csv_frame`): so is the one asked for.
    match = [item for item in series if item.series_id == str(series_id).strip()]
    if not match:
        raise ConfigError(
            f"input.series_id {series_id!r} is not in the data; its ids are {listed}."
        )
    return match[0]
