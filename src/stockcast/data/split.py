"""Chronological train/val/test split, done before any scaling so nothing leaks backwards."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stockcast.data.series import Series
from stockcast.errors import DataError
from stockcast.forecasting.windows import RollingOrigins, WindowSizes, rolling_origins

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitData:
    """One split of every series, concatenated; `offsets` mark where each series' segment starts.

    Val and test segments begin with `context` values of history from the split before, so their
    first window's inputs are real data while every target lies inside the split itself.
    """

    name: str
    values: np.ndarray
    offsets: np.ndarray
    context: int
    series_ids: tuple[str, ...]
    dates: np.ndarray | None = None

    def window_starts(self, window: WindowSizes) -> np.ndarray:
        """Start index of every full window, never crossing from one series into the next."""
        lengths = np.diff(self.offsets)
        counts = np.maximum(lengths - window.length + 1, 0)
        if counts.sum() == 0:
            return np.zeros(0, dtype=np.int64)
        # Vectorised concat of ranges [offset_i, offset_i + count_i): no loop over windows.
        seg_start = np.repeat(self.offsets[:-1], counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return (seg_start + within).astype(np.int64)

    def segment(self, index: int) -> np.ndarray:
        return self.values[self.offsets[index] : self.offsets[index + 1]]

    def segments(self) -> list[np.ndarray]:
        """Each series' values in this split, in order."""
        return [self.segment(i) for i in range(len(self.offsets) - 1)]

    def origins(self, sizes: WindowSizes) -> RollingOrigins:
        """Every forecast origin of this split (the first target of each full window), never
        crossing from one series into the next."""
        return rolling_origins(self.values, sizes, self.window_starts(sizes))


def split_lengths(n: int, fractions: Mapping[str, float]) -> dict[str, int]:
    n_train = round(n * fractions["train"])
    n_val = round(n * fractions["val"])
    return {"train": n_train, "val": n_val, "test": n - n_train - n_val}


def split_settings(split: Any) -> str:
    """A recorded `data.split` as the overrides that make it ("" where none is recorded)."""
    if not isinstance(split, dict):
        return ""
    return ", ".join(f"data.split.{key}={split[key]}" for key in SPLITS if key in split)


def split_needs(window: WindowSizes) -> dict[str, int]:
    """The fewest values of its own each split needs: train one full window; val and test, whose
    windows begin with `previous_time_window` values of the split before, one horizon."""
    return {"train": window.length, "val": window.next_time_window, "test": window.next_time_window}


def min_series_length(
    window: WindowSizes, fractions: Mapping[str, float], longer_than: int = 0
) -> int:
    """The fewest values, more than `longer_than`, a series needs so that every split holds one
    full window. Counted, not derived from each fraction's ceiling: the splits are rounded, so a
    ceiling overstates it (31 values split 0.7/0.15/0.15 fail, 32 pass, not 34)."""
    needs = split_needs(window)
    # No series shorter than (needs - 1.5) / fraction holds a split's needs (a split's size is
    # its fraction of the series rounded, the test split's twice): counted from there, a window
    # of a billion values no longer takes minutes of counting up from its length.
    shortest = max(math.floor((needs[name] - 1.5) / fractions[name]) for name in needs)
    n = max(window.length, longer_than + 1, shortest)
    while any(size < needs[name] for name, size in split_lengths(n, fractions).items()):
        n += 1
    return n


