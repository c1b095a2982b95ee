"""A key of the composed config its schema does not name, as one sentence: another model
kind's setting (saying whose it is), or a key no section reads (with the nearest name, the
section that holds one of that name, or the config group it belongs to). `schema.py` asks here
once the values are valid, so each section a key names is there and of its type; a config group
the config does not compose, added with a '+' (`+data=gbm` given to predict), is asked first."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from stockcast.config.data_schema import DATA_SOURCES
from stockcast.config.hydra_compose import searching
from stockcast.config.mistakes import settings_under_group, unknown_key
from stockcast.config.overrides import as_typed, override_key, override_value
from stockcast.config.schemas import SCHEMAS
from stockcast.config.search_path import searched_folders
from stockcast.config.unknown_keys import (
    checked_against_the_model,
    group_meant,
    group_not_read,
    read_instead,
)
from stockcast.errors import ConfigError
from stockcast.fields import Section, config_fields, model_of
from stockcast.models.kind import builtin_kinds, model_kind
from stockcast.paths import CONFIG_DIR, is_config_group


def refuse_another_kinds_key(schema: type[Section], cfg: DictConfig) -> None:
    """A model key another kind has (an experiment's `model.hidden_sizes` under `model=theta`):
    one sentence saying whose key it is, not "remove it" of a key the user never wrote."""
    if "model" not in schema.model_fields or not isinstance(cfg.get("model"), DictConfig):
        return
    held = model_of(schema.model_fields["model"].annotation)
    if held is None:
        return
    known = set(config_fields(held)) | held.unjudged
    kind = str(cfg.model.get("kind"))
    for name in cfg.model:
        if name in known:
            continue
        owners = [
            other
            for other in builtin_kinds()
            if other != kind and name in config_fields(model_kind(other).settings)
        ]
        chosen = chosen_config(cfg, "model")
        if chosen in owners:
            # A kind outside the package is chosen by its config file's name, not its module's.
            own = (
                f"model={kind}"
                if "." not in kind
                else "model=<name> (its model/<name>.yaml, found with hydra.searchpath)"
            )
            raise ConfigError(
                f"model.kind={kind} keeps the settings of the model={chosen} config "
                f"(model.{name}, which {kind} does not have); choose the kind's own config "
                f"with {own} instead of setting model.kind."
            )
        if owners:
            experiment = chosen_config(cfg, "experiment")
            source = f" (experiment={experiment} sets it)" if experiment else ""
            config = chosen if chosen and "." in kind else kind
            raise ConfigError(
                f"model.{name} is a setting of model={owners[0]}, not of model={config}{source}; "
                f"drop model={config}, or train it without that setting (another experiment, or "
                "none)."
            )


def chosen_config(cfg: DictConfig, group: str) -> str | None:
    """The config chosen for `group`: from the composed config where it keeps Hydra's node
    (the compose API's), else from the running Hydra app (a command line's config has none)."""
    chosen = OmegaConf.select(cfg, f"hydra.runtime.choices.{group}")
    if chosen is None and HydraConfig.initialized():
        chosen = HydraConfig.get().runtime.choices.get(group)
    return chosen


def refuse_a_group_not_composed(
    base: type[Section], cfg: DictConfig, sections: frozenset[str] = frozenset()
) -> None:
    """`+data=gbm` given to serve, or `+input=csv` to train: a group of configs/ the command's
    config does not compose, added all the same. Its settings land under a section the config
    reads in another way, or not at all ("data.seed cannot be resolved", "add '# @package
    _global_'"): one sentence (`group_not_read`) before any value is judged, for every command
    alike. A group the schema takes whole when added (`+azureml=default`, a step's own section)
    is left alone, and so is one of a folder of one's own (its file may lack its header)."""
    name, given = config_name_and_overrides(cfg)
    added = [
        (override_key(o), override_value(o))
        for o in given
        if o.startswith("+") and "=" in o and is_config_group(override_key(o))
    ]
    if not added or name is None:
        return
    schema = next((schema for _, schema, known in SCHEMAS if known == name), base)
    taken = schema.unjudged | sections
    composed = _groups_composed(name)
    for group, chosen in added:
        if composed is not None and group not in composed | taken:
            raise ConfigError(group_not_read(group, chosen, name, _searched_folders()))


def config_name_and_overrides(cfg: DictConfig | Mapping[str, Any]) -> tuple[str | None, list[str]]:
    """The name of the config composed and the command's overrides, as typed: from the composed
    config where it keeps Hydra's node (the compose API's), else from the running Hydra app."""
    held = cfg.get("hydra") if isinstance(cfg.get("hydra"), DictConfig) else None
    if held is None and HydraConfig.initialized():
        held = HydraConfig.get()
    if held is None:
        return None, []
    name = OmegaConf.select(held, "job.config_name", default=None)
    return (str(name) if name else None), as_typed(OmegaConf.select(held, "overrides.task"))


def _groups_composed(config_name: str) -> frozenset[str] | None:
    """The config groups `config_name`'s own defaults list chooses (null ones too), composed
    without the command's overrides; None where it cannot be composed alone."""
    return _groups_composed_in(config_name, tuple(_searched_folders()))


@functools.lru_cache(maxsize=16)
def _groups_composed_in(config_name: str, folders: tuple[str, ...]) -> frozenset[str] | None:
    """`_groups_composed` with `folders` searched, once per process: each step a pipeline or a
    replay validates in its process asks again, with the same name and command line."""
    try:
        cfg = searching(list(folders))(config_name, [], CONFIG_DIR, True)
    except Exception:  # the schema judges what this check cannot compose
        return None
    return frozenset(str(group) for group in cfg.hydra.runtime.choices)


def refuse_unknown_key(
    base: type[Section],
    model: type[Section],
    node: DictConfig,
    prefix: str,
    extra: frozenset[str] = frozenset(),
) -> None:
    """One sentence for the first key under `node` that `model` does not name, naming the
    config (`base`'s: train, pipeline, ...) it is not a setting of."""
    found = _unknown_key(model, node, prefix, extra)
    if found is not None:
        name = next(name for _, schema, name in SCHEMAS if schema is base)
        checked = checked_against_the_model(_first_setting(node, found[0]), name)
        if checked is not None:
            # `+data.previous_time_window=auto` given to predict, which takes the model's.
            raise ConfigError(checked)
        chosen = chosen_config(node, found[0]) if not prefix else None
        folders = _searched_folders()
        instead = _read_instead(node, found, name, folders) if not (prefix or chosen) else None
        if instead is not None:
            # `+data.path=x` given to predict, which composes no data config.
            raise ConfigError(instead)
        if not prefix and (chosen or is_config_group(found[0], folders)):
            # A config group's name at the top level: its file's settings landed under it.
            raise ConfigError(settings_under_group(found[0], chosen))
        key, names, held = found
        group = group_meant(key, names, folders) if not prefix else None
        # `+experimen=mlp_w10` composes: a misspelt group added with a '+' is told the group.
        raise ConfigError(
            unknown_key(
                key,
                [group] if group else names,
                f"the {name} config",
                _same_name_elsewhere(node, prefix, key),
                None if group else held,
            )
        )


def _read_instead(
    node: DictConfig, found: tuple[str, list[str], list[str]], config_name: str, folders: list[str]
) -> str | None:
    """`read_instead`'s sentence for the first setting under the top-level key `found` names,
    where that key is a config group the config does not compose: the section it reads in that
    group's place (READ_INSTEAD), else that it composes none (`+input.path=x` given to train),
    as Hydra's refusal of the same key without the '+' says."""
    top, _, held_names = found
    key = _first_setting(node, top)
    if not is_config_group(top, folders) or key == top:
        return None
    given = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    return read_instead(key, top, held_names, config_name, given, folders)


def _first_setting(node: DictConfig, key: str) -> str:
    """The first setting under the top-level `key` of `node` where it holds a section
    (`+data.path=x` adds `data` to predict's config), else `key` itself."""
    held = node.get(key) if "." not in key else None
    return f"{key}.{next(iter(held))}" if isinstance(held, DictConfig) and held else key


def _searched_folders() -> list[str]:
    """The folders besides configs/ the running Hydra app searched (`--config-dir`,
    `hydra.searchpath`), whose groups a top-level key may name; none outside an app."""
    return searched_folders(HydraConfig.get()) if HydraConfig.initialized() else []


def _same_name_elsewhere(node: DictConfig, prefix: str, key: str) -> list[str]:
    """The keys named like `key`'s last part elsewhere in the config (`node`, at `prefix`): a
    setting given in the wrong section. A top-level setting of that name first (trainer.seed
    is the top-level seed, not data.seed, which follows it), else those of the other sections."""
    section, _, rest = key.removeprefix(prefix).partition(".")
    name = key.rpartition(".")[2]
    if rest and name in node and not isinstance(node[name], DictConfig):
        return [f"{prefix}{name}"]
    return [
        f"{prefix}{other}.{name}"
        for other in node
        if other not in (section, "hydra")
        and isinstance(node[other], DictConfig)
        and name in node[other]
    ]


def _unknown_key(
    model: type[Section], node: DictConfig, prefix: str, extra: frozenset[str] = frozenset()
) -> tuple[str, list[str], list[str]] | None:
    """The first key under `node` that `model` (or the section it holds) does not name, with the
    names accepted beside it and those of them the config holds there, as Hydra's refusal lists
    them (not `hydra`, nor a section or argument the schema takes only when added); None when
    every key is known. Runs after validation, so each section a key names is there and of its
    type."""
    fields = config_fields(model)
    known = set(fields) | model.unjudged | extra
    if model.targets:
        known |= {name for name in node if _is_target(node, name)}
    for name in node:
        if name not in known:
            holds = [other for other in sorted(known) if other in node and other != "hydra"]
            return f"{prefix}{name}", sorted(known), holds
        held = model_of(fields[name].annotation) if name in fields else None
        value = node[name] if held is not None else None
        if name == "data" and isinstance(value, DictConfig):
            held = DATA_SOURCES[str(value.source)]
        if held is not None and isinstance(value, DictConfig):
            found = _unknown_key(held, value, f"{prefix}{name}.")
            if found is not None:
                return found
    return None


def _is_target(node: DictConfig, name: str) -> bool:
    """An object Hydra builds (a mapping with a `_target_`), or one switched off (null)."""
    value = node[name]
    return value is None or (isinstance(value, DictConfig) and "_target_" in value)
