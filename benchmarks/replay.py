"""The simulated schedule: seconds per business day of `make replay` for experiment=mlp_w10
(or the experiment an override names).

One real `python -m stockcast.orchestration.replay` command (imports paid once, as a user
runs it); the seconds per day come from its replay.json. The target is for the days after the
first, with the default cold fits; the warm-start variant (replay.warm_start=true) is timed beside it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.common import BenchOptions, Row, command_failure
from stockcast.orchestration.replay_record import REPLAY_FILE
from stockcast.paths import PROJECT_ROOT

SECONDS_PER_DAY_TARGET = 3.0
REPLAY_END = "2026-06-30"
EXPERIMENT = "mlp_w10"


def replay_experiment(overrides: Sequence[str]) -> str:
    """The experiment the replay runs: `EXPERIMENT`, unless an override names another (the
    last, as Hydra takes it), which the rows then name instead of one that did not run."""
    named = [o.split("=", 1)[1] for o in overrides if o.lstrip("+").startswith("experiment=")]
    return named[-1] if named else EXPERIMENT


def replay_days(days: int, folder: Path, overrides: list[str]) -> list[dict]:
    command = [
        sys.executable,
        "-m",
        "stockcast.orchestration.replay",
        f"experiment={EXPERIMENT}",
        f"days={days}",
        f"replay.end={REPLAY_END}",
        f"paths.log_dir={folder}/logs",
        f"hydra.run.dir={folder}/run",
        *overrides,
    ]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise command_failure("the replay", result)
    return json.loads((folder / "run" / REPLAY_FILE).read_text())["days"]


def bench_replay(opts: BenchOptions) -> list[Row]:
    runs = {}
    for warm in (False, True):
        with tempfile.TemporaryDirectory(prefix="stockcast-bench-replay-") as tmp:
            extra = [*opts.overrides, f"replay.warm_start={str(warm).lower()}"]
            runs[warm] = replay_days(opts.replay_days, Path(tmp), extra)
    cold, warm = (float(np.median([d["seconds"] for d in runs[w][1:]])) for w in (False, True))
    later = len(runs[False]) - 1
    experiment = replay_experiment(opts.overrides)
    return [
        Row(
            "replay",
            f"make replay experiment={experiment}, day 1",
            runs[False][0]["seconds"],
            "s",
            note="prepare, train, evaluate, refit, register, monitor; no champion yet",
        ),
        Row(
            "replay",
            f"make replay experiment={experiment}, per later day ({later} days, default)",
            cold,
            "s",
            target=f"≤ {SECONDS_PER_DAY_TARGET:g} s",
            met=cold <= SECONDS_PER_DAY_TARGET,
            note="median; every day trains from scratch",
        ),
        Row(
            "replay",
            f"... per later day with replay.warm_start=true ({later} days)",
            warm,
            "s",
            cold / warm if warm > 0 else None,
            note="median; ratio: cold / warm; fine-tunes the champion (train.warm_max_steps)",
        ),
    ]
