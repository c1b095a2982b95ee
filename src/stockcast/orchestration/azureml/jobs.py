"""Standalone command jobs and the serving endpoint.

`src/train.py` runs as one command job in the Docker-built training environment, either on its
own (`make submit-train`) or once per job of a Hydra sweep (the Azure ML launcher). A managed
online endpoint serves a registered MLflow model version without scoring code.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.ai.ml import Input, command, load_online_deployment, load_online_endpoint
from azure.ai.ml.entities import Command, ManagedOnlineDeployment, ManagedOnlineEndpoint
from omegaconf import DictConfig, OmegaConf

from stockcast.config.overrides import typed_word
from stockcast.orchestration.azureml.components import (
    build_command,
    build_environment,
    job_compute,
    script_entry,
)
from stockcast.orchestration.azureml.deployed_version import LATEST, requested_version
from stockcast.orchestration.azureml.distribution import training_distribution
from stockcast.orchestration.azureml.dry_run import ensure_loadable, ensure_valid, write_entity
from stockcast.orchestration.azureml.keys import check_azure_keys
from stockcast.orchestration.azureml.preflight import check_cloud_config, check_cloud_overrides
from stockcast.orchestration.azureml.settings import (
    TRAIN_CONFIG,
    AzureMLConfigError,
    DataBinding,
    SubmitConfig,
    data_binding,
    is_azure_override,
)
from stockcast.orchestration.azureml.snapshot import check_snapshot_holds, searchpath_overrides
from stockcast.orchestration.sweeps import tracking
from stockcast.paths import PROJECT_ROOT
from stockcast.registry import runs
from stockcast.training.summary import METRICS_FILE

# Hydra run dir of a cloud training run, under ./outputs so Azure ML keeps it (and metrics.json).
TRAIN_RUN_NAME = "train"
SWEEP_JOB_FILE = "azureml_job.yaml"
FULL_TRAFFIC = 100
# Azure's rule for endpoint and deployment names, which it checks only on the server.
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$")


def train_script_job(
    sc: SubmitConfig,
    what: str,
    data: DataBinding | None = None,
    environment: Any = None,
    compute: str | None = None,
    bindings: dict[str, str] | None = None,
    **details: Any,
) -> Command:
    """`python src/train.py <overrides>` as a validated command job reading `data`'s inputs;
    the environment and compute default to azureml.environments.job and azureml.compute.job."""
    azure = sc.azure
    job = command(
        inputs=data_inputs(data) if data is not None else {},
        command=build_command(script_entry(), sc, TRAIN_RUN_NAME, data, bindings=bindings or {}),
        code=str(sc.root / azure.code),
        environment=environment
        or build_environment(azure.environments.job, azure.environments.image, sc.root, "job"),
        compute=compute or job_compute(azure.compute),
        **details,
    )
    return ensure_valid(job, what)


def build_training_job(sc: SubmitConfig, data: DataBinding | None = None) -> Command:
    """Train on the run's data; every artifact lands under ./outputs, which Azure ML keeps."""
    data = data or data_binding(sc)
    # trainer=ddp: a PyTorch distribution, and trainer keys that match it (azureml.job.*).
    distribution = training_distribution(sc)
    bindings = distribution.trainer_overrides if distribution else {}
    check_cloud_overrides(sc, data, bindings=bindings, config_name=TRAIN_CONFIG)
    return train_script_job(
        sc,
        "The training job",
        data,
        display_name=sc.azure.job.display_name,
        experiment_name=sc.azure.experiment_name,
        description="Train the price forecaster on its own (prepare + train in one job).",
        bindings=bindings,
        **(distribution.job_settings() if distribution else {}),
    )


def data_inputs(data: DataBinding) -> dict[str, Input]:
    """The job's inputs that `data` reads (the data asset or file), if any."""
    if data.input_path is None:
        return {}
    return {name: Input(type=kind, path=data.input_path) for name, kind in data.inputs.items()}


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


def sweep_experiment_name(cfg: DictConfig, settings: SweepJobSettings) -> str:
    return settings.experiment_name or cfg.azureml.experiment_name


def build_sweep_job(cfg: DictConfig, spec: SweepJobSpec, settings: SweepJobSettings) -> Command:
    """The validated command job of one sweep job; `cfg` is the job's config with `azureml`."""
    step_overrides = tuple(o for o in spec.overrides if not is_azure_override(o))
    # A job's overrides hold no Hydra setting: the folders its configs come from go along.
    step_overrides += searchpath_overrides(cfg)
    sc = SubmitConfig(cfg=cfg, step_overrides=step_overrides, root=PROJECT_ROOT)
    # Refused here, in one sentence, what the job would refuse on its node after being paid for.
    check_cloud_config(cfg, sections=("azureml",))
    check_snapshot_holds(sc, cfg)
    check_azure_keys(cfg.azureml, sc.config_dir)
    # The data as `make submit-train` binds it: a file of this machine is no file on the node.
    market = OmegaConf.select(cfg, "data.start_date", default=None) is not None
    if sc.azure.data.source == "synthetic" and not market:
        raise AzureMLConfigError(
            f"the Azure ML launcher's jobs read a synthetic market (data=gbm, data=seasonal, "
            f"data=market), but data={sc.data_choice} names a file of this machine, which a "
            "cloud job cannot open; sweep it locally, or train on it in the cloud with make "
            'submit-train ARGS="data=csv azureml.data.source=asset ...".'
        )
    data = data_binding(sc)
    # trainer=ddp with azureml.job.*: each job spans the cluster as a training job does.
    distribution = training_distribution(sc)
    # No sweep_dir tag: a folder of this machine means nothing to the cloud run.
    tags = tracking.sweep_tags(spec.sweep_id, job_num=spec.num)
    return train_script_job(
        sc,
        f"Sweep job {spec.num}",
        data,
        environment=settings.environment,
        compute=settings.compute,
        bindings=distribution.trainer_overrides if distribution else {},
        display_name=f"{spec.sweep_id}-{spec.num}",
        experiment_name=sweep_experiment_name(cfg, settings),
        description="One job of a Hydra sweep: " + (" ".join(step_overrides) or "defaults"),
        # The MLflow run the job creates carries the same sweep tags as a local sweep's runs.
        environment_variables={runs.RUN_CONTEXT_ENV: runs.run_context_value(tags)},
        tags=tags | {"overrides": " ".join(step_overrides)},
        **(distribution.job_settings() if distribution else {}),
    )


