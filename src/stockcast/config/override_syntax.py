"""An override Hydra's grammar reads otherwise than it was meant, as one sentence: one it cannot
parse (a separator typed in a shell without its quotes), or one whose comma it takes for a
sweep's outside a multirun (a config group given two options, text holding a comma)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from stockcast.config.overrides import override_key
from stockcast.config.unknown_keys import Composer
from stockcast.paths import is_config_group


def unparsed_override(err: BaseException, reason: str) -> str | None:
    """An override Hydra's grammar cannot read, with Hydra's first line as `reason`; None for
    any other error."""
    from hydra.errors import OverrideParseException

    if not isinstance(err, OverrideParseException):
        return None
    key, _, value = str(err.override).partition("=")
    if len(value) == 1 and value in ";,|":
        # data.separator=';' typed in a shell reaches Hydra without its quotes.
        return (
            f"cannot read the override {err.override!r}: a value holding {value!r} is "
            f"quoted for Hydra, and the whole override for the shell: \"{key}='{value}'\"."
        )
    return (
        f"cannot read the override {err.override!r} ({reason}); fix its syntax, e.g. a "
        "list is written [1,2] and text with spaces is quoted."
    )


def ambiguous_comma(
    reason: str,
    config_name: str,
    overrides: Sequence[str],
    compose: Composer,
    config_dirs: Sequence[str | Path],
) -> str | None:
    """An override whose comma Hydra read as a sweep's, from its first line `reason`; None for
    any other error."""
    ambiguous = re.match(r"Ambiguous value for argument '(.*)'$", reason)
    if ambiguous is None:
        return None
    override = ambiguous.group(1)
    text = _holds_text(override_key(override), config_name, overrides, compose)
    return _comma_outside_a_sweep(override, text, config_dirs)


def _holds_text(key: str, config_name: str, overrides: Sequence[str], compose: Composer) -> bool:
    """Whether `key` holds text in the config composed without its override (False where that
    cannot be told)."""
    from omegaconf import OmegaConf

    others = [o for o in overrides if override_key(o) != key]
    try:
        return isinstance(OmegaConf.select(compose(config_name, others), key.lstrip("+~")), str)
    except Exception:  # the other overrides may be as broken as this one
        return False


def _comma_outside_a_sweep(
    override: str, holds_text: bool = False, config_dirs: Sequence[str | Path] = ()
) -> str:
    """Hydra reads a comma as the start of a sweep (`x=1,2`), which only a multirun runs. A
    config group takes one option in a single run: a list of options in brackets would merge
    them, each overriding the one before, without a word. A setting that holds text (a cron
    expression) takes the comma quoted, never a list."""
    key, _, value = override.partition("=")
    sweep = (
        f"cannot read the override {override!r}: a comma separates the values of a sweep, "
        "which only a multirun takes (-m, where the command has one)"
    )
    group = key.lstrip("+~")
    if is_config_group(group, config_dirs):
        return f"{sweep}; choose one {group} option for a single run."
    # A value already quoted in parts (`'Adj Close',Close`) is not quoted again.
    quoted = any(mark in value for mark in "'\"")
    quote = (
        "quote a value holding a comma for Hydra and the whole override for the shell "
        f"(\"{key}='{value}'\")"
    )
    # Words with spaces are text too, where the setting is null by default (a cron expression).
    if (holds_text or " " in value.strip()) and not quoted:
        return f"{sweep}; {key} holds text: {quote}."
    instead = "give a single value" if quoted else quote
    return f"{sweep}; for one value, write a list in brackets ({key}=[{value}]) or {instead}."
