"""SIGHUP, what a closed terminal or SSH session sends, stops a command as SIGTERM does.

Under its default handler SIGHUP ended a fit at once: no line, exit status -1, the MLflow run
left RUNNING and the steps since the last checkpoint lost, where SIGTERM stops the fit at its
next step (Lightning's handler), ends its run KILLED and says how `train.resume` continues it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class HangUp:
    """While `stops_as_sigterm`, a SIGHUP is handed to the SIGTERM handler in place (Lightning's,
    during a fit or a test), and `received` remembers it, so the stop is named after it."""

    def __init__(self) -> None:
        self.received = False

    @contextmanager
    def stops_as_sigterm(self) -> Iterator[None]:
        """Handle SIGHUP only where it would have killed the process: `nohup` ignores it, and a
        handler already there (the Optuna sweeper's, which names the stopped trials) stays."""
        number = getattr(signal, "SIGHUP", None)  # none on Windows
        if number is None or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(number)
        if previous != signal.SIG_DFL:
            yield
            return
        signal.signal(number, self._stop)
        try:
            yield
        finally:
            signal.signal(number, previous)

    def _stop(self, number: int, frame: FrameType | None) -> None:
        self.received = True
        sigterm = signal.getsignal(signal.SIGTERM)
        if callable(sigterm):
            sigterm(signal.SIGTERM, frame)
            return
        # Nothing handles SIGTERM here (outside Lightning's fit and test): SIGTERM would end the
        # process at once, and so does the hang-up, as it did.
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
