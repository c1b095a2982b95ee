"""Hydra sweep overrides -> an Optuna search space, and sampled values -> Hydra overrides.

    choice(a, b) / a,b / range(1, 4)  -> CategoricalDistribution
    interval(lo, hi)                  -> FloatDistribution (IntDistribution with tag(int, ...)
                                         or int(interval(lo, hi)))
    tag(log, interval(lo, hi))        -> the same, sampled on a log scale
    anything else                     -> a fixed override passed to every trial

Categorical choices that are lists or dicts (`[64,64]`) are kept as their override text, since
Optuna stores choices as JSON scalars; they go back into the override unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from stockcast.config.overrides import last_wins
from stockcast.errors import ConfigError


def _choice(value: Any) -> Any:
    """A categorical choice Optuna can store: scalars as they are, lists/dicts as override text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return Override._get_value_element_as_str(value)


def _value_text(value: Any, structured: bool) -> str:
    if structured:
        return str(value)
    return Override._get_value_element_as_str(value)


def _check_interval(line: str, low: float, high: float, log: bool) -> None:
    """Refuse an interval Optuna cannot draw from, in one sentence naming the override: its
    own ValueError, raised as the sweep starts, was a traceback."""
    if low > high:
        raise ConfigError(
            f"{line}: its low end {low} is above its high end {high}; give interval(low, high) "
            "with low at most high."
        )
    if log and low <= 0:
        raise ConfigError(
            f"{line}: a log scale needs a low end above 0, not {low}; give a positive low end "
            "or drop tag(log, ...)."
        )


def to_distribution(override: Override) -> BaseDistribution | None:
    """The Optuna distribution of one sweep override; None for a plain (fixed) override."""
    if not override.is_sweep_override():
        return None
    value = override.value()
    if isinstance(value, ChoiceSweep):
        return CategoricalDistribution([_choice(item) for item in value.list])
    if isinstance(value, RangeSweep):
        return CategoricalDistribution(list(override.sweep_iterator()))
    if isinstance(value, IntervalSweep):
        log = "log" in value.tags
        # Hydra's own cast, int(interval(...)), keeps whole bounds: an int key's sampled
        # floats were refused by every trial.
        whole = isinstance(value.start, int) and isinstance(value.end, int)
        as_int = "int" in value.tags or whole
        low, high = (int(value.start), int(value.end)) if as_int else (value.start, value.end)
        _check_interval(override.input_line, low, high, log)
        if as_int:
            return IntDistribution(low, high, log=log)
        return FloatDistribution(float(low), float(high), log=log)
    raise ConfigError(
        f"{override.input_line}: the Optuna sweeper takes choice(...), range(...) or "
        f"interval(...) (optionally tag(log, ...) / tag(int, ...)), not {type(value).__name__}."
    )


@dataclass
class SearchSpace:
    """What to sample and what to pass unchanged to every trial."""

    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)
    structured: set[str] = field(default_factory=set)

    def trial_overrides(self, params: Mapping[str, Any]) -> list[str]:
        """A trial's job overrides: the sampled values, then the fixed overrides."""
        sampled = [
            f"{key}={_value_text(value, key in self.structured)}" for key, value in params.items()
        ]
        return [*sampled, *self.fixed]


def parse_search_space(params: Mapping[str, Any] | None, arguments: Iterable[str]) -> SearchSpace:
    """`hydra.sweeper.params` (key -> sweep text) plus the command line's overrides.

    A command-line override replaces a configured parameter of the same key, so
    `model.dropout=0.1` pins it and `model.dropout=interval(0,0.5)` redefines its range.
    """
    lines = [f"{key}={value}" for key, value in (params or {}).items()]
    lines = last_wins([*lines, *arguments])
    space = SearchSpace()
    for override in OverridesParser.create().parse_overrides(lines):
        distribution = to_distribution(override)
        if distribution is None:
            space.fixed.append(override.input_line)
            continue
        key = override.input_line.split("=", 1)[0]
        space.distributions[key] = distribution
        value = override.value()
        if isinstance(value, ChoiceSweep) and any(
            not isinstance(item, bool | int | float | str | type(None)) for item in value.list
        ):
            space.structured.add(key)
    return space
