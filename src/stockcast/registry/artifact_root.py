"""Artifacts beside the store: a local MLflow store names its files relative to its database.

MLflow writes absolute artifact locations into its database, so a copied store folder would go
on reading (or miss) the original's files. A location `stockcast-store:mlartifacts` means the
folder `mlartifacts/` beside the store's database file, wherever that file now is: MLflow hands
every artifact repository the tracking URI, and `repository` resolves the location against it.
A fresh local store is created with this default root, so every experiment in it (MLflow's
Default one included) records store-relative locations only.

MLflow finds the scheme through this package's `mlflow.artifact_repository` entry point where
the package is installed; `register_scheme` registers it in this process as well, for runs from
a source checkout that is not installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stockcast.errors import ArtifactError
from stockcast.registry.lock import sqlite_file

SCHEME = "stockcast-store"
PREFIX = f"{SCHEME}:"
# What a store created here records for experiments created without a location.
DEFAULT_ROOT = f"{PREFIX}mlartifacts"


def is_store_relative(uri: str | None) -> bool:
    return bool(uri) and str(uri).startswith(PREFIX)


def resolve(uri: str, tracking_uri: str | None) -> Path:
    """Where a store-relative location lies for the store at `tracking_uri`."""
    database = sqlite_file(tracking_uri or "")
    if database is None:
        raise ArtifactError(
            f"the artifact location {uri} lies beside a local MLflow store, and {tracking_uri} is "
            "not one; open it with its sqlite:/// store, or set registry.artifact_location to a "
            "folder (or null for a remote store)."
        )
    return database.parent / uri.removeprefix(PREFIX).lstrip("/")


def repository(
    artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None
) -> Any:
    """MLflow's local artifact repository on the folder a store-relative location names."""
    import mlflow
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

    folder = resolve(artifact_uri, tracking_uri or mlflow.get_tracking_uri())
    return LocalArtifactRepository(str(folder.resolve()), tracking_uri, registry_uri)


def register_scheme() -> None:
    """Make MLflow in this process resolve `stockcast-store:` locations (idempotent)."""
    from mlflow.store.artifact.artifact_repository_registry import (
        _artifact_repository_registry as known,
    )

    known.register(SCHEME, repository)


def location_for(tracking_uri: str, configured: str | None) -> str | None:
    """The artifact location to create an experiment with. A local store keeps them beside
    its database unless told otherwise (MLflow's own default is the working directory); a
    remote store, where store-relative means nothing, keeps them where it chooses."""
    if sqlite_file(tracking_uri) is not None:
        return configured or DEFAULT_ROOT
    return None if is_store_relative(configured) else configured


def create_store(tracking_uri: str) -> None:
    """Create a local store that is not there yet with store-relative artifact locations (call
    under the store lock); anything else is left to MLflow."""
    register_scheme()
    database = sqlite_file(tracking_uri)
    if database is None or database.is_file():
        return
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    SqlAlchemyStore(tracking_uri, DEFAULT_ROOT).engine.dispose()
