"""The sweeper: ask Optuna for a batch of trials, launch them as Hydra jobs, tell the results.

Each batch of `n_jobs` trials goes to the configured launcher (basic, joblib, ...) as one launch,
so a parallel launcher runs a batch at once. A job's return value (the train task's optimised
metric) is told to the study; a failed job, or one that returned nothing, is told as FAIL. A
batch whose launch raised returns nothing: its jobs that finished are told the metric they wrote
to their `metrics.json`, the others FAIL. The study lives in `storage` under `study_name`, so
rerunning the same command continues it.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.stockcast_optuna_sweeper.job_folders import (
    launched_job_folders,
    returned_job_folder,
)
from hydra_plugins.stockcast_optuna_sweeper.job_values import job_value, ranked, written_value
from hydra_plugins.stockcast_optuna_sweeper.results import write_results, write_results_so_far
from hydra_plugins.stockcast_optuna_sweeper.stop_signals import (
    STOPPED_BY_ATTR,
    StopSignals,
    stopped_sweep_sentence,
)
from hydra_plugins.stockcast_optuna_sweeper.study import (
    day_given_to_trials,
    open_study,
    pinned_data_day,
)
from hydra_plugins.stockcast_optuna_sweeper.trial_refusal import trial_refusal
from stockcast.errors import ConfigError, StockcastError, exit_with_error
from stockcast.orchestration.sweeps.metric import DIRECTIONS

if TYPE_CHECKING:
    import optuna
    from hydra.plugins.launcher import Launcher


log = logging.getLogger(__name__)

# Optuna's refusals of a parameter sampled otherwise than a stored study's trials sampled it
# (words of its messages), and how the refusal says what changed.
CHANGED_SEARCHES = {
    "dynamic value space": "over other choices for {key}",
    "different log configuration": "with another scale (log or linear) for {key}",
    "different distribution kind": "with another kind of values (a choice, a range, whole "
    "numbers) for {key}",
}


class OptunaSweeper(Sweeper):
    """Hydra Sweeper over an Optuna study (ask/tell); see config.OptunaSweeperConf."""

    def __init__(
        self,
        sampler: Any,
        direction: str,
        storage: str | None,
        study_name: str | None,
        n_trials: int,
        n_jobs: int,
        max_failures: int,
        params: dict[str, str] | None,
    ) -> None:
        self.sampler_cfg = sampler
        self.direction = direction
        self.storage = storage
        self.study_name = study_name
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.max_failures = max_failures
        self.params = dict(params or {})
        self.config: DictConfig | None = None
        self.launcher: Launcher | None = None
        # The trials (study numbers, job folders) a batch that raised told FAIL.
        self.stopped: list[tuple[int, Path]] = []
        self.stops = StopSignals()

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def _check_settings(self) -> None:
        """Checked as the sweep starts, not as Hydra builds the sweeper: an error there reached
        the user wrapped in Hydra's instantiation message, exit status 1."""
        if self.direction not in DIRECTIONS:
            raise ConfigError(
                f"hydra.sweeper.direction is {self.direction!r}; it must be one of {DIRECTIONS}."
            )
        # Named with its value: one sentence for both left the user to find which was wrong.
        for key, value, gives in (
            ("n_trials", self.n_trials, "the trials this run adds"),
            ("n_jobs", self.n_jobs, "the trials to run at a time"),
        ):
            if value < 1:
                raise ConfigError(f"hydra.sweeper.{key} is {value}; give {gives}, 1 or more.")
        from stockcast.config.sections import EXAMPLE_METRIC, optimized_metric_problem

        metric = OmegaConf.select(self.config, "optimized_metric")
        if metric is None:
            # Else every trial trained, returned no value, and was told FAIL.
            raise ConfigError(
                "optimized_metric is null; the Optuna sweeper tells the study each trial's "
                "value of it, so give a validation metric such as "
                f"optimized_metric={EXAMPLE_METRIC}."
            )
        # Else each trial was refused for it in turn, and told FAIL in the study.
        problem = optimized_metric_problem(str(metric))
        if problem is not None:
            raise ConfigError(f"optimized_metric {problem}.")
        if self.max_failures < 0:
            # Else the first batch stopped the study, "0 Optuna trials failed", after training.
            raise ConfigError(
                f"hydra.sweeper.max_failures is {self.max_failures}; give the failed trials a "
                "run may have before it stops, 0 or more."
            )

    def _ask(self, study: optuna.Study, distributions: dict[str, Any]) -> optuna.trial.Trial:
        """A new trial; a stored study whose earlier trials sampled a parameter otherwise
        (another choice list for a categorical, a log scale switched on or off, a range where
        it was a choice: Optuna cannot change any) is refused in one sentence. `_check_space`
        refuses it before the sweep asks; this is where another run changed the study since."""
        try:
            return study.ask(distributions)
        except ValueError as err:
            refusal = self._changed_search(err, "a parameter")
            if refusal is None:
                raise
            self._check_space(study, distributions)  # the sentence naming the parameter
            raise refusal from None

    def _check_space(self, study: optuna.Study, distributions: dict[str, Any]) -> None:
        """Refuse a search space the study's earlier trials sampled otherwise before a trial is
        asked: a refused ask leaves its trial RUNNING in the stored study for good."""
        from optuna.distributions import check_distribution_compatibility

        for trial in study.get_trials(deepcopy=False):
            for key, distribution in distributions.items():
                if key not in trial.distributions:
                    continue
                try:
                    check_distribution_compatibility(trial.distributions[key], distribution)
                except ValueError as err:
                    refusal = self._changed_search(err, key)
                    if refusal is None:
                        raise
                    raise refusal from None

    def _changed_search(self, err: ValueError, key: str) -> ConfigError | None:
        """The sentence for Optuna's refusal `err` of `key` sampled otherwise than the stored
        study's trials were; None for any other error."""
        changed = next(
            (said for found, said in CHANGED_SEARCHES.items() if found in str(err)), None
        )
        if changed is None:
            return None
        return ConfigError(
            f"study {self.study_name!r} in {self.storage} was searched {changed.format(key=key)} "
            "than hydra.sweeper.params now gives; pass a new hydra.sweeper.study_name to start a "
            "fresh search."
        )

    def sweep(self, arguments: list[str]) -> optuna.trial.FrozenTrial:
        """Run the study; a user's error stops it with one line and exit status 2, as the
        commands do (Hydra calls the sweeper outside the task's own error handling); one
        stopped by a signal tells its running trials FAIL and says which in one line, with the
        exit status of a process that signal killed (`stop_signals`)."""
        try:
            with self.stops.raised():
                return self._sweep(arguments)
        except StockcastError as err:
            exit_with_error(str(err))
        except BaseException as err:
            stop = self.stops.stopping(err)
            if stop is None:
                raise
            by, status = stop
            said = stopped_sweep_sentence(by, self.stopped, self.study_name, self.storage)
            print(f"error: {said}", file=sys.stderr, flush=True)
            raise SystemExit(status) from None

    def _sweep(self, arguments: list[str]) -> optuna.trial.FrozenTrial:
        import optuna

        from stockcast.orchestration.sweeps.search_space import parse_search_space

        assert self.config is not None and self.launcher is not None, "setup() not called"
        self._check_settings()
        space = parse_search_space(self.params, arguments)
        if not space.distributions:
            raise ConfigError(
                "the Optuna sweeper has nothing to search: give hydra.sweeper.params "
                "(e.g. hparams_search=mlp_optuna) or sweep overrides such as optim.lr=interval(1e-4,1e-2)."
            )
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        pinned = pinned_data_day(self.config, space)
        study = open_study(
            self.storage, self.study_name, self.direction, self.sampler_cfg, [*space.fixed, *pinned]
        )
        space.fixed.extend(day_given_to_trials(self.config, space, pinned))
        self._check_space(study, space.distributions)
        # Numbered after the folders an earlier sweep into this folder left: a trial's folder
        # is its own, never one an older trial's job_dir names.
        first = 1 + max((int(p.name) for p in sweep_dir.iterdir() if p.name.isdigit()), default=-1)
        log.info(
            "Optuna study %r (%s): %d trials so far, adding %d, %d at a time; search space: %s",
            study.study_name,
            self.storage or "in memory",
            len(study.trials),
            self.n_trials,
            self.n_jobs,
            ", ".join(f"{key}: {dist}" for key, dist in space.distributions.items()),
        )
        job_idx, failures = 0, 0
        while job_idx < self.n_trials:
            self.stops.check()
            size = min(self.n_jobs, self.n_trials - job_idx)
            trials = [self._ask(study, space.distributions) for _ in range(size)]
            batch = [tuple(space.trial_overrides(trial.params)) for trial in trials]
            launched = time.time()
            try:
                with self.stops.launching():
                    returns = self.launcher.launch(batch, initial_job_idx=first + job_idx)
            except BaseException as err:
                # A batch whose launch raised (a trial's overrides do not compose, Ctrl-C) gives
                # back no values: a trial whose job finished before is told the value it wrote,
                # the others FAIL (or the study keeps them RUNNING for good).
                folders = launched_job_folders(sweep_dir, launched)
                stop = self.stops.stopping(err)
                for offset, (trial, overrides) in enumerate(zip(trials, batch, strict=True)):
                    number = first + job_idx + offset
                    job_dir = folders.get(number, sweep_dir / str(number))
                    value = written_value(self.config, job_dir, overrides, launched)
                    if value is None:
                        if stop is not None:
                            trial.set_user_attr(STOPPED_BY_ATTR, stop[0])
                        self.stopped.append((trial.number, job_dir))
                        study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    else:
                        trial.set_user_attr("job_dir", str(job_dir))
                        study.tell(trial, ranked(value, self.direction))
                write_results_so_far(study, sweep_dir, self.storage, self.direction)
                refusal = trial_refusal(self.config, err, job_idx, batch)
                if refusal is not None:
                    raise refusal from None
                raise
            for offset, (trial, ret) in enumerate(zip(trials, returns, strict=True)):
                job_dir = returned_job_folder(ret, sweep_dir) or sweep_dir / str(
                    first + job_idx + offset
                )
                trial.set_user_attr("job_dir", str(job_dir))
                value = job_value(ret)
                if value is None:
                    failures += 1
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                else:
                    study.tell(trial, ranked(value, self.direction))
            job_idx += size
            if failures > self.max_failures:
                write_results_so_far(study, sweep_dir, self.storage, self.direction)
                raise ConfigError(
                    f"{failures} Optuna trials failed (hydra.sweeper.max_failures="
                    f"{self.max_failures}); see the job logs under {sweep_dir}."
                )
        results = write_results(study, sweep_dir, self.storage, self.direction)
        self.stops.check()
        return results
