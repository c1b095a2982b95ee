"""The Hydra callback that ties a multirun together (configured in configs/hydra/default.yaml).

- before any job starts: prepare the embedded MLflow store and experiment once (see tracking),
  and give every local job the sweep's data day (`pin_data_day`);
- around each job: tag its MLflow run with the sweep id, the sweep folder and the job number;
- at the end: write and print the sweep summary (see summary).

Single runs pass through untouched. Kept import-light: Hydra instantiates it on every run.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from stockcast.config.overrides import as_typed
from stockcast.config.resolvers import register_resolvers
from stockcast.config.sweep_overrides import range_without_a_search
from stockcast.config.task import JOB_CHDIR_REFUSAL, sweeper_records_failures
from stockcast.data.calendar import default_day, pin_default_day
from stockcast.errors import counted, exit_with_error
from stockcast.orchestration.sweeps import tracking
from stockcast.orchestration.sweeps.jobs import runs_remotely, unranked_sweep
from stockcast.orchestration.sweeps.summary import summary_of, to_markdown, write_summary
from stockcast.paths import portable_path
from stockcast.registry import runs

log = logging.getLogger(__name__)

MLFLOW_LOGGER_KEY = "logger.mlflow"
# Hydra's grid sweeper, which runs lists of values and draws none from a range (`interval`).
GRID_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
# The Hydra job whose runs return the metric a search (Optuna) is told: src/train.py and the
# train step run alone.
SEARCHED_JOB = "train"


def _is_multirun(config: DictConfig) -> bool:
    return OmegaConf.select(config, "hydra.mode") == RunMode.MULTIRUN


def refuse_a_range_to_run(config: DictConfig) -> None:
    """`optim.lr=interval(1e-4,1e-2)` under the grid sweeper: refused before the store is
    prepared (seconds) rather than by the sweeper, after it, as a traceback."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ValueType

    if OmegaConf.select(config, "hydra.sweeper._target_") != GRID_SWEEPER:
        return
    overrides = as_typed(OmegaConf.select(config, "hydra.overrides.task"))
    parsed = OverridesParser.create().parse_overrides(overrides)
    if any(o.value_type == ValueType.INTERVAL_SWEEP for o in parsed):
        exit_with_error(range_without_a_search("interval", overrides))


def refuse_a_search_of_another_task(config: DictConfig) -> None:
    """`make pipeline ARGS="hparams_search=mlp_optuna"`: a search tells its sampler each job's
    metric, which only a training run returns, so a pipeline's or a replay's first trial ran in
    full and then ended in a traceback. Refused before any job starts; a grid sweep of them
    ranks nothing and is left to run."""
    target = OmegaConf.select(config, "hydra.sweeper._target_", default=GRID_SWEEPER)
    if target == GRID_SWEEPER or OmegaConf.select(config, "hydra.job.name") == SEARCHED_JOB:
        return
    task = OmegaConf.select(config, "task_name", default="this")
    sweeper = OmegaConf.select(config, "hydra.runtime.choices.hydra/sweeper", default=target)
    exit_with_error(
        f"the {sweeper} sweeper searches training runs by the metric each returns, and a "
        f'{task} run returns none; search with src/train.py (make train ARGS="..."), then '
        f"run the {task} with the best trial's settings (optimization_results.yaml)."
    )


def pin_data_day() -> str | None:
    """Make the day the sweep starts on every local job's default `data.as_of`: each job
    composes its own config when it starts, so a sweep running past midnight UTC trained its
    later jobs on the next day's data and ranked them with the earlier ones. Only the default
    is pinned, not `data.as_of` itself: an override appended for it also replaced the day a
    job's experiment (`experiment=a,b`) or a swept config gives. Returns the day pinned before."""
    return pin_default_day(default_day())


