"""Artifacts beside the store: a local MLflow store names its files relative to its database
(the `stockcast-store:` scheme, resolved by the `stockcast_store` package).

A fresh local store is created with that default root, so every experiment in it (MLflow's
Default one included) records store-relative locations only. MLflow finds the scheme through the
`mlflow.artifact_repository` entry point where stockcast is installed; `register_scheme`
registers it in this process as well, for runs from a source checkout that is not installed.
"""

from __future__ import annotations

from pathlib import Path

from stockcast.errors import ArtifactError
from stockcast.registry.lock import sqlite_file
from stockcast_store import PREFIX, SCHEME, beside_store, not_beside_a_store, repository

# What a store created here records for experiments created without a location.
DEFAULT_ROOT = f"{PREFIX}mlartifacts"


def is_store_relative(uri: str | None) -> bool:
    return bool(uri) and str(uri).startswith(PREFIX)


def resolve(uri: str, tracking_uri: str | None) -> Path:
    """Where a store-relative location lies for the store at `tracking_uri`."""
    folder = beside_store(uri, tracking_uri)
    if folder is None:
        raise ArtifactError(not_beside_a_store(uri, tracking_uri))
    return folder


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
