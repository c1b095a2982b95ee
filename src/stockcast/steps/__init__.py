"""The pipeline steps. Each is a Hydra task (`python -m stockcast.steps.<name>`) that reads and
writes plain folders, so the local runner and Azure ML components run exactly the same code."""

from collections.abc import Callable
from typing import Any


def _step_functions() -> dict[str, Callable[[Any], Any]]:
    from stockcast.steps.evaluate import run_evaluate
    from stockcast.steps.prepare import run_prepare
    from stockcast.steps.register import run_register
    from stockcast.steps.train import run_train_step

    return {
        "prepare": run_prepare,
        "train": run_train_step,
        "evaluate": run_evaluate,
        "register": run_register,
    }


def __getattr__(name: str) -> Any:
    # Lazy: importing stockcast.steps.spec must not import every step.
    if name == "STEP_FUNCTIONS":
        return _step_functions()
    raise AttributeError(name)
