"""Every key of the `azureml` section is one its config group defines: the shared schema leaves
the section to the Azure ML builders, which read the keys they know, so a misspelt key added with
`+` (`+azureml.schedule.hours=5`) would otherwise schedule the default hour without a word."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from stockcast.config.mistakes import listed, unknown_key
from stockcast.config.named_entries import AZUREML_NAMED_ENTRIES, ENVIRONMENT_KEYS
from stockcast.errors import ConfigError

GROUP = "azureml"
# Single entries of the same shape as a named one.
FIXED_ENTRIES = {"environments.job": ENVIRONMENT_KEYS}
# Settings that name something (a cluster, an image, a folder, a file), as the SDK and the paths
# built on them take it: text, or null where the group leaves them unset. Hydra reads a bare
# number as one (`azureml.compute.default=123`), which the SDK then refused with a traceback.
TEXT_SETTINGS = (
    "code",
    "dry_run_dir",
    "run_dir",
    "registry",
    "experiment_name",
    "compute.default",
    "compute.job",
    "compute.steps.*",
    "environments.image",
    "environments.steps.*.*",
    "environments.job.*",
    "data.asset.path",
    "data.asset.type",
    "datastore_folders.*.*",
    "schedule.name",
    "endpoint.name",
    "endpoint.deployment",
    "endpoint.instance_type",
)


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
    try:
        resolved = OmegaConf.to_container(azure, resolve=True)
    except Exception:  # an interpolation the builders report in their own words
        return
    assert isinstance(resolved, dict)
    _check_text(resolved, GROUP)


def _check(node: Mapping[str, Any], known: Mapping[str, Any], where: str) -> None:
    for name, value in node.items():
        key = f"{where}.{name}"
        section = key.removeprefix(f"{GROUP}.")
        if name not in known:
            raise _unknown(key, list(known))
        default = known[name]
        if isinstance(default, Mapping) and not isinstance(value, Mapping):
            raise _replaces_section(key, value, list(default))
        if not isinstance(default, Mapping | list) and isinstance(value, Mapping | list):
            raise _not_one_value(key, value)
        if section in AZUREML_NAMED_ENTRIES:
            for entry, held in value.items():
                _check_entry(f"{key}.{entry}", held, AZUREML_NAMED_ENTRIES[section])
        elif section in FIXED_ENTRIES:
            _check_entry(key, value, FIXED_ENTRIES[section])
        elif isinstance(value, Mapping):
            _check(value, default, key)


def _check_entry(key: str, entry: Any, entry_keys: tuple[str, ...] | None) -> None:
    if entry_keys is None:
        if isinstance(entry, Mapping | list):
            raise _not_one_value(key, entry)
        return
    if entry is not None and not isinstance(entry, Mapping):
        raise _replaces_section(key, entry, entry_keys)
    for name, value in (entry or {}).items():
        if name not in entry_keys:
            raise _unknown(f"{key}.{name}", entry_keys)
        if isinstance(value, Mapping | list):
            raise _not_one_value(f"{key}.{name}", value)


def _check_text(node: Mapping[str, Any], where: str) -> None:
    """A setting that names something, given as a number or true/false, is refused with the
    quoting that makes it text."""
    for name, value in node.items():
        key = f"{where}.{name}"
        if isinstance(value, Mapping):
            _check_text(value, key)
            continue
        section = key.removeprefix(f"{GROUP}.")
        names_something = any(fnmatchcase(section, pattern) for pattern in TEXT_SETTINGS)
        if names_something and value is not None and not isinstance(value, str):
            raise ConfigError(
                f"{key}={_shown(value)} must be text (a name or a path); quote it for Hydra "
                f"if it is meant as written: \"{key}='{_shown(value)}'\"."
            )


def _shown(value: Any) -> str:
    """A value as it is written in an override."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ",".join(map(_shown, value)) + "]"
    return str(value)


def _replaces_section(key: str, value: Any, names: Sequence[str]) -> ConfigError:
    """`azureml.schedule=5` replaced a whole section, which the builders then read into."""
    return ConfigError(
        f"{key}={_shown(value)} replaces the section that holds {listed(sorted(names), 'and')}; "
        f"set one of those instead ({key}.<setting>=...)."
    )


def _not_one_value(key: str, value: Any) -> ConfigError:
    kind = "a list" if isinstance(value, list) else "a section"
    return ConfigError(f"{key} takes one value, not {kind} ({_shown(value)}); give one.")


def _unknown(key: str, names: Sequence[str]) -> ConfigError:
    return ConfigError(unknown_key(key, list(names), f"the {GROUP} config"))
