"""The simulated schedule: seconds per business day of `make replay` for experiment=mlp_w10.

One real `python -m stockcast.replay` command (imports paid once, as a user runs it); the seconds
per day come from its replay.json. Day 1 trains from scratch; the target is for the days after
it, which fine-tune the champion (replay.warm_start) as a daily retrain would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import BenchOptions, Row
from stockcast.config import PROJECT_ROOT
from stockcast.replay import REPLAY_FILE

SECONDS_PER_DAY_TARGET = 3.0
REPLAY_END = "2026-06-30"


def replay_days(days: int, folder: Path, overrides: list[str]) -> list[dict]:
    command = [
        sys.executable,
        "-m",
        "stockcast.replay",
        "experiment=mlp_w10",
        f"days={days}",
        f"replay.end={REPLAY_END}",
        f"paths.log_dir={folder}/logs",
        f"hydra.run.dir={folder}/run",
        *overrides,
    ]
    subprocess.run(command, check=True, cwd=PROJECT_ROOT, capture_output=True)
    return json.loads((folder / "run" / REPLAY_FILE).read_text())["days"]


def bench_replay(opts: BenchOptions) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="stockcast-bench-replay-") as tmp:
        days = replay_days(opts.replay_days, Path(tmp), opts.overrides)
    later = [d["seconds"] for d in days[1:]]
    per_day = float(np.median(later))
    return [
        Row(
            "replay",
            "make replay experiment=mlp_w10, day 1 (cold fit)",
            days[0]["seconds"],
            "s",
            note="prepare, train, evaluate, refit, register, monitor",
        ),
        Row(
            "replay",
            f"make replay experiment=mlp_w10, each later day ({len(later)} days)",
            per_day,
            "s/day",
            target=f"≤ {SECONDS_PER_DAY_TARGET:g} s",
            met=per_day <= SECONDS_PER_DAY_TARGET,
            note="median; warm start from the champion (train.warm_max_steps)",
        ),
    ]
