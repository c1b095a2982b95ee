"""Lightning's stages run on the fitted model outside `trainer.fit`: its best checkpoint's
weights loaded, validate and test scored, the network kept in float32 between them."""

from __future__ import annotations

from typing import Any

import torch

from stockcast.training.resume import read_checkpoint

# What `trainer.precision` 16-true and bf16-true hold the network's weights in.
HALF_DTYPES = (torch.float16, torch.bfloat16)


def load_checkpoint_weights(model: Any, path: str) -> int:
    """The checkpoint's weights into `model` (Lightning's validate would load them too, but the
    member weights must be fitted before it scores); returns the optimizer step it was saved at."""
    checkpoint = read_checkpoint(path)
    model.load_state_dict(checkpoint["state_dict"])
    return int(checkpoint["global_step"])


def in_float32(model: Any) -> None:
    """A model Lightning holds in half precision (`trainer.precision` 16-true or bf16-true,
    which it casts the module to for every stage) back in float32, as every forecast outside
    the trainer feeds it (the member weights, the folds, the bands) and as it is served."""
    tensors = [*model.parameters(), *model.buffers()] if model is not None else []
    if any(t.dtype in HALF_DTYPES for t in tensors):
        model.float()


def stage_metrics(run_stage: Any, model: Any, datamodule: Any) -> dict:
    """Run validate/test on the model's current weights and return its metrics without the stage
    prefix (the stage's own only: a `train/loss` read as `loss` was taken for the val loss)."""
    results = run_stage(model, datamodule=datamodule, verbose=False)
    in_float32(model)
    return {
        key.split("/", 1)[1]: float(value)
        for key, value in (results[0] if results else {}).items()
        if not key.startswith("train/")
    }
