"""Find the workspace (config, environment, or Azure's config.json) and connect to it lazily."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from stockcast.errors import StockcastError
from stockcast.files import read_json_object
from stockcast.orchestration.azureml.settings import DRY_RUN_ENV, AzureMLConfigError

if TYPE_CHECKING:
    from azure.ai.ml import MLClient

WORKSPACE_KEYS = {
    "subscription_id": "subscription (AZUREML_SUBSCRIPTION_ID)",
    "resource_group": "resource group (AZUREML_RESOURCE_GROUP)",
    "workspace_name": "workspace name (AZUREML_WORKSPACE_NAME)",
}
CONFIG_JSON_NAMES = ("config.json", ".azureml/config.json")
# How a command that has a dry run is dry-run, offered where no workspace is found.
DRY_RUN = f"{DRY_RUN_ENV}=1"


@dataclass(frozen=True)
class WorkspaceRef:
    """Where to submit; identifiers only, never credentials."""

    subscription_id: str
    resource_group: str
    workspace_name: str


def find_config_json(start: Path) -> Path | None:
    """Azure's config.json in `start` or a parent, where the portal download usually goes."""
    for folder in (start, *start.parents):
        for name in CONFIG_JSON_NAMES:
            if (folder / name).is_file():
                return folder / name
    return None


def _from_config_json(path: Path, dry_run: str | None = DRY_RUN) -> dict[str, str]:
    content = read_json_object(path)
    if content is None:
        dry = f" (or dry-run with {dry_run})" if dry_run else ""
        raise AzureMLConfigError(
            f"{path} is not the workspace's config.json (it holds no JSON object); download it "
            f"again from the workspace's page in the Azure portal, or remove it and set the "
            f"azureml.workspace keys{dry}."
        )
    # The portal's file uses workspace_name; older ones use "workspace".
    content.setdefault("workspace_name", content.get("workspace"))
    return {key: content.get(key) for key in WORKSPACE_KEYS}


def resolve_workspace(
    settings: DictConfig,
    root: Path,
    dry_run: str | None = DRY_RUN,
    dry_run_does: str = "only write the YAML",
) -> WorkspaceRef:
    """Config values first, then config.json for whatever they leave empty. `dry_run`: how to
    dry-run the command instead, where it has a dry run to suggest, and what that does."""
    values = {key: settings.get(key) for key in WORKSPACE_KEYS}
    if settings.config_file and not Path(settings.config_file).is_file():
        raise AzureMLConfigError(
            f"azureml.workspace.config_file={settings.config_file} does not exist; download "
            f"config.json from the workspace's page in the Azure portal, or unset it."
        )
    if not all(values.values()):
        config_json = Path(settings.config_file) if settings.config_file else find_config_json(root)
        if config_json is not None:
            found = _from_config_json(config_json, dry_run)
            values = {key: values[key] or found[key] for key in WORKSPACE_KEYS}
    missing = [WORKSPACE_KEYS[key] for key, value in values.items() if not value]
    if missing:
        raise AzureMLConfigError(
            f"No Azure ML workspace configured: missing {', '.join(missing)}; set those "
            f"environment variables, put azureml.workspace values in configs/local/azureml.yaml "
            + (
                f"or add Azure's config.json, or run with {dry_run} to {dry_run_does}."
                if dry_run
                else "or add Azure's config.json."
            )
        )
    return WorkspaceRef(**values)


def ml_client(workspace: WorkspaceRef) -> MLClient:
    """An MLClient authenticated by DefaultAzureCredential (az login, managed identity, env)."""
    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential

    return MLClient(
        DefaultAzureCredential(),
        subscription_id=workspace.subscription_id,
        resource_group_name=workspace.resource_group,
        workspace_name=workspace.workspace_name,
    )


def mlflow_tracking_uri(client: MLClient, workspace: WorkspaceRef) -> str:
    """The workspace's MLflow tracking URI, what `registry=azureml` needs on a laptop."""
    return client.workspaces.get(workspace.workspace_name).mlflow_tracking_uri


class AzureUnavailable(StockcastError):
    """Azure could not be reached or refused the credentials; one sentence says which and why."""
