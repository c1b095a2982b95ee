"""What a train step's metrics.json says of the evaluated fit's recipe, which a refit on more
history repeats: its budget (the best step and the batch), its learning-rate schedule, the
registered model it started from, and how many processes took a batch at each of its steps."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from stockcast.data.prepared import PreparedData
from stockcast.data.split import split_settings
from stockcast.errors import ArtifactError
from stockcast.files import read_json_object
from stockcast.training.distributed import configured_world_size

# A learning-rate schedule as a fit of any budget repeats it: (share of the steps taken, each
# parameter group's rate relative to its start from there on), in order.
LrDropShares = Sequence[tuple[float, Sequence[float]]]


@dataclass(frozen=True)
class FitSchedule:
    """A fixed-step fit's budget and learning-rate schedule: its optimizer steps, one rank's
    batch size and its `LrDropShares`. The evaluated fit's is what a refit repeats, each of
    its fits with its own steps (`refit_steps`), so they travel together."""

    optimizer_steps: int
    batch_size: int
    lr_drops: LrDropShares = ()


def read_train_metrics(metrics_path: Path) -> dict[str, Any]:
    """The train step's metrics.json, or one sentence where it is missing or damaged."""
    if not metrics_path.is_file():
        raise ArtifactError(
            f"{metrics_path} does not exist; point refit.train_output_dir at the train step's "
            "output folder."
        )
    metrics = read_json_object(metrics_path)
    if metrics is None:
        raise ArtifactError(
            f"{metrics_path} is not the JSON the train step writes (cut short or edited); run "
            "the train step again."
        )
    return metrics


def check_same_data(
    prepared: PreparedData,
    metadata: dict[str, Any],
    prepared_dir: str | Path,
    model_dir: str | Path,
    setting: str = "refit.prepared_dir",
) -> None:
    """Refuse a prepared folder of other data than the model was trained on: each step runs
    alone from plain folders, and another run's data would be refitted on and registered under
    the evaluated model's data hash, or scored as its test split (`setting`: the step's key
    that named the folder)."""
    found, expected = prepared.meta.get("data_hash"), metadata.get("data_hash")
    if found != expected:
        raise ArtifactError(
            f"{setting} {prepared_dir} holds other data than the model in {model_dir} "
            f"was trained on (data hash {found}, not {expected}); point both at the same "
            "pipeline run."
        )


def check_same_split(
    prepared: PreparedData,
    metadata: dict[str, Any],
    prepared_dir: str | Path,
    model_dir: str | Path,
) -> None:
    """Refuse a prepared folder of the model's data split otherwise (the data hash, which the
    splits do not change, passed it): the refit repeats the evaluated fit, whose budget is
    counted in its train split's windows and whose held-back check scores the evaluated model
    on the late half of its validation split; another split's are windows it was fitted on, or
    another count. A folder or model from before the record passes."""
    ours = (prepared.meta.get("source") or {}).get("split")
    theirs = (metadata.get("data_source") or {}).get("split")
    if not isinstance(ours, dict) or not isinstance(theirs, dict) or ours == theirs:
        return
    raise ArtifactError(
        f"refit.prepared_dir {prepared_dir} was split otherwise than the data of the model in "
        f"{model_dir} ({split_settings(ours)} there), and the refit repeats the model's fit on "
        "its train and validation splits; prepare the data with the model's splits "
        f"({split_settings(theirs)}), or point both at the same pipeline run."
    )


def evaluated_budget(metrics: dict[str, Any], metrics_path: Path) -> tuple[int, int]:
    """The evaluated fit's best optimizer step and batch size, which the refit repeats."""
    missing = [key for key in ("best_step", "batch_size") if key not in metrics]
    if missing:
        raise ArtifactError(
            f"{metrics_path} has no {' or '.join(missing)} (an older train step wrote it); run "
            "the train step again before the refit."
        )
    return int(metrics["best_step"]), int(metrics["batch_size"])


def lr_drops_before(drops: list[list[Any]] | None, best_step: int) -> list[list[Any]] | None:
    """The scheduler's changes ([steps taken, each group's rate relative to its start]) that
    the steps up to the best one took: one recorded after N steps set the rate of step N + 1
    on, so a change at the best step's own validation took no part in it. None where the
    schedule is not known."""
    if drops is None:
        return None
    return [[int(step), [float(s) for s in scales]] for step, scales in drops if step < best_step]


def lr_drop_shares(drops: list[list[Any]] | None, best_step: int) -> LrDropShares:
    """`drops` as shares of `best_step`, what a fit of another budget repeats; none where
    there are none or they are not known: the starting rate throughout."""
    best = max(1, int(best_step))
    return [(int(step) / best, tuple(float(s) for s in scales)) for step, scales in drops or []]


def evaluated_lr_drops(metrics: dict[str, Any]) -> LrDropShares:
    """The evaluated fit's learning-rate schedule (`lr_drops` in its metrics.json) as shares of
    its best step: none recorded or known (a train step before the schedule was kept, or a fit
    resumed from one) is the starting rate throughout."""
    return lr_drop_shares(metrics.get("lr_drops"), int(metrics.get("best_step") or 1))


def pinned_processes(cfg: DictConfig, metrics: dict[str, Any]) -> DictConfig:
    """The config with the evaluated fit's process count (`processes` in its metrics), where
    it records one this config does not ask for: its steps took that many batches each, and the
    refit's must too. A cloud pipeline's train step alone gets the nodes and devices of a
    distributed run (azureml.distributed_steps); the refit step's config asks for fewer."""
    processes = metrics.get("processes")
    if not isinstance(processes, int) or processes == configured_world_size(cfg.trainer):
        return cfg
    pinned = copy.deepcopy(cfg)
    with open_dict(pinned):
        pinned.trainer.devices, pinned.trainer.num_nodes = 1, processes
        if processes == 1:
            pinned.trainer.strategy = "auto"
    return pinned


def pinned_warm_start(cfg: DictConfig, metrics: dict[str, Any], metrics_path: Path) -> DictConfig:
    """The config with `train.init_from` set to the version the evaluated fit started from (or
    null after a cold start): an alias such as champion may have moved to a newer version since
    that fit, and the refit must repeat the evaluated recipe, not start from other weights."""
    warm = metrics.get("warm_start")
    version = warm.get("version") if isinstance(warm, dict) else None
    if warm is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise ArtifactError(
            f"{metrics_path} names a warm start without a version number ({warm!r}); run the "
            "train step again before the refit."
        )
    pinned = copy.deepcopy(cfg)
    with open_dict(pinned):
        pinned.train.init_from = version
    return pinned