class SweepCallback(Callback):
    """Prepare the tracking store, tag each job's run, summarise the sweep."""

    def __init__(self, summary: bool = True, prepare_store: bool = True) -> None:
        # The logger's tracking URI uses ${stockcast_root:}; Hydra may build this callback (and
        # resolve that URI) in a process whose entry point has not registered it yet.
        register_resolvers()
        self.summary = summary
        self.prepare_store = prepare_store
        self.sweep_id: str | None = None
        self._tags_before: str | None = None
        self.started: float | None = None
        self._day_before: str | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # The summary's jobs are those this sweep ran: a sweep into a folder an earlier one
        # used leaves that one's folders and metrics there.
        self.started = time.time()
        if OmegaConf.select(config, "hydra.launcher.n_jobs") == 0:
            # joblib's own refusal comes only after the sweep folder is made, as a traceback.
            exit_with_error(
                "hydra.launcher.n_jobs=0 runs no job; give the number of jobs to run at once, "
                "1 or more (-1: one per CPU core)."
            )
        if OmegaConf.select(config, "hydra.job.chdir"):
            exit_with_error(JOB_CHDIR_REFUSAL)  # once, not by each job
        refuse_a_range_to_run(config)
        refuse_a_search_of_another_task(config)
        self.sweep_id = tracking.sweep_id(config.hydra.sweep.dir)
        if not runs_remotely(config):
            self._day_before = pin_data_day()
        if self.prepare_store and not runs_remotely(config):
            self._prepare_tracking_store(config)

    def _prepare_tracking_store(self, config: DictConfig) -> None:
        logger_cfg = OmegaConf.select(config, MLFLOW_LOGGER_KEY)
        if logger_cfg is None or "_target_" not in logger_cfg:
            return
        tracking_uri = logger_cfg.get("tracking_uri")
        if not runs.is_embedded_store(tracking_uri):
            return
        experiment_id = runs.prepare_store(
            tracking_uri, logger_cfg.experiment_name, logger_cfg.get("artifact_location")
        )
        log.info(
            "sweep %s: MLflow experiment %r (id %s) ready in %s",
            self.sweep_id,
            logger_cfg.experiment_name,
            experiment_id,
            tracking_uri,
        )

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not _is_multirun(config):
            return
        sweep_dir = str(Path(config.hydra.sweep.dir).resolve())
        # Relative to the root folder (or the log folder) it lies in, as the runs' other paths:
        # a copied store names no folder of this machine.
        roots = [OmegaConf.select(config, f"paths.{key}") for key in ("root_dir", "log_dir")]
        shown = portable_path(sweep_dir, *(Path(root) for root in roots if root))
        tags = tracking.sweep_tags(tracking.sweep_id(sweep_dir), shown, int(config.hydra.job.num))
        self._tags_before = os.environ.get(runs.RUN_CONTEXT_ENV)
        os.environ[runs.RUN_CONTEXT_ENV] = runs.run_context_value(tags, self._tags_before)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if not _is_multirun(config):
            return
        if self._tags_before is None:
            os.environ.pop(runs.RUN_CONTEXT_ENV, None)
        else:
            os.environ[runs.RUN_CONTEXT_ENV] = self._tags_before

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not runs_remotely(config):
            pin_default_day(self._day_before)
        if not self.summary or runs_remotely(config):
            return
        unranked = unranked_sweep(config)
        if unranked is not None:
            # Its jobs' own lines said which failed: nothing here tells a refused job apart.
            log.info("%s.", unranked)
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        summary, jobs = summary_of(config, sweep_dir, self.started)
        if summary is not None:
            paths = write_summary(summary, sweep_dir)
            print(to_markdown(summary), flush=True)
            print("summary written to " + ", ".join(str(path) for path in paths), flush=True)
        else:
            log.info("no job of %s wrote metrics.json; no sweep summary", sweep_dir)
        refused = sum(not job.finished for job in jobs)
        target = str(OmegaConf.select(config, "hydra.sweeper._target_", default=""))
        if refused and not sweeper_records_failures(target):
            # A grid sweep's refused jobs ended without metrics (user_errors_exit): the sweep
            # ran the others, and now says it did not wholly succeed, as a lone run would.
            exit_with_error(
                f"{refused} of {counted(len(jobs), 'job')} of the sweep were refused (their error lines "
                "above say why)"
                + ("; the summary ranks them last." if refused < len(jobs) else ".")
            )
