"""Warm start: begin a fit from a registered model's weights (`train.init_from`).

A daily retrain on one more day of prices need not start from random weights: the champion
already knows the series. The weights are only reused when the network they came from is the
same kind and shape and reads the same windows; anything else is refused before training starts,
but for a window `data.previous_time_window=auto` grew with the data, where the fit starts cold.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from safetensors.torch import load_file

from stockcast.data.auto_window import AUTO
from stockcast.errors import ConfigError
from stockcast.forecasting.windows import WINDOW_KEYS
from stockcast.models.cores import start_anchored
from stockcast.models.kind import model_kind
from stockcast.models.network import PriceForecaster
from stockcast.models.spec import SHARED_KEYS, load_weights, saved_forecaster, upgrade_spec
from stockcast.registry.freshness import later_data_end
from stockcast.registry.store import ModelRegistry
from stockcast.serving.metadata import (
    evaluated_model_dir,
    model_artifact,
    model_spec,
    read_model_metadata,
)

log = logging.getLogger(__name__)

# The prices of the window a model saved without `naive_fallback` in its metadata is asked
# whether it repeats the last price: rising, as a flat window leaves some kinds' outputs zero
# without a fallback.
PROBE_PRICES = (1.0, 2.0)
# How a warm-start refusal names the data's season (a seasonal kind's data key).
SEASON_KEY = "data.season_length"


@dataclass(frozen=True)
class WarmStart:
    """The weights to start from and where they came from."""

    state: dict[str, Any]
    source: dict[str, Any]
    # The start model fell back to the last price: its point outputs were zeroed.
    fell_back: bool = False


def differences(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """What keeps a model's weights from serving as this fit's start, one phrase per setting."""
    ours, theirs = upgrade_spec(ours), upgrade_spec(theirs)
    if ours["kind"] != theirs["kind"]:
        return [f"model.kind is {theirs['kind']}, this run's {ours['kind']}"]
    found = [
        f"{key} is {theirs[key]}, this run's {ours[key]}"
        for key in WINDOW_KEYS
        if int(ours[key]) != int(theirs[key])
    ]
    for key in SHARED_KEYS:
        if ours[key] != theirs.get(key):
            found.append(f"model.{key} is {theirs.get(key)}, this run's {ours[key]}")
    # Once each: an ensemble's candidates share the data's keys (data.season_length).
    architecture = model_kind(ours["kind"]).architecture_differences
    found += dict.fromkeys(architecture(ours["network"], theirs["network"]))
    if ours["scaler"]["kind"] != theirs["scaler"]["kind"]:
        found.append(
            f"normalization is {theirs['scaler']['kind']}, this run's {ours['scaler']['kind']}"
        )
    return found


def window_grew_alone(cfg: Any, ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Whether the only difference is the window `data.previous_time_window=auto` chose: the
    data grew past the point where a longer window fits its train split, or a shorter series
    joined a panel and shrank it. Refused, either would fail every later day of a daily loop."""
    if str(cfg.get("data", {}).get("previous_time_window")) != AUTO:
        return False
    same_window = {**theirs, "previous_time_window": ours["previous_time_window"]}
    return not differences(ours, same_window)


def season_found_anew(cfg: Any, found: list[str]) -> bool:
    """Whether the season among what differs is one the data chose (`data.season_length`
    null): nothing the user set changed, and a daily loop that warm-starts every day (a replay
    names `train.init_from` itself) fails each later day until the season is pinned."""
    season = cfg.get("data", {}).get("season_length")
    return season is None and any(phrase.startswith(f"{SEASON_KEY} is ") for phrase in found)


def refusal_advice(cfg: Any, found: list[str], saved_season: Any) -> str:
    """What to do about a start model that differs in `found`, as the refusal's last clause:
    where the data chose another season than the model's (`saved_season`), pinning that
    season works in a replay too, where `train.init_from=null` is overridden each day."""
    if saved_season is None or not season_found_anew(cfg, found):
        return "train cold (train.init_from=null) or use its settings."
    return (
        f"{SEASON_KEY} is null, so the season is found in the data, which now gives another; "
        f"set {SEASON_KEY}={saved_season} to keep that model's, or train cold "
        "(train.init_from=null; in a replay, replay.warm_start=false)."
    )


def resolve_init_from(value: int | str) -> dict[str, Any]:
    """`train.init_from` as registry lookup arguments: a version number or an alias name."""
    text = str(value)
    return {"version": int(text)} if text.isdigit() else {"alias": text}


def cold_reason(cfg: Any) -> str:
    """Why `warm_start` gave None, as a clause: it does so only without `train.init_from`, or
    where the window `data.previous_time_window=auto` chose is not the named model's."""
    init_from = cfg.get("train", {}).get("init_from")
    if init_from is None:
        return "train.init_from is null"
    return (
        "the fit started cold: data.previous_time_window=auto gave another window than the "
        f"model train.init_from={init_from} names reads"
    )


