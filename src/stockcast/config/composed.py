"""Composing one config many times in a process: each set of config-group choices is composed
once, and the value overrides are applied to a copy.

Hydra reads and merges every config file of the defaults list on each compose (about 0.15 s
here), while the value overrides (`trainer.max_epochs=3`) are applied after that, to the
composed tree. A process that composes many variants of one config (a sweep validating each
trial before it runs, a replay's days, the tests) pays the files once per choice of groups.
"""

from __future__ import annotations

import copy
import os
from functools import partial
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

# Composed configs, with the stamps of the files they were composed from, by config folder,
# config name, the config-group overrides (in their order) and whether the `hydra` node is kept:
# one tree per choice of groups, replaced when a file changes.
_BY_CHOICES: dict[tuple[Any, ...], tuple[tuple[tuple[str, int, int], ...], DictConfig]] = {}


def compose_reusing_choices(
    config_name: str, overrides: list[str], config_dir: Path, return_hydra_config: bool = False
) -> DictConfig:
    """Hydra's `compose(config_name, overrides, return_hydra_config)` inside an initialised
    Hydra, reusing the tree composed for the same config-group choices.

    Overrides are split the way Hydra splits them (a key naming a config group in the search
    path is a choice, any other key a value) and the values applied by Hydra's own function, so
    the result and every refusal are those of a full compose; the `hydra` node records the
    overrides as Hydra records them. What the text of the overrides cannot stand for composes in
    full: overrides of the `hydra` node (they can move the search path), sweeps, and
    interpolations (`model=${oc.env:KIND}` chooses what the environment says at the time).
    """
    from hydra import compose
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import ConfigCompositionException
    from omegaconf.errors import OmegaConfBaseException

    loader = GlobalHydra.instance().config_loader()
    # Hydra's own steps of a compose (1.3); another Hydra composes as it does.
    ensure_source = getattr(loader, "ensure_main_config_source_available", None)
    split = getattr(loader, "_parse_overrides_and_create_caching_repo", None)
    apply_values = getattr(ConfigLoaderImpl, "_apply_overrides_to_config", None)
    in_full = partial(compose, config_name, overrides, return_hydra_config)
    if None in (ensure_source, split, apply_values) or any("${" in o for o in overrides):
        return in_full()
    ensure_source()
    try:
        parsed, repository = split(config_name, overrides)
    except OmegaConfBaseException as err:  # as Hydra's compose wraps it
        raise ConfigCompositionException().with_traceback(err.__traceback__) from err
    if any(o.is_sweep_override() or _names_hydra(o.key_or_group) for o in parsed):
        return in_full()
    # Hydra's rule: a dict value, or a key that names no group, is a value override.
    choices, values = [], []
    for override in parsed:
        chooses = repository.group_exists(override.key_or_group)
        (choices if chooses and not isinstance(override.value(), dict) else values).append(override)
    key = (str(config_dir), config_name, tuple(o.input_line for o in choices), return_hydra_config)
    folders = [
        Path(source.path) for source in repository.get_sources() if source.scheme() == "file"
    ]
    stamps = _stamps(folders)
    kept = _BY_CHOICES.get(key)
    if kept is None or kept[0] != stamps:
        tree = compose(config_name, [o.input_line for o in choices], return_hydra_config)
        kept = _BY_CHOICES[key] = (stamps, tree)
    cfg = copy.deepcopy(kept[1])
    apply_values(values, cfg)
    if return_hydra_config:
        _record_run(cfg.hydra, parsed)
    return cfg


def _names_hydra(key: str) -> bool:
    return key.replace("/", ".").split(".")[0] == "hydra"


def _record_run(node: DictConfig, overrides: list[Any]) -> None:
    """What Hydra's compose writes into the `hydra` node beyond the choices: every override (in
    its order), the folder name made of them, the working folder and the copied environment."""
    from hydra._internal.config_loader_impl import get_overrides_dirname

    node.overrides.task = [o.input_line for o in overrides]
    naming = node.job.config.override_dirname
    node.job.override_dirname = get_overrides_dirname(
        overrides=overrides,
        kv_sep=naming.kv_sep,
        item_sep=naming.item_sep,
        exclude_keys=naming.exclude_keys,
    )
    node.runtime.cwd = os.getcwd()
    with open_dict(node):
        for key in node.job.env_copy:
            node.job.env_set[key] = os.environ[key]


def _stamps(folders: list[Path]) -> tuple[tuple[str, int, int], ...]:
    """Where each config file of the search path's folders is (links followed, as Hydra reads
    through them), its size and modification time: an edited file is read again."""
    files = [
        os.path.join(parent, name)
        for folder in folders
        for parent, _, names in os.walk(folder.absolute(), followlinks=True)
        for name in names
        if name.endswith(".yaml")
    ]
    return tuple(
        (file, stat.st_size, stat.st_mtime_ns) for file in sorted(files) for stat in [os.stat(file)]
    )
