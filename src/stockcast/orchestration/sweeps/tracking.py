"""MLflow side of a sweep: prepare the store once, and tag every run with the sweep it belongs to.

Jobs of a parallel sweep (joblib workers) share one embedded SQLite store. Two fresh processes
that both find no database run MLflow's schema migrations at once (`table ... already exists`),
and two that both miss the experiment both create it. The sweep's parent process therefore opens
the store and creates the experiment before any job starts; the jobs then only add runs, and
MLflow's own SQLite busy timeout serialises those writes.

Runs are grouped by tags set through MLflow's `MLFLOW_RUN_CONTEXT` environment variable (a JSON
object of tags added to every run the process creates), so the logger config needs no
sweep-specific keys and single runs carry no sweep tags.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

RUN_CONTEXT_ENV = "MLFLOW_RUN_CONTEXT"
SWEEP_ID_TAG = "sweep_id"
SWEEP_DIR_TAG = "sweep_dir"
SWEEP_JOB_TAG = "sweep_job_num"


def sweep_id(sweep_dir: str | Path) -> str:
    """A sweep's id: its folder name plus a short hash of the folder's absolute path.

    Derived, not random, so the callback, the launcher and every worker agree on it.
    """
    path = Path(sweep_dir).resolve()
    return f"{path.name}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"


def sweep_tags(
    sweep_id: str, sweep_dir: str | None = None, job_num: int | None = None
) -> dict[str, str]:
    """The tags that group one sweep's runs in MLflow (search: `tags.sweep_id = '...'`)."""
    tags = {SWEEP_ID_TAG: sweep_id}
    if sweep_dir is not None:
        tags[SWEEP_DIR_TAG] = sweep_dir
    if job_num is not None:
        tags[SWEEP_JOB_TAG] = str(job_num)
    return tags


def run_context_value(tags: Mapping[str, str], current: str | None = None) -> str:
    """`MLFLOW_RUN_CONTEXT` holding `tags` on top of whatever the environment already set."""
    merged = json.loads(current) if current else {}
    merged.update(tags)
    return json.dumps(merged, sort_keys=True)


def is_embedded_store(tracking_uri: str | None) -> bool:
    """Whether jobs would share a local SQLite file (the case that needs preparing)."""
    return bool(tracking_uri) and str(tracking_uri).startswith("sqlite:")


def prepare_store(
    tracking_uri: str, experiment_name: str, artifact_location: str | None = None
) -> str:
    """Create the store's tables and the experiment now, in one process; return the experiment id.

    Safe to race with another process: a local store is opened under its file lock
    (`store_lock`), and a lost creation race on a remote one falls back to reading the winner's.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from stockcast.registry.lock import store_lock

    with store_lock(tracking_uri):
        client = MlflowClient(tracking_uri=tracking_uri)
        experiment = client.get_experiment_by_name(experiment_name)
        if experiment is not None:
            return experiment.experiment_id
        try:
            return client.create_experiment(experiment_name, artifact_location=artifact_location)
        except MlflowException:
            experiment = client.get_experiment_by_name(experiment_name)
            if experiment is None:
                raise
            return experiment.experiment_id
