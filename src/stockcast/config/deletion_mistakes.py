"""A `~key` override Hydra refused, as one sentence: it deletes what the config needs (an
interpolation of it, an override inside it), or it deletes nothing (a typo, a null, or a config
group the config does not compose)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from stockcast.config.mistakes import deletes_what_is_needed, listed, nearest
from stockcast.config.overrides import override_key
from stockcast.config.unknown_keys import Composer, names_beside


def deletion_error(
    reason: str, config_name: str, overrides: Sequence[str], compose: Composer
) -> str | None:
    """A `~key` override that deletes what the config needs, or deletes nothing, from Hydra's
    first line `reason`; None for any other error."""
    deleted = deleted_and_needed(reason, overrides)
    if deleted is not None:
        return deletes_what_is_needed(deleted)
    absent = re.match(r"Could not delete from config\. '([^']+)' does not exist\.", reason)
    if absent is not None:
        return nothing_to_delete(absent.group(1), config_name, overrides, compose)
    # `~data` given to predict, whose defaults list composes no data config: Hydra's "No match
    # in the defaults list" named no way out.
    uncomposed = re.match(r"Could not delete '([\w/]+)'\. No match in the defaults list", reason)
    if uncomposed is not None:
        group = uncomposed.group(1)
        return (
            f"~{group} deletes nothing: the {config_name} config composes no {group} config; "
            "drop it."
        )
    return None


def deleted_and_needed(reason: str, overrides: Sequence[str]) -> str | None:
    """The key a `~key` override deletes that Hydra's `reason` shows was needed: an
    interpolation of it (`${data}` in the experiment_data default, `${paths.log_dir}` in the run
    folder) or an override of a key inside it (`~trainer trainer.max_steps=1`). Hydra's own
    names neither the override nor what to do."""
    for override in overrides:
        if not override.startswith("~"):
            continue
        key = re.escape(override_key(override))
        needed = (
            rf"\$\{{{key}[.\[}}]",  # ${data}, ${paths.log_dir}
            rf"Interpolation key '{key}[.']",
            rf"(Could not override|Error merging override) '?\+?{key}[.=']",
        )
        if any(re.search(pattern, reason) for pattern in needed):
            return override_key(override)
    return None


def nothing_to_delete(
    key: str, config_name: str, overrides: Sequence[str], compose: Composer
) -> str:
    """`~data.kind`: a key the config lacks (a typo, say), or holds as null, which Hydra cannot
    delete either; its own "does not exist" said neither what was meant nor what to do."""
    found = names_beside(key, config_name, overrides, compose)
    lead = f"~{key} deletes nothing: the {config_name} config"
    if found is None or not found[1] or found[2]:  # there as null, or no names to offer
        return f"{lead} holds no value at {key}; drop it."
    missing, names, _ = found
    parent, _, name = missing.rpartition(".")
    close = nearest(name, names)
    if close is not None:
        meant = f"{parent}{'.' if parent else ''}{close}{key[len(missing) :]}"
        return f"{lead} has no {missing}; did you mean ~{meant}?"
    holds = listed(sorted(names), "and")
    return f"{lead} has no {missing} ({parent or 'its top level'} holds {holds}); drop it."
