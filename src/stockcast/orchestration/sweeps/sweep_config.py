"""What a sweep's config says its summary ranks the jobs by, and which keys it searched: read
from the live config at the sweep's end or from the `multirun.yaml` Hydra wrote at its start,
either of which may have been edited into something unreadable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import OverrideParseException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from stockcast.config.overrides import as_typed, override_key
from stockcast.config.sections import EXAMPLE_METRIC
from stockcast.errors import ConfigError, first_line, quoted
from stockcast.orchestration.sweeps.metric import DIRECTIONS

# What a sweep whose config names no optimized_metric is ranked by.
DEFAULT_METRIC = "val/loss"


def ranking_settings(config: Any) -> tuple[str, str]:
    """The metric and direction `config` ranks the jobs by; a ConfigError naming the setting
    where it holds neither (a `multirun.yaml` edited by hand: `${nope}`, a number), since a
    guess would rank the jobs otherwise than the sweep did."""
    try:
        metric = OmegaConf.select(config, "optimized_metric")
    except OmegaConfBaseException as err:
        raise ConfigError(_unreadable("optimized_metric", err, EXAMPLE_METRIC)) from None
    if metric is not None and not isinstance(metric, str):
        raise ConfigError(
            f"optimized_metric is {quoted(metric)}, not a metric's name; set it to the metric "
            f"the sweep ranked by, e.g. optimized_metric: {EXAMPLE_METRIC}."
        )
    try:
        direction = OmegaConf.select(config, "hydra.sweeper.direction", default=DIRECTIONS[0])
    except OmegaConfBaseException as err:
        raise ConfigError(_unreadable("hydra.sweeper.direction", err, DIRECTIONS[0])) from None
    if direction not in DIRECTIONS:
        raise ConfigError(
            f"hydra.sweeper.direction is {quoted(direction)}; set it to {' or '.join(DIRECTIONS)}."
        )
    return metric or DEFAULT_METRIC, direction


def _unreadable(key: str, err: Exception, example: str) -> str:
    """Why `key` holds no value (an interpolation naming no key), and what to give it."""
    return (
        f"{key} cannot be read ({first_line(err)}); set it to the value the sweep ran with, e.g. "
        f"{key.rsplit('.', 1)[-1]}: {example}."
    )


def searched_in(config: Any) -> list[str]:
    """`searched_keys` of the sweep's `config`, without a source it cannot read (a search space
    or command line edited into no mapping or overrides): they only mark columns that the
    keys whose values differ between jobs mark anyway."""
    try:
        params = OmegaConf.select(config, "hydra.sweeper.params")
    except OmegaConfBaseException:
        params = None
    params = params if isinstance(params, Mapping) else None
    try:
        return searched_keys(params, as_typed(OmegaConf.select(config, "hydra.overrides.task")))
    except (OmegaConfBaseException, OverrideParseException, TypeError):
        return searched_keys(params, [])


def searched_keys(params: Mapping[str, Any] | None, task_overrides: Sequence[str]) -> list[str]:
    """The keys a sweep searches: its sweeper's `params` (Optuna's search space) and the
    command line's sweep overrides (`optim.lr=1e-3,3e-3`, `choice(...)`, `interval(...)`)."""
    parsed = OverridesParser.create().parse_overrides(list(task_overrides))
    swept = [o.key_or_group for o in parsed if o.is_sweep_override()]
    return list(dict.fromkeys([*(override_key(str(key)) for key in params or {}), *swept]))
