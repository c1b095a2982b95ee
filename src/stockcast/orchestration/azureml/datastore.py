"""Folders that outlive a pipeline run: a datastore path that one step mounts read-write.

The step table's folders are new for every run; the monitor's forecast ledger must be the same
file every day. `azureml.datastore_folders` names such a folder, the Hydra key it binds (whose
first part names the step) and its datastore path; the step's component gets a `rw_mount`
output bound to that path, and its command line the key. Nothing here names a step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from azure.ai.ml import Output
from omegaconf import DictConfig

from stockcast.orchestration.azureml.settings import AzureMLConfigError
from stockcast.orchestration.steps.table import STEPS, URI_FOLDER, Step

DATASTORE_PREFIX = "azureml://datastores/"
READ_WRITE = "rw_mount"
# What each folder names: the Hydra key it binds and its datastore path.
FOLDER_KEYS = ("key", "path")


@dataclass(frozen=True)
class DatastoreFolder:
    """Output `name` of the step that owns `key`, mounted read-write from `path`."""

    name: str
    key: str
    path: str

    @property
    def step(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def binding(self) -> str:
        return f"${{{{outputs.{self.name}}}}}"


def datastore_folders(azure: DictConfig, steps: Sequence[Step] = STEPS) -> list[DatastoreFolder]:
    """The configured folders, each checked: its key names a step, its path a datastore."""
    names = [step.name for step in steps]
    folders = []
    for name, spec in (azure.get("datastore_folders") or {}).items():
        missing = [key for key in FOLDER_KEYS if not (spec or {}).get(key)]
        if missing:
            raise AzureMLConfigError(
                f"azureml.datastore_folders.{name} has no {' or '.join(missing)}; give both "
                f"key (the step setting it binds) and path ({DATASTORE_PREFIX}<datastore>/paths/"
                f"<folder>)."
            )
        folder = DatastoreFolder(str(name), str(spec.key), str(spec.path))
        if folder.step not in names:
            raise AzureMLConfigError(
                f"azureml.datastore_folders.{name}.key={folder.key} names no step (the first "
                f"part must be one of {', '.join(names)})."
            )
        if not folder.path.startswith(DATASTORE_PREFIX):
            raise AzureMLConfigError(
                f"azureml.datastore_folders.{name}.path={folder.path} is not a datastore folder; "
                f"give {DATASTORE_PREFIX}<datastore>/paths/<folder>."
            )
        folders.append(folder)
    return folders


def step_folders(azure: DictConfig, step: Step) -> list[DatastoreFolder]:
    return [folder for folder in datastore_folders(azure) if folder.step == step.name]


def folder_outputs(azure: DictConfig, step: Step) -> dict[str, Output]:
    """The component's read-write outputs (the path is set on the pipeline node)."""
    return {f.name: Output(type=URI_FOLDER, mode=READ_WRITE) for f in step_folders(azure, step)}


def folder_bindings(azure: DictConfig, step: Step) -> dict[str, str]:
    """`{key: ${{outputs.<name>}}}` for the step's command line."""
    return {f.key: f.binding for f in step_folders(azure, step)}


def bind_folders(azure: DictConfig, step: Step, node: object) -> None:
    """Point the node's read-write outputs at their datastore paths."""
    for folder in step_folders(azure, step):
        output = Output(type=URI_FOLDER, path=folder.path, mode=READ_WRITE)
        setattr(node.outputs, folder.name, output)
