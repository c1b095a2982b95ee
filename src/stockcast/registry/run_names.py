"""The names of the MLflow runs the registry and the monitor log: below the config, which offers
the same names to configs as `${stockcast_run_name:<parts>}`, so registering imports no config
code."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf


def run_name(*parts: Any) -> str:
    """An MLflow run's name: its parts joined by '-' (`pipeline-2026-06-30`, the task and the
    data's day), and in a sweep's job `job<number>` after them, as a sweep's runs share the rest."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    named = [str(part) for part in parts]
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        number = OmegaConf.select(HydraConfig.get(), "job.num", default=None)
        if number is not None:  # None: the sweep's own process, which is no job
            named.append(f"job{number}")
    return "-".join(named)
