"""A model's JSON spec: what rebuilds its network (and nothing that could run code). The one
place the users' words meet the network's: previous_time_window is the input size,
next_time_window the horizon.

Layout: `kind`, the two window sizes, `network` (the kind's own keys), `anchor`, `quantiles`,
`scaler` (one entry per member), `level_range` (the values it was fitted on, where the members
that read the level step aside for a window outside them), and after training `combination`
(member weights), `intervals` (calibrated bounds) and `num_threads`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from stockcast.forecasting.quantiles import quantile_levels
from stockcast.forecasting.windows import WindowSizes
from stockcast.models.cores import build_core, upgrading
from stockcast.models.kind import model_kind
from stockcast.models.level_range import LevelRange
from stockcast.models.network import PriceForecaster
from stockcast.models.scaling import LEVEL_INPUTS, LEVEL_KIND, WindowScaler, scaler_members

# Keys of the `model` config that every kind's spec records beside its own.
SHARED_KEYS = ("anchor", "quantiles")


def network_spec(
    model_cfg: Mapping[str, Any],
    sizes: WindowSizes,
    scaler: Mapping[str, Any],
    data_meta: Mapping[str, Any],
    level_range: LevelRange | None = None,
) -> dict[str, Any]:
    """The spec of the network the `model` config describes for the prepared data `data_meta`
    (meta.json), before training adds to it."""
    kind = model_kind(model_cfg["kind"])
    return {
        # The name `model_kind` resolves: a built-in's short name or a kind module's path.
        "kind": str(model_cfg["kind"]),
        **sizes.as_dict(),
        "network": kind.network_spec(model_cfg, data_meta),
        "anchor": str(model_cfg["anchor"]),
        "quantiles": [float(q) for q in model_cfg["quantiles"]],
        "scaler": dict(scaler),
        **({"level_range": level_range._asdict()} if level_range is not None else {}),
    }


def upgrade_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A spec saved before model kinds (an `mlp` block holding anchor and quantiles too) in
    today's layout; today's specs come back unchanged."""
    spec = dict(spec)
    if "kind" in spec or "mlp" not in spec:
        return spec
    block = dict(spec.pop("mlp"))
    return spec | {
        "kind": "mlp",
        "network": {k: block[k] for k in ("hidden_sizes", "activation", "dropout") if k in block},
        "anchor": block["anchor"],
        "quantiles": block.get("quantiles", []),
    }


def build_price_forecaster(spec: Mapping[str, Any]) -> PriceForecaster:
    """Rebuild the network from its JSON spec (what a saved model directory stores)."""
    spec = upgrade_spec(spec)
    kind = model_kind(spec["kind"])
    quantiles = [float(q) for q in spec.get("quantiles", [])]
    # Each kind model per scaled view: scalers repeat, model by model.
    members = scaler_members(spec["scaler"]) * kind.members_per_scaler(spec["network"])
    window = int(spec["previous_time_window"])
    horizon = int(spec["next_time_window"])
    member_inputs = [window + (LEVEL_INPUTS if m["kind"] == LEVEL_KIND else 0) for m in members]
    min_relative_scale = float(spec["scaler"]["min_relative_scale"])
    level = float(spec["scaler"].get("level", 1.0))
    outputs = horizon * max(1, len(quantiles))
    core = build_core(kind, str(spec["kind"]), spec["network"], window, member_inputs, outputs)
    return PriceForecaster(
        core,
        [
            WindowScaler(
                str(m["kind"]), float(m["loc"]), float(m["scale"]), min_relative_scale, level
            )
            for m in members
        ],
        input_size=window,
        horizon=horizon,
        anchor=spec["anchor"],
        quantiles=quantiles,
        # A model saved before weighted combinations has no `combination`: the members' mean.
        member_weights=(spec.get("combination") or {}).get("weights"),
        # A model saved before the rule has no range: every member forecasts every window.
        level_range=LevelRange(**spec["level_range"]) if spec.get("level_range") else None,
    )


def load_weights(
    net: PriceForecaster, spec: Mapping[str, Any], state: Mapping[str, torch.Tensor]
) -> None:
    """Load saved weights into the network `spec` built, in the layout the kind uses today: its
    upgrade_state raising is the kind author's mistake, named in one sentence like its
    build_core's, not a traceback from serving, predicting or a warm start."""
    spec = upgrade_spec(spec)
    named = str(spec["kind"])
    with upgrading(named):
        upgraded = model_kind(named).state_in_todays_layout(spec["network"], dict(state))
    net.load_state_dict(upgraded)


def saved_forecaster(spec: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> PriceForecaster:
    """The network `spec` builds, with saved weights loaded: a model folder's, or a refit's
    sent back from the process it was fitted in."""
    net = build_price_forecaster(spec)
    load_weights(net, spec, state)
    return net


def spec_levels(spec: Mapping[str, Any]) -> list[str]:
    """The interval levels a model spec serves: its conformal bounds, or its quantile pairs."""
    spec = upgrade_spec(spec)
    bounds = (spec.get("intervals") or {}).get("bounds") or {}
    quantiles = spec.get("quantiles") or []
    if bounds or not quantiles:
        return list(bounds)
    return quantile_levels(quantiles)


def member_names(spec: Mapping[str, Any]) -> list[str]:
    """Each member of the network `spec` builds, in order: its model and its scaled view."""
    spec = upgrade_spec(spec)
    kind = model_kind(spec["kind"])
    models = kind.model_names(spec["network"], int(spec["previous_time_window"]))
    views = [str(m["kind"]) for m in scaler_members(spec["scaler"])]
    return [f"{model}, {view}" for model in models for view in views]
