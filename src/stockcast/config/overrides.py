"""Small helpers over Hydra override strings (`key=value`): the commands, the sweeps and the
cloud runs read and rewrite overrides alike."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from typing import Any

# What a shell still reads inside double quotes.
SHELL_SPECIAL_IN_DOUBLE_QUOTES = set('"$`\\!')


def override_key(override: str) -> str:
    """The config key an override sets: `+model.x=1` -> `model.x`, `data=csv` -> `data`."""
    return override.split("=", 1)[0].lstrip("+~")


def override_value(override: str) -> str:
    """The value text of an override (`optim.lr=1e-3` -> `1e-3`); empty for a deletion."""
    return override.split("=", 1)[1] if "=" in override else ""


def last_wins(overrides: Iterable[str]) -> list[str]:
    """Keep only the last override of each key, in the order the keys first appeared."""
    by_key: dict[str, str] = {}
    for override in overrides:
        by_key[override_key(override)] = override
    return list(by_key.values())


def hydra_quoted(text: str) -> str:
    """`text` as a quoted Hydra override value, so a path holding `(`, `,`, `=`, a space or
    `${` is read as written: a quote and an interpolation's `${` are escaped, and so are the
    backslashes before one or at the end (the only ones Hydra reads as escapes in quotes)."""
    body = re.sub(r"(\\*)('|\$\{)", lambda found: found[1] * 2 + "\\" + found[2], text)
    trailing = "\\" * (len(body) - len(body.rstrip("\\")))
    return f"'{body}{trailing}'"


def typed_word(text: str) -> str:
    """`text` as one word a user types into a shell: as it is where a shell reads it as
    written, else single-quoted (a folder holding a space, `$`, `(` or `;`)."""
    return shlex.quote(text)


def typed_override(key: str, value: str) -> str:
    """`key=value` as a user types it into a shell: as it is where both read it as written, else
    quoted for the shell alone (a space), or for Hydra inside that (a folder holding `(`, `,` or
    `=`, which Hydra refuses or reads as a sweep)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    plain = f"{key}={value}"
    try:
        read = OverridesParser.create().parse_override(plain).value()
    except Exception:  # Hydra's grammar refuses it: quoted below
        read = None
    if read == value:
        return typed_word(plain)
    quoted = f"{key}={hydra_quoted(value)}"
    # In double quotes where a shell reads them as written, as other refusals show an override.
    return f'"{quoted}"' if not SHELL_SPECIAL_IN_DOUBLE_QUOTES & set(quoted) else typed_word(quoted)


def as_typed(overrides: Any) -> list[str]:
    """Hydra's record of a command's overrides (`hydra.overrides.task`, a list node; None: none)
    as they were typed. Reading the node's items resolves the `${...}` in them: in the parent's
    config, so a pipeline handed its steps `${paths.output_dir}` as the parent's folder, and
    one that names no key (`tags=[${nope}]`) was a traceback before the schema could say so."""
    from omegaconf import OmegaConf

    if overrides is None:
        return []
    if OmegaConf.is_config(overrides):
        overrides = OmegaConf.to_container(overrides, resolve=False)
    return [str(override) for override in overrides]
