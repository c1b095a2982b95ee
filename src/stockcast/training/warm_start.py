"""Warm start: begin a fit from a registered model's weights (`train.init_from`).

A daily retrain on one more day of prices need not start from random weights: the champion
already knows the series. The weights are only reused when the network they came from is the
same shape and reads the same windows; anything else is refused before training starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockcast.errors import ConfigError
from stockcast.serving.metadata import evaluated_model_dir, model_artifact, model_spec

# Settings that change the weights' meaning or shape; dropout only changes training.
ARCHITECTURE_KEYS = ("hidden_sizes", "activation", "anchor", "quantiles")


@dataclass(frozen=True)
class WarmStart:
    """The weights to start from and where they came from."""

    state: dict[str, Any]
    source: dict[str, Any]


def _weights_of(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(model_artifact(folder, "weights")))


def differences(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """What keeps a model's weights from serving as this fit's start, one phrase per setting."""
    found = []
    for key in ("previous_time_window", "next_time_window"):
        if int(ours[key]) != int(theirs[key]):
            found.append(f"{key} is {theirs[key]}, this run's {ours[key]}")
    for key in ARCHITECTURE_KEYS:
        if ours["mlp"][key] != theirs["mlp"].get(key):
            found.append(f"model.{key} is {theirs['mlp'].get(key)}, this run's {ours['mlp'][key]}")
    if ours["scaler"]["kind"] != theirs["scaler"]["kind"]:
        found.append(
            f"normalization is {theirs['scaler']['kind']}, this run's {ours['scaler']['kind']}"
        )
    return found


def resolve_init_from(value: int | str) -> dict[str, Any]:
    """`train.init_from` as registry lookup arguments: a version number or an alias name."""
    text = str(value)
    return {"version": int(text)} if text.isdigit() else {"alias": text}


def warm_start(cfg: Any, spec: dict[str, Any], workdir: Path) -> WarmStart | None:
    """The registered weights named by `train.init_from`, checked against this run's network
    `spec`; None when the run starts cold."""
    init_from = cfg.get("train", {}).get("init_from")
    if init_from is None:
        return None
    from stockcast.registry.store import ModelRegistry

    registry = ModelRegistry.from_config(cfg.registry)
    info = registry.resolve(**resolve_init_from(init_from))
    loaded = registry.load(info, workdir / f"init_v{info.version}")
    label = registry.label(info)
    # A refit champion has seen this run's validation and test windows; the evaluated model
    # inside it has not, so that is where a fit that will be scored on them starts.
    folder = evaluated_model_dir(loaded.folder)
    found = differences(spec, model_spec(folder))
    if found:
        raise ConfigError(
            f"train.init_from={init_from} names {label}, which cannot start this fit (its "
            + "; its ".join(found)
            + "); train cold (train.init_from=null) or use its settings."
        )
    return WarmStart(
        _weights_of(folder),
        {
            "version": info.version,
            "model_name": registry.model_name,
            "model_hash": loaded.digest,
            "weights": "evaluated" if folder != loaded.folder else "registered",
        },
    )
