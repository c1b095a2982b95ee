"""The series a forecast starts from: generated, read from a table file (`input_tables` reads
it), the test split of the data the model was trained on, or given as explicit values.

Every kind ends as an `InputSeries` of raw prices (oldest first) with optional dates, so the
forecasting code never cares where the numbers came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stockcast.config.overrides import as_typed, override_key, override_value
from stockcast.data.date_format import format_date
from stockcast.data.known_data import known_data
from stockcast.data.prepared import data_hash
from stockcast.data.sources import load_series
from stockcast.data.split import split_series
from stockcast.errors import ArtifactError, ConfigError, DataError, first_few
from stockcast.forecasting.float_limits import TOO_SMALL_FOR_A_FLOAT, underflows
from stockcast.forecasting.guard import allows_non_positive, price_rows
from stockcast.forecasting.windows import WindowSizes
from stockcast.paths import ELIDED, project_path
from stockcast.prediction.input_tables import (
    LISTED_IDS,
    MISSING_VALUE,
    held_series_id,
    pick_series,
    read_input_table,
    with_trained_value_column,
)

GENERATED_SOURCES = ("gbm", "seasonal")

VALUES_KEY = "input.values"
# A quoted item of an override's list (text, never a number) and what separates its items.
QUOTED_ITEM = re.compile(r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"")
LIST_PUNCTUATION = re.compile(r"[\[\],]")


@dataclass(frozen=True)
class InputSeries:
    """Raw prices, oldest first; `dates` is None when the input has none (steps are numbered)."""

    values: np.ndarray
    dates: np.ndarray | None
    description: str
    details: dict[str, Any] = field(default_factory=dict)
    # The zones its dates were written in, which its forecast's dates go on in.
    zones: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.values)


def _is_list(item: Any) -> bool:
    return isinstance(item, Sequence | np.ndarray) and not isinstance(item, str | bytes)


def parse_values(raw: Any, key: str = "input.values") -> np.ndarray:
    """Explicit prices as float64: a non-empty list, read by the input guard (so text, booleans,
    NaN and infinities are refused by position, in the words serve uses)."""
    if raw is None or (isinstance(raw, str) and raw == MISSING_VALUE):
        raise DataError(f"{key} is not set; give the last prices, e.g. {key}=[101.2,101.9,...].")
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence | np.ndarray):
        raise DataError(f"{key} must be a list of prices such as [101.2,101.9]; got {raw!r}.")
    if not len(raw):
        raise DataError(f"{key} is empty; give the last prices, oldest first.")
    nested = next((i for i, item in enumerate(raw) if _is_list(item)), None)
    if nested is not None:
        # The guard reads rows of prices: a list of lists would pass as rows, the first kept.
        raise DataError(
            f"{key} holds a list at position {nested + 1}; give one flat list of prices, oldest "
            "first, e.g. [101.2,101.9,...]."
        )
    # Positivity is the model's to judge (build_input): here only what makes a number a price.
    return price_rows(list(raw), len(raw), allow_non_positive=True)[0]


def build_input(input_cfg: Mapping[str, Any], metadata: Mapping[str, Any]) -> InputSeries:
    """The input series named by `input.kind`; explicit `input.values` win over any kind."""

    kind = "values" if input_cfg.get("values") is not None else input_cfg["kind"]
    series = INPUT_BUILDERS[kind](input_cfg, metadata)
    # The guard every window the model reads passes, here over the whole series (a backtest
    # reads more than the last window): finite, within float32's reach, positive for a price
    # model. Refusals name the value's date where the series has dates (its position, after
    # sorting by date, is no row of the user's file), else its position.
    dates = series.dates
    placed = None if dates is None else (lambda at: f"on {format_date(dates[at])}")
    price_rows(series.values, len(series.values), allows_non_positive(metadata), placed)
    return series


def _values(input_cfg: Mapping[str, Any], metadata: Mapping[str, Any]) -> InputSeries:
    values = parse_values(input_cfg.get("values"))
    if any(underflows(item) for item in LIST_PUNCTUATION.split(_written_values())):
        # Hydra read it as 0.0: a price model refused "0", a value the user never sent.
        raise DataError(TOO_SMALL_FOR_A_FLOAT)
    return InputSeries(values, None, f"{len(values)} given values", {"kind": "values"})


def _written_values() -> str:
    """The command line's last `input.values=[...]` as typed, its quoted items left out (""
    without one): where a decimal too small for a float (`1e-400`) still shows as written."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return ""
    written = [
        override_value(override)
        for override in as_typed(HydraConfig.get().overrides.task)
        if override_key(override) == VALUES_KEY
    ]
    return QUOTED_ITEM.sub(",", written[-1]) if written else ""


