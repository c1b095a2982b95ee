"""A managed online endpoint serving a registered MLflow model version, no scoring code needed."""

from __future__ import annotations

import re

from azure.ai.ml import load_online_deployment, load_online_endpoint
from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint
from omegaconf import DictConfig

from stockcast.azureml.errors import AzureMLConfigError
from stockcast.azureml.validation import ensure_loadable

FULL_TRAFFIC = 100
LATEST = "latest"
# Azure's rule for endpoint and deployment names, which it checks only on the server.
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$")


def check_name(kind: str, name: str) -> str:
    """Refuse a name Azure would reject after the request is sent."""
    if not NAME_PATTERN.match(str(name)):
        raise AzureMLConfigError(
            f"azureml.endpoint.{kind}={name!r} must be 3-32 letters, digits or dashes, "
            f"starting with a letter and not ending with a dash."
        )
    return name


def model_reference(model_name: str, version: str | int) -> str:
    """`azureml:<name>:<version>`, or `azureml:<name>@latest` which Azure resolves on creation."""
    version = str(version)
    if version == LATEST:
        return f"azureml:{model_name}@{LATEST}"
    if not version.isdigit():
        raise AzureMLConfigError(
            f"azureml.endpoint.model_version={version!r} must be a version number or 'latest'."
        )
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


def build_deployment(settings: DictConfig, model_name: str) -> ManagedOnlineDeployment:
    """An MLflow model deployment: Azure builds the scoring environment from the model itself."""
    deployment = ManagedOnlineDeployment(
        name=check_name("deployment", settings.deployment),
        endpoint_name=settings.name,
        model=model_reference(model_name, settings.model_version),
        instance_type=settings.instance_type,
        instance_count=settings.instance_count,
    )
    return ensure_loadable(
        deployment, load_online_deployment, f"The deployment {settings.deployment!r}"
    )
