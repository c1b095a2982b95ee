"""Training and evaluation batches gathered from one series: the windows, as copies."""

from __future__ import annotations

import numpy as np
import torch

from stockcast.training.windows import gather_windows


def test_gathered_windows_are_contiguous_copies_in_the_order_of_their_starts() -> None:
    values = torch.randn(60, dtype=torch.float32)
    starts = torch.tensor([53, 0, 17, 17, 40])  # the last window, the first, one twice
    windows = gather_windows(values, starts, 7)
    expected = np.stack([values.numpy()[s : s + 7] for s in starts.tolist()])
    assert windows.dtype == torch.float32 and windows.is_contiguous()
    np.testing.assert_array_equal(windows.numpy(), expected)
    windows[:] = 0.0  # a batch the model scales in place leaves the series as it was
    assert torch.count_nonzero(values[starts]) == len(starts)


def test_no_starts_gather_an_empty_batch_even_from_a_series_shorter_than_a_window() -> None:
    values = torch.arange(5, dtype=torch.float64)
    windows = gather_windows(values, torch.tensor([], dtype=torch.long), 7)
    assert windows.shape == (0, 7) and windows.dtype == torch.float64
