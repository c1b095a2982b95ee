"""The panel benchmark's prepare part: `prepare_data` on the panel in a fresh subprocess (this
package's `__main__`), so that what earlier benchmarks left on the heap neither hides nor
inflates its peak."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.common import BenchOptions, Row, command_failure, compose_train_cfg, median
from benchmarks.panel.size import PANEL_DAYS, panel_overrides
from stockcast.paths import PROJECT_ROOT

PREPARE_REPEATS = 3  # in the subprocess: median time, largest peak


def measure_prepare(series: int, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """`prepare_data` on the panel, `PREPARE_REPEATS` times in this process (run it in a fresh one)."""
    from benchmarks.common import fix_malloc_for_rss, peak_memory
    from stockcast.config.compose import plain
    from stockcast.data.prepared import prepare_data

    fix_malloc_for_rss()
    data_cfg = plain(compose_train_cfg(panel_overrides(series, overrides)).data)
    seconds, peaks, method, meta = [], [], "", {}
    for _ in range(PREPARE_REPEATS):
        with peak_memory() as mem:
            prepared = prepare_data(data_cfg)
        seconds.append(mem.seconds)
        peaks.append(mem.peak_bytes)
        method, meta = mem.method, prepared.meta
        del prepared
    return {
        "seconds": seconds,
        "peak_bytes": peaks,
        "method": method,
        "points": meta["n_points"],
        "windows": meta["n_windows"],
    }


def prepare_rows(opts: BenchOptions) -> list[Row]:
    args = [sys.executable, "-m", "benchmarks.panel", "prepare", str(opts.panel_series)]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [*args, *opts.overrides], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise command_failure("the prepare measurement", result)
    got = json.loads(result.stdout.strip().splitlines()[-1])
    points = int(got["points"])
    values_bytes = points * np.dtype(np.float64).itemsize
    size = f"{opts.panel_series:,} × {PANEL_DAYS:,} market panel ({points:,} points)"
    windows = "/".join(f"{got['windows'][s]:,}" for s in ("train", "val", "test"))
    return [
        Row(
            "panel",
            f"prepare_data, {size}",
            median(got["seconds"]),
            "s",
            note=(
                f"median of {PREPARE_REPEATS} in a fresh subprocess: generate, split, scale; "
                f"{windows} train/val/test windows"
            ),
        ),
        Row(
            "panel",
            "prepare_data, peak memory",
            float(max(got["peak_bytes"])),
            "B",
            ratio=max(got["peak_bytes"]) / values_bytes,
            note=(
                f"{got['method']}, largest of {PREPARE_REPEATS}; ratio: × the panel's float64 "
                f"values ({values_bytes / 2**20:.1f} MiB); the generator draws every business day "
                "since data.start_date before the length cap"
            ),
        ),
    ]