def write_sweep_job(job: Command, spec: SweepJobSpec) -> Path:
    """Dry run: the job's YAML in its sweep subfolder, for `az ml job create -f`."""
    return write_entity(job, spec.job_dir / SWEEP_JOB_FILE)


def sweep_dry_run_note(paths: Sequence[Path]) -> str:
    """How to send the first job the dry run wrote, its path quoted as the shell needs it (a
    sweep folder holding a space split the copied command's file in two)."""
    shown = " ".join(f"-f {typed_word(str(path))}" for path in paths[:1])
    return f"dry run: nothing was sent; to send a job yourself: az ml job create {shown}"


def fetch_metrics(client: Any, job_name: str, job_dir: Path) -> dict[str, Any] | None:
    """Download a finished job's outputs and return its metrics.json (copied into job_dir)."""
    download_dir = job_dir / "azureml_outputs"
    client.jobs.download(job_name, download_path=str(download_dir))
    found = sorted(download_dir.rglob(METRICS_FILE))
    if not found:
        return None
    shutil.copyfile(found[0], job_dir / METRICS_FILE)
    return json.loads(found[0].read_text())


def check_name(kind: str, name: str) -> str:
    """Refuse an endpoint or deployment name Azure would reject after the request is sent."""
    if not NAME_PATTERN.match(str(name)):
        raise AzureMLConfigError(
            f"azureml.endpoint.{kind}={name!r} must be 3-32 letters, digits or dashes, "
            f"starting with a letter and not ending with a dash."
        )
    return name


def model_reference(model_name: str, version: str | int) -> str:
    """`azureml:<name>:<version>`, or `azureml:<name>@latest` which Azure resolves on creation
    (an alias is resolved to its number before: `deployed_version`)."""
    version = requested_version(version)
    if version == LATEST:
        return f"azureml:{model_name}@{LATEST}"
    if not version.isdigit():
        raise ValueError(f"the alias {version!r} must be resolved to a version number first")
    return f"azureml:{model_name}:{version}"


def build_endpoint(settings: DictConfig, with_traffic: bool = False) -> ManagedOnlineEndpoint:
    """The endpoint; `with_traffic` routes all traffic to the deployment (set once it exists)."""
    traffic = {settings.deployment: FULL_TRAFFIC} if with_traffic else {}
    endpoint = ManagedOnlineEndpoint(
        name=check_name("name", settings.name),
        description="Forecasts of the registered stockcast model.",
        auth_mode=settings.auth_mode,
        traffic=traffic,
    )
    return ensure_loadable(endpoint, load_online_endpoint, f"The endpoint {settings.name!r}")


def check_deployment_settings(settings: DictConfig) -> str:
    """The deployment's own settings, refused before any registry or workspace is read; the
    version it names (`requested_version`)."""
    check_name("deployment", settings.deployment)
    version = requested_version(settings.model_version)
    count = settings.instance_count
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise AzureMLConfigError(
            f"azureml.endpoint.instance_count={count!r} must be a whole number of at least 1."
        )
    if not str(settings.instance_type or "").strip():
        raise AzureMLConfigError(
            "azureml.endpoint.instance_type is empty; name a VM size, e.g. Standard_DS3_v2."
        )
    connection = settings.registry_connection
    timeout, retries = connection.timeout_s, connection.max_retries
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
        raise AzureMLConfigError(
            f"azureml.endpoint.registry_connection.timeout_s={timeout!r} must be a whole number "
            "of seconds, at least 1."
        )
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise AzureMLConfigError(
            f"azureml.endpoint.registry_connection.max_retries={retries!r} must be a whole "
            "number of at least 0."
        )
    return version


def build_deployment(
    settings: DictConfig, model_name: str, version: str | int
) -> ManagedOnlineDeployment:
    """An MLflow model deployment of `version` (a number, or `latest`): Azure builds the
    scoring environment from the model itself."""
    check_deployment_settings(settings)
    deployment = ManagedOnlineDeployment(
        name=settings.deployment,
        endpoint_name=settings.name,
        model=model_reference(model_name, version),
        instance_type=settings.instance_type,
        instance_count=settings.instance_count,
    )
    return ensure_loadable(
        deployment, load_online_deployment, f"The deployment {settings.deployment!r}"
    )
