"""Azure ML environments from environments/<step>/: a conda file on a base image, or a Docker context."""

from __future__ import annotations

from pathlib import Path

from azure.ai.ml.entities import BuildContext, Environment
from omegaconf import DictConfig

from stockcast.azureml.errors import AzureMLConfigError

DOCKERFILE = "Dockerfile"


def step_environment(settings: DictConfig, step: str, root: Path) -> Environment:
    """The environment configured for a pipeline step in azureml.environments.steps."""
    spec = settings.steps.get(step)
    if spec is None:
        raise AzureMLConfigError(
            f"azureml.environments.steps has no entry for the {step} step; add its conda_file."
        )
    return build_environment(spec, settings.image, root, step)


def build_environment(spec: DictConfig, image: str, root: Path, name: str) -> Environment:
    """One step's environment; paths are relative to the project root and checked here.

    Azure would only discover a missing Dockerfile after uploading the context, so check first.
    """
    conda_file = spec.get("conda_file")
    context = spec.get("build_context")
    if bool(conda_file) == bool(context):
        raise AzureMLConfigError(
            f"Environment {name!r} needs exactly one of conda_file or build_context "
            f"(azureml.environments.*.{name})."
        )
    if context:
        context_dir = root / context
        if not (context_dir / DOCKERFILE).is_file():
            raise AzureMLConfigError(
                f"Docker build context {context} of environment {name!r} has no {DOCKERFILE}; "
                f"add one or give the step a conda_file instead."
            )
        return Environment(build=BuildContext(path=str(context_dir)))
    conda_path = root / conda_file
    if not conda_path.is_file():
        raise AzureMLConfigError(f"Conda file {conda_file} of environment {name!r} does not exist.")
    return Environment(image=image, conda_file=str(conda_path))
