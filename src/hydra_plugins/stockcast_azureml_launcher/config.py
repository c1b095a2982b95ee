"""The launcher's structured config, registered as `hydra/launcher=azureml`.

No `from __future__ import annotations` here: Hydra imports plugin modules outside sys.modules,
where dataclasses cannot resolve string annotations, and OmegaConf needs the real types.
"""

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

LAUNCHER_TARGET = "hydra_plugins.stockcast_azureml_launcher.azureml_launcher.AzureMLLauncher"


@dataclass
class AzureMLLauncherConf:
    """Every null falls back to configs/azureml/ (the settings `scripts/submit.py` uses)."""

    _target_: str = LAUNCHER_TARGET
    # Azure ML experiment the jobs are filed under (null: azureml.experiment_name).
    experiment_name: str | None = None
    # Compute cluster (null: azureml.compute.job, then azureml.compute.default).
    compute: str | None = None
    # A registered environment, e.g. `azureml:stockcast-train@latest` (null: the Docker build
    # context of azureml.environments.job, rebuilt only when it changes).
    environment: str | None = None
    # Write each job's YAML into its sweep subfolder and send nothing (null: the DRY_RUN
    # environment variable, as for `make submit*`).
    dry_run: bool | None = None
    # Wait for each batch of jobs and read their metrics.json back (required by sweepers that
    # need results, such as hydra/sweeper=optuna); false returns as soon as the jobs are queued.
    wait: bool = False
    # More `azureml.*` overrides for the settings, e.g. [azureml.workspace.workspace_name=ws].
    azureml_overrides: list[str] = field(default_factory=list)


ConfigStore.instance().store(
    group="hydra/launcher", name="azureml", node=AzureMLLauncherConf, provider="stockcast"
)
