"""Every key of the `azureml` section is one its config group defines: the shared schema leaves
the section to the Azure ML builders, which read the keys they know, so a misspelt key added with
`+` (`+azureml.schedule.hours=5`) would otherwise schedule the default hour without a word."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from stockcast.config.mistakes import unknown_key
from stockcast.errors import ConfigError

GROUP = "azureml"
ENVIRONMENT_KEYS = ("conda_file", "build_context")
# Mappings whose entries the user names, with the keys each entry takes (None: the entry is one
# value): a datastore folder, a step's environment or cluster. Step names are judged where the
# steps are known (a table may add one: `check_compute`).
NAMED_ENTRIES: dict[str, tuple[str, ...] | None] = {
    "datastore_folders": ("key", "path"),
    "environments.steps": ENVIRONMENT_KEYS,
    "compute.steps": None,
}
# Single entries of the same shape as a named one.
FIXED_ENTRIES = {"environments.job": ENVIRONMENT_KEYS}


def group_keys(config_dir: Path) -> dict[str, Any]:
    """The keys the group's files define (values unresolved), merged as its defaults list
    merges them."""
    files = sorted((config_dir / GROUP).glob("*.yaml"))
    tree = OmegaConf.to_container(OmegaConf.merge(*map(OmegaConf.load, files)), resolve=False)
    assert isinstance(tree, dict)
    tree.pop("defaults", None)
    return tree


def check_azure_keys(azure: DictConfig, config_dir: Path) -> None:
    """Refuse the first key under `azure` that its group does not define, in one sentence that
    names the key it was likely meant to be."""
    tree = OmegaConf.to_container(azure, resolve=False)
    assert isinstance(tree, dict)
    _check(tree, group_keys(config_dir), GROUP)


def _check(node: Mapping[str, Any], known: Mapping[str, Any], where: str) -> None:
    for name, value in node.items():
        key = f"{where}.{name}"
        section = key.removeprefix(f"{GROUP}.")
        if section in NAMED_ENTRIES and isinstance(value, Mapping):
            for entry, held in value.items():
                _check_entry(f"{key}.{entry}", held, NAMED_ENTRIES[section])
        elif section in FIXED_ENTRIES:
            _check_entry(key, value, FIXED_ENTRIES[section])
        elif name not in known:
            raise _unknown(key, list(known))
        elif isinstance(value, Mapping) and isinstance(known[name], Mapping):
            _check(value, known[name], key)


def _check_entry(key: str, entry: Any, entry_keys: tuple[str, ...] | None) -> None:
    if entry_keys is not None and isinstance(entry, Mapping):
        for name in entry:
            if name not in entry_keys:
                raise _unknown(f"{key}.{name}", entry_keys)


def _unknown(key: str, names: Sequence[str]) -> ConfigError:
    return ConfigError(unknown_key(key, list(names), f"the {GROUP} config"))
