"""The resolvers every config uses (`${stockcast_root:}`, `${stockcast_env:NAME,default}`, ...):
below composing, so whatever composes a config (and whatever reports why it did not) registers
them without importing the rest of `compose`.

Nothing happens on import: entry points call `register_resolvers()` (or `compose_config`, which
does) before any config that uses `${stockcast_root:}` is composed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from stockcast.config.help_groups import config_groups_help
from stockcast.data.calendar import default_day
from stockcast.paths import CONFIG_DIR, PROJECT_ROOT
from stockcast.registry.run_names import run_name


def project_root() -> str:
    """The folder holding configs/: logs, the local MLflow store and data default to it."""
    return str(PROJECT_ROOT if CONFIG_DIR.is_dir() else Path(os.getcwd()))


def file_or_null(path: str) -> str | None:
    """`path` when a file is there, else None: a default that points at a file `make` creates
    (the local signing keys) and means "not set up" until it exists."""
    return path if Path(path).is_file() else None


# `${stockcast_env:NAME}` without a default: the variable must be set.
REQUIRED = object()


def env_or_default(name: str, default: Any = REQUIRED) -> Any:
    """The environment variable `name`, or `default` where it is unset or empty, as `make` and
    the shell's `${NAME:-default}` read it (`oc.env` takes an exported empty value as set: an
    empty STOCKCAST_ROOT meant the current folder, and an empty STOCKCAST_KEYS_DIR no keys).
    Without a default, an unset or empty variable is refused as `oc.env` refuses an unset one."""
    value = os.environ.get(name)
    if value:
        return value
    if default is REQUIRED:
        raise ValueError(f"Environment variable '{name}' not found")
    return default


def register_resolvers() -> None:
    """Make `${stockcast_root:}`, `${stockcast_today:}` (the default `data.as_of`,
    `default_day`), `${stockcast_file:<path>}`, `${stockcast_absolute:<path>}` (a relative path
    read from the current folder, once: every path built on it then means one place, whichever
    code joins it to what), `${stockcast_env:NAME,default}`, `${stockcast_run_name:<parts>}`
    (`run_name`) and `${stockcast_config_groups:<groups>}` (`--help`'s list) available; safe to
    call any number of times."""

    if not OmegaConf.has_resolver("stockcast_root"):
        OmegaConf.register_new_resolver("stockcast_root", project_root)
    if not OmegaConf.has_resolver("stockcast_absolute"):
        OmegaConf.register_new_resolver("stockcast_absolute", os.path.abspath)
    if not OmegaConf.has_resolver("stockcast_today"):
        OmegaConf.register_new_resolver("stockcast_today", default_day)
    if not OmegaConf.has_resolver("stockcast_file"):
        OmegaConf.register_new_resolver("stockcast_file", file_or_null)
    if not OmegaConf.has_resolver("stockcast_env"):
        OmegaConf.register_new_resolver("stockcast_env", env_or_default)
    if not OmegaConf.has_resolver("stockcast_run_name"):
        OmegaConf.register_new_resolver("stockcast_run_name", run_name)
    if not OmegaConf.has_resolver("stockcast_config_groups"):
        OmegaConf.register_new_resolver("stockcast_config_groups", config_groups_help)
