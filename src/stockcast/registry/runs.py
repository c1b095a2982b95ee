"""MLflow runs know which process made them, so runs of a killed process can be closed later.

A process killed with -9 never ends its MLflow run: the run stays RUNNING for ever. Every run
stockcast creates carries the tag `stockcast.owner` (host, pid, process start time); when a
writer starts, RUNNING runs of its experiment whose owner process on this host is gone are marked
KILLED. The start time guards against a new process that reuses the pid. Runs from other hosts
or without the tag are left alone: there is no way to tell here whether they still run.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stockcast.environment import environment_set
from stockcast.errors import ConfigError, StockcastError
from stockcast.paths import portable_path
from stockcast.redaction import redacted_text, redacted_uri
from stockcast.registry.artifact_root import create_store, location_for
from stockcast.registry.lock import store_lock

OWNER_TAG = "stockcast.owner"
SOURCE_NAME_TAG = "mlflow.source.name"
# MLflow tags a run with the first git remote of its script's checkout: a folder's path where the
# remote is a local clone's.
GIT_REPO_URL_TAG = "mlflow.source.git.repoURL"
# MLflow adds this JSON object of tags to every run the process creates.
RUN_CONTEXT_ENV = "MLFLOW_RUN_CONTEXT"
HTTP_LIMITS = ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES")
START_TIME_TOLERANCE_S = 1.0
# A run's labels (the config's `tags`) are MLflow tags of this value, one per label, so a search
# finds them: `tags.mlp_w10 = 'true'`.
LABEL_VALUE = "true"

log = logging.getLogger(__name__)


def _start_time(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def owner_value(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}|{pid}|{_start_time(pid) or 0:.2f}"


def owner_tags() -> dict[str, str]:
    return {OWNER_TAG: owner_value()}


def label_tags(labels: Iterable[Any] | None) -> dict[str, str]:
    """The config's `tags` (labels) as the MLflow tags a run carries."""
    return {str(label): LABEL_VALUE for label in labels or ()}


def tag_runs_of_this_process() -> None:
    """Runs that libraries create in this process (Lightning's MLflow logger) get the owner tag,
    and name their source script and its git remote without this machine's paths (MLflow adds
    the tags in `MLFLOW_RUN_CONTEXT` to every run it creates, over its own)."""
    from mlflow.utils.git_utils import get_git_repo_url

    script = str(Path(sys.argv[0]).absolute())
    source = {SOURCE_NAME_TAG: portable_path(script)}
    remote = get_git_repo_url(script)
    if remote:  # a URL stays as it is; a local folder keeps its last part (`portable_path`)
        source[GIT_REPO_URL_TAG] = portable_path(remote)
    os.environ[RUN_CONTEXT_ENV] = run_context_value(
        owner_tags() | source, os.environ.get(RUN_CONTEXT_ENV)
    )


def owner_is_gone(value: str) -> bool:
    """Whether the owner process named by a tag value is known to be dead (this host only)."""
    host, _, rest = value.partition("|")
    pid_text, _, started = rest.partition("|")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    actual = _start_time(int(pid_text))
    if actual is None:
        return True
    try:
        return abs(actual - float(started)) > START_TIME_TOLERANCE_S
    except ValueError:
        return False


def close_orphaned_runs(client: Any, experiment_ids: Iterable[str]) -> list[str]:
    """Mark KILLED the RUNNING runs whose owner process has died; returns their ids."""
    ids = [str(i) for i in experiment_ids]
    if not ids:
        return []
    closed = []
    for run in client.search_runs(ids, filter_string="attributes.status = 'RUNNING'"):
        owner = run.data.tags.get(OWNER_TAG)
        if owner and owner_is_gone(owner):
            client.set_terminated(run.info.run_id, status="KILLED")
            closed.append(run.info.run_id)
    if closed:
        log.info("marked %d run(s) of killed processes KILLED: %s", len(closed), ", ".join(closed))
    return closed


@contextmanager
def quick_http(timeout_s: int = 10, retries: int = 0) -> Iterator[None]:
    """MLflow's HTTP client without its minutes of retries, for a first contact that should fail
    fast (MLflow reads these variables on every request)."""
    with environment_set(dict(zip(HTTP_LIMITS, (str(timeout_s), str(retries)), strict=True))):
        yield


