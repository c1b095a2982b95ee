"""An Optuna search stopped by a signal, as a scheduler (SIGTERM), a closed terminal (SIGHUP) or
Ctrl-C stops it: only a process of its own shows what the signal does to it and its study."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import optuna
import pytest

from stockcast.paths import PROJECT_ROOT
from tests.conftest import CLI_ENV, isolated_overrides
from tests.prewarmed import start_forked

pytestmark = pytest.mark.slow

TINY = ("data.length=300", "trainer.max_epochs=1", "data.batch_size=32")
STUDY = "pipeline_stock_predictor_gbm"
TIMEOUT_S = 300


@pytest.mark.parametrize(
    ("stop", "by", "status"),
    [
        (signal.SIGTERM, "SIGTERM", 143),
        (signal.SIGHUP, "SIGHUP", 129),
        (signal.SIGINT, "Ctrl-C", 130),
    ],
)
def test_a_signal_during_a_trial_tells_it_failed_and_names_it(
    tmp_path: Path, stop: signal.Signals, by: str, status: int
) -> None:
    """SIGTERM outside Lightning's fit, and SIGHUP anywhere, ended the process at once: the
    trial stayed RUNNING in the stored study for good, and nothing said which trial stopped."""
    sweep = tmp_path / "sweep"
    command = [
        "src/train.py",
        "-m",
        *TINY,
        *isolated_overrides(tmp_path),
        f"hydra.sweep.dir={sweep}",
        "hparams_search=mlp_optuna",
        "hydra.sweeper.n_trials=2",
    ]
    sweep_run = start_forked(command, PROJECT_ROOT, os.environ | CLI_ENV)
    # As the first trial's job starts: before its fit, where no handler of Lightning's runs.
    started = time.monotonic()
    while not (sweep / "0").is_dir() and sweep_run.returncode is None:
        assert time.monotonic() - started < TIMEOUT_S, "the first trial never started"
        time.sleep(0.05)
    os.kill(sweep_run.process.pid, stop)
    _, err = sweep_run.communicate(timeout=TIMEOUT_S)
    assert sweep_run.returncode == status, err[-3000:]
    assert err.splitlines()[-1] == (
        f"error: stopped by {by} during Optuna trial 0 (its folder: {sweep / '0'}); told it "
        f"failed in study {STUDY!r}; run the same command again to add trials to it."
    ), err[-3000:]
    storage = f"sqlite:///{tmp_path}/logs/optuna/{STUDY}.db"
    (trial,) = optuna.load_study(study_name=STUDY, storage=storage).trials
    assert trial.state == optuna.trial.TrialState.FAIL
    assert trial.user_attrs == {"stopped_by": by}
