"""Which benchmarks exist, in table order, and how to run a selection of them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stockcast.bench.common import BenchOptions, Row
from stockcast.bench.predict import bench_predict
from stockcast.bench.startup import bench_startup
from stockcast.bench.threads import bench_threads
from stockcast.bench.training import bench_training
from stockcast.bench.windowing import bench_windowing

BENCHMARKS: dict[str, Callable[[BenchOptions], list[Row]]] = {
    "train": bench_training,
    "windows": bench_windowing,
    "startup": bench_startup,
    "threads": bench_threads,
    "predict": bench_predict,
}


def run_benchmarks(
    names: Sequence[str], opts: BenchOptions, progress: Callable[[str], None] | None = None
) -> list[Row]:
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    rows: list[Row] = []
    for name in names:
        if progress:
            progress(name)
        rows += BENCHMARKS[name](opts)
    return rows
