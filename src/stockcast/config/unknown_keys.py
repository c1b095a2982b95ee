"""What a key the composed config lacks was meant to be: a misspelt setting, a position of a
list, a misspelt config group, a new entry of a section whose entries the user names, which
needs a '+', or a section the command reads in its place (predict's input for data). Asked by
`refused_keys` once Hydra has refused the key, by `deletion_mistakes` for a `~key` that deletes
nothing, by `unnamed_keys` once the schema has found one no section reads, and by
`composition_errors` for a config group the config does not compose."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stockcast.config.experiment_models import experiment_model_instead
from stockcast.config.mistakes import (
    MOVED_KEYS,
    listed,
    nearest,
    unknown_key,
    unknown_position,
)
from stockcast.config.named_entries import named_section
from stockcast.config.overrides import override_key, override_value
from stockcast.config.schemas import SCHEMAS
from stockcast.fields import config_fields, model_of
from stockcast.paths import config_folders, config_group_options, is_config_group

# The section a config reads in place of a config group it does not compose: predict forecasts
# the series its input names (input=csv input.path=...), not the training data.
READ_INSTEAD = {"predict": {"data": "input"}}
# Composes a config by name with overrides, raising Hydra's own errors.
Composer = Callable[[str, Sequence[str]], Any]


def unknown_key_sentence(
    key: str,
    config_name: str,
    overrides: Sequence[str],
    compose: Composer,
    config_dirs: Sequence[str | Path] = (),
) -> str | None:
    """One sentence for the override of `key` the composed config has no place for, or None
    where the config cannot say what is beside it. `config_dirs`: the `--config-dir` folders
    searched besides configs/, whose groups a top-level typo may mean too."""
    given_key = key
    checked = checked_against_the_model(key, config_name)
    if checked is not None:
        return checked
    found = names_beside(key, config_name, overrides, compose)
    if found is None or not found[1]:
        return None
    key, names, positions = found
    if positions:
        return unknown_position(key, len(names), f"the {config_name} config")
    added = _new_entry(key, names, overrides) or _unset_argument(key, names, config_name, overrides)
    if added is not None:
        return added
    elsewhere = read_instead(given_key, key, names, config_name, overrides, config_dirs)
    if elsewhere is not None:
        return elsewhere
    group = group_meant(key, names, config_dirs)
    # A misspelt group that puts its settings at the top level (experiment, hparams_search,
    # debug) is no key of the composed config: offer it where it is near.
    return unknown_key(key, [group] if group else names, f"the {config_name} config")


def _new_entry(key: str, names: Sequence[str], overrides: Sequence[str]) -> str | None:
    """`azureml.environments.steps.train.conda_file=...` without its '+': a new entry of a
    section whose entries the user names, where no entry it holds is near (a near one is a
    typo of it). "Remove it" was the advice."""
    section = named_section(key)
    if section is None or nearest(key.rpartition(".")[2], names) is not None:
        return None
    given = next((o for o in overrides if override_key(o).startswith(f"{key}.")), None)
    given = given or next((o for o in overrides if override_key(o) == key), key)
    return (
        f"{key} is no entry of {section} yet (it holds {listed(sorted(names), 'and')}); add one "
        f"with a '+': +{given.lstrip('+')}."
    )


def _unset_argument(
    key: str, names: Sequence[str], config_name: str, overrides: Sequence[str]
) -> str | None:
    """`trainer.precision=bf16-mixed` without its '+': an argument of the object a section
    builds (the Lightning Trainer, a callback, a logger) that its config file leaves unset, which
    Hydra adds only with a '+' (the README's `+trainer.precision=bf16-mixed`). "Remove it" was
    the advice; a near misspelling of one is offered with its '+' where no set key is nearer."""
    if key in MOVED_KEYS:  # set elsewhere now: unknown_key says where
        return None
    section, _, name = key.rpartition(".")
    arguments = built_arguments(config_name, section)
    if name in arguments:
        meant = name
    elif nearest(name, names) is None:
        meant = nearest(name, sorted(arguments))
    else:
        meant = None
    if meant is None:
        return None
    given = next((o for o in overrides if override_key(o) == key), None)
    added = f"+{section}.{meant}={override_value(given) if given else '...'}"
    if meant == name:
        return (
            f"{key} is an argument the {config_name} config leaves unset; add it with a '+': "
            f"{added}."
        )
    return f"{key} is not a setting of the {config_name} config; did you mean {added}?"


def built_arguments(config_name: str, section: str) -> frozenset[str]:
    """The arguments of the object `section` builds (a `_target_`) that its schema accepts
    beyond the keys it judges: empty where the section builds nothing."""
    held = next((schema for _, schema, name in SCHEMAS if name == config_name), None)
    for part in section.split(".") if section else []:
        fields = config_fields(held) if held is not None else {}
        held = model_of(fields[part].annotation) if part in fields else None
    if held is None or "_target_" not in getattr(held, "unjudged", ()):
        return frozenset()
    return held.unjudged - {"_target_"}


def checked_against_the_model(key: str, config_name: str) -> str | None:
    """One sentence for a window size under a section (`data.previous_time_window=auto`) given
    to a config that takes it from the registered model, whose top-level key of that name only
    checks it (`checks_the_model`): that key's description; None for any other key. "No input
    config has a previous_time_window; remove it" did not say the window is the model's."""
    section, _, name = key.rpartition(".")
    schema = next((schema for _, schema, known in SCHEMAS if known == config_name), None)
    if not section or name not in getattr(schema, "checks_the_model", ()):
        return None
    description = config_fields(schema)[name].description
    return (
        f"{key} is not a setting of the {config_name} config; {name} is, and it must be "
        f"{description}."
    )


def read_instead(
    key: str,
    top: str,
    names: Sequence[str],
    config_name: str,
    overrides: Sequence[str],
    config_dirs: Sequence[str | Path] = (),
) -> str | None:
    """One sentence for `key` under a config group the config does not compose (`top`: the
    train config's `data` given to predict), naming the section it reads in that one's place
    (READ_INSTEAD) and the option of it that holds the same name; None for any other key.
    "Did you mean data?" named the very group that was refused."""
    if "." in top or top in names or not is_config_group(top, config_dirs):
        return None
    where = f"the {config_name} config"
    instead = READ_INSTEAD.get(config_name, {}).get(top)
    if instead is None:
        holds = listed(sorted(names), "and")
        return (
            f"{key} is not a setting of {where}, which composes no {top} config; remove it "
            f"(its top level holds {holds})."
        )
    name = key.rpartition(".")[2]
    options = config_group_options(instead, config_dirs)
    holding = [o for o in options if name in _option_keys(instead, o, config_dirs)]
    lead = f"{key} is not a setting of {where}, which reads its series from {instead}, not {top}"
    if name == key:
        return f"{lead}; remove it."
    if not holding:
        return f"{lead}, and no {instead} config has a {name}; remove it."
    given = next((o for o in overrides if override_key(o) == key), None)
    value = override_value(given) if given else "..."
    chosen = next((override_value(o) for o in overrides if override_key(o) == instead), None)
    choice = "" if chosen in holding else f"{instead}={holding[0]} "
    return f"{lead}; did you mean {choice}{instead}.{name}={value}?"


def group_read_instead(
    group: str, chosen: str, config_name: str, config_dirs: Sequence[str | Path] = ()
) -> str | None:
    """One sentence for `+data=csv` given to a config that reads another section in that
    group's place (READ_INSTEAD), naming the option of it to choose; None for any other."""
    instead = READ_INSTEAD.get(config_name, {}).get(group)
    if instead is None:
        return None
    options = config_group_options(instead, config_dirs)
    pick = f"{instead}={chosen}" if chosen in options else f"one of {instead}={listed(options)}"
    return (
        f"{group}={chosen} chooses a config the {config_name} config does not read: it reads its "
        f"series from {instead}, not {group}; choose {pick} instead."
    )


def group_not_read(
    group: str, chosen: str, config_name: str, config_dirs: Sequence[str | Path] = ()
) -> str:
    """One sentence for a config group the config does not compose, chosen all the same
    (`data=csv` or `+data=csv` given to serve): the section it reads in that one's place
    (`group_read_instead`), the model an experiment registered where the config opens one
    (`experiment_model_instead`), else that it composes no such group."""
    return (
        group_read_instead(group, chosen, config_name, config_dirs)
        or experiment_model_instead(group, chosen, config_name, config_dirs)
        or (
            f"{group}={chosen} chooses a config the {config_name} config does not read: it composes "
            f"no {group} config; remove it."
        )
    )


def _option_keys(group: str, option: str, config_dirs: Sequence[str | Path]) -> frozenset[str]:
    """The top-level keys of a config group's option file (the first folder holding it)."""
    from omegaconf import DictConfig, OmegaConf

    for folder in config_folders(config_dirs):
        path = folder / group / f"{option}.yaml"
        if path.is_file():
            loaded = OmegaConf.load(path)
            return (
                frozenset(str(k) for k in loaded) if isinstance(loaded, DictConfig) else frozenset()
            )
    return frozenset()


def group_meant(key: str, names: Sequence[str], config_dirs: Sequence[str | Path]) -> str | None:
    """The config group (of configs/ or a `--config-dir` folder) a top-level `key` nothing
    holds is a typo of, where no setting is nearer: Hydra refuses `experimen=x`, and the
    schema `+experimen=x`, which composes."""
    if "." in key or nearest(key, names) is not None:
        return None
    folders = [f for f in config_folders(config_dirs) if f.is_dir()]
    groups = [p.name for f in folders for p in f.iterdir() if is_config_group(p.name, [f])]
    return nearest(key, sorted(set(groups) - set(names)))


def names_beside(
    key: str, config_name: str, overrides: Sequence[str], compose: Composer
) -> tuple[str, list[str], bool] | None:
    """(the first part of `key` the config lacks, the names beside it, whether they are a list's
    positions), composing the config with the other overrides (they may choose the groups that
    hold the key), or with none."""
    from omegaconf import DictConfig, ListConfig

    others = [o for o in overrides if override_key(o) != key]
    # The others may be as broken as this one (a search's keys on another model kind): then
    # with the groups they choose alone (`experiment=auto`), then with none.
    choices = [o for o in others if "." not in override_key(o)]
    for attempt in (others, choices, []):
        try:
            node: Any = compose(config_name, attempt)
            break
        except Exception:  # the other overrides may be as broken as this one
            continue
    else:
        return None
    parts = key.split(".")
    for depth, part in enumerate(parts):
        if isinstance(node, ListConfig):
            if not (part.isdigit() and int(part) < len(node)):
                return ".".join(parts[: depth + 1]), [str(i) for i in range(len(node))], True
            node = node._get_node(int(part))
            continue
        if not isinstance(node, DictConfig) or part not in node:
            names = list(node) if isinstance(node, DictConfig) else []
            return ".".join(parts[: depth + 1]), [str(name) for name in names], False
        node = node._get_node(part)
    return None
