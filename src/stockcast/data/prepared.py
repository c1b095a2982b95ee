"""The prepared folder: split series, scaler and meta.json, enough for train and evaluate alone."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stockcast.data.auto_window import AUTO, auto_window, shortest_train_split
from stockcast.data.calendar import day_text
from stockcast.data.checks import (
    check_series_values,
    refuse_constant_data,
    refuse_moves_float32_cannot_hold,
)
from stockcast.data.daily_holes import warn_of_every_day_holes, warn_of_long_daily_holes
from stockcast.data.date_steps import refuse_date_gaps
from stockcast.data.known_data import known_data, refuse_short, shortest_sizes
from stockcast.data.longer_season import panel_longer_season
from stockcast.data.mase_scales import naive_one_step_mae
from stockcast.data.rhythm import data_rhythm, refuse_mixed_rhythms
from stockcast.data.scaling import fit_scaler
from stockcast.data.seasonality import infer_season_length
from stockcast.data.series import Series
from stockcast.data.sources import as_of_applies
from stockcast.data.split import (
    SPLITS,
    SplitData,
    WindowSizes,
    split_lengths,
    split_series,
)
from stockcast.errors import ArtifactError, ConfigError
from stockcast.files import write_json

PREPARED_KIND = "stockcast.prepared"
META_FILE = "meta.json"
SERIES_FILE = "series.npz"
SCALER_FILE = "scaler.json"
# meta.json's key of the zoned series' zones (`series_zones`).
SERIES_ZONES = "series_zones"
# The data settings that shape a prepared folder's windows (`check_prepared_settings`).
SHAPING_KEYS = (
    "previous_time_window",
    "next_time_window",
    "shortest_window",
    "season_length",
    "split",
    "normalization",
    "min_relative_scale",
    "allow_non_positive",
)


def series_zones(series: Sequence[Series]) -> dict[str, list[str]]:
    """series id -> the zones its dates were written in, for the series that name any."""
    return {item.series_id: list(item.zones) for item in series if item.zones}


def data_hash(series: list[Series]) -> str:
    """Content hash of ids, values and dates: two runs on the same data share it."""
    digest = hashlib.sha256()
    for item in series:
        digest.update(item.series_id.encode())
        digest.update(np.ascontiguousarray(item.values, dtype=np.float64).tobytes())
        if item.dates is not None:
            digest.update(np.ascontiguousarray(item.dates).view(np.int64).tobytes())
    return digest.hexdigest()[:16]


@dataclass
class PreparedData:
    splits: dict[str, SplitData]
    window: WindowSizes
    scaler: dict[str, Any]
    meta: dict[str, Any]

    @property
    def mase_scale(self) -> float:
        return float(self.meta["mase_scale"])

    def zones(self, series_id: str) -> tuple[str, ...]:
        """The zones a series' dates were written in (none for naive dates, and in a folder
        prepared before they were kept): what its forecast's dates go on in."""
        return tuple(self.meta.get(SERIES_ZONES, {}).get(series_id, ()))

    @property
    def season_length(self) -> int:
        """The season the model reads, from the data or `data.season_length` (1: none)."""
        return int(self.meta.get("season_length") or 1)

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        for name, split in self.splits.items():
            arrays[f"{name}_values"] = split.values
            arrays[f"{name}_offsets"] = split.offsets
            if split.dates is not None:
                arrays[f"{name}_dates"] = split.dates.astype("datetime64[ns]")
        arrays["series_ids"] = np.array(self.splits["train"].series_ids, dtype=str)
        np.savez(folder / SERIES_FILE, **arrays)
        write_json(folder / SCALER_FILE, self.scaler)
        write_json(folder / META_FILE, self.meta)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> PreparedData:
        folder = Path(folder)
        meta = read_prepared_meta(folder)
        window = WindowSizes(meta["previous_time_window"], meta["next_time_window"])
        with np.load(folder / SERIES_FILE, allow_pickle=False) as arrays:
            ids = tuple(str(s) for s in arrays["series_ids"])
            splits = {
                name: SplitData(
                    name=name,
                    values=arrays[f"{name}_values"],
                    offsets=arrays[f"{name}_offsets"],
                    context=0 if name == "train" else window.previous_time_window,
                    series_ids=ids,
                    dates=arrays.get(f"{name}_dates"),
                )
                for name in SPLITS
            }
        scaler = json.loads((folder / SCALER_FILE).read_text())
        return cls(splits=splits, window=window, scaler=scaler, meta=meta)


def check_prepared_settings(
    data_cfg: Mapping[str, Any], meta: Mapping[str, Any], folder: Any
) -> None:
    """Refuse a step whose data settings would shape other windows than the prepared folder
    holds (its `meta.json` records the ones it was made with): it would train on the folder's
    without a word. The day (as_of) and the batch sizes may differ; a folder from before the
    record passes."""
    made_with = meta.get("source") or {}
    differ = [
        f"data.{key} is {data_cfg.get(key)!r} here and {made_with[key]!r} there"
        for key in SHAPING_KEYS
        if key in made_with and data_cfg.get(key) != made_with[key]
    ]
    if differ:
        raise ConfigError(
            f"the prepared folder {folder} was made with other data settings ("
            + "; ".join(differ)
            + "); run prepare again with these settings, or give this step the folder's."
        )


