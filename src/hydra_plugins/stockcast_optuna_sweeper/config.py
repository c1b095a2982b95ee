"""The sweeper's structured config, registered as `hydra/sweeper=optuna`.

No `from __future__ import annotations` here: Hydra imports plugin modules outside sys.modules,
where dataclasses cannot resolve string annotations, and OmegaConf needs the real types.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

SWEEPER_TARGET = "hydra_plugins.stockcast_optuna_sweeper.optuna_sweeper.OptunaSweeper"


@dataclass
class OptunaSweeperConf:
    """`n_trials` are the trials this invocation adds: rerunning with the same storage and
    study_name continues the study (3 trials, rerun, 6 trials)."""

    _target_: str = SWEEPER_TARGET
    # The sampler stays a config until the study is loaded (its seed depends on the study).
    _recursive_: bool = False
    # Any optuna sampler; TPE by default. Its seed is offset by the trials already in the
    # study, so a resumed study does not replay the same random start-up trials.
    sampler: Any = field(
        default_factory=lambda: {"_target_": "optuna.samplers.TPESampler", "seed": None}
    )
    direction: str = "minimize"
    # An Optuna storage URL (sqlite:///path/study.db); null keeps the study in memory only.
    storage: str | None = None
    study_name: str | None = None
    n_trials: int = 20
    # Trials asked and launched together: the launcher runs them in parallel if it can.
    n_jobs: int = 1
    # Stop early once more than this many trials of this invocation have failed.
    max_failures: int = 3
    # key -> sweep text (`interval(...)`, `choice(...)`, `tag(log, interval(...))`) or a value.
    params: dict[str, str] | None = None


ConfigStore.instance().store(
    group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="stockcast"
)
