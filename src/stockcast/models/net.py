"""Pure PyTorch: the MLP and the price-in, price-out network that wraps it. No Lightning here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
}


class MLP(nn.Module):
    """input_size past values -> hidden layers -> horizon future values (NeuralForecast naming)."""

    def __init__(
        self,
        input_size: int,
        horizon: int,
        hidden_sizes: Sequence[int] = (100, 100),
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = input_size
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, int(hidden)), ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = int(hidden)
        layers.append(nn.Linear(width, horizon))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class WindowScaler(nn.Module):
    """Maps raw-price windows to the scale the MLP works in, and forecasts back to prices.

    per_window: each window by its own mean and std (floored relative to its level, so a flat
    window gives finite output); standard/minmax: fixed train statistics; none: identity.
    """

    def __init__(
        self, kind: str, loc: float = 0.0, scale: float = 1.0, min_relative_scale: float = 1e-4
    ) -> None:
        super().__init__()
        self.kind = kind
        self.min_relative_scale = min_relative_scale
        self.register_buffer("loc", torch.tensor(float(loc)))
        self.register_buffer("scale", torch.tensor(float(scale)))

    def statistics(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loc, scale) per row, each of shape (batch, 1)."""
        if self.kind != "per_window":
            return self.loc.expand(x.shape[0], 1), self.scale.expand(x.shape[0], 1)
        loc = x.mean(dim=-1, keepdim=True)
        spread = x.std(dim=-1, keepdim=True, unbiased=False)
        floor = self.min_relative_scale * loc.abs() + torch.finfo(x.dtype).eps
        return loc, torch.maximum(spread, floor)


class PriceForecaster(nn.Module):
    """Raw prices in (batch, input_size), raw prices out (batch, horizon): scaling is inside.

    With `anchor="last"` the MLP forecasts the change from the last input price (a residual on
    the naive forecast) and its output layer starts at zero, so an untrained or unhelpful model
    repeats the last price: it departs from that only where training rewards it.
    """

    def __init__(
        self,
        mlp: MLP,
        scaler: WindowScaler,
        anchor: str = "none",
        quantiles: Sequence[float] = (),
    ) -> None:
        super().__init__()
        self.mlp = mlp
        self.scaler = scaler
        self.anchored = anchor == "last"
        # Quantile training: the MLP forecasts every quantile of every step; the median is the
        # point forecast. Without quantiles there is one output per step.
        self.quantiles = tuple(float(q) for q in quantiles)
        self.point_index = self.quantiles.index(0.5) if self.quantiles else 0
        if self.anchored:
            self._zero_outputs(slice(None))

    def _zero_outputs(self, rows: slice) -> None:
        output = self.mlp.layers[-1]
        with torch.no_grad():
            output.weight[rows] = 0.0
            output.bias[rows] = 0.0

    def fall_back_to_naive(self) -> None:
        """Zero the point forecast's outputs: an anchored model then repeats the last price
        exactly (a quantile model keeps its learned spread around it)."""
        if not self.anchored:
            raise ValueError("only an anchored model (anchor='last') has a naive fallback")
        horizon = self.mlp.layers[-1].out_features // max(1, len(self.quantiles))
        self._zero_outputs(slice(self.point_index * horizon, (self.point_index + 1) * horizon))

    def forward(self, prices: torch.Tensor) -> torch.Tensor:
        """Point forecasts in price units, (batch, horizon)."""
        forecast, _, loc, scale = self.scaled(prices)
        return forecast * scale + loc

    def quantile_forecast(self, prices: torch.Tensor) -> torch.Tensor:
        """Every output in price units, (batch, quantiles or 1, horizon)."""
        outputs, loc, scale = self._scaled_outputs(prices)
        return outputs * scale[:, :, None] + loc[:, :, None]

    def _scaled_outputs(
        self, prices: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        loc, scale = self.scaler.statistics(prices)
        inputs = (prices - loc) / scale
        outputs = self.mlp(inputs).reshape(len(prices), max(1, len(self.quantiles)), -1)
        if self.anchored:
            outputs = outputs + inputs[:, None, -1:]
        return outputs, loc, scale

    def scaled(
        self, prices: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """Point forecast and targets in the scaled space, plus the statistics used."""
        outputs, loc, scale = self._scaled_outputs(prices)
        scaled_targets = None if targets is None else (targets - loc) / scale
        return outputs[:, self.point_index, :], scaled_targets, loc, scale

    def scaled_quantiles(
        self, prices: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Every quantile and the targets in the scaled space, for the pinball loss."""
        outputs, loc, scale = self._scaled_outputs(prices)
        return outputs, (targets - loc) / scale


def build_price_forecaster(spec: Mapping[str, Any]) -> PriceForecaster:
    """Rebuild the network from its JSON spec (what the saved model directory stores).

    The one place the users' words meet the network's: previous_time_window is the MLP's
    input_size, next_time_window its horizon.
    """
    mlp, scaler = spec["mlp"], spec["scaler"]
    quantiles = [float(q) for q in mlp.get("quantiles", [])]
    return PriceForecaster(
        MLP(
            input_size=int(spec["previous_time_window"]),
            horizon=int(spec["next_time_window"]) * max(1, len(quantiles)),
            hidden_sizes=[int(h) for h in mlp["hidden_sizes"]],
            activation=mlp["activation"],
            dropout=float(mlp["dropout"]),
        ),
        WindowScaler(
            scaler["kind"],
            float(scaler["loc"]),
            float(scaler["scale"]),
            float(scaler["min_relative_scale"]),
        ),
        anchor=mlp["anchor"],
        quantiles=quantiles,
    )


def network_spec(
    model_cfg: Mapping[str, Any], window: Any, scaler: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON-able description `build_price_forecaster` needs; `window` has the two sizes."""
    return {
        "previous_time_window": int(window.previous_time_window),
        "next_time_window": int(window.next_time_window),
        "mlp": {
            "hidden_sizes": [int(h) for h in model_cfg["hidden_sizes"]],
            "activation": str(model_cfg["activation"]),
            "dropout": float(model_cfg["dropout"]),
            "anchor": str(model_cfg["anchor"]),
            "quantiles": [float(q) for q in model_cfg["quantiles"]],
        },
        "scaler": dict(scaler),
    }
