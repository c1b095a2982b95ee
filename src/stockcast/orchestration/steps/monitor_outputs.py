"""The monitor step's files: the register step's decision it reads (which version this run
registered), and what it writes: report.json and the live-error plot in its output folder, and,
wherever there is a champion, one MLflow run in `monitor.experiment_name` that logs both with
the status and live metrics."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from stockcast.errors import ArtifactError
from stockcast.evaluation.live import live_metrics
from stockcast.evaluation.plots import plot_live_errors
from stockcast.files import read_json_object, write_json
from stockcast.orchestration.steps.table import (
    DECISION_FILE,
    MONITOR_PLOT_FILE,
    MONITOR_REPORT_FILE,
)
from stockcast.registry.run_names import run_name
from stockcast.registry.runs import (
    close_orphaned_runs,
    label_tags,
    log_to_run,
    logged_run,
    prepare_store,
)
from stockcast.registry.store import ModelRegistry

log = logging.getLogger(__name__)


def finish_logged(
    cfg: DictConfig,
    registry: ModelRegistry,
    output: Path,
    report: dict[str, Any],
    history: Sequence[dict[str, Any]] = (),
    changes: Sequence[Any] = (),
    level: int = logging.INFO,
) -> dict[str, Any]:
    """`finish`, inside one run per monitor run in `monitor.experiment_name` that logs the
    status, the live metrics where the champion was judged, the report and the plot: a day the
    champion is damaged, refused or skipped shows there too. report.json names that run
    (`mlflow_run_id`). Runs of killed monitor processes in that experiment are marked KILLED
    first."""
    client = registry.client()
    experiment_id = monitor_experiment(cfg, registry)
    # A monitor killed with its run open left it RUNNING: closed here, as training and
    # registration close their experiments' runs of killed processes.
    close_orphaned_runs(client, [experiment_id])
    name, labels = run_name("monitor", report["as_of"]), label_tags(cfg.get("tags"))
    with logged_run(client, experiment_id, name, labels) as run_id:
        report["mlflow_run_id"] = run_id
        finish(output, report, history, changes, level)
        # Only a judged champion has live scores and a flag.
        metrics = {}
        if "flag" in report:
            metrics = live_metrics(report) | {"flagged": float(report["flag"]["flagged"])}
        log_to_run(
            client,
            run_id,
            {
                "as_of": report["as_of"],
                "champion_version": report["champion"],
                "status": report["status"],
            },
            metrics,
            [output / MONITOR_REPORT_FILE, output / MONITOR_PLOT_FILE],
        )
    return report


def monitor_experiment(cfg: DictConfig, registry: ModelRegistry) -> str:
    """The id of `monitor.experiment_name`, created where it does not exist; one sentence where
    it was deleted (no run can be added to it). Asked before the day's forecast is stored or
    the alias rolled back: asked only when the report was logged, a deleted experiment failed
    the step after both, and the day's report.json, rollback included, was never written."""
    return prepare_store(
        registry.tracking_uri, cfg.monitor.experiment_name, cfg.registry.get("artifact_location")
    )


def finish(
    output: Path,
    report: dict[str, Any],
    history: Sequence[dict[str, Any]] = (),
    changes: Sequence[Any] = (),
    level: int = logging.INFO,
) -> dict[str, Any]:
    """Write the report and the plot, and log the report's message at `level`."""
    write_json(output / MONITOR_REPORT_FILE, report)
    plot_live_errors(
        output / MONITOR_PLOT_FILE,
        history,
        [(c.seen_on, c.model_version) for c in changes],
        title=f"live error vs naive, as of {report.get('as_of') or 'undated data'}",
        note=report["message"],
    )
    log.log(level, report["message"])
    return report


def registered_version(decision_dir: str | Path | None) -> int | None:
    """The version this run's register step created, from its decision.json (None: none), or
    one sentence where that file is not the register step's (cut short or edited)."""
    path = Path(decision_dir) / DECISION_FILE if decision_dir else None
    if path is None or not path.is_file():
        return None
    decision = read_json_object(path)
    version = None if decision is None else decision.get("version")
    if decision is None or (decision.get("registered") and not isinstance(version, int)):
        raise ArtifactError(
            f"{path} is not the decision.json the register step writes (cut short or edited); "
            "point monitor.decision_dir at the register step's output folder, or run the "
            "register step again."
        )
    return version if decision.get("registered") else None
