"""When each held-out window's first target falls, as keys that sort in time: what a test over a
panel's windows groups by, since windows of several series on one date are one observation of
the forecaster's errors, not independent ones."""

from __future__ import annotations

import numpy as np

from stockcast.data.mase_scales import series_of_windows
from stockcast.data.split import SplitData


def window_times(
    split: SplitData, origins: np.ndarray, after: np.ndarray | None = None
) -> np.ndarray:
    """Each window's time key (int64): its first target's date where the split has dates, else
    minus its distance from its series' end, undated series being taken to end together (as a
    panel's snapshot does). `after`: how many of each series' values follow the split's segment
    (None: none, as after the test split)."""
    if split.dates is not None:
        return split.dates[origins].astype("datetime64[ns]").astype(np.int64)
    series = series_of_windows(split, origins)
    later = 0 if after is None else np.asarray(after, dtype=np.int64)[series]
    return (origins - split.offsets[series + 1] - later).astype(np.int64)


def segment_values(split: SplitData) -> np.ndarray:
    """How many values of each series a split holds, its context left out."""
    return np.maximum(np.diff(split.offsets) - split.context, 0)
