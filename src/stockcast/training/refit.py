"""The refit: the evaluated model, fitted again on all the history it was given (pipeline.refit).

Evaluation scores a model fitted on the train split, so the newest prices (validation and test)
never reach its weights. With `pipeline.refit=true` the version that gets registered is the same
configuration fitted on train + val + test with the evaluated budget: the optimizer step of its
best checkpoint and its batch size. Nothing is left to score the refit on, so:

- its interval bounds are the evaluated model's (calibrated in volatility units, centred on the
  forecast; a quantile model's: its conformal corrections), and so are its ensemble members'
  combination weights (renormalised over the candidates it fits again: those the weights gave
  next to nothing are left out, `pruning.py`);
- the evaluated model travels inside the refit's folder (`evaluated/`): champion comparisons score
  that one, which never saw the test windows, and the report's hash is checked against its bytes.

Without a refit (off, the gate refused, the model fell back to the naive forecast, the
held-back check found that more history did not help: `held_back_check`, or the refit diverged:
`refit_diverged`) the output is a byte-identical copy of the evaluated model. Where it can, the
refit is fitted in a child process while the check runs (`pipeline.refit_beside_check`,
`training/beside.py`).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from safetensors.torch import load_file

from stockcast.data.mase_scales import scales_of_windows
from stockcast.data.prepared import PreparedData
from stockcast.data.split import SPLITS
from stockcast.data.split_recuts import join_splits, split_in_time
from stockcast.models.network import PriceForecaster
from stockcast.models.spec import saved_forecaster
from stockcast.registry.integrity import folder_contents
from stockcast.serving.metadata import (
    model_artifact,
    model_spec,
)
from stockcast.training.batched import forward_in_batches
from stockcast.training.beside import Beside, fits_beside
from stockcast.training.evaluated_recipe import FitSchedule, LrDropShares
from stockcast.training.fixed_steps import FixedStepFit, refit_network
from stockcast.training.pruning import kept_candidates
from stockcast.training.refit_folder import (
    EvaluatedModel,
    RefitHistory,
    refit_record,
    refit_spec,
    save_refit,
)


def history_for_refit(prepared: PreparedData, splits: Sequence[str] = SPLITS) -> PreparedData:
    """The prepared data with `splits` joined into the train split (val and test kept as they
    are, unused): what a refit fits on. The scaler stays the evaluated one."""
    joined = replace(join_splits(prepared.splits, splits), name="train")
    return replace(prepared, splits={**prepared.splits, "train": joined})


def refit_steps(
    cfg: DictConfig, evaluated_steps: int, prepared: PreparedData, history_windows: int
) -> int:
    """The refit's optimizer steps: the evaluated fit's (`pipeline.refit_budget=steps`), or as
    many passes over the longer history as the evaluated fit made over the train split
    (`epochs`: its steps times history windows / train windows)."""
    if cfg.pipeline.refit_budget == "steps":
        return evaluated_steps
    train_windows = max(1, len(prepared.splits["train"].window_starts(prepared.window)))
    return round(evaluated_steps * history_windows / train_windows)


def held_back_check(
    cfg: DictConfig,
    prepared: PreparedData,
    evaluated: Path,
    optimizer_steps: int,
    batch_size: int,
    member_weights: Sequence[float] | None,
    lr_drops: LrDropShares = (),
) -> dict[str, Any]:
    """Whether the refit would help, judged on validation only: the late half of the validation
    split is held back, the refit's configuration (`cfg`: for an ensemble, the candidates the
    refit keeps) is fitted again on train plus the early half (the refit's budget rule and
    learning-rate schedule, `lr_drops`, and `member_weights`: the evaluated weights of the
    members `cfg` has, None for their mean), and both that fit and the evaluated model forecast
    the held-back windows. `helps` when the fit with more history has the smaller MASE there
    (each window's errors over its own series' train scale: on a panel every series counts in
    its own units; one series: the MAE's verdict)."""
    sizes = prepared.window
    early, late = split_in_time(prepared.splits["val"], sizes.previous_time_window)
    held_back = late.origins(sizes)
    if len(held_back) == 0 or len(early.window_starts(sizes)) == 0:
        return {"helps": False, "reason": "the validation split is too short to hold half back"}
    train = prepared.splits["train"]
    joined = replace(
        join_splits({"train": train, "early": early}, ("train", "early")), name="train"
    )
    more = replace(prepared, splits={**prepared.splits, "train": joined})
    steps = refit_steps(cfg, optimizer_steps, prepared, len(joined.window_starts(sizes)))
    with_more = refit_network(cfg, more, steps, batch_size, lr_drops).net
    with_more.set_member_weights(member_weights)
    spec = model_spec(evaluated)
    scored = saved_forecaster(spec, load_file(str(model_artifact(evaluated, "weights"))))
    scales = scales_of_windows(train, late, held_back.origins)
    eval_batch_size = int(cfg.data.eval_batch_size)
    errors = {
        "evaluated": _held_back_errors(scored, held_back, eval_batch_size),
        "with_more_history": _held_back_errors(with_more, held_back, eval_batch_size),
    }
    mase = {name: float((e / scales[:, None]).mean()) for name, e in errors.items()}
    return {
        "helps": bool(mase["with_more_history"] <= mase["evaluated"]),
        "held_back_windows": len(held_back),
        **{f"{name}_mae": float(e.mean()) for name, e in errors.items()},
        **{f"{name}_mase": value for name, value in mase.items()},
    }


def _held_back_errors(net: Any, windows: Any, batch_size: int) -> np.ndarray:
    """`net`'s absolute errors on the held-back windows, (windows, steps), in prices."""
    net.eval()
    forecast = forward_in_batches(net, windows.inputs, batch_size)
    return np.abs(forecast - windows.actual)


def _fitted_on(cfg: DictConfig, history: PreparedData, schedule: FitSchedule) -> FixedStepFit:
    """`refit_network` fitting `history` on `schedule`."""
    return refit_network(
        cfg, history, schedule.optimizer_steps, schedule.batch_size, schedule.lr_drops
    )


def _refit_arrays(cfg: DictConfig, history: PreparedData, schedule: FitSchedule) -> FixedStepFit:
    """`refit_network`'s result with its network as its state's arrays, to cross from a child
    process (`_rebuilt` makes the network again)."""
    fit = _fitted_on(cfg, history, schedule)
    state = {key: value.detach().cpu().numpy() for key, value in fit.net.state_dict().items()}
    return fit._replace(net=state)


def _rebuilt(fit: FixedStepFit) -> FixedStepFit:
    """A fit from `_refit_arrays` with its network built again from its spec and arrays."""
    state = {key: torch.from_numpy(value) for key, value in fit.net.items()}
    return fit._replace(net=saved_forecaster(fit.spec, state))


def _passed_on(
    evaluated: Path, output: Path, reason: str, check: dict[str, Any] | None, **details: Any
) -> dict[str, Any]:
    """The evaluated model copied to `output` as it is, where the refit is not registered
    (`reason`), and the record that says so: the check's verdict and `details`."""
    shutil.copytree(evaluated, output)
    return {"refit": False, "reason": reason, "check": check, **details}


def refit_where_it_helps(
    cfg: DictConfig,
    prepared: PreparedData,
    evaluated: Path,
    output: Path,
    optimizer_steps: int,
    batch_size: int,
    splits: Sequence[str] = SPLITS,
    evaluated_hash: str | None = None,
    lr_drops: LrDropShares = (),
) -> dict[str, Any]:
    """The refit the pipeline registers. Unless `pipeline.refit_check` is on and its held-back
    check finds that more history does not help, or the refit diverged (then `output` is a copy
    of the evaluated model and the reason is returned), the configuration is fitted again on
    `splits` and saved to `output` with the evaluated model inside (`evaluated/`), the evaluated
    band widths (centred on its own forecast) and member weights; returns what the refit did.
    An ensemble's check and refit fit only the candidates its evaluated weights kept
    (`kept_candidates`). The refit step and the accuracy benchmark both decide here, so the
    benchmark scores the model the pipeline would register. `evaluated_hash`: the evaluated
    folder's digest when the caller has it already. `lr_drops`: the evaluated fit's
    learning-rate schedule (`LrDropShares`), which every fit here repeats at the same shares of
    its own budget."""
    history = history_for_refit(prepared, splits)
    fitted_on = RefitHistory(
        history, tuple(splits), len(history.splits["train"].window_starts(prepared.window))
    )
    schedule = FitSchedule(optimizer_steps, batch_size, lr_drops)
    evaluated_spec = model_spec(evaluated)
    # The candidates the evaluated weights gave next to nothing are not fitted again.
    kept = kept_candidates(cfg, evaluated_spec)
    cfg = kept.config
    # The evaluated schedule at the refit's own budget.
    refit_schedule = replace(
        schedule, optimizer_steps=refit_steps(cfg, optimizer_steps, prepared, fitted_on.windows)
    )
    beside = _refit_beside(cfg, history, refit_schedule)
    try:
        check = _held_back_verdict(cfg, prepared, evaluated, schedule, kept.combination)
        refused = _why_check_refuses(check)
        if refused is not None:
            # The candidates the check was fitted without; the evaluated model keeps them.
            return _passed_on(evaluated, output, refused, check, check_left_out=kept.left_out)
        fit = _fitted_refit(cfg, history, refit_schedule, beside)
    finally:
        if beside is not None:
            beside.cancel()
    if refit_diverged(fit.net, history, int(cfg.data.eval_batch_size)):
        # Nothing held out would catch it later: the evaluated model, which was scored, goes on.
        reason = (
            "the refit diverged: its weights or its forecasts of the history it was fitted on "
            "are not numbers (a lower optim.lr may not)"
        )
        return _passed_on(evaluated, output, reason, check, diverged=True)
    model = EvaluatedModel(
        evaluated_hash or folder_contents(evaluated).digest, evaluated_spec["intervals"]
    )
    spec = refit_spec(fit.spec, model.intervals, kept.combination)
    record = refit_record(
        cfg,
        fit,
        spec,
        kept,
        check,
        history=fitted_on,
        evaluated=model,
        schedule=schedule,
        beside_check=beside is not None,
    )
    save_refit(fit.net, spec, record, evaluated, output, cfg, history, bool(kept.left_out))
    return {"refit": True} | record


def _refit_beside(cfg: DictConfig, history: PreparedData, schedule: FitSchedule) -> Beside | None:
    """The refit started in a child process beside the held-back check, or None where there is
    no check or the refit cannot run beside it (`fits_beside`): the same bytes as after it."""
    if not (cfg.pipeline.refit_check and fits_beside(cfg)):
        return None
    return Beside(lambda: _refit_arrays(cfg, history, schedule))


def _held_back_verdict(
    cfg: DictConfig,
    prepared: PreparedData,
    evaluated: Path,
    schedule: FitSchedule,
    combination: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """`held_back_check`'s verdict with the evaluated `schedule` and the kept candidates'
    evaluated weights, or None where `pipeline.refit_check` is off (the refit is not checked)."""
    if not cfg.pipeline.refit_check:
        return None
    weights = (combination or {}).get("weights")
    return held_back_check(
        cfg,
        prepared,
        evaluated,
        schedule.optimizer_steps,
        schedule.batch_size,
        weights,
        schedule.lr_drops,
    )


def _why_check_refuses(check: dict[str, Any] | None) -> str | None:
    """The reason the held-back check gives not to refit, or None where it did not run or found
    that more history helps."""
    if check is None or check["helps"]:
        return None
    return check.get("reason") or (
        "a fit with half the validation split added forecast the other half no "
        f"better (MASE {check['with_more_history_mase']:.4g} against the evaluated "
        f"model's {check['evaluated_mase']:.4g}): pipeline.refit_check"
    )


def _fitted_refit(
    cfg: DictConfig, history: PreparedData, schedule: FitSchedule, beside: Beside | None
) -> FixedStepFit:
    """The refit: the child's beside the check where one was started, else fitted here."""
    if beside is None:
        return _fitted_on(cfg, history, schedule)
    return _rebuilt(beside.result())


def refit_diverged(net: PriceForecaster, history: PreparedData, batch_size: int) -> bool:
    """Whether a refit's weights, or its forecasts of the windows it was fitted on, are not all
    finite. The evaluated fit's validation forecasts say it diverged (`diverged`); a refit has no
    held-out windows, so its own weights and fitted windows must."""
    if not net.weights_finite():
        return True
    net.eval()
    windows = history.splits["train"].origins(history.window)
    return not np.isfinite(forward_in_batches(net, windows.inputs, batch_size)).all()
