"""Hydra/OmegaConf glue shared by every entry point."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = PROJECT_ROOT / "configs"


def project_root() -> str:
    """The folder holding configs/: logs, the local MLflow store and data default to it."""
    return str(PROJECT_ROOT if CONFIG_DIR.is_dir() else Path(os.getcwd()))


def local_store_overrides(folder: str | Path) -> list[str]:
    """Hydra overrides that keep a run's logs and its MLflow store inside `folder`, leaving the
    project's own store alone (tests, benchmarks, throwaway runs)."""
    return [
        f"paths.log_dir={folder}/logs",
        f"registry.tracking_uri=sqlite:///{folder}/mlruns.db",
        f"registry.artifact_location={folder}/mlartifacts",
    ]


def register_resolvers() -> None:
    """Make `${stockcast_root:}` available before any config is composed."""
    if not OmegaConf.has_resolver("stockcast_root"):
        OmegaConf.register_new_resolver("stockcast_root", project_root)


register_resolvers()
# Artifact copies here are local folders: MLflow's progress bars only clutter the logs.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
