"""Benchmarks behind `make bench` (`python -m benchmarks`): each one is a function returning rows.

They live beside the package, not in it: nothing here is installed, and nothing in `stockcast`
imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from benchmarks.common import (
    BenchOptions,
    Row,
    compose_train_cfg,
    format_table,
    stopped_by_ctrl_c,
)
from benchmarks.ddp import bench_ddp
from benchmarks.panel import bench_panel, check_panel_overrides
from benchmarks.predict import bench_predict
from benchmarks.replay import bench_replay
from benchmarks.startup import bench_startup
from benchmarks.threads import bench_threads
from benchmarks.training import bench_training, check_train_points
from benchmarks.windowing import bench_windowing, check_sizes

# Which benchmarks exist, in table order.
BENCHMARKS: dict[str, Callable[[BenchOptions], list[Row]]] = {
    "train": bench_training,
    "windows": bench_windowing,
    "startup": bench_startup,
    "threads": bench_threads,
    "predict": bench_predict,
    "ddp": bench_ddp,
    "replay": bench_replay,
    "panel": bench_panel,
}


class StoppedEarly(Exception):
    """Ctrl-C during a bench run: the rows of the benchmarks that finished before it."""

    def __init__(self, rows: list[Row], finished: list[str]) -> None:
        super().__init__(f"stopped after {finished}")
        self.rows, self.finished = rows, finished


def run_benchmarks(
    names: Sequence[str], opts: BenchOptions, progress: Callable[[str], None] | None = None
) -> list[Row]:
    """The named benchmarks' rows, in order; Ctrl-C raises `StoppedEarly` with the rows of those
    that finished (minutes of measuring each at full sizes), which would otherwise be lost."""
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    if opts.overrides:
        # Composed before the first benchmark: `ddp` and `replay` pass them to a command of their
        # own, which refused one the config lacks with a traceback, after the benchmarks before.
        compose_train_cfg(opts.overrides)
        if "panel" in names:
            check_panel_overrides(opts)
    if "windows" in names:
        # Its sizes, before the benchmarks named before it have run (minutes at full sizes).
        check_sizes(opts)
    if "train" in names:
        check_train_points(opts)
    rows: list[Row] = []
    finished: list[str] = []
    try:
        for name in names:
            if progress:
                progress(name)
            rows += BENCHMARKS[name](opts)
            finished.append(name)
    except KeyboardInterrupt:
        raise StoppedEarly(rows, finished) from None
    except SystemExit as err:
        if not stopped_by_ctrl_c(err):
            raise
        raise StoppedEarly(rows, finished) from None
    return rows


__all__ = [
    "BENCHMARKS",
    "BenchOptions",
    "Row",
    "StoppedEarly",
    "format_table",
    "run_benchmarks",
]
