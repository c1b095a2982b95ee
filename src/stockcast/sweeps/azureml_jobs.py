"""One Azure ML command job per multirun job: `python src/train.py <that job's overrides>`.

Used by the Azure ML Hydra launcher (hydra_plugins/stockcast_azureml_launcher); imports
azure-ai-ml, so it is imported only when that launcher runs. The workspace, compute, environment
and experiment come from configs/azureml/ (the same settings `scripts/submit.py` uses), each of
them overridable on the launcher.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.ai.ml import command
from azure.ai.ml.entities import Command
from omegaconf import DictConfig

from stockcast.azureml.command_line import build_command, script_entry
from stockcast.azureml.compute import job_compute
from stockcast.azureml.dry_run import write_entity
from stockcast.azureml.environments import build_environment
from stockcast.azureml.settings import SubmitConfig, is_azure_override
from stockcast.azureml.validation import ensure_valid
from stockcast.config import PROJECT_ROOT
from stockcast.sweeps import tracking

JOB_FILE = "azureml_job.yaml"
# Hydra run dir of the cloud job, under ./outputs so Azure ML keeps it (and its metrics.json).
CLOUD_RUN_NAME = "train"
METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class SweepJobSettings:
    """The launcher's choices; None falls back to configs/azureml/."""

    experiment_name: str | None = None
    compute: str | None = None
    environment: str | None = None


@dataclass(frozen=True)
class SweepJobSpec:
    """What identifies one job of the sweep."""

    num: int
    overrides: tuple[str, ...]
    sweep_id: str
    sweep_dir: Path

    @property
    def job_dir(self) -> Path:
        return self.sweep_dir / str(self.num)


def experiment_name(cfg: DictConfig, settings: SweepJobSettings) -> str:
    return settings.experiment_name or cfg.azureml.experiment_name


def build_sweep_job(cfg: DictConfig, spec: SweepJobSpec, settings: SweepJobSettings) -> Command:
    """The validated command job of one sweep job; `cfg` is the job's config with `azureml`."""
    step_overrides = tuple(o for o in spec.overrides if not is_azure_override(o))
    sc = SubmitConfig(cfg=cfg, step_overrides=step_overrides, root=PROJECT_ROOT)
    azure = sc.azure
    environment: Any = settings.environment or build_environment(
        azure.environments.job, azure.environments.image, sc.root, "job"
    )
    # No sweep_dir tag: a folder of this machine means nothing to the cloud run.
    tags = tracking.sweep_tags(spec.sweep_id, job_num=spec.num)
    job = command(
        display_name=f"{spec.sweep_id}-{spec.num}",
        experiment_name=experiment_name(cfg, settings),
        description="One job of a Hydra sweep: " + (" ".join(step_overrides) or "defaults"),
        command=build_command(script_entry(), sc, CLOUD_RUN_NAME, data=None, bindings={}),
        code=str(sc.root / azure.code),
        environment=environment,
        compute=settings.compute or job_compute(azure.compute),
        # The MLflow run the job creates carries the same sweep tags as a local sweep's runs.
        environment_variables={tracking.RUN_CONTEXT_ENV: tracking.run_context_value(tags)},
        tags=tags | {"overrides": " ".join(step_overrides)},
    )
    return ensure_valid(job, f"Sweep job {spec.num}")


def write_job(job: Command, spec: SweepJobSpec) -> Path:
    """Dry run: the job's YAML in its sweep subfolder, for `az ml job create -f`."""
    return write_entity(job, spec.job_dir / JOB_FILE)


def fetch_metrics(client: Any, job_name: str, job_dir: Path) -> dict[str, Any] | None:
    """Download a finished job's outputs and return its metrics.json (copied into job_dir)."""
    download_dir = job_dir / "azureml_outputs"
    client.jobs.download(job_name, download_path=str(download_dir))
    found = sorted(download_dir.rglob(METRICS_FILE))
    if not found:
        return None
    shutil.copyfile(found[0], job_dir / METRICS_FILE)
    return json.loads(found[0].read_text())


def submitted_note(paths: Sequence[Path]) -> str:
    shown = " ".join(f"-f {path}" for path in paths[:1])
    return f"dry run: nothing was sent; to send a job yourself: az ml job create {shown}"
