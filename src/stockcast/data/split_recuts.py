"""Splits cut again after the split (`split.py`): the named splits laid end to end (the history
a refit trains on), a split halved in time, or the train split cut back into earlier (train,
val) pairs for a validation split too short to judge on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from stockcast.data.split import SplitData
from stockcast.forecasting.windows import WindowSizes


def join_splits(splits: Mapping[str, SplitData], names: Sequence[str]) -> SplitData:
    """The named splits of every series laid end to end again (each later split's context, a
    copy of the earlier split's tail, dropped): the history a refit trains on."""
    first = splits[names[0]]
    values: list[np.ndarray] = []
    dates: list[np.ndarray] = []
    has_dates = all(splits[name].dates is not None for name in names)
    for index in range(len(first.series_ids)):
        for position, name in enumerate(names):
            split = splits[name]
            lo, hi = int(split.offsets[index]), int(split.offsets[index + 1])
            lo += split.context if position else 0
            values.append(split.values[lo:hi])
            if has_dates:
                dates.append(split.dates[lo:hi])  # type: ignore[index]
    lengths = [
        sum(len(v) for v in values[i * len(names) : (i + 1) * len(names)])
        for i in range(len(first.series_ids))
    ]
    return SplitData(
        name="+".join(names),
        values=np.concatenate(values).astype(np.float64),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        context=first.context,
        series_ids=first.series_ids,
        dates=np.concatenate(dates) if has_dates else None,
    )


def split_in_time(split: SplitData, context: int) -> tuple[SplitData, SplitData]:
    """`split` cut halfway through each series' own values (after its context): the early half,
    with the split's context before it, and the late half, with the `context` values before it,
    so that each window of either has its targets in its own half."""
    early: list[tuple[np.ndarray, np.ndarray | None]] = []
    late: list[tuple[np.ndarray, np.ndarray | None]] = []
    for index in range(len(split.series_ids)):
        lo, hi = int(split.offsets[index]), int(split.offsets[index + 1])
        cut = lo + split.context + (hi - lo - split.context) // 2
        early.append(_piece(split, lo, cut))
        late.append(_piece(split, max(lo, cut - context), hi))
    return (
        _concatenated(f"{split.name}_early", early, split.context, split.series_ids),
        _concatenated(f"{split.name}_late", late, context, split.series_ids),
    )


def _piece(split: SplitData, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray | None]:
    """`split`'s values (and dates, where it has them) from `lo` up to `hi`."""
    return split.values[lo:hi], None if split.dates is None else split.dates[lo:hi]


def _concatenated(
    name: str,
    pieces: list[tuple[np.ndarray, np.ndarray | None]],
    context: int,
    series_ids: tuple[str, ...],
) -> SplitData:
    offsets = np.concatenate([[0], np.cumsum([len(v) for v, _ in pieces])]).astype(np.int64)
    has_dates = all(d is not None for _, d in pieces)
    return SplitData(
        name=name,
        values=np.concatenate([v for v, _ in pieces]).astype(np.float64),
        offsets=offsets,
        context=context,
        series_ids=series_ids,
        dates=np.concatenate([d for _, d in pieces]) if has_dates else None,
    )


def rolling_folds(
    train: SplitData, val: SplitData, sizes: WindowSizes, max_folds: int, min_train_share: float
) -> list[tuple[SplitData, SplitData]]:
    """Earlier copies of the (train, val) pair, for a validation split too short to judge on:
    fold j ends each series' train split j validation spans early (a span: as many values as
    that series' validation targets), fits on what is before, and is scored on the span after,
    with the `previous_time_window` values before it as context. Folds stop at `max_folds` or
    where a series' fold train would hold fewer than `min_train_share` of that series' own train
    windows (at least one): a share of a panel's windows would stop every series of a panel."""
    folds: list[tuple[SplitData, SplitData]] = []
    for fold in range(1, max_folds + 1):
        early: list[tuple[np.ndarray, np.ndarray | None]] = []
        scored: list[tuple[np.ndarray, np.ndarray | None]] = []
        for index in range(len(train.series_ids)):
            lo, hi = int(train.offsets[index]), int(train.offsets[index + 1])
            span = int(val.offsets[index + 1] - val.offsets[index]) - val.context
            cut = hi - fold * span
            own_windows = hi - lo - sizes.length + 1
            least = max(int(np.ceil(min_train_share * own_windows)), 1)
            if span < sizes.next_time_window or cut - lo - sizes.length + 1 < least:
                return folds
            early.append(_piece(train, lo, cut))
            scored.append(_piece(train, cut - sizes.previous_time_window, cut + span))
        folds.append(
            (
                _concatenated(f"{train.name}_fold{fold}", early, train.context, train.series_ids),
                _concatenated(
                    f"{val.name}_fold{fold}", scored, sizes.previous_time_window, train.series_ids
                ),
            )
        )
    return folds
