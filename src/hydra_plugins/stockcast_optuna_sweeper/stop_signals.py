"""How an Optuna sweep stopped by a signal ends: its running trials told FAIL in the stored study
(a resumed study, or a dashboard, counted a trial left RUNNING as still running for good), and
one line naming them, with the exit status a shell gives a process that signal killed.

SIGTERM (a scheduler, `kill`) and SIGHUP (a closed terminal) ended the sweep's process at once
wherever Lightning's fit was not running to catch SIGTERM (`StopSignals`); a batch they stop now
raises, as one Ctrl-C stops, and the sweeper's handling of a batch that raised tells it FAIL.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from stockcast.config.task import CTRL_C_EXIT, SIGHUP_EXIT, SIGTERM_EXIT, stopped_by_sigterm

# The signals that stop a sweep, by name, with the exit status of a process each killed.
STOP_SIGNALS = {"SIGTERM": SIGTERM_EXIT, "SIGHUP": SIGHUP_EXIT}
# An Optuna trial's user attribute naming the signal that stopped it.
STOPPED_BY_ATTR = "stopped_by"


class StoppedBySignal(BaseException):
    """The sweep's process got a stop signal. Not an Exception: a job's task and Hydra's
    `run_job` let it through, as they do a KeyboardInterrupt, to the sweeper."""

    def __init__(self, by: str) -> None:
        super().__init__(f"stopped by {by}")
        self.by = by


class StopSignals:
    """While `raised`, SIGTERM and SIGHUP stop the sweep. During a fit Lightning's SIGTERM
    handler is installed (it calls this one after its own): the fit is then stopped by it at
    its next step, SIGHUP too, with the exit its train task gives such a run. Elsewhere in a
    batch's launch the signal raises `StoppedBySignal`; outside a launch (the study asked or
    told, where a raise would leave trials RUNNING) or where the raise was lost (in a garbage
    collector's callback, which drops it; a fit that ended before its next step), `check`
    raises it once the study is told. The signal's own name is what the sweep says stopped it."""

    def __init__(self) -> None:
        self.received: str | None = None
        # Set while a batch launches: only there does a stop raise.
        self.armed = False

    @contextmanager
    def raised(self) -> Iterator[None]:
        numbers = [getattr(signal, name) for name in STOP_SIGNALS if hasattr(signal, name)]
        previous = {number: signal.signal(number, self._stop) for number in numbers}
        unraisable = sys.unraisablehook

        def dropped(info: Any) -> None:
            # A stop raised where Python drops it is raised again by `check`: not a traceback.
            if not isinstance(info.exc_value, StoppedBySignal):
                unraisable(info)

        sys.unraisablehook = dropped
        try:
            yield
        finally:
            sys.unraisablehook = unraisable
            for number, handler in previous.items():
                signal.signal(number, handler)

    def _stop(self, number: int, frame: FrameType | None) -> None:
        self.received = self.received or signal.Signals(number).name
        fit_handler = signal.getsignal(signal.SIGTERM)
        if fit_handler != self._stop and callable(fit_handler):
            if number != signal.SIGTERM:
                fit_handler(signal.SIGTERM, frame)
            return
        if self.armed:
            raise StoppedBySignal(self.received)

    @contextmanager
    def launching(self) -> Iterator[None]:
        """A batch's launch, which a stop raises into: the batch's handling tells its trials."""
        self.armed = True
        try:
            yield
        finally:
            self.armed = False

    def check(self) -> None:
        """Raise the stop a signal asked for where it did not stop the sweep then (outside a
        launch, or lost)."""
        if self.received is not None:
            raise StoppedBySignal(self.received)

    def stopping(self, err: BaseException) -> tuple[str, int] | None:
        """What stopped a sweep that raised `err`, and the exit status it gives; None where
        `err` is no stop by a signal."""
        if isinstance(err, KeyboardInterrupt):
            by = "Ctrl-C"
        elif isinstance(err, StoppedBySignal) or stopped_by_sigterm(err):
            by = self.received or "SIGTERM"
        else:
            return None
        return by, STOP_SIGNALS.get(by, CTRL_C_EXIT)


def stopped_sweep_sentence(
    by: str, stopped: list[tuple[int, Path]], study_name: str | None, storage: str | None
) -> str:
    """The one line of a sweep stopped `by` a signal: the trials it stopped (study numbers and
    job folders) and how the search goes on."""
    if not stopped:
        return f"stopped by {by} between Optuna trials; run the command again."
    trials = ", ".join(f"{number} (its folder: {folder})" for number, folder in stopped)
    plural = len(stopped) > 1
    told = f"told {'them' if plural else 'it'} failed"
    goes_on = (
        f"{told} in study {study_name!r}; run the same command again to add trials to it"
        if storage
        else f"{told}; run the command again"
    )
    return f"stopped by {by} during Optuna trial{'s' if plural else ''} {trials}; {goes_on}."
