"""The one sentence for a sweep trial whose overrides do not compose: its keys come from the
search space, not from what the user typed."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from stockcast.errors import ConfigError, first_line
from stockcast.paths import config_group_options

# The config group of search spaces, one per model kind it was made for.
SEARCH_GROUP = "hparams_search"


def trial_refusal(
    config: DictConfig, err: BaseException, first: int, batch: list[tuple[str, ...]]
) -> ConfigError | None:
    """One sentence for a trial whose overrides do not compose: the search space names a key
    this run's config lacks (hparams_search=mlp_optuna's model.hidden_sizes on another model
    kind), which the user did not type. The batch's trials are composed again one by one to
    name the one that fails. None for any other error."""
    # Imported here, as optuna is: Hydra imports every plugin module on each start, and
    # only a failed launch needs these.
    from hydra.errors import ConfigCompositionException

    from stockcast.config.composition_errors import composition_error
    from stockcast.config.hydra_compose import searching
    from stockcast.config.mistakes import listed
    from stockcast.config.search_path import searched_folders

    if not isinstance(err, ConfigCompositionException):
        return None
    config_name = str(OmegaConf.select(config, "hydra.job.config_name") or "train")
    # The sweep's --config-dir and hydra.searchpath folders: its trials compose from them.
    folders = searched_folders(config.hydra)
    compose = searching(folders)
    for number, overrides in enumerate(batch, first):
        try:
            compose(config_name, list(overrides))
        except Exception as failed:  # whatever composing this trial raises: it is the one
            sentence = composition_error(failed, config_name, list(overrides), "", folders)
            sentence = sentence or first_line(failed)
            searches = config_group_options(SEARCH_GROUP, folders)
            return ConfigError(
                f"Optuna trial {number} ({' '.join(overrides)}) does not compose "
                f"({sentence.rstrip('.')}): its keys come from the search space "
                "(hydra.sweeper.params), so choose the hparams_search made for this run's "
                f"model (one of {listed(searches)}) or search keys its config has."
            )
    return None
