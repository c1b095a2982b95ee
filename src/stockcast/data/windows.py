"""Windows as views and index gathers over one contiguous tensor: never a copy of every window."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch


def sliding_windows(values: torch.Tensor, length: int) -> torch.Tensor:
    """All windows of a 1-D series as a zero-copy (n - length + 1, length) view."""
    return values.unfold(0, length, 1)


def gather_windows(values: torch.Tensor, starts: torch.Tensor, length: int) -> torch.Tensor:
    """The windows beginning at `starts`, gathered in one indexing op: shape (len(starts), length)."""
    return values[starts.unsqueeze(1) + torch.arange(length, device=starts.device)]


class WindowBatches:
    """An iterable of window batches that Lightning (or a bare loop) can consume directly.

    With `steps_per_batch > 1` each item is a list of minibatches gathered together: one Lightning
    step then carries several optimizer steps, which amortises Lightning's per-step overhead.
    Shuffling is reseeded every pass (seed + pass number), so runs are reproducible.
    """

    def __init__(
        self,
        values: torch.Tensor,
        starts: np.ndarray | torch.Tensor,
        window_length: int,
        batch_size: int,
        *,
        steps_per_batch: int = 1,
        shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        if batch_size <= 0 or steps_per_batch <= 0:
            raise ValueError("batch_size and steps_per_batch must be positive")
        self.values = values
        self.starts = torch.as_tensor(starts, dtype=torch.long)
        self.window_length = window_length
        self.batch_size = batch_size
        self.steps_per_batch = steps_per_batch
        self.shuffle = shuffle
        self.seed = seed
        self._passes = 0

    @property
    def num_windows(self) -> int:
        return len(self.starts)

    def __len__(self) -> int:
        group = self.batch_size * self.steps_per_batch
        return -(-self.num_windows // group)

    def __iter__(self) -> Iterator[torch.Tensor | list[torch.Tensor]]:
        order = None
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self._passes)
            order = torch.randperm(len(self.starts), generator=generator)
        self._passes += 1
        group = self.batch_size * self.steps_per_batch
        for begin in range(0, len(self.starts), group):
            # Index the permutation batch by batch: no shuffled copy of every start.
            chunk = slice(begin, begin + group)
            starts = self.starts[chunk] if order is None else self.starts[order[chunk]]
            windows = gather_windows(self.values, starts, self.window_length)
            if self.steps_per_batch == 1:
                yield windows
            else:
                yield list(torch.split(windows, self.batch_size))
