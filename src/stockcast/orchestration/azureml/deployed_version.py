"""Which registered version `make deploy` serves (`azureml.endpoint.model_version`): a version
number, `latest`, or an alias of the workspace's registry. The default is the alias the
pipeline's gate moves (champion), read from the registry and sent as its number: the endpoint
then serves what predict and serve open, never a version the gate registered without promoting
or one the monitor rolled back, which `latest` can be."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stockcast.config.sections import ALIAS_PATTERN, RESERVED_VERSION_ALIAS
from stockcast.orchestration.azureml.settings import AzureMLConfigError
from stockcast.registry.connection import configure_client
from stockcast.registry.store import ModelRegistry
from stockcast.registry.versions import MLFLOW_ALIAS_MAX_LENGTH

# Azure resolves `<name>@latest` itself when the deployment is created.
LATEST = "latest"
EXAMPLE_VERSION = 'ARGS="azureml.endpoint.model_version=2"'
DIGITS = re.compile(r"[0-9]+")


def requested_version(value: object) -> str:
    """The setting as text (a number without leading zeros), refused unless it is a version
    number, `latest` or an alias the registry can hold."""
    text = str(value)
    if text == LATEST or (DIGITS.fullmatch(text) and int(text) > 0):
        return text if text == LATEST else str(int(text))
    if (
        value is None
        or isinstance(value, bool)
        or DIGITS.fullmatch(text.lstrip("-"))
        or not ALIAS_PATTERN.fullmatch(text)
    ):
        raise AzureMLConfigError(
            f"azureml.endpoint.model_version={value!r} must be a version number from 1, "
            "'latest' or an alias of the registry (letters, digits, _ and -), e.g. champion."
        )
    if text.lower() == LATEST or RESERVED_VERSION_ALIAS.fullmatch(text):
        meant = LATEST if text.lower() == LATEST else f"the version number {int(text[1:])}"
        raise AzureMLConfigError(
            f"azureml.endpoint.model_version={text} is a name the registry reserves, which no "
            f"alias can have; did you mean {meant}?"
        )
    if len(text) > MLFLOW_ALIAS_MAX_LENGTH:
        raise AzureMLConfigError(
            f"azureml.endpoint.model_version is an alias of {len(text)} characters; the "
            f"registry keeps at most {MLFLOW_ALIAS_MAX_LENGTH}."
        )
    return text


def is_alias(version: str) -> bool:
    return not DIGITS.fullmatch(version) and version != LATEST


def dry_run_version(version: str) -> str:
    """A dry run reads no registry: it writes a version number or `latest`, never a guess."""
    if is_alias(version):
        raise AzureMLConfigError(
            f"azureml.endpoint.model_version={version} names the version holding that alias in "
            "the workspace's registry, which a dry run does not read; dry-run a version number "
            f"or latest instead, e.g. {EXAMPLE_VERSION}."
        )
    return version


def registered_version(
    version: str, model_name: str, tracking_uri: str, connection: Mapping[str, Any]
) -> str:
    """`version`, or the number of the version holding the alias `version` in the registry at
    `tracking_uri` (the workspace's), read within `connection`'s timeout and retries."""
    if not is_alias(version):
        return version
    from mlflow.exceptions import MlflowException

    configure_client(connection)
    registry = ModelRegistry(tracking_uri, model_name)
    try:
        versions = registry.versions()
        held = next((info for info in versions if version in info.aliases), None)
        if held is not None:
            return str(held.version)
        listed = registry.describe()
    except MlflowException as err:
        cause = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
        raise AzureMLConfigError(
            f"the workspace's model registry did not list the versions of {model_name} "
            f"({cause}); check that your account may read the workspace's models, then retry."
        ) from None
    if versions:
        advice = f"deploy one of them by number, e.g. {EXAMPLE_VERSION}"
    else:
        advice = "run the pipeline there first (make submit), or deploy a version by number"
    raise AzureMLConfigError(
        f"no version of {model_name} in the workspace's registry holds the alias {version!r} "
        f"({listed}); {advice}."
    )
