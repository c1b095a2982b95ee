"""The MLP kind: every member an MLP from its scaled window to its scaled forecast (NeuralForecast's
MLP, with members held as stacked weights)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import torch
from pydantic import Field
from torch import nn

from stockcast.fields import AsWhole, Number
from stockcast.models.kind import ModelKind
from stockcast.models.settings import ModelSettings

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
}


class MlpSettings(ModelSettings):
    kind: Literal["mlp"]
    hidden_sizes: Annotated[
        list[Annotated[int, Field(strict=True, gt=0), AsWhole]],
        Field(description="a list of whole numbers above 0 ([] is a linear model)"),
    ]
    activation: Literal[tuple(ACTIVATIONS)]  # type: ignore[valid-type]
    dropout: Annotated[Number, Field(ge=0, lt=1, description="in [0, 1)")]


class MLP(nn.Module):
    """input_size past values -> hidden layers -> horizon future values (NeuralForecast naming).

    `members` independent MLPs of one shape held as stacked weights, so all of them run in one
    batched matrix product per layer: three members cost about what one does (a loop over three
    nn.Linear stacks was 2.5x slower per step on this tiny network). Input x: (members, batch,
    input_size) gives (members, batch, horizon); a one-member MLP also takes (batch, input_size).
    """

    def __init__(
        self,
        input_size: int,
        horizon: int,
        hidden_sizes: Sequence[int],
        activation: str,
        dropout: float,
        members: int = 1,
        member_inputs: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        widths = [input_size, *(int(h) for h in hidden_sizes), horizon]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.activation = ACTIVATIONS[activation]()
        self.dropout = dropout
        # Each member starts as nn.Linear layers would (same initialisation, drawn member by
        # member); a member with fewer inputs (member_inputs) keeps zero weights for the rest,
        # which it is always fed as zeros, so they stay zero.
        inputs = list(member_inputs or [input_size] * members)
        stacked: list[list[tuple[torch.Tensor, torch.Tensor]]] = []
        for used in inputs:
            layers = []
            for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
                linear = nn.Linear(used if i == 0 else fan_in, fan_out)
                weight = torch.zeros(fan_in, fan_out)
                weight[: linear.in_features] = linear.weight.detach().T
                layers.append((weight, linear.bias.detach().reshape(1, -1)))
            stacked.append(layers)
        for i in range(len(widths) - 1):
            self.weights.append(nn.Parameter(torch.stack([m[i][0] for m in stacked])))
            self.biases.append(nn.Parameter(torch.stack([m[i][1] for m in stacked])))

    @property
    def members(self) -> int:
        return int(self.weights[0].shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            return self.forward(x[None])[0]
        layers = self.layers()
        last = len(layers) - 1
        for i, (weight, bias) in enumerate(layers):
            x = torch.baddbmm(bias, x, weight)
            if i < last:
                x = self.activation(x)
                if self.dropout > 0 and self.training:
                    x = x * self._dropout_mask(x)
        return x

    def layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each layer's (weight, bias), read from the lists' own storage: a ParameterList's
        indexing cost about a tenth of a served forecast of one window."""
        return list(
            zip(self.weights._parameters.values(), self.biases._parameters.values(), strict=True)
        )

    def _dropout_mask(self, x: torch.Tensor) -> torch.Tensor:
        """Inverted dropout's mask from 16 random bits per value, four from each 64-bit draw,
        the drop probability rounded to 1/65536: on CPU, torch's dropout (a Bernoulli draw) took
        16% of a small fit's time, one uniform float per value half as long, and this a third
        less again (0.4 ms of a 10 ms training step of experiment=auto on taylor)."""
        count = x.numel()
        draws = torch.empty(-(-count // 4), dtype=torch.int64, device=x.device)
        bits = draws.random_(-(2**63), None).view(torch.int16)[:count].view(x.shape)
        dropped_below = round(self.dropout * 2**16) - 2**15
        return (bits >= dropped_below).to(x.dtype).mul_(1.0 / (1.0 - self.dropout))

    def zero_outputs(self, columns: slice) -> None:
        with torch.no_grad():
            self.weights[-1][:, :, columns] = 0.0
            self.biases[-1][:, :, columns] = 0.0

    def subtract_outputs(self, columns: slice, reference: slice) -> None:
        """Outputs `columns` become their difference from outputs `reference` (the last layer is
        linear, so its weights and biases subtract)."""
        with torch.no_grad():
            self.weights[-1][:, :, columns] -= self.weights[-1][:, :, reference]
            self.biases[-1][:, :, columns] -= self.biases[-1][:, :, reference]


def build_mlp(
    network: Mapping[str, Any], window: int, member_inputs: Sequence[int], outputs: int
) -> MLP:
    return MLP(
        input_size=max(member_inputs),
        horizon=outputs,
        hidden_sizes=[int(h) for h in network["hidden_sizes"]],
        activation=str(network["activation"]),
        dropout=float(network["dropout"]),
        members=len(member_inputs),
        member_inputs=member_inputs,
    )


def upgrade_state(state: dict[str, Any]) -> dict[str, Any]:
    """Weights saved by earlier layouts: one nn.Sequential MLP and one scaler (before members),
    and the stacked MLP kept as `mlp` (before model kinds), both as today's `core`."""
    if any(key.startswith("mlp.layers.") for key in state):
        linears = sorted({int(key.split(".")[2]) for key in state if key.startswith("mlp.layers.")})
        converted = {
            f"scalers.0.{key.removeprefix('scaler.')}": value
            for key, value in state.items()
            if key.startswith("scaler.")
        }
        for i, index in enumerate(linears):
            converted[f"core.weights.{i}"] = state[f"mlp.layers.{index}.weight"].T[None]
            converted[f"core.biases.{i}"] = state[f"mlp.layers.{index}.bias"][None, None]
        return converted
    return {
        ("core." + key.removeprefix("mlp.") if key.startswith("mlp.") else key): value
        for key, value in state.items()
    }


KIND = ModelKind(
    name="mlp",
    settings=MlpSettings,
    build_core=build_mlp,
    network_keys=("hidden_sizes", "activation", "dropout"),
    # Dropout only changes training; the other two change what the weights mean.
    architecture_keys=("hidden_sizes", "activation"),
    upgrade_state=upgrade_state,
)
