"""Work run in a forked child process while this one does other work: the refit beside the
held-back check (`pipeline.refit_beside_check`), and half the rolling-origin folds beside the
other half (`fit.folds_beside`).

Such fits are independent, each seeding itself, so what a child fits is what this process would
have fitted after its own work, to the bit; where a core is free one fit's time is hidden
behind the other's. Only a fork shares the fitted state without re-importing or
re-reading anything, and only one CPU process per fit forks safely: anything else runs in turn.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from stockcast.errors import ArtifactError

# Lightning's spellings of 32-bit training (the default).
SINGLE_PRECISION = frozenset({"32", "32-true", "None"})
# prctl's option that signals a process when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1


def fits_beside(cfg: DictConfig) -> bool:
    """Whether the refit may run in a child beside the check: switched on, and `forks_safely`."""
    return bool(cfg.pipeline.refit_beside_check) and forks_safely(cfg)


def forks_safely(cfg: DictConfig) -> bool:
    """Whether a fit may run in a forked child: on Linux (fork is the default start method
    there, and the one torch and Lightning are used with), a cold start
    (a warm start opens the model registry, whose store lock refuses to cross a fork), one torch
    thread (OpenMP's thread pool, started by an earlier fit with more, does not survive a fork:
    the child hangs), 32-bit weights (the child's come back into the network the spec builds),
    a trainer of one CPU process, a caller that may start processes, and a second core."""
    trainer = cfg.trainer
    one_cpu_process = (
        trainer.get("accelerator", "cpu") == "cpu"
        and str(trainer.get("devices", 1)) == "1"
        and int(trainer.get("num_nodes", 1)) == 1
        and trainer.get("strategy", "auto") in ("auto", None)
        and str(trainer.get("precision", 32)) in SINGLE_PRECISION
    )
    return bool(
        sys.platform.startswith("linux")
        and cfg.train.get("init_from") is None
        and int(cfg.num_threads) == 1
        and one_cpu_process
        and not multiprocessing.current_process().daemon
        and len(os.sched_getaffinity(0)) >= 2
    )


class Beside:
    """`work()` running in a forked child; `result()` waits for what it returned (or raises
    what it raised), `cancel()` stops it. The result travels pickled through a pipe, so it holds
    plain values and numpy arrays, not tensors (torch's pickling of tensors between processes
    shares their memory, which a finished child cannot keep)."""

    def __init__(
        self,
        work: Callable[[], Any],
        what: str = "the refit",
        switch: str = "pipeline.refit_beside_check",
    ) -> None:
        # Named in the error a child that dies without a result leaves: what it fitted, and
        # the setting that runs it in this process instead.
        self._what, self._switch = what, switch
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_run, args=(work, send, os.getpid()), daemon=True)
        self._process.start()
        send.close()

    def result(self) -> Any:
        try:
            status, value = self._receive.recv()
        except EOFError:
            self._process.join()
            raise ArtifactError(
                f"{self._what}'s child process ended without a result (exit code "
                f"{self._process.exitcode}); run again with {self._switch}=false to run it in "
                "this process."
            ) from None
        finally:
            self._receive.close()
        self._process.join()
        if status == "error":
            raise value
        return value

    def cancel(self) -> None:
        """Stop the child at once: SIGKILL, since Lightning catches SIGTERM and would finish
        the batch, then report an error nobody reads. The child writes no files."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._receive.close()


def _run(work: Callable[[], Any], send: Any, parent: int) -> None:
    _die_with(parent)
    try:
        outcome = ("ok", work())
    except BaseException as err:  # every failure goes back to the parent, with where it arose
        err.add_note(f"in the child process:\n{traceback.format_exc()}")
        outcome = ("error", err)
    try:
        send.send(outcome)
    except OSError:
        pass  # the parent stopped listening (it cancelled): nothing to tell
    except Exception as err:  # an exception that does not pickle: its sentence does
        send.send(("error", RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]} ({err})")))
    finally:
        send.close()


def _die_with(parent: int) -> None:
    """Killed with the parent, not left fitting for nobody (a daemon child is stopped only when
    its parent exits normally, not when it is killed)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
