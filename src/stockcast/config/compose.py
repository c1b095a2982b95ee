"""Hydra/OmegaConf glue shared by every entry point: composing a config with a mistake as one
sentence (Hydra's own compose is `hydra_compose`), the overrides that keep a run's MLflow store
in a folder of its own, and a config as plain values.

Nothing happens on import: entry points call `resolvers.register_resolvers()` (or
`compose_config`, which does) before any config that uses `${stockcast_root:}` is composed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from stockcast.config.composition_errors import composition_error
from stockcast.config.hydra_compose import compose_raw
from stockcast.config.overrides import hydra_quoted
from stockcast.errors import ConfigError, first_line
from stockcast.paths import CONFIG_DIR

# The database file of a local store, in its folder.
LOCAL_STORE_DB = "mlruns.db"


def local_store_uri(folder: str | Path) -> str:
    """The tracking URI of the local store in `folder`."""
    return f"sqlite:///{folder}/{LOCAL_STORE_DB}"


def local_store_overrides(folder: str | Path) -> list[str]:
    """Hydra overrides that keep a run's logs and its MLflow store inside `folder`, leaving the
    project's own store alone (tests, benchmarks, throwaway runs); artifacts go beside the store
    (`registry.artifact_location`). Quoted, so any folder name is read as written."""
    return [
        f"paths.log_dir={hydra_quoted(f'{folder}/logs')}",
        f"registry.tracking_uri={hydra_quoted(local_store_uri(folder))}",
    ]


def compose_config(
    config_name: str,
    overrides: Sequence[str] = (),
    *,
    config_dir: str | Path = CONFIG_DIR,
    return_hydra_config: bool = False,
    what: str = "the config",
) -> DictConfig:
    """Compose a config as its entry point would, outside a running Hydra app.

    A bad override (misspelt key, unknown experiment) becomes one `ConfigError` sentence naming
    `what` was being composed, instead of Hydra's multi-line exception.
    """
    import yaml
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return compose_raw(config_name, overrides, config_dir, return_hydra_config)
    except (
        yaml.YAMLError,
        UnicodeDecodeError,
        TypeError,
        ValueError,  # Hydra's own for a config group given null (`logger=null`)
        HydraException,
        OmegaConfBaseException,
    ) as err:
        sentence = composition_error(err, config_name, overrides, lead="")
        if sentence is None and isinstance(err, TypeError | ValueError):
            raise  # not a composition mistake: a fault to see whole
        reason = sentence or first_line(err)
        raise ConfigError(f"cannot compose {what}: {reason}") from None


def plain(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """A resolved, plain-dict copy of a config node."""
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    return dict(cfg)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}, for logging hyperparameters and tags."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