def _training_source(metadata: Mapping[str, Any]) -> dict[str, Any]:
    source = metadata.get("data_source")
    if not isinstance(source, Mapping) or "source" not in source:
        raise ArtifactError(
            "the model's metadata has no data_source, so its training data cannot be rebuilt; "
            "give input=csv or input.values=[...] instead."
        )
    return dict(source)


def _synthetic(input_cfg: Mapping[str, Any], metadata: Mapping[str, Any]) -> InputSeries:
    source = _training_source(metadata)
    if source["source"] not in GENERATED_SOURCES:
        where = f" ({source['path']})" if source.get("path") else ""
        raise ConfigError(
            f"the model was trained on {source['source']} data{where}, not a generator, so there "
            "is no fresh synthetic series; use input=csv input.path=... or input=test_split."
        )
    # Seed policy: a path the model never saw, yet reproducible run to run.
    seed = int(source["seed"]) + 1 if input_cfg.get("seed") is None else int(input_cfg["seed"])
    # The training series' length; a generator trained with length=null kept every day from its
    # start date up to its as_of, and so does this series.
    asked = input_cfg.get("length") or source.get("length")
    length = None if asked is None else int(asked)
    series = load_series(source | {"seed": seed, "length": length})[0]
    length = len(series.values)
    details = {"kind": "synthetic", "generator": source["source"], "seed": seed, "length": length}
    return InputSeries(
        series.values, None, f"fresh {source['source']} series (seed {seed})", details
    )


def _csv(input_cfg: Mapping[str, Any], metadata: Mapping[str, Any]) -> InputSeries:
    input_cfg, value_column_why = with_trained_value_column(input_cfg, metadata)
    path, value_column = input_cfg.get("path"), input_cfg.get("value_column")
    id_column, series_id = input_cfg.get("id_column"), input_cfg.get("series_id")
    if id_column is None and series_id is not None:
        raise ConfigError(
            f"input.series_id={series_id} names a series, but {path} is read as one series "
            "(input.id_column is null); set input.id_column to the column naming each row's "
            "series."
        )
    # Of a file of several series only the chosen one's rows decide: another's bad row is no
    # reason to refuse it (nor to hide that the id asked for is not in the file).
    refused: dict[str, str] = {}
    series = read_input_table(
        input_cfg, refused if id_column is not None else None, value_column_why
    )
    series_id = held_series_id(series_id, [*(item.series_id for item in series), *refused])
    if series_id is not None and str(series_id) in refused:
        raise DataError(refused[str(series_id)])
    if not series and series_id is None:  # its only series refused for its own rows
        raise DataError(next(iter(refused.values())))
    chosen = pick_series(series, series_id, id_column, must_choose=True, also_held=[*refused])
    details = {"kind": "csv", "path": str(path), "value_column": value_column}
    if id_column is not None:
        details["series_id"] = chosen.series_id
    label = f"{value_column} from {path}" + (f" ({chosen.series_id})" if id_column else "")
    return InputSeries(chosen.values, chosen.dates, label, details, chosen.zones)