def read_prepared_meta(folder: str | Path) -> dict[str, Any]:
    """meta.json of a prepared folder, or one clear error if the folder is not one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ArtifactError(f"prepared folder {folder} does not exist; run the prepare step first.")
    meta_path = folder / META_FILE
    try:
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    except ValueError:
        raise ArtifactError(
            f"{meta_path} is not valid JSON; the prepared folder is damaged: run prepare again."
        ) from None
    if meta.get("kind") != PREPARED_KIND or not (folder / SERIES_FILE).is_file():
        raise ArtifactError(
            f"{folder} is not a prepared folder (no {META_FILE} of kind {PREPARED_KIND!r} with "
            f"{SERIES_FILE}); point it at the prepare step's output."
        )
    return meta


def data_window(data_cfg: Mapping[str, Any], series: list[Series]) -> dict[str, Any]:
    """What a run saw: as_of (and the release lag it was read with), its first and last dates,
    its row count and its hash.

    `as_of_note` explains a file without dates, which `as_of` cannot cut.
    """
    dated = [item.dates for item in series if item.dates is not None and len(item.dates)]
    last = day_text(max(d[-1] for d in dated)) if dated else None
    window: dict[str, Any] = {
        "as_of": None if data_cfg.get("as_of") is None else str(data_cfg["as_of"]),
        "first_date": day_text(min(d[0] for d in dated)) if dated else None,
        "last_date": last,
        # How many series reached that day: a panel's ticker whose row of the day came later
        # makes the same last date new data (data.require_new_data).
        "series_at_last_date": sum(day_text(d[-1]) == last for d in dated) if dated else None,
        "rows": int(sum(len(item) for item in series)),
        "data_hash": data_hash(series),
    }
    if data_cfg.get("release_lag_days"):
        window["release_lag_days"] = int(data_cfg["release_lag_days"])
    if not as_of_applies(series):
        window["as_of_note"] = (
            "the data has no dates (data.date_column is null), so as_of could not cut it: "
            "every row was used"
        )
    return window


def prepare_data(data_cfg: Mapping[str, Any]) -> PreparedData:
    """Load, split, then fit the scaler on train: the whole data side of a run."""
    requested = data_cfg["previous_time_window"]
    horizon = int(data_cfg["next_time_window"])
    shortest = shortest_sizes(data_cfg)
    known = known_data(data_cfg)
    series = known.series
    check_series_values(series, bool(data_cfg.get("allow_non_positive", False)))
    refuse_constant_data(series, read_from_a_file=data_cfg.get("path") is not None)
    refuse_date_gaps(series)
    warn_of_long_daily_holes(series)
    warn_of_every_day_holes(series)
    refuse_short(series, data_cfg)
    train_lengths = [split_lengths(len(item), data_cfg["split"])["train"] for item in series]
    refuse_mixed_rhythms(series, train_lengths)
    season, season_from = infer_season_length(
        series, data_cfg.get("season_length"), data_cfg["split"]
    )
    if season_from == "data.season_length" and season > max(train_lengths):
        raise ConfigError(
            f"data.season_length is {season}, longer than the {max(train_lengths)} values of the "
            "longest train split, which then holds not one season to learn it from; set a "
            "shorter one, or null to read it from the data."
        )
    window, longer = shortest, None
    if requested == AUTO:
        fits = shortest_train_split(series, data_cfg["split"], split_lengths)
        floor = shortest.previous_time_window
        longer = panel_longer_season(series, season, data_cfg["split"])
        inputs = auto_window(season, floor, horizon, fits, longer)
        if inputs == auto_window(season, floor, horizon, fits):
            longer = None  # found, but the window it gives is no longer, or it does not fit
        window = WindowSizes(inputs, horizon)
    splits = split_series(series, window, data_cfg["split"])
    scaler = fit_scaler(
        data_cfg["normalization"],
        splits["train"].values,
        float(data_cfg["min_relative_scale"]),
        splits["train"].segments(),
    )
    n_windows = {name: len(split.window_starts(window)) for name, split in splits.items()}
    # Windows and scores are float32: moves it cannot hold would be scored as rounding noise.
    refuse_moves_float32_cannot_hold(splits["train"].series_ids, splits["train"].segments())
    zoned = series_zones(series)
    meta = {
        "kind": PREPARED_KIND,
        "source": dict(data_cfg),
        **window.as_dict(),
        "season_length": season,
        # data.season_length, the dates or the autocorrelation of the changes.
        "season_from": season_from,
        # data.previous_time_window=auto: the longer season its window holds, if any.
        **({"longer_season": longer} if longer else {}),
        # How far apart its dates are (daily, weekly, monthly, ...): what predict holds an
        # input's dates to.
        "date_rhythm": data_rhythm(series, train_lengths),
        "normalization": scaler["kind"],
        **data_window(data_cfg, series),
        "series_ids": [item.series_id for item in series],
        # Panel members data.as_of left too short to train on (rows known then), if any.
        **({"left_out_series": known.left_out} if known.left_out else {}),
        # The zones each zoned series' dates were written in (`Series.zones`), if any: the
        # monitor's ledger forecasts go on on their clock, as predict's do.
        **({SERIES_ZONES: zoned} if zoned else {}),
        "n_points": int(sum(len(item) for item in series)),
        "n_windows": n_windows,
        "mase_scale": naive_one_step_mae(splits["train"]),
        "has_dates": splits["train"].dates is not None,
    }
    return PreparedData(splits=splits, window=window, scaler=scaler, meta=meta)
