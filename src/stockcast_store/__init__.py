"""MLflow's `stockcast-store:` artifact scheme: a local store's artifacts beside its database.

MLflow writes absolute artifact locations into its database, so a copied store folder would go
on reading (or miss) the original's files. A location `stockcast-store:mlartifacts` means the
folder `mlartifacts/` beside the store's database file, wherever that file now is: MLflow hands
every artifact repository the tracking URI, and `repository` resolves the location against it.

A package of its own, outside `stockcast`, and importing nothing of it: MLflow imports every
`mlflow.artifact_repository` plugin as soon as it is imported, and a model folder loaded where
stockcast is installed must still import the code it ships (`code/`), not the installed package.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

SCHEME = "stockcast-store"
PREFIX = f"{SCHEME}:"
SQLITE_PREFIX = "sqlite:///"


def beside_store(uri: str, tracking_uri: str | None) -> Path | None:
    """The folder a store-relative location names for the store at `tracking_uri`; None when
    that store is not a local `sqlite:///` file, where store-relative means nothing."""
    if not (tracking_uri or "").startswith(SQLITE_PREFIX):
        return None
    database = Path(str(tracking_uri)[len(SQLITE_PREFIX) :])
    return database.parent / uri.removeprefix(PREFIX).lstrip("/")


def not_beside_a_store(uri: str, tracking_uri: str | None) -> str:
    # The store named without its user part, which may hold a password.
    shown = re.sub(r"^([^:/]+://)[^/]*@", r"\1", str(tracking_uri))
    return (
        f"the artifact location {uri} lies beside a local MLflow store, and {shown} is "
        "not one; open it with its sqlite:/// store, or set registry.artifact_location to a "
        "folder (or null for a remote store)."
    )


def repository(
    artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None
) -> Any:
    """MLflow's local artifact repository on the folder a store-relative location names."""
    import mlflow
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

    tracking_uri = tracking_uri or mlflow.get_tracking_uri()
    folder = beside_store(artifact_uri, tracking_uri)
    if folder is None:
        raise ValueError(not_beside_a_store(artifact_uri, tracking_uri))
    return LocalArtifactRepository(str(folder.resolve()), tracking_uri, registry_uri)
