"""Where a registered version's files are: the store's own folder when its artifacts are on this
filesystem (nothing to copy), otherwise a download. Either way unverified: only
`ModelRegistry.verified_folder` hands out a folder anything may load."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stockcast.errors import DamagedVersion
from stockcast.redaction import redacted_uri
from stockcast.registry.connection import RegistryError, local_path

# MLflow says this at INFO when a version's folder is gone; the caller refuses the empty folder
# in its own sentence, which this line would only precede.
MLFLOW_ARTIFACT_LOGGER = "mlflow.store.artifact.artifact_repo"
EMPTY_DOWNLOAD_NOTE = "No artifacts found to download"


def version_folder(
    client: Any, tracking_uri: str, registry_uri: str, name: str, version: int, dst: str | Path
) -> Path:
    """The folder of `name` version `version`; a download goes into `dst`."""
    uri = client.get_model_version_download_uri(name, str(version))
    if uri.startswith("runs:/"):
        run_id, _, path = uri.removeprefix("runs:/").partition("/")
        uri = f"{_run(client, run_id, tracking_uri, registry_uri, name, version)}/{path}"
    local = local_path(uri, tracking_uri)
    if local is not None and (local / "MLmodel").is_file():
        return local
    import mlflow
    from mlflow.artifacts import download_artifacts

    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    mlflow.set_registry_uri(registry_uri)
    mlflow.set_tracking_uri(tracking_uri)
    with _no_empty_download_note():
        downloaded = download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(dst))
    return Path(downloaded)


def _run(
    client: Any, run_id: str, tracking_uri: str, registry_uri: str, name: str, version: int
) -> str:
    """The artifact folder of the run a version was registered from, or one sentence where the
    tracking store lacks that run (a registry_uri naming another store than the runs')."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_run(run_id).info.artifact_uri).rstrip("/")
    except MlflowException as err:
        if err.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        where = f"{name} version {version} was registered from run {run_id}, which"
        if registry_uri == tracking_uri:
            # Deleted from the store for good: its files are gone as a damaged version's are, so
            # registering the folder again makes a new version and a candidate replaces it.
            raise DamagedVersion(
                f"{where} the store {redacted_uri(tracking_uri)} no longer holds (deleted, as "
                "mlflow gc does); register the model again from its folder.",
                "its files are gone",
            ) from None
        raise RegistryError(
            f"{where} the tracking store {redacted_uri(tracking_uri)} does not hold (the "
            f"registry is {redacted_uri(registry_uri)}); set registry.tracking_uri to the store "
            "that holds its runs, or registry.registry_uri to the one beside them."
        ) from None


class _EmptyDownloadNote(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(EMPTY_DOWNLOAD_NOTE)


@contextmanager
def _no_empty_download_note() -> Iterator[None]:
    """MLflow's note that a download found nothing, left out while the block runs (only that
    line, only there)."""
    logger = logging.getLogger(MLFLOW_ARTIFACT_LOGGER)
    note = _EmptyDownloadNote()
    logger.addFilter(note)
    try:
        yield
    finally:
        logger.removeFilter(note)
