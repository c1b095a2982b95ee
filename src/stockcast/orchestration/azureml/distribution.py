"""Distributed training on an Azure ML cluster: a PyTorch distribution and the trainer keys
that match it, for a training job or a pipeline's steps (`azureml.job`,
`azureml.distributed_steps`). Imports no azure-ai-ml until a job is built."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from stockcast.orchestration.azureml.settings import AzureMLConfigError, SubmitConfig
from stockcast.training.distributed import configured_world_size, uses_ddp

# Azure ML starts `process_count_per_instance` processes on each of `instance_count` machines and
# sets MASTER_ADDR, MASTER_PORT, NODE_RANK, RANK, LOCAL_RANK, WORLD_SIZE; Lightning reads them
# (the processes exist already, so it launches none) provided `trainer.num_nodes` and
# `trainer.devices` say the same counts. The builders therefore append both to the command line.

SETTINGS_KEY = "azureml.job"
STEPS_KEY = "azureml.distributed_steps"


@dataclass(frozen=True)
class Distribution:
    """How many machines, and processes on each, one training run spans."""

    instance_count: int
    process_count_per_instance: int

    @property
    def trainer_overrides(self) -> dict[str, str]:
        """The trainer keys Lightning checks against the cluster's environment (`++`: set even
        where the trainer config lacks one, e.g. `trainer.strategy=ddp` on trainer=cpu)."""
        return {
            "++trainer.num_nodes": str(self.instance_count),
            "++trainer.devices": str(self.process_count_per_instance),
        }

    def job_settings(self) -> dict[str, Any]:
        """`distribution` and `resources` of a command job or component."""
        from azure.ai.ml import PyTorchDistribution
        from azure.ai.ml.entities import JobResourceConfiguration

        return {
            "distribution": PyTorchDistribution(
                process_count_per_instance=self.process_count_per_instance
            ),
            "resources": JobResourceConfiguration(instance_count=self.instance_count),
        }


def _count(settings: DictConfig, key: str, default: Any) -> int:
    value = settings.get(key)
    value = default if value is None else value
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise AzureMLConfigError(
            f"{SETTINGS_KEY}.{key}={value!r} must be a whole number of at least 1."
        )
    return value


def training_distribution(sc: SubmitConfig) -> Distribution | None:
    """The distribution of a training run, or None for a single-process one; refuses several
    processes for a trainer that is not DDP (they would each train the same model alone)."""
    settings = sc.azure.job
    trainer = OmegaConf.to_container(sc.cfg.trainer, resolve=False)
    assert isinstance(trainer, Mapping)
    devices = configured_world_size({"devices": trainer.get("devices", 1)})
    instances = _count(settings, "instance_count", 1)
    processes = _count(settings, "process_count_per_instance", devices)
    if uses_ddp(trainer):
        return Distribution(instances, processes)
    if instances * processes > 1:
        raise AzureMLConfigError(
            f"{SETTINGS_KEY}.instance_count={instances} and process_count_per_instance="
            f"{processes} start {instances * processes} processes, but the trainer trains in one; "
            "add trainer=ddp, or leave both at 1."
        )
    return None


def step_distribution(sc: SubmitConfig, step: str, known_steps: set[str]) -> Distribution | None:
    """A pipeline step's distribution: the training run's, for the steps named in
    azureml.distributed_steps; None for the others."""
    named = list(sc.azure.get("distributed_steps") or [])
    unknown = [name for name in named if name not in known_steps]
    if unknown:
        raise AzureMLConfigError(
            f"{STEPS_KEY} names {unknown}, which are not pipeline steps; choose from "
            f"{sorted(known_steps)}."
        )
    return training_distribution(sc) if step in named else None
