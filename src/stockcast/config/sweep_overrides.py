"""Sweep overrides Hydra composes but no sweeper can run, as one sentence saying what to type
instead: a search space set on the command line, a range to draw from under the grid sweeper.
`composition_errors` reports them among the other composition mistakes; the sweep callback, the
range one before the grid sweeper runs."""

from __future__ import annotations

from collections.abc import Sequence

from stockcast.config.overrides import override_key, override_value, typed_word

# The sweepers' search space, which a config file sets (configs/hparams_search/).
SEARCH_SPACE_KEY = "hydra.sweeper.params"
# The searched key and values a refusal offers where the override names none.
EXAMPLE_SEARCHED_KEY = ("optim.lr", "1e-3,3e-3")


def search_space_overrides(overrides: Sequence[str]) -> list[str]:
    """The overrides that set the sweepers' search space (`hydra.sweeper.params={...}`,
    `hydra.sweeper.params.optim.lr=...`)."""
    return [
        o
        for o in overrides
        if override_key(o) == SEARCH_SPACE_KEY or override_key(o).startswith(SEARCH_SPACE_KEY + ".")
    ]


def search_space_on_the_command_line(override: str) -> str:
    """An override of the search space that Hydra cannot compose: a null search space (the grid
    sweeper's, hydra/sweeper=optuna's own) takes no key, a configured one no new key without
    `+`, and the dots of `optim.lr` in `hydra.sweeper.params.optim.lr` are read as nested keys.
    The searched key's own override is what both sweepers search, beside an hparams_search's."""
    key, value = _searched_key_and_value(override)
    return (
        f"{override} cannot be composed: Hydra reads the dots of a key such as optim.lr as "
        f"nested settings, and adds no key to {SEARCH_SPACE_KEY} from the command line; give the "
        f"searched key its own override instead, which either sweeper searches: "
        f"{typed_word(f'{key}={value}')}."
    )


def _searched_key_and_value(override: str) -> tuple[str, str]:
    """The first key and value an override of the search space gives, as a sweep override's
    (`hydra.sweeper.params={optim.lr:'1e-3,3e-3'}` -> optim.lr, 1e-3,3e-3)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    key = override_key(override)[len(SEARCH_SPACE_KEY) + 1 :]
    try:
        read = OverridesParser.create().parse_override(override.lstrip("+")).value()
    except Exception:  # Hydra's grammar refuses it: the text as typed
        read = override_value(override)
    if isinstance(read, dict) and read:
        key, read = next(iter(read.items()))
    elif not isinstance(read, str):
        # A sweep of values (1e-3,3e-3 unquoted): the text as typed.
        read = override_value(override)
    return (key, str(read)) if key else EXAMPLE_SEARCHED_KEY


def range_without_a_search(kind: str, overrides: Sequence[str]) -> str:
    """`optim.lr=interval(1e-4,1e-2)` under Hydra's grid sweeper, which runs a list of values
    (`choice`, `range`, a comma list) and cannot draw from a range: the Optuna sweeper does."""
    given = [o for o in overrides if f"{kind}(" in o.partition("=")[2]]
    override = given[0] if given else f"{kind}(...)"
    return (
        f"{override} is a range to draw from, which only the Optuna sweeper searches: add "
        "hydra/sweeper=optuna (or an hparams_search, with its own keys as well), or give the "
        "grid sweeper values to run with choice(...), range(...) or a comma list."
    )
