"""The standalone training job: `src/train.py` as one command job in the Docker-built environment."""

from __future__ import annotations

from azure.ai.ml import Input, command
from azure.ai.ml.entities import Command

from stockcast.azureml.command_line import build_command, script_entry
from stockcast.azureml.compute import job_compute
from stockcast.azureml.data_source import DataBinding, data_binding
from stockcast.azureml.environments import build_environment
from stockcast.azureml.preflight import TRAIN_CONFIG, check_cloud_overrides
from stockcast.azureml.settings import SubmitConfig
from stockcast.azureml.validation import ensure_valid

JOB_RUN_NAME = "train"


def build_training_job(sc: SubmitConfig, data: DataBinding | None = None) -> Command:
    """Train on the run's data; every artifact lands under ./outputs, which Azure ML keeps."""
    data = data or data_binding(sc)
    check_cloud_overrides(sc, data, bindings={}, config_name=TRAIN_CONFIG)
    settings = sc.azure
    inputs = {}
    if data.input_path is not None:
        inputs = {
            name: Input(type=kind, path=data.input_path) for name, kind in data.inputs.items()
        }
    job = command(
        display_name=settings.job.display_name,
        experiment_name=settings.experiment_name,
        description="Train the price forecaster on its own (prepare + train in one job).",
        command=build_command(script_entry(), sc, JOB_RUN_NAME, data, bindings={}),
        code=str(sc.root / settings.code),
        environment=build_environment(
            settings.environments.job, settings.environments.image, sc.root, "job"
        ),
        compute=job_compute(settings.compute),
        inputs=inputs,
    )
    return ensure_valid(job, "The training job")
