"""Run the SDK's own offline validation and turn a failure into one user-facing sentence."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any, TypeVar

import yaml
from azure.ai.ml.exceptions import ValidationException

from stockcast.azureml.errors import AzureMLConfigError

T = TypeVar("T")


def entity_dict(entity: Any) -> dict[str, Any]:
    """The entity's YAML form (what `dump` writes) as plain dicts and lists."""
    return json.loads(json.dumps(entity._to_dict()))


def ensure_valid(entity: T, what: str) -> T:
    """Return the entity if `_validate()` passes; otherwise refuse it before anything is sent."""
    result = entity._validate()  # type: ignore[attr-defined]
    if not result.passed:
        details = "; ".join(f"{path}: {msg}" for path, msg in result.error_messages.items())
        raise AzureMLConfigError(f"{what} failed Azure ML's validation: {details}.")
    return entity


def ensure_loadable(entity: T, load: Callable[..., Any], what: str) -> T:
    """For entities without `_validate()`: their YAML must pass the SDK's load-time schema."""
    text = yaml.safe_dump(entity_dict(entity), sort_keys=False)
    try:
        load(io.StringIO(text))
    except ValidationException as err:
        message = " ".join(str(err).split())
        raise AzureMLConfigError(f"{what} failed Azure ML's schema: {message}") from err
    return entity
