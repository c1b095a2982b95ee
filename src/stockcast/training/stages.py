"""Lightning's stages run on the fitted model outside `trainer.fit`: its best checkpoint's
weights loaded, validate and test scored, the network kept in float32 between them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from stockcast.training.checkpoint_file import read_checkpoint

# What `trainer.precision` 16-true, bf16-true and 64-true hold the network's weights in: every
# forecast outside the trainer, and the served model, runs in float32.
NOT_SERVED_DTYPES = (torch.float16, torch.bfloat16, torch.float64)


def load_checkpoint_weights(model: Any, path: str) -> int:
    """The checkpoint's weights into `model` (Lightning's validate would load them too, but the
    member weights must be fitted before it scores); returns the optimizer step it was saved at."""
    checkpoint = read_checkpoint(path)
    model.load_state_dict(checkpoint["state_dict"])
    return int(checkpoint["global_step"])


@contextmanager
def back_in_float32(model: Any) -> Iterator[None]:
    """Around a Lightning stage (a fit, validate, test): the model comes out of it in float32
    (`in_float32`) with the buffers its state dict leaves out as they went in."""
    unsaved = _unsaved_buffers(model)
    yield
    in_float32(model, unsaved)


def _unsaved_buffers(model: Any) -> dict[str, torch.Tensor]:
    """Copies of the buffers the model's state dict leaves out (a method's constant matrices,
    the member weights), for `in_float32` to put back: a half-precision stage rounds them, and
    neither a checkpoint nor the export carries them, so the served model, which rebuilds them
    exactly, forecast otherwise than the network that was weighed and calibrated."""
    if model is None:
        return {}
    saved = model.state_dict().keys()
    return {name: b.detach().clone() for name, b in model.named_buffers() if name not in saved}


def in_float32(model: Any, unsaved: dict[str, torch.Tensor] | None = None) -> None:
    """A model Lightning holds in half or double precision (`trainer.precision` 16-true,
    bf16-true or 64-true, which it casts the module to for every stage) back in float32, as
    every forecast outside the trainer feeds it (the member weights, the folds, the bands) and
    as it is served, with the `unsaved` buffers taken before the stage as they were."""
    tensors = [*model.parameters(), *model.buffers()] if model is not None else []
    if any(t.dtype in NOT_SERVED_DTYPES for t in tensors):
        model.float()
        for name, value in (unsaved or {}).items():
            owner, _, leaf = name.rpartition(".")
            holder = model.get_submodule(owner)._buffers
            if holder.get(leaf) is not None:
                holder[leaf] = value.to(holder[leaf].device)


def stage_metrics(run_stage: Any, model: Any, datamodule: Any) -> dict:
    """Run validate/test on the model's current weights and return its metrics without the stage
    prefix (the stage's own only: a `train/loss` read as `loss` was taken for the val loss, and
    the `step` and `epoch` the loggers chart at are no metric of it)."""
    with back_in_float32(model):
        results = run_stage(model, datamodule=datamodule, verbose=False)
    return {
        key.split("/", 1)[1]: float(value)
        for key, value in (results[0] if results else {}).items()
        if "/" in key and not key.startswith("train/")
    }
