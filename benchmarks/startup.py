"""Import / start-up wall time of the CLI against importing torch alone (fresh subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence

from benchmarks.common import BenchOptions, Row, median
from stockcast.paths import PROJECT_ROOT


def wall_time(args: Sequence[str], repeats: int) -> float:
    """Median wall time of `python <args>` over `repeats` fresh processes."""
    env = os.environ | {"PYTHONWARNINGS": "ignore", "MPLBACKEND": "Agg"}
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        subprocess.run(
            [sys.executable, *args],
            cwd=PROJECT_ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=300,
        )
        times.append(time.perf_counter() - begin)
    return median(times)


def bench_startup(opts: BenchOptions) -> list[Row]:
    n = opts.startup_repeats
    torch_s = wall_time(["-c", "import torch"], n)
    rows = [
        Row(
            "startup",
            'python -c "import torch" (reference)',
            torch_s,
            "s",
            1.0,
            note=f"median of {n} subprocesses",
        )
    ]
    cases = [("python src/train.py --help", ["src/train.py", "--help"])]
    if n > 1:  # explains where a slow start would come from; skipped in --quick
        cases.append(('python -c "import lightning"', ["-c", "import lightning"]))
    for name, args in cases:
        seconds = wall_time(args, n)
        rows.append(
            Row("startup", name, seconds, "s", seconds / torch_s, note="ratio: × import torch")
        )
    return rows