def close_orphaned_training_runs(logger_configs: Any) -> None:
    """Before training: tag this process's runs, check each MLflow logger's store answers,
    create its experiment and close runs of killed training processes in it (a fresh SQLite
    store is created under its lock, see `store_lock`). An unreachable store is one sentence, not
    minutes of retries and a traceback."""

    mlflow_loggers = [
        node
        for node in (logger_configs or {}).values()
        # None: a logger switched off (logger.mlflow=null)
        if node is not None and str(node.get("_target_", "")).endswith("MLFlowLogger")
    ]
    if not mlflow_loggers:
        return  # no MLflow run to tag: neither MLflow nor git is imported (logger=none, csv)
    tag_runs_of_this_process()
    from mlflow import MlflowClient

    for node in mlflow_loggers:
        uri = node.get("tracking_uri")
        if not uri:
            continue
        try:
            with store_lock(uri), quick_http():
                # Created here, before the logger would: with the configured location, which on
                # a local store lies beside the database (registry.artifact_root).
                experiment_id = prepare_store(
                    uri, node["experiment_name"], node.get("artifact_location")
                )
                close_orphaned_runs(MlflowClient(uri), [experiment_id])
        except StockcastError:
            raise
        except Exception as err:
            # MLflow's own text quotes the URI it failed on, credentials and all.
            lines = redacted_text(str(err)).strip().splitlines()
            raise ConfigError(
                f"cannot open the MLflow tracking store {redacted_uri(uri)} ({type(err).__name__}: "
                f"{lines[0][:200] if lines else ''}); check registry.tracking_uri (which "
                "logger.mlflow.tracking_uri follows), or train without MLflow: logger=csv."
            ) from None


def run_context_value(tags: Mapping[str, str], current: str | None = None) -> str:
    """`MLFLOW_RUN_CONTEXT` holding `tags` on top of whatever the environment already set."""
    merged = json.loads(current) if current else {}
    merged.update(tags)
    return json.dumps(merged, sort_keys=True)


# MLflow's lifecycle stage of an experiment deleted (in its UI, say) but not yet purged.
DELETED = "deleted"


def is_embedded_store(tracking_uri: str | None) -> bool:
    """Whether jobs would share a local SQLite file (the case that needs preparing)."""
    return bool(tracking_uri) and str(tracking_uri).startswith("sqlite:")


def deleted_experiment(
    experiment_name: str, tracking_uri: str, experiment_id: str, setting: str | None = None
) -> str:
    """The refusal of an experiment deleted (not purged) in the store at `tracking_uri`, naming
    the `setting` that names another where the caller knows it."""
    shown = redacted_uri(tracking_uri)
    return (
        f"the MLflow experiment {experiment_name!r} of {shown} was deleted, so no run can be "
        f"added to it; restore it (MLFLOW_TRACKING_URI={shown} mlflow experiments restore "
        f"--experiment-id {experiment_id}) or name another experiment"
        + (f" with {setting}." if setting else ".")
    )


# Jobs of a parallel sweep (joblib workers) and concurrent pipelines share one embedded SQLite
# store. Two fresh processes that both find no database run MLflow's schema migrations at once
# (`table ... already exists`), and two that both miss the experiment both create it: one process
# prepares the store first, the others only add runs.
def prepare_store(
    tracking_uri: str, experiment_name: str, artifact_location: str | None = None
) -> str:
    """Create the store's tables and the experiment now, in one process; return the experiment id.

    Safe to race with another process: a local store is opened under its file lock
    (`store_lock`), and a lost creation race on a remote one falls back to reading the winner's.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    with store_lock(tracking_uri):
        create_store(tracking_uri)
        client = MlflowClient(tracking_uri=tracking_uri)
        experiment = client.get_experiment_by_name(experiment_name)
        if experiment is not None:
            if experiment.lifecycle_stage == DELETED:
                raise ConfigError(
                    deleted_experiment(experiment_name, tracking_uri, experiment.experiment_id)
                )
            return experiment.experiment_id
        location = location_for(tracking_uri, artifact_location)
        try:
            return client.create_experiment(experiment_name, artifact_location=location)
        except MlflowException:
            experiment = client.get_experiment_by_name(experiment_name)
            if experiment is None:
                raise
            return experiment.experiment_id


@contextmanager
def logged_run(
    client: Any, experiment_id: str, name: str, tags: Mapping[str, str] | None = None
) -> Iterator[str]:
    """A run (its id) for the block to log to: FINISHED when the block ends, FAILED where it
    raises, so what the block writes may name the run."""
    tags = dict(tags or {}) | owner_tags()
    run_id = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
    try:
        yield run_id
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id)


def log_to_run(
    client: Any,
    run_id: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    artifacts: Iterable[Path],
) -> None:
    """These params, metrics and files, into the run."""
    for key, value in params.items():
        client.log_param(run_id, key, value)
    for key, value in metrics.items():
        client.log_metric(run_id, key, value)
    for path in artifacts:
        client.log_artifact(run_id, str(path))
