"""Composing a config with Hydra's own exceptions, from configs/ or a command's own folders.

Below `compose_config` and `composition_errors` both: the one composes through it and turns its
exceptions into sentences, the other composes again through it to say what a mistake meant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from stockcast.config.composed import compose_reusing_choices
from stockcast.config.overrides import override_key
from stockcast.config.resolvers import register_resolvers
from stockcast.config.search_path import (
    FOLDER_SCHEME,
    SEARCHPATH_KEY,
    searchpath_entries,
    searchpath_override,
)
from stockcast.paths import CONFIG_DIR


def compose_raw(
    config_name: str,
    overrides: Sequence[str] = (),
    config_dir: str | Path = CONFIG_DIR,
    return_hydra_config: bool = False,
) -> DictConfig:
    """`compose_config` with Hydra's own exceptions, also inside a running Hydra app."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_resolvers()
    # Composing inside a running Hydra app (the in-process runner) needs its own instance.
    saved = GlobalHydra.instance().hydra if GlobalHydra.instance().is_initialized() else None
    if saved is not None:
        GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            return compose_reusing_choices(
                config_name, list(overrides), Path(config_dir), return_hydra_config
            )
    finally:
        if saved is not None:
            GlobalHydra.instance().initialize(saved)


def searching(folders: Sequence[str | Path]) -> Callable[..., DictConfig]:
    """`compose_raw` that also searches `folders` (a command's `--config-dir`, which Hydra gives
    to that command's own composition only), ahead of a `hydra.searchpath` the overrides give:
    composing again to say what a mistake meant then finds the configs the command found (an
    experiment or model kind of one's own) instead of failing on them or judging another."""
    if not folders:
        return compose_raw

    def compose(config_name: str, overrides: Sequence[str] = (), *args: Any) -> DictConfig:
        entries = [*(f"{FOLDER_SCHEME}{folder}" for folder in folders)]
        entries += searchpath_entries(overrides)
        others = [o for o in overrides if override_key(o) != SEARCHPATH_KEY]
        return compose_raw(config_name, [searchpath_override(entries), *others], *args)

    return compose
