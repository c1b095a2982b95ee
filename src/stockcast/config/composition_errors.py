"""Hydra's composition errors as one sentence: an unknown group option, a key the config lacks,
a config group it does not compose, an override it cannot parse (a comma outside a sweep, a list
for named settings), a config file it cannot read; a sweep override no sweeper runs is
`sweep_overrides`' sentence. The entry points and the schema end here or in `mistakes`, so a
mistake reads the same wherever it is caught. `composition_error` tells which refusal an error
is; the sentences of a few kinds live beside it: `refused_keys` (a key Hydra could not set),
`deletion_mistakes` (a `~key` it refused), `override_syntax` (an override read otherwise than
meant), `unreadable_files` (a config file that is not YAML or UTF-8 text)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from stockcast.config.deletion_mistakes import deletion_error
from stockcast.config.hydra_compose import searching
from stockcast.config.mistakes import (
    choice_under_group,
    listed,
    settings_under_group,
    unknown_option,
)
from stockcast.config.override_syntax import ambiguous_comma, unparsed_override
from stockcast.config.overrides import override_key, override_value
from stockcast.config.refused_keys import key_lacked, list_position_in_words
from stockcast.config.search_path import searchpath_folders
from stockcast.config.sweep_overrides import (
    SEARCH_SPACE_KEY,
    range_without_a_search,
    search_space_on_the_command_line,
    search_space_overrides,
)
from stockcast.config.unknown_keys import group_not_read
from stockcast.config.unreadable_files import unreadable_config_file
from stockcast.errors import error_text
from stockcast.paths import CONFIG_DIR, config_folders, config_group_options, is_config_group

# The header that puts a config file's settings at the top level, not under its group.
GLOBAL_HEADER = "# @package _global_"


def composition_error(
    err: BaseException,
    config_name: str,
    overrides: Sequence[str],
    lead: str | None = None,
    config_dirs: Sequence[str | Path] = (),
) -> str | None:
    """One sentence for an error Hydra raised composing `config_name` with `overrides`: an
    unknown group option, a key the config lacks, an override it cannot parse; None for an
    error that is not about composing. `config_dirs` are the `--config-dir` folders the command
    searched besides configs/: their groups and options count as configs/' own, and the config
    is composed again from them too (without the bad key) to find the names beside it. Any other
    composition error is Hydra's reason after `lead` (None: `cannot compose the <config_name>
    config: `; a caller that says so itself, "")."""
    from hydra.errors import ConfigCompositionException
    from omegaconf.errors import OmegaConfBaseException
    from yaml import YAMLError

    compose = searching(config_dirs)
    config_dirs = [*config_dirs, *searchpath_folders(overrides)]
    searched = _search_path_or_space(err, overrides)
    if searched is not None:
        return searched
    if isinstance(err, YAMLError | UnicodeDecodeError):  # Hydra lets a file's own through
        return unreadable_config_file(err)
    if isinstance(err, TypeError) and re.match(r"Index '.*' \(str\) is not an int", str(err)):
        # OmegaConf's own, let through by Hydra: an override names a list's position in words.
        return list_position_in_words(config_name, overrides, compose)
    missing_config = _missing_config(err, config_name) or _unknown_listed_option(
        err, overrides, config_dirs
    )
    if missing_config is not None:
        return missing_config
    lines = [line.strip() for line in error_text(err).splitlines() if line.strip()] or [""]
    unparsed = unparsed_override(err, lines[0])
    if unparsed is not None:
        return unparsed
    if _null_for_a_group(err):
        return _group_given_null(overrides, config_dirs)
    unsearched = re.match(r"\w+ does not support sweep type : (\w+)_SWEEP", lines[0])
    if unsearched is not None:
        return range_without_a_search(unsearched.group(1).lower(), overrides)
    if not isinstance(err, ConfigCompositionException | OmegaConfBaseException):
        return None
    # The first step that recognises the error gives its sentence (never an empty one).
    return (
        deletion_error(lines[0], config_name, overrides, compose)
        or key_lacked(err, lines[0], config_name, overrides, compose, config_dirs)
        or ambiguous_comma(lines[0], config_name, overrides, compose, config_dirs)
        or _added_again(lines[0], overrides)
        or _group_not_composed(lines[0], config_name, overrides, config_dirs)
        or _override_under_group(lines[0], config_dirs)
        or _hydra_reason(lines, config_name, lead)
    )


def _search_path_or_space(err: BaseException, overrides: Sequence[str]) -> str | None:
    """A `--config-dir` that is no folder, or a search space set on the command line (which
    Hydra may refuse in any of several errors); None for any other error."""
    from hydra.errors import SearchPathException

    missing_dir = re.fullmatch(r"Additional config directory '(.*)' not found", str(err))
    if isinstance(err, SearchPathException) and missing_dir is not None:
        return (
            f"--config-dir {missing_dir.group(1)} is not a folder; give the folder that holds "
            "your own configs (experiment/<name>.yaml in it, say)."
        )
    searched = search_space_overrides(overrides)
    if searched and (isinstance(err, AssertionError) or SEARCH_SPACE_KEY in error_text(err)):
        # OmegaConf's own AssertionError (a dotted key into a null search space) names no key.
        return search_space_on_the_command_line(searched[0])
    return None


def _missing_config(err: BaseException, config_name: str) -> str | None:
    """A `--config-name` or a group option no config file holds; None for any other error."""
    from hydra.errors import MissingConfigException

    if (
        isinstance(err, MissingConfigException)
        and not err.options
        and err.missing_cfg_file == config_name
    ):
        return (
            f"--config-name {config_name} names no config: there is no {config_name}.yaml in "
            "configs/ or a --config-dir folder; give the name of one without .yaml, or leave "
            "--config-name out."
        )
    if isinstance(err, MissingConfigException) and err.options and err.missing_cfg_file:
        group, _, option = err.missing_cfg_file.rpartition("/")
        return unknown_option(group, option, err.options)
    return None


def _unknown_listed_option(
    err: BaseException, overrides: Sequence[str], config_dirs: Sequence[str | Path]
) -> str | None:
    """`logger=[csv,nope]`: a config group's list naming an option it lacks (Hydra's own error
    for an option in a list names no options); None for any other error."""
    from hydra.errors import MissingConfigException

    if not (isinstance(err, MissingConfigException) and err.missing_cfg_file):
        return None
    group, _, option = err.missing_cfg_file.rpartition("/")
    options = config_group_options(group, config_dirs)
    if not is_config_group(group, config_dirs) or option in options:
        return None
    for override in overrides:
        value = override_value(override).strip()
        listed_options = [v.strip() for v in value.strip("[]").split(",")]
        if override_key(override) == group and value.startswith("[") and option in listed_options:
            return (
                f"{override} names {option}, which is not one of the {group} configs; choose "
                f"from {listed(options)}."
            )
    return None


def _null_for_a_group(err: BaseException) -> bool:
    """Whether `err` is Hydra's for a config group given null, alone or inside its list
    (`logger=null`, `logger=[csv,null]`)."""
    if isinstance(err, ValueError) and str(err).startswith("Config group override must be"):
        return True
    # Hydra's own for a null inside a config group's list (`logger=[csv,null]`).
    return isinstance(err, TypeError) and bool(
        re.search(r"type 'NoneType' is not .*iterable", str(err))
    )


def _added_again(reason: str, overrides: Sequence[str]) -> str | None:
    """A `+` override adding a config group option or a key the config already has, from
    Hydra's first line `reason`; None for any other error."""
    twice = re.match(r"Multiple values for ([\w/]+)\.", reason) or re.match(
        r"([\w/]+) appears more than once in the final defaults list", reason
    )
    added = [o for o in overrides if twice is not None and o.startswith(f"+{twice.group(1)}=")]
    if added:
        # `+experiment=mlp_w10`: the group is in the defaults list already (Hydra's advice, where
        # it gives one, is for a defaults list, not for a command line).
        return f"{added[-1]} adds {twice.group(1)}, which is already chosen; drop the '+'."
    present = re.match(r"Could not append to config\. An item is already at '([^']+)'", reason)
    if present is not None:
        key = present.group(1)
        return f"+{key} adds {key}, which is already set; drop the '+' to change it."
    return None


def _group_not_composed(
    reason: str, config_name: str, overrides: Sequence[str], config_dirs: Sequence[str | Path]
) -> str | None:
    """`data=csv` given to a config whose defaults list has no data (predict, serve), from
    Hydra's first line `reason`: `group_not_read`'s sentence, as for `+data=csv`; None for any
    other error. Hydra's "No match in the defaults list" named no way out. So did its "In
    'experiment/mlp_w10': Could not override 'data'" of `+experiment=mlp_w10` given to predict:
    the group added with a '+' (so not composed: `_added_again`) is the one named."""
    unmatched = re.match(
        r"(?:In '([\w/]+)/[^']+': )?Could not override '([\w/]+)'\. No match in the defaults list",
        reason,
    )
    if unmatched is None:
        return None
    added, group = unmatched.groups()
    if added is not None:
        group, overrides = added, [o for o in overrides if o.startswith("+")]
    if not is_config_group(group, config_dirs):
        return None
    chosen = next((override_value(o) for o in overrides if override_key(o) == group), None)
    if chosen is None:
        return None
    return group_not_read(group, chosen, config_name, config_dirs)


def _override_under_group(reason: str, config_dirs: Sequence[str | Path]) -> str | None:
    """A config of one's own whose defaults list overrides another group (`override /model:
    mlp`), from Hydra's first line `reason`: its package is its group's, so Hydra looks for
    `model@experiment.model` and names no way out. An experiment lacks its header, as such a
    file without a defaults list does; a model config's choice needs the top-level package
    named. None for any other error."""
    unplaced = re.match(r"In '([\w/]+)/([^']+)': Could not override '([\w/]+)@([\w.]+)'", reason)
    if unplaced is None:
        return None
    group, chosen, overridden, package = unplaced.groups()
    if package != f"{group}.{overridden}".replace("/", "."):
        return None
    if _global_group(group):
        return settings_under_group(group, chosen)
    option = _overriding_option(group, chosen, overridden, config_dirs)
    return choice_under_group(group, chosen, overridden, option)


def _overriding_option(
    group: str, chosen: str, overridden: str, config_dirs: Sequence[str | Path]
) -> str:
    """The option `<group>/<chosen>.yaml`'s defaults list overrides `overridden` with (the first
    folder holding the file), or `<option>` where it cannot be read."""
    paths = [f / group / f"{chosen}.yaml" for f in config_folders(config_dirs)]
    loaded = next((OmegaConf.to_container(OmegaConf.load(p)) for p in paths if p.is_file()), {})
    entries = loaded.get("defaults") if isinstance(loaded, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        for key, value in entry.items() if isinstance(entry, dict) else []:
            if str(key).split() == ["override", f"/{overridden}"]:
                return str(value)
    return "<option>"


def _global_group(group: str) -> bool:
    """Whether the built-in configs of `group` put their settings at the top level (experiment,
    debug, hparams_search), as a file of one's own in that group must."""
    folder = CONFIG_DIR / group
    return folder.is_dir() and any(
        path.read_text(encoding="utf-8").startswith(GLOBAL_HEADER) for path in folder.glob("*.yaml")
    )


def _hydra_reason(lines: Sequence[str], config_name: str, lead: str | None) -> str:
    """Any other composition error: Hydra's reason, its first line (and the next where Hydra
    ends the first with a colon and gives the reason there), after `lead`."""
    reason = f"{lines[0]} {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0]
    return f"{f'cannot compose the {config_name} config: ' if lead is None else lead}{reason}"


def _group_given_null(overrides: Sequence[str], config_dirs: Sequence[str | Path]) -> str | None:
    """`logger=null`: a config group takes the name of one of its configs (Hydra's own error
    does not say which override gave it null), in configs/ or a `--config-dir` folder."""
    for override in overrides:
        key, _, value = override.partition("=")
        group = override_key(key)
        # Hydra reads null in any case (NULL, Null) and ~ as null, alone, in a sweep's list or
        # in a list of the group's configs ([csv,null]).
        values = [v.strip().strip("[]").strip() for v in value.split(",")]
        nulls = [v for v in values if v.lower() in ("null", "~")]
        if is_config_group(group, config_dirs) and nulls:
            options = config_group_options(group, config_dirs)
            off = f" ({group}=none switches it off)" if "none" in options else ""
            given = (
                f"{key}={value} names {nulls[0]} among the {group} config group's configs"
                if value.strip().startswith("[")
                else f"{key}={nulls[0]} gives the {group} config group no config"
            )
            return (
                f"{given}; choose one of {listed(options)}"
                f"{off}, or leave {group} out for its default."
            )
    return None
