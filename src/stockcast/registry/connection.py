"""Opening an MLflow store: the client settings, the store plugin an Azure ML store needs, and
one sentence naming the real cause when the store cannot be opened."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from stockcast.azure_failures import describe_azure_failure
from stockcast.errors import StockcastError
from stockcast.redaction import redacted_text, redacted_uri
from stockcast.registry.artifact_root import create_store, is_store_relative, resolve
from stockcast.registry.lock import StoreBusy, sqlite_file, store_lock


class RegistryError(StockcastError):
    """The registry cannot be reached, or has no such model, version or alias."""


def configure_client(connection: Mapping[str, Any]) -> None:
    """Bound MLflow's HTTP timeout and retries (`registry_connection`), before its first use."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(connection["timeout_s"])))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(int(connection["max_retries"])))


def local_path(uri: str, tracking_uri: str | None = None) -> Path | None:
    """The filesystem path an artifact URI names (a store-relative one: in the store at
    `tracking_uri`), or None for remote stores."""
    if is_store_relative(uri):
        return resolve(uri, tracking_uri)
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    return None


def _require_store_plugin(uri: str) -> None:
    """`azureml://` stores need the azureml-mlflow plugin, installed only with the azure extra."""
    if not uri.startswith("azureml:"):
        return
    try:
        found = importlib.util.find_spec("azureml.mlflow") is not None
    except ModuleNotFoundError:  # not even the `azureml` namespace package is installed
        found = False
    if not found:
        raise RegistryError(
            f"the registry {uri.split('?')[0]} is an Azure ML workspace store, which needs the "
            "azureml-mlflow plugin; install it with: pip install -e '.[azure]'."
        )


def _cause(err: BaseException) -> str:
    # MLflow's own text quotes the URI it failed on, credentials and all.
    lines = redacted_text(str(err)).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:200] if lines else ''}"


def open_client(tracking_uri: str, registry_uri: str, create: bool) -> Any:
    """An MlflowClient of the store; with `create` false, a SQLite store that is not there is an
    error, not a new file. Opened under the store lock: on a fresh SQLite store MLflow creates
    its tables, which several processes cannot do at once."""
    from mlflow import MlflowClient

    db = sqlite_file(tracking_uri)
    if not create and db is not None and not db.is_file():
        raise RegistryError(
            f"the model registry {redacted_uri(tracking_uri)} does not exist; register a model first (make "
            "pipeline) or set registry.tracking_uri."
        )
    _require_store_plugin(tracking_uri)
    try:
        with store_lock(tracking_uri):
            create_store(tracking_uri)
            client = MlflowClient(tracking_uri, registry_uri)
            client.search_registered_models(max_results=1)
    except StoreBusy:
        raise
    except Exception as err:
        raise RegistryError(cannot_open(tracking_uri, err)) from None
    return client


def cannot_open(tracking_uri: str, err: BaseException) -> str:
    """What failed when opening the store, named by its real cause."""
    azure = describe_azure_failure(err)
    if azure is not None:
        return (
            f"cannot open the model registry at {redacted_uri(tracking_uri).split('?')[0]}: {azure}"
        )
    db = sqlite_file(tracking_uri)
    if db is not None:
        return (
            f"cannot open the local MLflow store {db} ({_cause(err)}); if another program holds "
            "it, rerun when it is done, otherwise it is damaged or from a newer MLflow: move it "
            "aside or set registry.tracking_uri."
        )
    return (
        f"cannot reach the model registry at {redacted_uri(tracking_uri)} ({_cause(err)}); check "
        "registry.tracking_uri and the network."
    )
