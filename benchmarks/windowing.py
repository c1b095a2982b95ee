"""Windowing a long series: the project's view + gather path against the original Python loop."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.common import (
    BenchOptions,
    PeakMemory,
    Row,
    compose_train_cfg,
    fix_malloc_for_rss,
    peak_memory,
)

SPEED_TARGET = 100.0  # × faster than the per-window loop
MEMORY_TARGET = 2.0  # peak ≤ this × the series itself


def python_loop_windows(values: np.ndarray, length: int) -> np.ndarray:
    """The original code's windowing: one slice per window, then stacked."""
    return np.array([values[i : i + length] for i in range(len(values) - length + 1)])


def window_length(opts: BenchOptions) -> int:
    """Values in one window of the benchmark's series: the gbm data config's, with the overrides."""
    cfg = compose_train_cfg(["data=gbm", *opts.overrides]).data
    return int(cfg.previous_time_window) + int(cfg.next_time_window)


def check_sizes(opts: BenchOptions, length: int | None = None) -> None:
    """Refuse a series (`--window-points`) or loop prefix (`--loop-points`) shorter than one
    window: `make bench` checks before its first benchmark, not after the ones before this."""
    length = window_length(opts) if length is None else length
    if opts.window_points < length:
        # Checked first: the loop prefix of so short a series is as short, and that refusal's
        # advice, a larger --loop-points, could not work (0 points: numpy's error).
        raise ValueError(
            f"--window-points {opts.window_points} holds no whole window of {length} values; "
            f"give at least {length}"
        )
    if opts.loop_points < length:
        # Fewer than one window: no loop to time, and the scaled timings came out negative.
        raise ValueError(
            f"--loop-points {opts.loop_points} holds no whole window of {length} values; give "
            f"at least {length}"
        )


def bench_windowing(opts: BenchOptions) -> list[Row]:
    from stockcast.data.sources import geometric_brownian_motion
    from stockcast.training.windows import WindowBatches, gather_windows, sliding_windows

    cfg = compose_train_cfg(["data=gbm", *opts.overrides]).data
    length = int(cfg.previous_time_window) + int(cfg.next_time_window)
    batch, spb = int(cfg.batch_size), int(cfg.steps_per_batch)
    check_sizes(opts, length)
    fix_malloc_for_rss()
    values = geometric_brownian_motion(
        opts.window_points, cfg.start_price, cfg.drift, cfg.volatility, int(cfg.seed)
    )
    series_bytes = values.nbytes
    n_windows = len(values) - length + 1

    # The per-window Python loop, on a prefix (too slow and big at full size), scaled linearly.
    prefix = values[: opts.loop_points]
    scale = n_windows / (len(prefix) - length + 1)
    with peak_memory() as loop_mem:
        stacked = python_loop_windows(prefix, length)
    del stacked
    loop_s, loop_peak = loop_mem.seconds * scale, loop_mem.peak_bytes * scale

    # The project's windowing: a zero-copy view of every window of the series as given (float64,
    # like the loop's input), and one training batch gathered by index.
    gen = torch.Generator().manual_seed(0)

    def view_and_batch(series: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        view = sliding_windows(series, length)
        starts = torch.randint(0, view.shape[0], (batch,), generator=gen)
        return view, gather_windows(series, starts, length)

    with peak_memory() as view_mem:
        view, one = view_and_batch(torch.from_numpy(values))
    assert view.shape == (n_windows, length) and one.shape == (batch, length)
    del view, one

    # The same, starting from the float32 copy that WindowDataModule holds (made once per fit).
    with peak_memory() as f32_mem:
        view, one = view_and_batch(torch.as_tensor(values, dtype=torch.float32))
    del view, one

    # A whole shuffled training pass through WindowBatches (every window gathered once).
    with peak_memory() as pass_mem:
        tensor = torch.as_tensor(values, dtype=torch.float32)
        batches = WindowBatches(
            tensor, np.arange(n_windows), length, batch, steps_per_batch=spb, shuffle=True
        )
        seen = 0
        for item in batches:
            seen += sum(len(b) for b in item) if isinstance(item, list) else len(item)
    assert seen == n_windows
    del tensor, batches

    def mem_row(case: str, mem: PeakMemory, note: str, judged: bool = True) -> list[Row]:
        seconds, peak = mem.seconds, mem.peak_bytes
        return [
            Row(
                "windows",
                f"{case}: time",
                seconds,
                "s",
                loop_s / seconds,
                target=f"≥ {SPEED_TARGET:.0f}× faster" if judged else "",
                met=loop_s / seconds >= SPEED_TARGET if judged else None,
                note=note,
            ),
            Row(
                "windows",
                f"{case}: peak memory",
                peak,
                "B",
                peak / series_bytes,
                target=f"≤ {MEMORY_TARGET:.0f}× series" if judged else "",
                met=peak / series_bytes <= MEMORY_TARGET if judged else None,
                note=f"{mem.method}; ratio is × the series",
            ),
        ]

    points = f"{opts.window_points:,}-point float64 series ({series_bytes / 2**20:,.0f} MiB)"
    rows = [
        Row(
            "windows",
            "Python loop + np.array: time",
            loop_s,
            "s",
            1.0,
            # The prefix as measured: a --loop-points past the series' end times the series.
            note=f"{points}; measured on a {len(prefix):,}-point prefix ×{scale:.2f} (linear)",
        ),
        Row(
            "windows",
            "Python loop + np.array: peak memory",
            loop_peak,
            "B",
            loop_peak / series_bytes,
            note=f"{loop_mem.method}, prefix ×{scale:.2f}; ratio is × the series",
        ),
    ]
    rows += mem_row(
        "sliding_windows view + 1 gathered batch",
        view_mem,
        f"zero-copy view of {n_windows:,} windows of the float64 series + a {batch}-window gather",
    )
    rows += mem_row(
        "float32 copy (as WindowDataModule) + view + 1 batch",
        f32_mem,
        "for reference: the dtype conversion dominates; done once per fit",
        judged=False,
    )
    rows += mem_row(
        f"WindowBatches full shuffled pass (spb={spb})",
        pass_mem,
        "for reference, not the windowing target: also shuffles and gathers every window "
        "(int64 start index + randperm + shuffled copy)",
        judged=False,
    )
    return rows