def refuse_short_series(
    series: Sequence[Series],
    window: WindowSizes,
    fractions: Mapping[str, float],
    inputs: str = "previous_time_window",
    length: int | None = None,
) -> None:
    """One sentence for the first series a split of which cannot hold its window (its inputs
    set by `inputs`). Run before anything else reads the series (the season of its dates), so a
    short panel member is refused as short, not as a series without the others' season.
    `length`: a market's `data.length`, named where it is what cut the series that short.

    Smaller windows are offered only where some fit the series at these shares (5 values split
    0.7/0.15/0.15 leave the test split none, whatever the windows), and a panel member's
    refusal offers leaving it out where other series are long enough: a mistyped ticker of a
    few rows is fixed there, not by a longer series or by shrinking every series' windows."""
    needs = split_needs(window)

    def too_short(item: Series) -> dict[str, int]:
        lengths = split_lengths(len(item), fractions)
        return {name: size for name, size in lengths.items() if size < needs[name]}

    for item in series:
        short = too_short(item)
        if short:
            needed = min_series_length(window, fractions, longer_than=len(item))
            fixes = [_longer(needed, len(item), length)]
            if len(item) >= min_series_length(WindowSizes(1, 1), fractions):
                fixes.append(_what_fits(list(short), inputs))
            if any(other is not item and not too_short(other) for other in series):
                fixes.append("leave it out of the data, whose other series are long enough")
            raise DataError(
                f"series {item.series_id!r} has {len(item)} points, so the "
                + ", ".join(f"{name} split gets {size}" for name, size in short.items())
                + f"; each split needs at least next_time_window = {window.next_time_window} "
                f"values of its own, train {inputs} + next_time_window = "
                f"{window.length}: {', or '.join(fixes)}."
            )


def _longer(needed: int, have: int, length: int | None) -> str:
    """How to give the series `needed` points: a market cut to `data.length` values has more
    to give, and "a series of at least 32 points" named no setting that gives them."""
    if length is not None and have == int(length):
        return f"raise data.length={length} to at least {needed} (or set it to null)"
    return f"use a series of at least {needed} points"


def _what_fits(short: list[str], inputs: str) -> str:
    """The settings that let the `short` splits hold their windows: the input window only
    helps the train split; validation and test need a shorter horizon or a larger share, which
    a train split that is short too cannot give them. The larger share is taken from train's:
    the three sum to 1, so a larger one alone is refused."""
    if "train" in short:
        return f"smaller windows (data.{inputs}, data.next_time_window)"
    shares = " and ".join(f"data.split.{name}" for name in short)
    return (
        f"a shorter horizon (data.next_time_window) or a larger {shares} taken from "
        "data.split.train (the three sum to 1)"
    )


def split_series(
    series: Sequence[Series], window: WindowSizes, fractions: Mapping[str, float]
) -> dict[str, SplitData]:
    """Cut every series at the same fractions; each split must hold at least one full window
    (`split_needs`).

    The fractions are the config schema's (three, each in (0, 1), summing to 1).
    """
    if not series:
        raise DataError("the data source gave no series; check the data config.")
    refuse_short_series(series, window, fractions)
    pieces: dict[str, list[tuple[np.ndarray, np.ndarray | None]]] = {name: [] for name in SPLITS}
    for item in series:
        lengths = split_lengths(len(item), fractions)
        bounds = {
            "train": (0, lengths["train"]),
            "val": (
                lengths["train"] - window.previous_time_window,
                lengths["train"] + lengths["val"],
            ),
            "test": (lengths["train"] + lengths["val"] - window.previous_time_window, len(item)),
        }
        for name, (start, stop) in bounds.items():
            dates = None if item.dates is None else item.dates[start:stop]
            pieces[name].append((item.values[start:stop], dates))
    ids = tuple(item.series_id for item in series)
    has_dates = all(item.dates is not None for item in series)
    result = {}
    for name in SPLITS:
        arrays = [values for values, _ in pieces[name]]
        offsets = np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int64)
        result[name] = SplitData(
            name=name,
            values=np.concatenate(arrays).astype(np.float64),
            offsets=offsets,
            context=0 if name == "train" else window.previous_time_window,
            series_ids=ids,
            dates=np.concatenate([d for _, d in pieces[name]]) if has_dates else None,
        )
    return result


def share_outside_range(reference: SplitData, later: SplitData) -> float:
    """The share of `later`'s own values (its context left out) outside the range of the same
    series' values in `reference`, over every series: how far a series has moved beyond the
    levels it was fitted on. 0.0 when `later` holds no values of its own."""
    outside, total = 0, 0
    for index in range(len(later.series_ids)):
        seen = reference.segment(index)
        own = later.segment(index)[later.context :]
        if len(seen) == 0 or len(own) == 0:
            continue
        outside += int(((own < seen.min()) | (own > seen.max())).sum())
        total += len(own)
    return outside / total if total else 0.0
