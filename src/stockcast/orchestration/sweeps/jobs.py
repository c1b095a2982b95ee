"""A sweep's jobs as their folders hold them: what each was given (Hydra's overrides.yaml)
and what it measured (its metrics.json: beside `.hydra/` for a training run, in its train
step's output folder for a pipeline, `jobs_metrics`), for the summary and the Optuna sweeper."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from stockcast.config.overrides import override_key, override_value
from stockcast.files import read_json_object
from stockcast.orchestration.steps.run_folders import port_folder
from stockcast.redaction import redacted_text
from stockcast.training.summary import METRICS_FILE

# The tasks whose jobs write metrics.json, and the train step's port that holds a pipeline's.
TRAIN_TASK = "train"
PIPELINE_TASK = "pipeline"
TRAIN_OUTPUT = "train_output"

OVERRIDES_FILE = Path(".hydra") / "overrides.yaml"
HYDRA_FILE = Path(".hydra") / "hydra.yaml"
METRIC_STAGES = ("val", "test")
# Launchers whose jobs run elsewhere: nothing to prepare or summarise on this machine.
REMOTE_LAUNCHERS = ("hydra_plugins.stockcast_azureml_launcher.",)


@dataclass(frozen=True)
class JobResult:
    """One job of the sweep: what it was given and what it measured."""

    num: int
    dir: Path
    overrides: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)
    # Its model fell back to the last price (fit.naive_fallback): a tie with every other such job.
    repeats_last: bool = False
    # Its metrics.json holds no JSON object (cut short by a copy that stopped, edited).
    unreadable: bool = False

    @property
    def finished(self) -> bool:
        return bool(self.metrics)

    @property
    def status(self) -> str:
        if not self.finished:
            return f"{METRICS_FILE} unreadable" if self.unreadable else "no metrics"
        return "finished, repeats the last price" if self.repeats_last else "finished"


def flatten_metrics(content: dict[str, Any]) -> dict[str, float]:
    """`{"val": {"mase": 0.9}}` -> `{"val/mase": 0.9}` (numbers of the val and test stages only)."""
    flat = {}
    for stage in METRIC_STAGES:
        found = content.get(stage)
        for name, value in (found if isinstance(found, dict) else {}).items():
            if isinstance(value, int | float):
                flat[f"{stage}/{name}"] = float(value)
    return flat


def jobs_metrics(config: Any) -> Path | None:
    """Where in its folder a job of the sweep's `config` writes its metrics: a training run
    beside its `.hydra/`, a pipeline in its train step's output folder; None for a task that
    writes none (a replay), whose sweep ranks nothing."""
    task = OmegaConf.select(config, "task_name", default=TRAIN_TASK)
    if task == TRAIN_TASK:
        return Path(METRICS_FILE)
    if task == PIPELINE_TASK:
        return port_folder(Path(), TRAIN_OUTPUT) / METRICS_FILE
    return None


def runs_remotely(config: Any) -> bool:
    """Whether the sweep's jobs run elsewhere (Azure ML), not in its folder on this machine."""
    target = str(OmegaConf.select(config, "hydra.launcher._target_", default=""))
    return target.startswith(REMOTE_LAUNCHERS)


def unranked_sweep(config: Any) -> str | None:
    """Why a sweep of `config` has no summary (its jobs write no metrics, or write them on Azure
    ML, not into its folder), else None."""
    if runs_remotely(config):
        return (
            "the jobs of a sweep with hydra/launcher=azureml run on Azure ML (a dry run only "
            "writes each job's azureml_job.yaml), whose runs hold their metrics, so it has no "
            "summary here"
        )
    if jobs_metrics(config) is not None:
        return None
    task = OmegaConf.select(config, "task_name")
    return (
        f"a sweep of {task} runs has no metric to rank its jobs by (training runs and pipelines "
        "write metrics.json), so it has no summary"
    )


def read_job(
    job_dir: Path, since: float | None = None, metrics_at: Path = Path(METRICS_FILE)
) -> JobResult | None:
    """A job folder's overrides and its metrics (`metrics_at`, within it: `jobs_metrics`); None
    if the folder is not a Hydra job folder, or (with `since`, a sweep's start) one no job of
    that sweep ran in. Metrics written before `since` are an earlier sweep's: a job of this one
    that wrote none has none."""
    overrides_file = job_dir / OVERRIDES_FILE
    num = job_number(job_dir)
    if num is None or not overrides_file.is_file():
        return None
    if since is not None and overrides_file.stat().st_mtime < since:
        return None
    try:
        overrides = yaml.safe_load(overrides_file.read_text()) or []
    except yaml.YAMLError:  # written in part when an interruption cut the job off
        return None
    metrics_file = job_dir / metrics_at
    current = metrics_file.is_file() and (since is None or metrics_file.stat().st_mtime >= since)
    # One damaged file ranks its job last, instead of a traceback that ranks none.
    content = read_json_object(metrics_file) if current else {}
    return JobResult(
        num=num,
        dir=job_dir,
        # As shown and written: a tracking URI's password given on the command line masked.
        overrides={override_key(o): redacted_text(override_value(o)) for o in overrides},
        metrics=flatten_metrics(content or {}),
        repeats_last=bool((content or {}).get("fell_back_to_naive")),
        unreadable=content is None,
    )


def job_number(job_dir: Path) -> int | None:
    """A job folder's number: its name (Hydra's default `hydra.sweep.subdir`), else the number
    its `.hydra/hydra.yaml` records (a subdir named by the overrides); None for no job folder."""
    if job_dir.name.isdigit():
        return int(job_dir.name)
    recorded = job_dir / HYDRA_FILE
    if not recorded.is_file():
        return None
    num = OmegaConf.select(OmegaConf.load(recorded), "hydra.job.num", default=None)
    return int(num) if isinstance(num, int) else None


def job_folders(sweep_dir: Path, since: float | None = None) -> list[tuple[int, Path]]:
    """Each job folder under the sweep folder with its number, in job order, wherever
    `hydra.sweep.subdir` put it; with `since`, only those whose overrides were written since (an
    earlier sweep into the same folder left its own). A folder cut off mid-write by an
    interruption (its `.hydra` files half there) is no job's."""
    folders = []
    for written in sorted(sweep_dir.rglob(str(OVERRIDES_FILE))) if sweep_dir.is_dir() else []:
        folder = written.parent.parent
        try:
            number = (
                None
                if since is not None and written.stat().st_mtime < since
                else job_number(folder)
            )
        except Exception:  # a vanished or half-written file: OSError, or any YAML parse error
            number = None
        if number is not None:
            folders.append((number, folder))
    return sorted(folders, key=lambda pair: pair[0])


def collect_jobs(
    sweep_dir: Path, since: float | None = None, metrics_at: Path = Path(METRICS_FILE)
) -> list[JobResult]:
    """Every job of `job_folders`, with its overrides and metrics (`read_job`'s `metrics_at`)."""
    jobs = (read_job(folder, since, metrics_at) for _, folder in job_folders(sweep_dir, since))
    return [job for job in jobs if job is not None]
