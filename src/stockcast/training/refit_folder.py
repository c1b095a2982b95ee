"""What a refit writes: its spec (the evaluated model's bands and member weights, which it
cannot calibrate without held-out windows), the record of what it did, and its folder (the
evaluated model inside it, and the training config that made it)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from stockcast.data.calendar import date_bound
from stockcast.data.prepared import PreparedData
from stockcast.forecasting.conformal import centred_bounds
from stockcast.models.network import PriceForecaster
from stockcast.paths import portable
from stockcast.serving.metadata import EVALUATED_DIR, TRAINING_CONFIG_FILE, read_model_metadata
from stockcast.training.evaluated_recipe import FitSchedule
from stockcast.training.export import save_model_dir
from stockcast.training.fixed_steps import FixedStepFit, windows_per_step
from stockcast.training.metadata import training_packages
from stockcast.training.pruning import KeptCandidates


@dataclass(frozen=True)
class RefitHistory:
    """What a refit fitted on: the prepared data with `splits` joined into its train split
    (`history_for_refit`), and how many windows that split holds."""

    data: PreparedData
    splits: tuple[str, ...]
    windows: int


@dataclass(frozen=True)
class EvaluatedModel:
    """The evaluated model a refit fits again, as its record names it: its folder's digest
    and its calibrated intervals (which the refit carries, having none of its own)."""

    digest: str
    intervals: dict[str, Any]


def refit_spec(
    spec: dict[str, Any], intervals: dict[str, Any], combination: dict[str, Any] | None
) -> dict[str, Any]:
    """The refit's `spec` given what it cannot calibrate itself, having no held-out windows."""
    # Its bands: the evaluated model's widths, centred on the refit's own forecasts (as they are
    # already, unless the evaluated model was calibrated per tail by an earlier version).
    spec["intervals"] = intervals | {"bounds": centred_bounds(intervals["bounds"])}
    # The refit has no held-out windows of its own: it keeps the evaluated member weights (of
    # the kept candidates; the served network is built from the spec).
    if combination is not None:
        spec["combination"] = combination
    return spec


def refit_record(
    cfg: DictConfig,
    fit: FixedStepFit,
    spec: dict[str, Any],
    kept: KeptCandidates,
    check: dict[str, Any] | None,
    *,
    history: RefitHistory,
    evaluated: EvaluatedModel,
    schedule: FitSchedule,
    beside_check: bool,
) -> dict[str, Any]:
    """What the refit did, as its metadata and the refit step's summary record it (`schedule`:
    the evaluated fit's, which the refit repeated)."""
    return {
        "evaluated_model_hash": evaluated.digest,
        "evaluated_optimizer_steps": schedule.optimizer_steps,
        # Each parameter group's learning rate relative to its start from each share of the
        # steps on (the evaluated fit's schedule).
        "lr_drop_shares": [[share, list(scales)] for share, scales in schedule.lr_drops],
        "budget": cfg.pipeline.refit_budget,
        # The steps it took: none where nothing learns (a refit that kept only its ets
        # candidate), fewer than planned where trainer.max_time stopped it.
        "optimizer_steps": fit.steps,
        # Windows per optimizer step, as `refit_network` took them.
        "batch_size": windows_per_step(cfg.trainer, schedule.batch_size),
        "splits": list(history.splits),
        "training_windows": history.windows,
        # The registered weights it started from (the evaluated fit's), or None: a cold start.
        "warm_start": fit.warm_source,
        "trained_through": date_bound(history.data.splits["train"].dates),
        "intervals": bands_record(evaluated.intervals, spec.get("quantiles") or []),
        "combination": (
            "the evaluated model's member weights"
            + (", renormalised over the kept candidates" if kept.left_out else "")
        )
        if "combination" in spec
        else "the members' mean",
        # Candidates the evaluated weights gave less than pipeline.refit_min_candidate_weight.
        "left_out": kept.left_out,
        "check": check,
        # Whether it was fitted in a child process beside the check (pipeline.refit_beside_check).
        "beside_check": beside_check,
    }


def save_refit(
    net: PriceForecaster,
    spec: dict[str, Any],
    record: dict[str, Any],
    evaluated: Path,
    output: Path,
    cfg: DictConfig,
    history: PreparedData,
    pruned: bool,
) -> None:
    """The refit's folder: its network, spec and metadata (the evaluated model's with the
    refit's `record`), its training config and the evaluated model inside (`evaluated/`)."""
    metadata = read_model_metadata(evaluated) | {
        "refit": record,
        "fit_data_end": record["trained_through"],
        # The refit's own fit: its step may run in another environment (a cloud component).
        "training_packages": training_packages(),
    }
    last_inputs = history.splits["train"].values[-history.window.previous_time_window :]
    save_model_dir(net, spec, output, metadata, last_inputs)
    write_refit_config(evaluated, output, cfg, pruned)
    shutil.copytree(evaluated, output / EVALUATED_DIR)


def bands_record(intervals: Mapping[str, Any], quantiles: Sequence[float]) -> str:
    """What a refit's record says of its bands: the evaluated model's calibrated widths, or a
    quantile model's own outputs (fitted again with the rest; it has no widths to carry),
    widened by the evaluated model's conformal corrections where it has some."""
    if intervals.get("bounds"):
        return "the evaluated model's calibrated band widths, centred on the forecast"
    if not quantiles:
        return "none"
    own = "its own quantile outputs, refitted with it"
    if intervals.get("corrections"):
        return f"{own}, widened by the evaluated model's conformal corrections"
    return own


def write_refit_config(evaluated: Path, output: Path, cfg: DictConfig, pruned: bool) -> None:
    """The refit's training config: the evaluated run's, with the `model` the refit fitted
    where it left candidates out, so the file (and the registry's `config` tag read from it)
    says what made the registered model, not what made the evaluated one."""
    if not pruned:
        shutil.copyfile(evaluated / TRAINING_CONFIG_FILE, output / TRAINING_CONFIG_FILE)
        return
    written = OmegaConf.load(evaluated / TRAINING_CONFIG_FILE)
    written.model = OmegaConf.create(portable(OmegaConf.to_container(cfg.model, resolve=True)))
    (output / TRAINING_CONFIG_FILE).write_text(OmegaConf.to_yaml(written))
