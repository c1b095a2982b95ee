"""Config mistakes as one sentence: a key nothing reads, a config group option that does not
exist, a variable that is not set (Hydra's composition errors are `composition_errors`').

Hydra reports these in 7-13 lines (a search path, a stack-trace hint, and for a misspelt key the
advice to add it with `+`, which then trains with the typo ignored). The schema (unknown keys)
and the entry points (Hydra's own composition errors) both end here, so a mistake reads the same
wherever it is caught.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

# How close a name must be (difflib's ratio) to be offered as the one meant.
CLOSE_ENOUGH = 0.6
# How many names a sentence lists before it only counts the rest.
LISTED = 12
# Settings that moved: the old key, the one that holds it now and why, for commands and
# schedules written before the move.
MOVED_KEYS = {
    "register.alias": (
        "registry.champion_alias",
        "one setting the register step, the monitor, predict, serve and deploy all read",
    ),
    # Lightning's validation schedule: the fit sets both from fit.val_every_steps.
    **{
        f"trainer.{name}": (
            "fit.val_every_steps",
            "the fit validates about every that many optimizer steps whatever the epoch length",
        )
        for name in ("check_val_every_n_epoch", "val_check_interval")
    },
}


def nearest(name: str, names: Sequence[str]) -> str | None:
    """The name in `names` closest to `name`, when one is close enough to be a typo of it."""
    found = difflib.get_close_matches(name, list(names), n=1, cutoff=CLOSE_ENOUGH)
    return found[0] if found else None


def listed(names: Sequence[str], last: str = "or") -> str:
    """'a, b or c' (`last` joins the last two), the first LISTED names, then a count."""
    names = list(names)
    if len(names) > LISTED:
        return ", ".join(names[:LISTED]) + f" and {len(names) - LISTED} more"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" {last} {names[-1]}"


def unknown_key(
    key: str,
    names: Sequence[str],
    where: str,
    elsewhere: Sequence[str] = (),
    held: Sequence[str] | None = None,
) -> str:
    """`model.hiden_sizes is not a setting of the train config; did you mean
    model.hidden_sizes?`: the same name where the config holds it (`elsewhere`:
    model.previous_time_window is data's), else the nearest name the section takes (`names`),
    else the names it holds (`held`, default `names`: a name the schema takes but the config
    does not hold, such as `azureml`, is no help to a key that is removed); a key that moved
    names where it is now."""
    if key in MOVED_KEYS:
        moved_to, why = MOVED_KEYS[key]
        return f"{key} is now {moved_to} ({why}); set that instead."
    parent, _, name = key.rpartition(".")
    prefix = f"{parent}." if parent else ""
    if elsewhere:  # the very name, in the wrong place: surer than a near one in the right place
        return f"{key} is not a setting of {where}; did you mean {listed(elsewhere)}?"
    close = nearest(name, names)
    if close is not None:
        return f"{key} is not a setting of {where}; did you mean {prefix}{close}?"
    section = parent or "its top level"
    holds = listed(sorted(names if held is None else held), "and")
    return f"{key} is not a setting of {where}; remove it ({section} holds {holds})."


def unknown_position(key: str, count: int, where: str) -> str:
    """`model.candidates.7 is not in the train config: model.candidates holds 4 (numbered 0 to
    3).`"""
    parent = key.rpartition(".")[0]
    return f"{key} is not in {where}: {parent} holds {count} (numbered 0 to {count - 1})."


def deletes_what_is_needed(key: str) -> str:
    """`~key` deleted a section or key the command composes or reads (the pipeline's `gate`,
    `data` that an interpolation names): Hydra and the schema would otherwise fail on what is
    missing, with advice about another config."""
    return f"~{key} deletes {key}, which this command needs; drop it."


def settings_under_group(group: str, chosen: str | None) -> str:
    """A config group's name found at the top level: its file (an experiment of one's own, say)
    lacks the header that puts its settings at the top level, so they landed under `group`."""
    where = f"{group}/{chosen}.yaml" if chosen else f"the {group} config file"
    return (
        f"{group} holds settings of its config file instead of the top level: add "
        f"'# @package _global_' as the first line of {where}, as the built-in {group} configs "
        "have it."
    )


def choice_under_group(group: str, chosen: str, overridden: str, option: str) -> str:
    """A config of a group whose settings stay under it (model/mine.yaml) choosing another
    group in its defaults list (`override /data: gbm`): Hydra looked for that choice under the
    file's group; the header an experiment lacks would move the file's own settings too."""
    package = overridden.replace("/", ".")
    return (
        f"{group}/{chosen}.yaml chooses {overridden} in its defaults list, where a {group} "
        f"config's choices land under {group}; write '- override /{overridden}@_global_."
        f"{package}: {option}' there, which chooses the top-level {overridden} config."
    )


def source_apart_from_its_config(source: str, chosen: str | None) -> str:
    """`data.source=market` typed for `data=market`: the source changes, but the settings stay
    those of the data config chosen (a walk's, without `data.num_series` or `data.path`), which
    were refused one by one with advice that could not work (`data.num_series is not set`, then
    `data.num_series is not a setting`)."""
    config = f"the data={chosen} config" if chosen else "the data config chosen"
    return (
        f"data.source={source} keeps the settings of {config}; choose the source's own config "
        f"with data={source} instead of setting data.source."
    )


# How to set an environment variable a config reads, where that is not obvious.
ENVIRONMENT_FIXES = {
    "MLFLOW_TRACKING_URI": (
        " (the Azure ML workspace's store: export MLFLOW_TRACKING_URI=$(make -s tracking-uri))"
    ),
}


def unresolved(key: str, detail: str) -> str:
    """`registry.tracking_uri cannot be resolved (Environment variable ... not found); ...`."""
    unset = re.match(r"Environment variable '([^']+)' not found", detail)
    fix = ENVIRONMENT_FIXES.get(unset.group(1), "") if unset else ""
    return f"{key} cannot be resolved ({detail}); set it, or what it refers to{fix}."


def unknown_option(group: str, option: str, options: Sequence[str]) -> str:
    """`experiment=nope is not one of the experiment configs; choose one of a, b or c.` (names
    starting with `_` are pieces other configs include, not options)."""
    shown = sorted(o for o in options if not o.startswith("_"))
    close = nearest(option, shown)
    if close is not None:
        return (
            f"{group}={option} is not one of the {group} configs ({listed(shown)}); did you "
            f"mean {group}={close}?"
        )
    return f"{group}={option} is not one of the {group} configs; choose one of {listed(shown)}."
