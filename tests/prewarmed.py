"""Project commands in their own process, without paying the library imports each time.

A fresh interpreter spends seconds importing torch, Lightning, MLflow and Hydra before a command
does anything, and the suite starts about a hundred commands. Here one forkserver imports those
libraries once, and each command is a fork of it: its own process (pid, exit code, environment,
working directory, stdout and stderr; it can crash or be killed), started in milliseconds. The
project's own modules are not preloaded: every command imports stockcast afresh, under its own
environment. What only a new interpreter proves (which modules a command imports, start-up time)
and programs other than a project command (`mlflow models serve`, bash) still start one:
`Command(fresh=True)` or plain `subprocess`.
"""

from __future__ import annotations

import atexit
import functools
import json
import multiprocessing
import os
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from multiprocessing import forkserver
from multiprocessing.process import BaseProcess
from pathlib import Path
from unittest import mock

# The third-party libraries the entry points import (the seconds of a fresh start).
PRELOAD = (
    "numpy",
    "pandas",
    "torch",
    "lightning.pytorch",
    "mlflow",
    "mlflow.pyfunc",
    # The SQLite stores' SQLAlchemy and Alembic: 0.6 s of every command that opens a store.
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "hydra",
    "omegaconf",
    "pydantic",
    "matplotlib.pyplot",
    "safetensors.torch",
    # This module itself: a fork finds its target here whatever the session's sys.path then is.
    "tests.prewarmed",
)
# What every command's environment sets and the forkserver must see at its own start (read once,
# at import time, by the interpreter and matplotlib).
SERVER_ENV = {"MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}

_context = multiprocessing.get_context("forkserver")


@functools.cache
def _ensure_server() -> None:
    """The first command starts the forkserver, with SERVER_ENV in its environment."""
    _context.set_forkserver_preload(list(PRELOAD))
    with mock.patch.dict(os.environ, SERVER_ENV):
        forkserver.ensure_running()


@functools.cache
def installed_path() -> tuple[str, ...]:
    """sys.path of a new interpreter after its first entry, without PYTHONPATH: the standard
    library and the installed packages (the test session's own sys.path also holds what it
    added, such as a loaded model's code folder)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = "import json, sys; print(json.dumps(sys.path[1:]))"
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd="/", capture_output=True, text=True, check=True
    ).stdout
    return tuple(json.loads(out))


def _search_path(
    args: Sequence[str], cwd: str, env: Mapping[str, str], installed: Sequence[str]
) -> list[str]:
    """sys.path as `python <args>` would start with: the script's folder (or the working folder
    for -m and -c), then PYTHONPATH, then the installed libraries."""
    first = cwd if args[0] in ("-m", "-c") else os.path.dirname(os.path.abspath(args[0]))
    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    return [first, *extra, *installed]


def _run_in_child(
    args: Sequence[str],
    cwd: str,
    env: Mapping[str, str],
    stdout: str,
    stderr: str,
    installed: Sequence[str],
) -> None:
    """In the forked process: become `python <args>` run from `cwd` with `env`."""
    # Ctrl-C raises KeyboardInterrupt, as in an interpreter started from a terminal. The fork
    # inherits the forkserver's disposition, and a forkserver started after an in-process fit
    # was stopped by Ctrl-C inherited Lightning's SIG_IGN (it ignores Ctrl-C while it shuts
    # down, and never puts it back): every command then ignored Ctrl-C.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # A closed terminal's SIGHUP ends the command as it would one started from a terminal: a
    # suite run under nohup left the forkserver, and so every command, ignoring it.
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
    for fd, path in ((1, stdout), (2, stderr)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(target, fd)
        os.close(target)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    # The temporary folder is read from the environment once per interpreter: read it afresh.
    tempfile.tempdir = None
    sys.path[:] = _search_path(args, cwd, env, installed)
    try:
        if args[0] == "-m":
            sys.argv = list(args[1:])
            runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        elif args[0] == "-c":
            sys.argv = ["-c", *args[2:]]
            exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})
        else:
            sys.argv = list(args)
            runpy.run_path(args[0], run_name="__main__")
    finally:
        # A forked child ends with os._exit: run what an interpreter runs at exit.
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()


@dataclass
class Forked:
    """A running command (the subset of subprocess.Popen the tests use)."""

    args: list[str]
    process: BaseProcess
    folder: Path

    @property
    def returncode(self) -> int | None:
        return self.process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self.process.exitcode

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Wait, then what it wrote (its output folder is removed)."""
        try:
            self.wait(timeout)
            out, err = (
                (self.folder / name).read_text(errors="replace") for name in ("stdout", "stderr")
            )
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
        return out, err

    def result(self, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """Wait, then what `subprocess.run` would have returned."""
        out, err = self.communicate(timeout)
        return subprocess.CompletedProcess(self.args, self.returncode, out, err)


def start_forked(args: Sequence[str], cwd: Path | str, env: Mapping[str, str]) -> Forked:
    """Start `python <args>` (args without the interpreter) as a fork of the forkserver."""
    _ensure_server()
    folder = Path(tempfile.mkdtemp(prefix="command-"))
    process = _context.Process(
        target=_run_in_child,
        args=(
            list(args),
            str(cwd),
            dict(env),
            str(folder / "stdout"),
            str(folder / "stderr"),
            installed_path(),
        ),
    )
    process.start()
    return Forked([sys.executable, *args], process, folder)


def run_forked(
    args: Sequence[str], cwd: Path | str, env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    return start_forked(args, cwd, env).result(timeout)
