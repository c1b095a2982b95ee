"""The stored Optuna study a sweep adds its trials to: opened (or created) with the sweep's
direction and sampler, and refused in one sentence where it was searched otherwise. Kept
import-light: Hydra imports every plugin module on each start, so optuna is imported here only
when a study is opened."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from stockcast.config.overrides import override_key
from stockcast.errors import ConfigError
from stockcast.redaction import redacted_override

if TYPE_CHECKING:
    import optuna

    from stockcast.orchestration.sweeps.search_space import SearchSpace

log = logging.getLogger(__name__)

SQLITE_PREFIX = "sqlite:///"
# The study's record of the command-line overrides its trials shared (data, experiment, ...).
FIXED_OVERRIDES_ATTR = "fixed_overrides"


def open_study(
    storage: str | None,
    study_name: str | None,
    direction: str,
    sampler_cfg: Any,
    fixed: list[str],
) -> optuna.Study:
    """The study `study_name` in `storage`, created where it is not there yet. One stored with
    another direction, or whose scored trials were run with other fixed overrides (another data
    file or experiment: their scores do not compare; `compared_overrides`), is refused."""
    import optuna

    if storage and storage.startswith(SQLITE_PREFIX):
        folder = Path(storage.removeprefix(SQLITE_PREFIX)).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(
                f"hydra.sweeper.storage {storage} cannot hold a study: its folder {folder} "
                f"cannot be made ({err.strerror.lower()}); give a storage in a writable folder."
            ) from None
    study = optuna.create_study(
        storage=storage, study_name=study_name, direction=direction, load_if_exists=True
    )
    where = f"study {study_name!r} in {storage}"
    if study.direction.name.lower() != direction:
        raise ConfigError(
            f"{where} was created to {study.direction.name.lower()}; use that direction or "
            "another study_name."
        )
    shared = compared_overrides(fixed)
    recorded = study.user_attrs.get(FIXED_OVERRIDES_ATTR)
    # A record written before the unscored keys were left out is read as it would be now.
    recorded = None if recorded is None else compared_overrides(list(recorded))
    if recorded is not None:
        # A record written before the sweep pinned a key holds none for it: its day is unknown.
        unrecorded = {k for k in LATER_PINNED if k not in map(override_key, recorded)}
        shared = [o for o in shared if override_key(o) not in unrecorded]
    scored = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if recorded is None and scored:
        log.warning(
            "%s holds trials from before a study recorded its overrides; this run's are "
            "recorded now, and the earlier trials are taken to share them",
            where,
        )
    if recorded is None or not scored:
        # Until a trial has a score, what the study was run with can still be corrected (a
        # first run whose every trial failed on a misspelt data.path).
        study.set_user_attr(FIXED_OVERRIDES_ATTR, shared)
    elif recorded != shared:
        raise ConfigError(
            f"{where} was searched with the overrides {' '.join(recorded) or '(none)'}, this "
            f"sweep gives {' '.join(shared) or 'none'}: trials on other data or settings do not "
            "compare; give the same overrides to add trials, or a new hydra.sweeper.study_name."
        )
    study.sampler = make_sampler(sampler_cfg, len(study.trials))
    return study


# The day the data is seen from: pinned for every trial of a sweep (`pinned_data_day`).
AS_OF = "data.as_of"
# Keys the sweep pins for every trial where no override gives them (the data's day), which a
# study recorded before then lacks.
LATER_PINNED = (AS_OF,)
# Keys whose overrides change nothing a trial scores: where and how it is logged and shown.
UNSCORED_KEYS = (
    "logger",
    "tags",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.log_every_n_steps",
)


def compared_overrides(fixed: list[str]) -> list[str]:
    """The overrides a study's trials must share, in order: all but those of `UNSCORED_KEYS`
    (a warm start, another store or other data all change the scores)."""

    def scored(override: str) -> bool:
        key = override_key(override)
        return not any(key == k or key.startswith(f"{k}.") for k in UNSCORED_KEYS)

    # Recorded and quoted with a password given on the command line masked.
    return sorted(redacted_override(o) for o in fixed if scored(o))


def make_sampler(sampler_cfg: Any, trials_so_far: int) -> optuna.samplers.BaseSampler:
    """The configured sampler; a set seed is offset by the trials the study already holds."""
    config = OmegaConf.to_container(OmegaConf.create(sampler_cfg), resolve=True)
    assert isinstance(config, dict)
    seed = config.get("seed")
    if seed is not None:
        # Wrapped into numpy's seed range (seed is at most 2**32 - 1 by the config schema).
        config["seed"] = (int(seed) + trials_so_far) % 2**32
    return instantiate(config)


def pinned_data_day(config: DictConfig, space: SearchSpace) -> list[str]:
    """`data.as_of` as the sweep resolves it (today, unless set), where no override gives or
    searches it: every trial then reads the same data even past midnight, and the study
    records the day, so the same command run on a later day (other data, scores that do not
    compare) is refused rather than added to it."""
    given = [override_key(o) for o in space.fixed] + [override_key(k) for k in space.distributions]
    if AS_OF in given:
        return []
    day = OmegaConf.select(config, AS_OF, default=None)
    return [] if day is None else [f"{AS_OF}={day}"]


def day_given_to_trials(config: DictConfig, space: SearchSpace, pinned: list[str]) -> list[str]:
    """`pinned` (`pinned_data_day`) as an override for every trial, unless the search picks a
    config group (`experiment`, `data`): a trial's group may set its own `data.as_of`, which an
    override would replace. Such trials read the sweep's day where they leave it at its default
    (the sweep callback pins it for local jobs); the study still records it."""
    groups = OmegaConf.select(config, "hydra.runtime.choices", default=None) or {}
    return [] if any(override_key(key) in groups for key in space.distributions) else pinned
