"""Which compute cluster runs each step, with the pipeline default as fallback."""

from __future__ import annotations

from collections.abc import Iterable

from omegaconf import DictConfig

from stockcast.azureml.errors import AzureMLConfigError
from stockcast.azureml.settings import override_key
from stockcast.azureml.steps import STEPS

STEP_COMPUTE_KEY = "azureml.compute.steps"


def _unknown_step(key: str) -> AzureMLConfigError:
    return AzureMLConfigError(
        f"Unknown compute key {key!r} in {STEP_COMPUTE_KEY}; expected one of {', '.join(STEPS)}."
    )


def check_compute_overrides(overrides: Iterable[str]) -> None:
    """Refuse `azureml.compute.steps.<typo>=...` with a clear message before Hydra does tersely."""
    prefix = f"{STEP_COMPUTE_KEY}."
    for override in overrides:
        key = override_key(override)
        if key.startswith(prefix) and key[len(prefix) :] not in STEPS:
            raise _unknown_step(key[len(prefix) :])


def check_compute(compute: DictConfig) -> None:
    """Every per-step key names a step, and there is a default to fall back on."""
    for key in compute.steps:
        if key not in STEPS:
            raise _unknown_step(str(key))
    if not compute.default:
        raise AzureMLConfigError(
            "azureml.compute.default is empty; name a compute cluster of the workspace."
        )


def step_compute(compute: DictConfig, step: str) -> str:
    """The cluster for one pipeline step."""
    check_compute(compute)
    return compute.steps.get(step) or compute.default


def job_compute(compute: DictConfig) -> str:
    """The cluster for the standalone training job."""
    check_compute(compute)
    return compute.job or compute.default
