"""Which registered version `make deploy` serves (`azureml.endpoint.model_version`): a version
number, `latest`, or an alias of the workspace's registry. The default is the alias the
pipeline's gate moves (champion), read from the registry and sent as its number: the endpoint
then serves what predict and serve open, never a version the gate registered without promoting
or one the monitor rolled back, which `latest` can be."""

from __future__ import annotations

from stockcast.config.pipeline_sections import ALIAS_MAX_LENGTH, ALIAS_PATTERN
from stockcast.orchestration.azureml.settings import AzureMLConfigError
from stockcast.registry.store import ModelRegistry

# Azure resolves `<name>@latest` itself when the deployment is created.
LATEST = "latest"
EXAMPLE_VERSION = 'ARGS="azureml.endpoint.model_version=2"'


def requested_version(value: object) -> str:
    """The setting as text, refused unless it is a version number, `latest` or an alias."""
    text = str(value)
    if text.isdigit() or text == LATEST:
        return text
    if isinstance(value, bool) or not ALIAS_PATTERN.fullmatch(text):
        raise AzureMLConfigError(
            f"azureml.endpoint.model_version={value!r} must be a version number, 'latest' or "
            "an alias of the registry (letters, digits, _ and -), e.g. champion."
        )
    if len(text) > ALIAS_MAX_LENGTH:
        raise AzureMLConfigError(
            f"azureml.endpoint.model_version is an alias of {len(text)} characters; the "
            f"registry keeps at most {ALIAS_MAX_LENGTH}."
        )
    return text


def is_alias(version: str) -> bool:
    return not version.isdigit() and version != LATEST


def dry_run_version(version: str) -> str:
    """A dry run reads no registry: it writes a version number or `latest`, never a guess."""
    if is_alias(version):
        raise AzureMLConfigError(
            f"azureml.endpoint.model_version={version} names the version holding that alias in "
            "the workspace's registry, which a dry run does not read; dry-run a version number "
            f"instead, e.g. {EXAMPLE_VERSION}."
        )
    return version


def registered_version(version: str, model_name: str, tracking_uri: str) -> str:
    """`version`, or the number of the version holding the alias `version` in the registry at
    `tracking_uri` (the workspace's)."""
    if not is_alias(version):
        return version
    registry = ModelRegistry(tracking_uri, model_name)
    held = registry.champion(version)
    if held is None:
        raise AzureMLConfigError(
            f"no version of {model_name} in the workspace's registry holds the alias "
            f"{version!r} ({registry.describe()}); run the pipeline there first (make submit), "
            f"or deploy a version by number, e.g. {EXAMPLE_VERSION}."
        )
    return str(held.version)
