"""Reading a Lightning checkpoint, and refusing one a resume cannot continue from: unreadable,
another network than this config builds, or the weights alone without the optimizer state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stockcast.errors import ArtifactError, first_few

# Written at every validation by configs/callbacks/default.yaml's resume_checkpoint; Lightning's
# last.ckpt (the fallback) only moves when the monitored metric improves.
RESUME_CHECKPOINTS = ("resume.ckpt", "last.ckpt")
CHECKPOINT_DIR = "checkpoints"
SHOWN_TENSORS = 3  # how many of a checkpoint's differing tensors a refusal names


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint, memory-mapped on the CPU (only what is read is loaded)."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=False, mmap=True)


def check_training_state(checkpoint: Path, saved: dict[str, Any]) -> None:
    """Refuse a checkpoint of the weights alone (`callbacks.model_checkpoint.save_weights_only=
    true` writes its best and last.ckpt so): it holds no optimizer state to continue from, and
    Lightning stopped the resume with a KeyError and its traceback."""
    if "optimizer_states" in saved:
        return
    raise ArtifactError(
        f"train.resume checkpoint {checkpoint} holds the weights alone (saved with "
        "save_weights_only=true), not the optimizer state a fit continues from; point "
        f"train.resume at the run directory (its {CHECKPOINT_DIR}/{RESUME_CHECKPOINTS[0]}), or "
        "start a new run without train.resume."
    )


def check_checkpoint_fits(checkpoint: Path, model: Any) -> None:
    """Refuse a checkpoint whose weights are not this config's network (other hidden sizes or
    normalizations, or a network saved before ensemble members): Lightning would otherwise stop
    deep inside the fit with a list of state_dict keys."""
    try:
        whole = read_checkpoint(checkpoint)
        saved = whole["state_dict"]
    except Exception as err:  # whatever a damaged or foreign file makes torch raise
        raise ArtifactError(
            f"train.resume checkpoint {checkpoint} cannot be read as a training checkpoint "
            f"({type(err).__name__}); {_unreadable_advice(checkpoint)}"
        ) from None
    ours = model.state_dict()
    differing = sorted(
        key
        for key in ours.keys() | saved.keys()
        if key not in ours or key not in saved or ours[key].shape != saved[key].shape
    )
    if differing:
        shown = first_few(differing, SHOWN_TENSORS)
        raise ArtifactError(
            f"train.resume checkpoint {checkpoint} holds another network than this config builds "
            f"({shown}); resume with the config that fit was started with, or start a new run "
            "without train.resume."
        )
    check_training_state(checkpoint, whole)


def _unreadable_advice(checkpoint: Path) -> str:
    """What to resume from instead of an unreadable checkpoint: a resume.ckpt cut short (a disk
    filled, a kill as it was written) has the fit's last.ckpt beside it, an earlier state of the
    same fit, which keeps the steps up to it that starting again would lose."""
    earlier = checkpoint.with_name(RESUME_CHECKPOINTS[1])
    if checkpoint.name == RESUME_CHECKPOINTS[0] and earlier.is_file():
        return (
            f"resume from the earlier checkpoint beside it, train.resume={earlier}, or start a "
            "new run without train.resume."
        )
    return "resume from another run or start a new run without train.resume."
