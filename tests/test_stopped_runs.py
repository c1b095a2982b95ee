"""How a fit's MLflow run ends when it does not finish: KILLED where a signal stopped it
(`train.resume` continues it), FAILED where it broke."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lightning.pytorch.utilities.exceptions import SIGTERMException

from hydra_plugins.stockcast_optuna_sweeper import stop_signals
from stockcast.training.runtime import runs_end_as_the_fit


class _Tracked:
    """An MLflow logger's part `runs_end_as_the_fit` uses: its run, and the status it ends with."""

    run_id = "run"

    def __init__(self) -> None:
        self.ended: list[tuple[str, str]] = []
        self.experiment = self

    def set_terminated(self, run_id: str, status: str) -> None:
        self.ended.append((run_id, status))


@pytest.mark.parametrize(
    ("raising", "status"),
    [
        (KeyboardInterrupt, "KILLED"),
        (SIGTERMException, "KILLED"),
        # The Optuna sweeper's stop of a trial by SIGTERM or SIGHUP outside its fit (scoring the
        # best checkpoint, exporting): the run ended FAILED, as if the trial were broken. Its
        # class is read when the test runs: Hydra's plugin scan runs the sweeper's modules again
        # in place (rebinding their classes), as the sweeper's own raise reads it.
        (lambda: stop_signals.StoppedBySignal("SIGHUP"), "KILLED"),
        (lambda: stop_signals.StoppedBySignal("SIGTERM"), "KILLED"),
        (lambda: ValueError("broken"), "FAILED"),
    ],
)
def test_a_run_stopped_by_a_signal_ends_killed_and_one_that_failed_failed(
    raising: Callable[[], BaseException], status: str
) -> None:
    raised = raising()
    tracked = _Tracked()
    with pytest.raises(type(raised)), runs_end_as_the_fit([tracked]):
        raise raised
    assert tracked.ended == [("run", status)]