def _test_split(input_cfg: Mapping[str, Any], metadata: Mapping[str, Any]) -> InputSeries:
    source = _training_source(metadata)
    given = input_cfg.get("path")
    # A file source (CSV or Parquet) records its path; a generator has none.
    from_file = "path" in source
    # Another file than the one the model records: what any refusal below is about.
    other = False
    if given and not from_file:
        raise ConfigError(
            "input.path is where a model trained on a file finds it, and this one was trained "
            f"on {source['source']} data; leave input.path out."
        )
    if from_file:
        recorded = str(source["path"])
        path = project_path(str(given or recorded))
        if not path.is_file() and given:
            raise ArtifactError(
                f"input.path={given} is not a file; give the model's training file ({recorded}), "
                "whose hash is checked."
            )
        if not path.is_file():
            where = (
                "lay outside the project when the model was trained (only its name was kept)"
                if recorded.startswith(ELIDED)
                else "is not on this machine (models record paths relative to the project)"
            )
            raise ArtifactError(
                f"the model's training file {recorded} {where}, so its test split cannot be "
                "rebuilt; give input.path=<that file> (its hash is checked)."
            )
        source["path"] = str(path)
        other = bool(given) and path.resolve() != project_path(recorded).resolve()
    # As prepare read it: a panel member too short as of the model's day left out again.
    try:
        known = known_data(source)
    except DataError as err:
        # Its reader's advice is for training's data.* settings, which predict has not: what
        # it found is kept, the advice left out.
        found = str(err).split("; ")[0].rstrip(".")
        raise ArtifactError(
            f"input.path={given} cannot be read as the model's training data was ({found}; the "
            f"model was trained on {recorded}), so no test split can be rebuilt from it; give "
            "input.path=<that file>, or use input=csv for another file."
            if other
            else f"the training data ({source['source']} {source.get('path', '')}) can no "
            f"longer be read as it was when the model was trained ({found}), so its test split "
            "cannot be rebuilt; use input=csv instead."
        ) from None
    series = known.series
    if metadata.get("data_hash") and data_hash(series) != metadata["data_hash"]:
        raise ArtifactError(
            f"input.path={given} holds other data than the model was trained on ({recorded}: "
            "the hashes differ), so its test split cannot be rebuilt from it; give "
            "input.path=<that file>, or use input=csv for another file."
            if other
            else f"the training data ({source['source']} {source.get('path', '')}) has changed "
            "since the model was trained (its hash differs), so its test split cannot be "
            "rebuilt; use input=csv instead."
        )
    window = WindowSizes(int(metadata["previous_time_window"]), int(metadata["next_time_window"]))
    test = split_series(series, window, source["split"])["test"]
    asked = held_series_id(
        input_cfg.get("series_id"), [*(item.series_id for item in series), *known.left_out]
    )
    if asked is not None and str(asked).strip() in known.left_out:
        # In the file, so "not in the data" misled: the model's day left it out as too short.
        others = first_few(map(repr, (item.series_id for item in series)), LISTED_IDS)
        raise ConfigError(
            f"input.series_id {asked!r} was left out of the model's training data as too short "
            f"as of {source['as_of']} ({known.left_out[str(asked).strip()]} rows), so it has no "
            f"test split; pick one of {others}, or forecast it with input=csv."
        )
    chosen = pick_series(series, asked, None, must_choose=False)
    index = [item.series_id for item in series].index(chosen.series_id)
    start, stop = int(test.offsets[index]), int(test.offsets[index + 1])
    dates = None if test.dates is None else test.dates[start:stop]
    details = {"kind": "test_split", "source": source["source"], "series_id": chosen.series_id}
    label = f"test split of the training {source['source']} data"
    if len(series) > 1:
        label += f" ({chosen.series_id})"
    return InputSeries(test.values[start:stop], dates, label, details)


# One builder per input kind (schema.INPUT_KINDS names them; the schema refuses others).
INPUT_BUILDERS = {
    "values": _values,
    "synthetic": _synthetic,
    "csv": _csv,
    "test_split": _test_split,
}
