"""A test-only model kind: every member forecasts one learned change per horizon step, whatever
the window (a random walk with drift). It lives outside `src/` on purpose: with its config
(`tests/configs/model/drift.yaml`) it is all it takes to train, register, serve and predict a new
kind."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

from stockcast.models.kind import ModelKind
from stockcast.models.settings import ModelSettings

NAME = "tests.model_kinds.drift"


class DriftSettings(ModelSettings):
    kind: Literal["tests.model_kinds.drift"]


class Drift(nn.Module):
    """(members, batch, inputs) -> (members, batch, outputs): each member's learned constants."""

    def __init__(self, members: int, outputs: int) -> None:
        super().__init__()
        self.drift = nn.Parameter(torch.zeros(members, 1, outputs))

    @property
    def members(self) -> int:
        return int(self.drift.shape[0])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.drift.expand(-1, features.shape[1], -1)

    def zero_outputs(self, columns: slice) -> None:
        with torch.no_grad():
            self.drift[:, :, columns] = 0.0


def build_drift(
    network: Mapping[str, Any], window: int, member_inputs: Sequence[int], outputs: int
) -> Drift:
    return Drift(len(member_inputs), outputs)


KIND = ModelKind(
    name=NAME,
    settings=DriftSettings,
    build_core=build_drift,
    network_keys=(),
)
