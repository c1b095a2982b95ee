"""Shared behaviour of the command-line entry points."""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from stockcast.errors import StockcastError

T = TypeVar("T")
TIMING_FILE = "timing.json"


def user_errors_exit(func: Callable[..., T]) -> Callable[..., T]:
    """Turn a StockcastError into one line on stderr and exit status 2 instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except StockcastError as err:
            print(f"error: {err}", file=sys.stderr)
            if _in_multirun():
                # Let the sweeper record this job as failed and go on with the others.
                raise
            sys.exit(2)

    return wrapper


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def timed_step(func: Callable[..., T]) -> Callable[..., T]:
    """Record when the task body starts and ends (timing.json in the run dir), so the runner can
    split each step's wall time into start-up (imports, config) and work."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from hydra.core.hydra_config import HydraConfig

        entered = time.time()
        try:
            return func(*args, **kwargs)
        finally:
            out = Path(HydraConfig.get().runtime.output_dir) / TIMING_FILE
            out.write_text(json.dumps({"entered": entered, "finished": time.time()}))

    return wrapper
