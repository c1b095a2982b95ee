"""Config mistakes as one sentence: a key nothing reads, a config group option that does not
exist, an override Hydra cannot parse.

Hydra reports these in 7-13 lines (a search path, a stack-trace hint, and for a misspelt key the
advice to add it with `+`, which then trains with the typo ignored). The schema (unknown keys)
and the entry points (Hydra's own composition errors) both end here, so a mistake reads the same
wherever it is caught.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

# How close a name must be (difflib's ratio) to be offered as the one meant.
CLOSE_ENOUGH = 0.6
# How many names a sentence lists before it only counts the rest.
LISTED = 12


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


def unknown_key(key: str, names: Sequence[str], where: str) -> str:
    """`model.hiden_sizes is not a setting of the train config; did you mean
    model.hidden_sizes?`: the nearest name the section holds, else all of them."""
    parent, _, name = key.rpartition(".")
    prefix = f"{parent}." if parent else ""
    close = nearest(name, names)
    if close is not None:
        return f"{key} is not a setting of {where}; did you mean {prefix}{close}?"
    section = parent or "its top level"
    holds = listed(sorted(names), "and")
    return f"{key} is not a setting of {where}; remove it ({section} holds {holds})."


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
