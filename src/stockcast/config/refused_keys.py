"""An override naming a key Hydra could not set, as one sentence: a typed setting given a value
of another type, a key of Hydra's own it lacks, a key the config lacks (with the names beside
it, or the data source whose own config holds it), a list walked into by a name, or named
settings given for a list and the other way round."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from stockcast.config.mistakes import listed, source_apart_from_its_config, unknown_position
from stockcast.config.overrides import override_key, override_value
from stockcast.config.unknown_keys import Composer, names_beside, unknown_key_sentence
from stockcast.errors import first_line
from stockcast.paths import config_folders

# Overrides of Hydra's own config (its launcher's and sweeper's settings among them).
HYDRA_PREFIX = "hydra."


def key_lacked(
    err: BaseException,
    reason: str,
    config_name: str,
    overrides: Sequence[str],
    compose: Composer,
    config_dirs: Sequence[str | Path],
) -> str | None:
    """An override Hydra could not set, from its first line `reason`: a typed setting given a
    value of another type, a key of Hydra's own it lacks, a key the config lacks (a list
    position too: `model.candidates.7.x=1`) or one of another shape; None for any other error,
    or where none of those can be told."""
    from omegaconf.errors import OmegaConfBaseException, ValidationError

    missing = re.match(r"Could not override '([^']+)'", reason) or re.match(
        r"Error merging override ([^=\s]+)=", reason
    )
    if missing is None:
        return None
    key = override_key(missing.group(1))
    if isinstance(err.__cause__, ValidationError):
        # A typed setting (Hydra's and its plugins': hydra.sweeper.n_trials) given a value of
        # another type: the key is there, so its names are no help.
        why = first_line(err.__cause__, ".")
        return f"{key} cannot take that value ({why}); give a value of its type."
    if key.startswith(HYDRA_PREFIX):
        # Hydra's own config is composed apart from the task's: its names are not beside it.
        section = key.rpartition(".")[0]
        return (
            f"{key} is not one of Hydra's settings here; the command without it, given "
            f"--cfg hydra --package {section}, lists those of {section}."
        )
    if isinstance(err.__cause__, OmegaConfBaseException):
        source = _source_set_apart(key, overrides, config_dirs)
        if source is not None:
            return source_apart_from_its_config(source, None)
        # `+model.x=1` names the key model.x (Hydra's merge message keeps the prefix).
        unknown = unknown_key_sentence(key, config_name, overrides, compose, config_dirs)
        if unknown is not None:
            return unknown
    if "Cannot merge DictConfig with ListConfig" in str(err.__cause__):
        return _other_shape(key, config_name, overrides, compose)
    return None


def _source_set_apart(
    key: str, overrides: Sequence[str], config_dirs: Sequence[str | Path]
) -> str | None:
    """The data source a `data.source=<name>` override names where the config lacks `key`, a
    setting of that source's own config (`data.source=csv data.path=prices.csv`; the config
    read where Hydra would find it, configs/ or a `--config-dir` folder), or None (a misspelt
    key is no setting of it)."""
    import yaml

    section, _, name = key.partition(".")
    given = [override_value(o) for o in overrides if o.startswith("data.source=")]
    if section != "data" or not given:
        return None
    files = [f / "data" / f"{given[-1]}.yaml" for f in config_folders(config_dirs)]
    config = next((file for file in files if file.is_file()), None)
    settings = yaml.safe_load(config.read_text()) if config is not None else None
    held = isinstance(settings, dict) and name.partition(".")[0] in settings
    return given[-1] if held else None


def _other_shape(
    key: str, config_name: str, overrides: Sequence[str], compose: Composer
) -> str | None:
    """`data.split=[0.8,0.1,0.1]`: a list given for named settings, or named settings for a
    list; None where the config without the override cannot be composed to tell which."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    others = [o for o in overrides if override_key(o) != key]
    try:
        held = OmegaConf.select(compose(config_name, others), key)
    except Exception:  # the other overrides may be as broken as this one
        return None
    if isinstance(held, DictConfig) and len(held):
        first = str(next(iter(held)))
        names = listed([str(name) for name in held], "and")
        return (
            f"{key} holds named settings ({names}), not a list: set each by its name, e.g. "
            f"{key}.{first}={held[first]}."
        )
    if isinstance(held, ListConfig):
        return f"{key} is a list: give its values in brackets ({key}=[...]), not named settings."
    return None


def list_position_in_words(
    config_name: str, overrides: Sequence[str], compose: Composer
) -> str | None:
    """`model.candidates.x.window=3`: the first override whose key walks into a list by a name."""
    for override in overrides:
        key = override_key(override)
        found = names_beside(key, config_name, overrides, compose)
        if found is not None and found[2]:
            return unknown_position(found[0], len(found[1]), f"the {config_name} config")
    return None
