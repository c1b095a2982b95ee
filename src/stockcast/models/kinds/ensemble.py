"""The ensemble kind: several kinds (and windows) fitted side by side in one network and weighed
on the validation windows, so the choice among them is made on validation and nothing else.

Each candidate is a model kind with its own keys and the number of the most recent values it
reads (`window`; null: the whole window). Every candidate gets one member per scaled view of the
window, all members train together (their losses add, their weights are disjoint, so this is
the same as fitting them apart on the same batches), and the members' inverse-validation-MSE
weights (`model.combination`) keep the best or blend the close ones. The naive fallback and the
conformal bands then judge the weighted forecast, as for any kind.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from pydantic import ValidationError, ValidationInfo, field_validator
from torch import nn

from stockcast.errors import ConfigError
from stockcast.fields import config_fields
from stockcast.models.cores import (
    build_core,
    fit_to_series,
    level_free_members,
    start_anchored,
    upgrading,
)
from stockcast.models.kind import (
    DEFAULT_TRAINING_MODULE,
    KindDefinitionError,
    ModelKind,
    builtin_kinds,
    model_kind,
    module_advice,
)
from stockcast.models.scaled_windows import ScaledWindows
from stockcast.models.settings import ModelSettings

# The keys of a candidate that are not its kind's own.
CANDIDATE_KEYS = ("kind", "window")
# Where a core's weights sit in a network's state: a kind's alone, and a candidate's (by number).
CORE_STATE = "core."
CANDIDATE_STATE = "core.cores.{}."


class EnsembleSettings(ModelSettings):
    kind: Literal["ensemble"]
    candidates: list[dict[str, Any]]

    @field_validator("candidates")
    @classmethod
    def _each_candidate_is_a_valid_kind(
        cls, candidates: list[dict[str, Any]], info: ValidationInfo
    ) -> list[dict[str, Any]]:
        if not candidates:
            raise ValueError("is empty; name at least one model kind")
        shared = {k: v for k, v in info.data.items() if k != "kind"}
        for number, candidate in enumerate(candidates):
            _check_candidate(number, candidate, shared)
        return candidates


def _check_candidate(number: int, candidate: Mapping[str, Any], shared: Mapping[str, Any]) -> None:
    """One candidate: a kind other than ensemble, a window of at least 2 or null, and its own
    keys valid for its kind (with the model's shared keys)."""
    name, window = candidate.get("kind"), candidate.get("window")
    where = f"in candidate {number}"
    if name in (None, "ensemble"):
        raise ValueError(f"has kind {name!r} {where}; name a model kind other than ensemble")
    if window is not None and (
        isinstance(window, bool) or not isinstance(window, int) or window < 2
    ):
        raise ValueError(
            f"has window {window!r} {where}; it must be a whole number of at least 2, or null "
            "(the whole window)"
        )
    try:
        kind = model_kind(str(name))
    except KindDefinitionError as err:
        raise ValueError(
            f"has kind {name!r} {where}, whose module is wrong: {str(err).rstrip('.')}"
        ) from None
    except ConfigError:
        raise ValueError(
            f"has kind {name!r} {where}; choose one of {builtin_kinds()}, or name "
            f"{module_advice(str(name))}"
        ) from None
    if kind.training_module != DEFAULT_TRAINING_MODULE:
        # One network trains with one LightningModule: the ensemble's, so the kind's own
        # training (a penalty, a schedule) would be dropped without a word.
        raise ValueError(
            f"has kind {name!r} {where}, which trains with its own {kind.training_module} "
            f"where an ensemble trains every candidate with {DEFAULT_TRAINING_MODULE}; train "
            "that kind alone, or leave it out"
        )
    own = {k: v for k, v in candidate.items() if k not in CANDIDATE_KEYS}
    # Shared keys are the model's: a candidate's own would be validated and never used.
    overridden = sorted(set(own) & set(config_fields(ModelSettings)))
    if overridden:
        raise ValueError(
            f"sets {', '.join(overridden)} {where}, which every candidate shares with the model; "
            f"set model.{overridden[0]} instead"
        )
    try:
        kind.settings.model_validate(dict(shared) | own | {"kind": name})
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        if first["type"] == "missing":
            raise ValueError(
                f"has no {key} {where}; the {name} kind needs it (configs/model/{name}.yaml "
                "shows its keys)"
            ) from None
        if key in shared and key not in own:
            # The model's own key (model.anchor, model.quantiles), which this kind refuses:
            # named where it is set, in the kind's own words.
            reason = first.get("ctx", {}).get("error", first["msg"])
            raise ValueError(f"has a {name} kind {where}, and model.{key} {reason}") from None
        raise ValueError(
            f"has {key} {first['input']!r} {where}, which the {name} kind refuses: "
            f"{first['msg'][0].lower()}{first['msg'][1:]}"
        ) from None


class EnsembleCore(nn.Module):
    """Each candidate's core on its slice of the members, reading its own recent values (and
    the level inputs, where the members have them and its kind reads them): one contiguous span
    of the input columns, made for those members only (`ScaledWindows`), or read as a view of
    whole features (a gather of the columns took an eighth of a training step)."""

    # The network hands it `ScaledWindows`, not every member's view of every value.
    reads_parts = True

    def __init__(self, cores: Sequence[nn.Module], spans: Sequence[tuple[int, int]]) -> None:
        super().__init__()
        self.cores = nn.ModuleList(cores)
        # Each core's slice of the members and span of the inputs (a core's member count is
        # fixed; reading it from its weights on every call was a twentieth of a served forecast).
        ends = itertools.accumulate(int(core.members) for core in cores)
        self.parts = [
            (core, slice(end - int(core.members), end), slice(int(start), int(stop)))
            for core, end, (start, stop) in zip(cores, ends, spans, strict=True)
        ]

    @property
    def members(self) -> int:
        return sum(int(core.members) for core in self.cores)

    def forward(self, features: torch.Tensor | ScaledWindows) -> torch.Tensor:
        if isinstance(features, ScaledWindows):
            return torch.cat([core(features.part(rows, span)) for core, rows, span in self.parts])
        return torch.cat([core(features[rows, ..., span]) for core, rows, span in self.parts])

    def zero_outputs(self, columns: slice) -> None:
        for core in self.cores:
            core.zero_outputs(columns)

    def subtract_outputs(self, columns: slice, reference: slice) -> None:
        for core in self.cores:
            core.subtract_outputs(columns, reference)

    def start_anchored(self) -> None:
        for core in self.cores:
            start_anchored(core)

    def fit_to_series(self, series: Sequence[np.ndarray]) -> None:
        for core in self.cores:
            fit_to_series(core, series)


@dataclass(frozen=True)
class EnsembleKind(ModelKind):
    """The ensemble's network spec holds each candidate's own spec."""

    def members_per_scaler(self, network: Mapping[str, Any]) -> int:
        return len(network["candidates"])

    def model_names(self, network: Mapping[str, Any], window: int) -> list[str]:
        return [
            name
            for c in network["candidates"]
            for name in model_kind(c["kind"]).model_names(
                c["network"], min(int(c.get("window") or window), window)
            )
        ]

    def kinds_used(self, network: Mapping[str, Any]) -> list[str]:
        return [self.name, *(str(c["kind"]) for c in network["candidates"])]

    def state_in_todays_layout(
        self, network: Mapping[str, Any], state: dict[str, Any]
    ) -> dict[str, Any]:
        """Each candidate's part in today's layout of its own kind, which sees it as it sees
        its core alone (`core.` keys): a kind whose saved weights changed layout is upgraded
        inside an ensemble too, where it loaded as missing and unexpected keys."""
        prefixes = [CANDIDATE_STATE.format(n) for n in range(len(network["candidates"]))]
        upgraded = {k: v for k, v in state.items() if not k.startswith(tuple(prefixes))}
        for prefix, candidate in zip(prefixes, network["candidates"], strict=True):
            own = {
                CORE_STATE + key.removeprefix(prefix): value
                for key, value in state.items()
                if key.startswith(prefix)
            }
            named = str(candidate["kind"])
            with upgrading(named):
                own = model_kind(named).state_in_todays_layout(candidate["network"], own)
            upgraded |= {prefix + key.removeprefix(CORE_STATE): v for key, v in own.items()}
        return self.upgrade_state(upgraded)

    def network_spec(
        self, model_cfg: Mapping[str, Any], data_meta: Mapping[str, Any]
    ) -> dict[str, Any]:
        candidates = []
        for candidate in model_cfg["candidates"]:
            kind = model_kind(candidate["kind"])
            own = {k: v for k, v in candidate.items() if k not in CANDIDATE_KEYS}
            candidates.append(
                {
                    "kind": candidate["kind"],
                    "window": candidate.get("window"),
                    "network": kind.network_spec(own, data_meta),
                }
            )
        return {"candidates": candidates}

    def architecture_differences(
        self, ours: Mapping[str, Any], theirs: Mapping[str, Any], prefix: str = "model."
    ) -> list[str]:
        """Candidate by candidate: their number, each one's kind and window, and its kind's
        own architecture keys (a candidate's dropout, say, only shapes training)."""
        mine, saved = ours["candidates"], theirs.get("candidates") or []
        if len(mine) != len(saved):
            return [f"{prefix}candidates has {len(saved)} candidates, this run's {len(mine)}"]
        found = []
        for number, (own, old) in enumerate(zip(mine, saved, strict=True)):
            where = f"{prefix}candidates.{number}."
            if own["kind"] != old["kind"] or own.get("window") != old.get("window"):
                found += [
                    f"{where}{key} is {old.get(key)}, this run's {own.get(key)}"
                    for key in CANDIDATE_KEYS
                    if own.get(key) != old.get(key)
                ]
                continue
            kind = model_kind(own["kind"])
            found += kind.architecture_differences(own["network"], old["network"], where)
        return found


def build_ensemble(
    network: Mapping[str, Any], window: int, member_inputs: Sequence[int], outputs: int
) -> EnsembleCore:
    """Members come candidate by candidate, each with one member per scaled view."""
    candidates = network["candidates"]
    per_candidate = len(member_inputs) // len(candidates)
    cores, spans = [], []
    for number, candidate in enumerate(candidates):
        inputs = member_inputs[number * per_candidate : (number + 1) * per_candidate]
        reads = min(int(candidate.get("window") or window), window)
        extra = max(inputs) - window  # the level inputs after the window, where there are any
        own_inputs = [reads + (size - window) for size in inputs]
        kind = model_kind(candidate["kind"])
        core = build_core(
            kind, str(candidate["kind"]), candidate["network"], reads, own_inputs, outputs
        )
        # A level-free kind (Theta, exponential smoothing) never reads the level inputs.
        spans.append((window - reads, window + (0 if level_free_members(core)[0] else extra)))
        cores.append(core)
    return EnsembleCore(cores, spans)


KIND = EnsembleKind(
    name="ensemble",
    settings=EnsembleSettings,
    build_core=build_ensemble,
    network_keys=("candidates",),
)
