"""Offline checks and the YAML a submission would send: the SDK's `_validate()`, its load-time
schema, and files that `az ml ... -f` and the SDK's load_* functions read back.

Local paths (code snapshot, Docker context) are written relative to the YAML's own folder, the
way the CLI resolves them, so the files hold no absolute path of this machine.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from azure.ai.ml.exceptions import ValidationException
from marshmallow import ValidationError as MarshmallowValidationError

from stockcast.orchestration.azureml.settings import AzureMLConfigError

PIPELINE_FILE = "pipeline.yaml"
SCHEDULE_FILE = "schedule.yaml"
# The schedule's own pipeline: a later `make submit` dry run (another experiment, perhaps)
# rewrites pipeline.yaml, and the schedule must still create the job it was made with.
SCHEDULE_PIPELINE_FILE = "schedule_pipeline.yaml"
TRAINING_JOB_FILE = "train_job.yaml"
ENDPOINT_FILE = "endpoint.yaml"
DEPLOYMENT_FILE = "deployment.yaml"
COMPONENTS_DIR = "components"

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
    try:
        # Dumping runs the schema too (an auth mode it does not know, a count that is no number).
        text = yaml.safe_dump(entity_dict(entity), sort_keys=False)
        load(io.StringIO(text))
    except (ValidationException, MarshmallowValidationError, ValueError) as err:
        message = " ".join(str(err).split())
        raise AzureMLConfigError(f"{what} failed Azure ML's schema: {message}") from err
    return entity


def relativise(value: Any, out_dir: Path) -> Any:
    """Replace every absolute path that exists on this machine by one relative to `out_dir`."""
    if isinstance(value, Mapping):
        return {key: relativise(item, out_dir) for key, item in value.items()}
    if isinstance(value, list):
        return [relativise(item, out_dir) for item in value]
    if isinstance(value, str) and os.path.isabs(value) and os.path.exists(value):
        return Path(os.path.relpath(value, out_dir)).as_posix()
    return value


def write_yaml(content: Mapping[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(relativise(content, path.parent), sort_keys=False, width=100)
    path.write_text(text)
    return path


def write_entity(entity: Any, path: Path) -> Path:
    """Dump an azure-ai-ml entity; a `command()` node is written as the job it submits."""
    if hasattr(entity, "_to_job"):
        entity = entity._to_job()
    return write_yaml(entity_dict(entity), path)


def write_components(components: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """One file per component, for `az ml component create -f` (the pipeline inlines them too)."""
    return [
        write_entity(component, out_dir / COMPONENTS_DIR / f"{step}.yaml")
        for step, component in components.items()
    ]


def write_schedule(
    schedule: Any, out_dir: Path, pipeline_file: str = SCHEDULE_PIPELINE_FILE
) -> Path:
    """The schedule with `create_job` pointing at the pipeline file beside it, as the CLI expects."""
    content = entity_dict(schedule)
    content["create_job"] = f"./{pipeline_file}"
    return write_yaml(content, out_dir / SCHEDULE_FILE)
