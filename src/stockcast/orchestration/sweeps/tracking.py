"""The tags that group a sweep's MLflow runs.

Runs are grouped by tags set through MLflow's `MLFLOW_RUN_CONTEXT` environment variable
(`stockcast.registry.runs.run_context_value`), so the logger config needs no sweep-specific keys
and single runs carry no sweep tags. The sweep's parent process prepares the store
(`stockcast.registry.runs.prepare_store`) before any job starts.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

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
