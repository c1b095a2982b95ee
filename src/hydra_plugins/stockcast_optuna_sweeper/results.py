"""optimization_results.yaml: the best trial of a sweep's study, written as the sweep ends or
stops early."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import OmegaConf

from stockcast.errors import ConfigError

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)

RESULTS_FILE = "optimization_results.yaml"


def write_results_so_far(
    study: optuna.Study, sweep_dir: Path, storage: str | None, direction: str
) -> None:
    """The best trial so far, as a finished sweep would leave it, where a sweep stops early
    (a batch that raised, too many failures); a failure to write it must not hide what
    stopped the sweep."""
    import optuna

    try:
        if study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
            write_results(study, sweep_dir, storage, direction)
    except Exception:
        log.warning("could not write %s", sweep_dir / RESULTS_FILE, exc_info=True)


def write_results(
    study: optuna.Study, sweep_dir: Path, storage: str | None, direction: str
) -> optuna.trial.FrozenTrial:
    """optimization_results.yaml: the best trial of the whole study so far."""
    import optuna

    finished = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    if not finished:
        raise ConfigError(f"no Optuna trial finished; see the job logs under {sweep_dir}.")
    best = study.best_trial
    results = {
        "name": "optuna",
        "study_name": study.study_name,
        "storage": storage,
        "direction": direction,
        "best_value": best.value,
        "best_params": best.params,
        "best_trial": best.number,
        "best_job_dir": best.user_attrs.get("job_dir"),
        "n_trials": len(study.trials),
        "n_complete": len(finished),
    }
    OmegaConf.save(OmegaConf.create(results), sweep_dir / RESULTS_FILE)
    log.info("best of %d trials: %s -> %s", len(study.trials), best.params, best.value)
    return best
