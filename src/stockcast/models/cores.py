"""What the network asks of a kind's core by its optional parts (`start_anchored`,
`fit_to_series`, `season`, `level_free`, `log_values`, an ensemble's `cores`): one place for the
kinds' duck-typed contract beyond `forward` and `zero_outputs`, and for naming a kind's own code
where it fails (`build_core`, and `upgrading` around its `upgrade_state`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from stockcast.errors import ConfigError, StockcastError
from stockcast.models.kind import ModelKind, kind_code_failed

# What a kind's upgrade_state is given and returns, for the sentence naming its mistake.
UPGRADE_STATE_GETS = "the saved state dict and returns it in the layout its core has today"


def build_core(
    kind: ModelKind,
    named: str,
    network: Mapping[str, Any],
    window: int,
    member_inputs: Sequence[int],
    outputs: int,
) -> nn.Module:
    """The core `kind` (chosen as `named`) builds, held to the contract (`check_core`): its
    build_core raising (a mistyped network key, a wrong argument) is the kind author's mistake,
    named in one sentence like its core's, not a traceback from the train step."""
    try:
        core = kind.build_core(network, window, member_inputs, outputs)
    except StockcastError:
        raise  # an ensemble's candidate's, already named
    except Exception as err:  # the kind's own code: its author's mistake, not a crash of ours
        raise kind_code_failed(
            named,
            "build_core",
            err,
            f"given the network keys {sorted(network)}",
            "that network block (its KIND's network_keys and data_keys), the window, "
            "member_inputs and outputs",
        ) from err
    check_core(core, named, member_inputs, outputs)
    return core


@contextlib.contextmanager
def upgrading(named: str) -> Iterator[None]:
    """While saved weights are brought to the layout kind `named` has today: its upgrade_state
    raising is the kind author's mistake, named in one sentence like its build_core's, not a
    traceback from serving, predicting or a warm start (an ensemble's candidate's names the
    candidate's kind)."""
    try:
        yield
    except StockcastError:
        raise  # a kind's own sentence, or an ensemble's candidate's, already named
    except Exception as err:  # the kind's own code: its author's mistake, not a crash of ours
        raise kind_code_failed(
            named, "upgrade_state", err, "on saved weights", UPGRADE_STATE_GETS
        ) from err


def check_core(core: nn.Module, kind: str, member_inputs: Sequence[int], outputs: int) -> None:
    """One sentence naming the kind where the core its `build_core` returned misses the
    contract every core keeps (a kind author's mistake, which surfaced as an AttributeError or a
    ValueError deep in the network, or, for a forecast of the wrong width, only after training
    at the first metric)."""
    missing = [name for name in ("members", "zero_outputs") if not hasattr(core, name)]
    if missing:
        raise ConfigError(
            f"model.kind={kind}: its build_core returned a core without {' or '.join(missing)}; "
            "a core has a members property and zero_outputs(columns) beside forward "
            "(models/kind.py: ModelKind)."
        )
    members = len(member_inputs)
    if int(core.members) != members:
        raise ConfigError(
            f"model.kind={kind}: its core holds {core.members} member(s) where the network has "
            f"{members} (one per entry of member_inputs); build one for each."
        )
    # One forward pass of a single zero window, in eval mode so that no running statistic moves.
    training = core.training
    core.eval()
    probe = (members, 1, max(member_inputs))
    try:
        with torch.no_grad():
            forecast = core(torch.zeros(probe))
    except Exception as err:  # the core's own code: its author's mistake, not a crash of ours
        raise ConfigError(
            f"model.kind={kind}: its core fails on features (members, batch, inputs) = {probe} "
            f"({type(err).__name__}: {str(err).rstrip('.')}); make it take features of that "
            "shape: each member's window values, then its level inputs where it takes them "
            "(models/kind.py: ModelKind)."
        ) from err
    finally:
        core.train(training)
    shape = tuple(forecast.shape)
    if shape != (members, 1, outputs):
        raise ConfigError(
            f"model.kind={kind}: its core maps (members, batch, inputs) = "
            f"({members}, 1, {max(member_inputs)}) to {shape} where the network needs "
            f"({members}, 1, {outputs}): the horizon times the quantiles (at least one) per member."
        )
    if not bool(torch.isfinite(forecast).all()):
        # A flat window scales to zeros; a core that cannot forecast it fails every fit, and
        # zeroing its outputs (the naive fallback) does not make it repeat the last price.
        raise ConfigError(
            f"model.kind={kind}: its core forecasts a window of zeros (a flat one, scaled) as "
            "NaN or infinity before any training; make its forward finite for every window."
        )


def start_anchored(core: nn.Module) -> None:
    """Where an anchored core starts: its `start_anchored()` where it has one, else with its
    outputs zeroed (the last price repeated)."""
    start = getattr(core, "start_anchored", None)
    if start is not None:
        start()
    else:
        core.zero_outputs(slice(None))


def fit_to_series(core: nn.Module, series: Sequence[np.ndarray]) -> None:
    """Fit a core that is fitted on the series themselves before training (its
    `fit_to_series`: the ets kind's, an ensemble's for its candidates) on each series' values
    the network trains on. Other cores have nothing to fit."""
    fit = getattr(core, "fit_to_series", None)
    if fit is not None:
        fit(series)


def seasonless_windows(core: nn.Module, season: int) -> list[int]:
    """The windows of the seasonal kinds' members (Theta, exponential smoothing) too short to
    model the data's `season`: a season needs two whole ones in the window, so such a member
    models none."""
    parts = getattr(core, "cores", None)
    if parts is not None:
        return [window for part in parts for window in seasonless_windows(part, season)]
    kept = getattr(core, "season", None)
    if kept is None or season <= 1 or kept == season:
        return []
    return [int(core.window)]


def level_free_members(core: nn.Module) -> list[bool]:
    """For each member of `core`, whether its kind forecasts every shifted and rescaled window
    alike and ignores the level inputs (`level_free`: Theta, exponential smoothing), so that no
    scaled view makes it read the window's absolute level. An ensemble's members are its
    candidates' (`cores`), in order."""
    parts = getattr(core, "cores", None)
    if parts is not None:
        return [free for part in parts for free in level_free_members(part)]
    return [bool(getattr(core, "level_free", False))] * int(core.members)


def log_value_members(core: nn.Module) -> list[bool]:
    """For each member of `core`, whether its kind works on the logarithms of the window's
    prices (`log_values`: the ets kind with `values: log`); an ensemble's in candidate order."""
    parts = getattr(core, "cores", None)
    if parts is not None:
        return [logs for part in parts for logs in log_value_members(part)]
    return [bool(getattr(core, "log_values", False))] * int(core.members)
