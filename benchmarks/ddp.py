"""DDP on this machine: the same `src/train.py` fit in two processes (trainer=ddp, gloo) vs one.

Both runs train the same number of epochs on the same series, so they see the same windows; the
two-process run takes half as many optimizer steps of twice the windows each. Each run is the
real command line in a fresh process (DDP re-launches the script for rank 1), timed twice: the
fit alone (a callback on rank 0, validation included) and the whole command (imports, prepare).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import BenchOptions, Row, command_failure
from stockcast.config.compose import local_store_overrides
from stockcast.errors import counted
from stockcast.paths import PROJECT_ROOT

DDP_EPOCHS = 2
# The panel is `train_points` values split into tickers of this many business days (a single
# series cannot be that long: it ends at data.as_of and starts at data.start_date).
SERIES_LENGTH = 2000
TIMING_FILE = "fit_timing.json"
PROCESS_COUNTS = (1, 2)


def ticker_count(points: int) -> int:
    """The whole tickers of `SERIES_LENGTH` values in `points` (at least one): what both runs
    train on, so what the rows' note names."""
    return max(1, points // SERIES_LENGTH)


def _fit(processes: int, tickers: int, folder: Path, extra: list[str]) -> dict[str, float]:
    """One `src/train.py` run; its fit time, windows trained on and whole-command wall time."""
    run_dir = folder / f"run_{processes}"
    trainer = ["trainer=ddp", f"trainer.devices={processes}"] if processes > 1 else []
    args = [
        sys.executable,
        "src/train.py",
        *trainer,
        "data=market",
        f"data.length={SERIES_LENGTH}",
        f"data.num_series={tickers}",
        f"trainer.max_epochs={DDP_EPOCHS}",
        "trainer.max_steps=-1",
        "logger=none",
        "callbacks=none",
        "test=false",
        "+callbacks.fit_timer._target_=benchmarks.fit_timer.FitTimer",
        f"+callbacks.fit_timer.path={run_dir / TIMING_FILE}",
        *local_store_overrides(folder),
        f"hydra.run.dir={run_dir}",
        *extra,
    ]
    # Every rank imports benchmarks.fit_timer for the callback: the project root on their path.
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PYTHONWARNINGS": "ignore"}
    begin = time.perf_counter()
    result = subprocess.run(args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - begin
    if result.returncode != 0:
        raise command_failure(f"the {processes}-process fit", result)
    timing = json.loads((run_dir / TIMING_FILE).read_text())
    return {"wall_s": wall, **timing}


def bench_ddp(opts: BenchOptions) -> list[Row]:
    tickers = ticker_count(opts.train_points)
    with tempfile.TemporaryDirectory(prefix="stockcast-bench-ddp-") as tmp:
        runs = {n: _fit(n, tickers, Path(tmp), list(opts.overrides)) for n in PROCESS_COUNTS}
    single = runs[1]
    rows = []
    for processes, run in runs.items():
        throughput = run["windows"] / run["fit_s"]
        ratio = throughput / (single["windows"] / single["fit_s"])
        rows.append(
            Row(
                "ddp",
                f"{processes} process{'es' if processes > 1 else ''}"
                + (" (trainer=ddp, gloo)" if processes > 1 else " (trainer=cpu)"),
                throughput,
                "windows/s",
                ratio,
                note=(
                    f"fit {run['fit_s']:.1f} s for {run['windows']:,} windows "
                    f"({DDP_EPOCHS} epochs of {counted(tickers, 'ticker')} × {SERIES_LENGTH:,} "
                    "values, validation included); whole "
                    f"command {run['wall_s']:.1f} s; {os.cpu_count()} CPUs on this machine"
                ),
            )
        )
    return rows
