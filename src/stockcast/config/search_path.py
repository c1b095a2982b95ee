"""The config folders a command searched besides configs/: `--config-dir` and `hydra.searchpath`.

Hydra gives those folders to the command they were typed on, and to nothing it starts: a
pipeline step, a sweep's trial composed again to explain a mistake, the schema naming a group a
typo meant. Each of those reads the folders here, so all of them find the configs (an experiment
or a model kind of one's own) the command found.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from stockcast.config.overrides import hydra_quoted, override_key
from stockcast.paths import CONFIG_DIR

# Hydra's name for the folders `--config-dir` (`-cd`) adds to the config search path.
CONFIG_DIR_PROVIDER = "command-line"
# How Hydra records the folder the primary config came from.
MAIN_CONFIG_SOURCE = "main"
FOLDER_SOURCE = "file"
# The override that adds folders to Hydra's config search path.
SEARCHPATH_KEY = "hydra.searchpath"
# The scheme of a search path entry that is a folder (others name a package: `pkg://`).
FOLDER_SCHEME = "file://"


def searchpath_override(entries: Sequence[str]) -> str:
    """`hydra.searchpath=[...]` searching `entries` (`file://<folder>`) in order, each quoted."""
    return f"{SEARCHPATH_KEY}=[{','.join(hydra_quoted(str(entry)) for entry in entries)}]"


def searchpath_entries(overrides: Sequence[str]) -> list[str]:
    """The entries the last `hydra.searchpath=[...]` of `overrides` gives (Hydra keeps the last);
    raises Hydra's own error where that override cannot be read."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    given = [o for o in overrides if override_key(o) == SEARCHPATH_KEY]
    if not given:
        return []
    return [str(entry) for entry in OverridesParser.create().parse_override(given[-1]).value()]


def searchpath_folders(overrides: Sequence[str]) -> list[str]:
    """The folders a `hydra.searchpath=[file://...]` override adds: the configs in them are the
    command's own, as a `--config-dir` folder's are. None where the override cannot be read:
    that mistake is reported instead."""
    try:
        entries = searchpath_entries(overrides)
    except Exception:  # whatever Hydra's parser raises on it
        return []
    return [e.removeprefix(FOLDER_SCHEME) for e in entries if e.startswith(FOLDER_SCHEME)]


def config_dir_folders(hydra_cfg: Any) -> list[str]:
    """The `--config-dir` folders the running command searched (Hydra's own config of it)."""
    sources = OmegaConf.select(hydra_cfg, "runtime.config_sources", default=None) or []
    return [str(s.path) for s in sources if s.provider == CONFIG_DIR_PROVIDER]


def main_config_dir(hydra_cfg: Any) -> Path:
    """The folder the running command's primary config came from (`--config-path`), else
    configs/."""
    sources = OmegaConf.select(hydra_cfg, "runtime.config_sources", default=None) or []
    for source in sources:
        if source.provider == MAIN_CONFIG_SOURCE and source.schema == FOLDER_SOURCE:
            return Path(source.path)
    return CONFIG_DIR


def searched_entries(hydra_cfg: Any) -> list[str]:
    """What the running command searched besides configs/, in Hydra's order: its `--config-dir`
    folders (`file://<folder>`), then its `hydra.searchpath`. Empty where it searched only
    configs/."""
    folders = [f"{FOLDER_SCHEME}{folder}" for folder in config_dir_folders(hydra_cfg)]
    searchpath = OmegaConf.select(hydra_cfg, "searchpath", default=None) or []
    return [*folders, *(str(entry) for entry in searchpath)]


def searched_folders(hydra_cfg: Any) -> list[str]:
    """The folders among `searched_entries`: those whose groups and options a mistake may mean."""
    entries = searched_entries(hydra_cfg)
    return [e.removeprefix(FOLDER_SCHEME) for e in entries if e.startswith(FOLDER_SCHEME)]