def warm_start(
    cfg: Any, spec: dict[str, Any], workdir: Path, data_last_date: str | None = None
) -> WarmStart | None:
    """The registered weights named by `train.init_from`, checked against this run's network
    `spec` and data (ending on `data_last_date`); None when the run starts cold."""
    init_from = cfg.get("train", {}).get("init_from")
    if init_from is None:
        return None
    registry = ModelRegistry.from_config(cfg.registry)
    info = registry.resolve(**resolve_init_from(init_from))
    later = later_data_end(data_last_date, info)
    if later is not None:
        # A run of an earlier day (data.require_new_data=false): the version's weights were
        # fitted, or chosen, on values this run's validation and test windows forecast.
        raise ConfigError(
            f"train.init_from={init_from} names {registry.label(info)}, whose data ends on "
            f"{later}, after this run's ({data_last_date}), so its weights have seen the values "
            "this run is scored on; start from a version of earlier data by number, or train "
            "cold (train.init_from=null)."
        )
    copy, digest = registry.verified_folder(info, workdir / f"init_v{info.version}")
    # A refit champion has seen this run's validation and test windows; the evaluated model
    # inside it has not, so that is where a fit that will be scored on them starts.
    folder = evaluated_model_dir(copy)
    saved = model_spec(folder)
    found = differences(spec, saved)
    if found and window_grew_alone(cfg, spec, saved):
        # Nothing the user set differs: the window the data chose is not the champion's, so
        # its weights fit no input layer of this run. A daily loop trains cold that day (and
        # warm again from the champion it registers) rather than failing every later day.
        log.warning(
            "train.init_from=%s names %s, which reads %d values; the data now gives "
            "data.previous_time_window=auto a window of %d, so this fit starts cold",
            init_from,
            registry.label(info),
            int(saved["previous_time_window"]),
            int(spec["previous_time_window"]),
        )
        return None
    if found:
        advice = refusal_advice(cfg, found, read_model_metadata(folder).get("season_length"))
        raise ConfigError(
            f"train.init_from={init_from} names {registry.label(info)}, which cannot start this "
            "fit (its " + "; its ".join(found) + "); " + advice
        )
    state = load_file(str(model_artifact(folder, "weights")))
    return WarmStart(
        state,
        {
            "version": info.version,
            "model_name": registry.model_name,
            "model_hash": digest,
            "weights": "evaluated" if folder != copy else "registered",
        },
        start_model_fell_back(read_model_metadata(folder), saved, state),
    )


def start_model_fell_back(
    metadata: dict[str, Any], spec: dict[str, Any], state: dict[str, torch.Tensor]
) -> bool:
    """Whether the model a warm start begins from fell back to the last price (this fit's own
    fallback is `naive_fallback.falls_back_to_naive`'s to decide): its metadata's `naive_fallback`.
    A model saved before the metadata said so (a champion registered by older code) is asked:
    the fallback zeroed its point outputs, which no fitted model leaves zero for a rising window.
    Read as no fallback, a warm start kept its ets and Theta gates at zero, and every warm
    fit after it repeated the last price through them."""
    if "naive_fallback" in metadata:
        return bool(metadata["naive_fallback"])
    net = saved_forecaster(spec, state)
    if not net.anchored:
        return False
    prices = torch.linspace(*PROBE_PRICES, net.input_size, dtype=torch.float32)[None]
    with torch.no_grad():
        outputs = net.eval().member_outputs(prices)[0]
    return not bool(outputs[:, :, net.point_index, :].any())


def load_keeping_scaling(
    net: PriceForecaster, spec: dict[str, Any], state: dict[str, torch.Tensor]
) -> None:
    """Load the start model's weights into `net`, keeping `net`'s own train statistics.

    A weights file also holds the statistics its `standard`, `minmax` and `per_window_level`
    members scaled windows by, those of the data that model was fitted on. This run's spec,
    from which its saved model is rebuilt, records this run's; loading the others left a weights
    file that scaled by one and a spec that named another, and a champion of prices near 10
    scaled this run's prices near 5,000 hundreds of its units away from anything it was
    trained on. A refit keeps the evaluated model's statistics for the same reason."""
    own = {name: buffer.detach().clone() for name, buffer in net.scalers.named_buffers()}
    load_weights(net, spec, state)
    with torch.no_grad():
        for name, value in own.items():
            net.scalers.get_buffer(name).copy_(value)


def restart_outputs(net: PriceForecaster) -> None:
    """Start the outputs of a network loaded from a model that fell back to the last price
    as a cold fit starts them (`start_anchored`). The fallback zeroed them, ets's and Theta's
    gates among them: ets's is no weight a step moves and Theta's climbs slowly at a warm
    start's lower rate, so both went on repeating the last price in every warm fit after
    it, and in every champion a daily loop of warm starts registered from then on."""
    start_anchored(net.core)


def start_warm(
    cfg: DictConfig,
    model: Any,
    spec: dict[str, Any],
    workdir: Path,
    data_last_date: str | None,
    steps: int | None = None,
) -> WarmStart | None:
    """Load the weights `train.init_from` names into the network (None: a cold start), for a fit
    on data ending on `data_last_date` of `steps` optimizer steps (default
    `train.warm_max_steps`; a refit repeats the evaluated fit's)."""
    warm = warm_start(cfg, spec, workdir, data_last_date)
    if warm is not None:
        load_keeping_scaling(model.net, spec, warm.state)
        if warm.fell_back:
            restart_outputs(model.net)
        # Fine-tuning from a trained model: a full learning rate throws away what it knew.
        lr = float(cfg.optim.lr) * float(cfg.train.warm_lr_scale)
        model.optimizer_factory = functools.partial(model.optimizer_factory, lr=lr)
        log.info(
            "starting from %s version %d's weights (train.init_from)%s, %d optimizer steps",
            warm.source["model_name"],
            warm.source["version"],
            ", its outputs anew: it fell back to the last price" if warm.fell_back else "",
            int(cfg.train.warm_max_steps) if steps is None else steps,
        )
    return warm
