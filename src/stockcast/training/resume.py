"""Resume a killed fit: `python src/train.py ... train.resume=<the killed run's directory>`.

A checkpoint holds the weights, the optimizer, the step and epoch counters and the callbacks'
state (early stopping, best checkpoint), so a fit continued from the latest one spends the same
step budget as one that was never interrupted. The data must be the same: when the old run's
prepared folder is there, its data hash is compared with this run's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from stockcast.data.prepared import META_FILE
from stockcast.errors import ArtifactError

# Written at every validation by configs/callbacks/default.yaml's resume_checkpoint; Lightning's
# last.ckpt (the fallback) only moves when the monitored metric improves.
RESUME_CHECKPOINTS = ("resume.ckpt", "last.ckpt")
CHECKPOINT_DIR = "checkpoints"
PREPARED_DIR = "prepared"


def resume_checkpoint(cfg: DictConfig, prepared_meta: dict[str, Any]) -> Path | None:
    """The checkpoint `train.resume` names (a run directory or a .ckpt file), or None."""
    resume = OmegaConf.select(cfg, "train.resume")
    if not resume:
        return None
    given = Path(str(resume))
    candidates = (
        [given]
        if given.suffix == ".ckpt"
        else [given / CHECKPOINT_DIR / name for name in RESUME_CHECKPOINTS]
    )
    checkpoint = next((path for path in candidates if path.is_file()), None)
    if checkpoint is None:
        raise ArtifactError(
            f"train.resume={resume} has no {CHECKPOINT_DIR}/{' or '.join(RESUME_CHECKPOINTS)}; "
            "point it at the run directory of the fit to resume (the one holding checkpoints/), "
            "or at a .ckpt file."
        )
    run_dir = checkpoint.parent.parent
    meta_path = run_dir / PREPARED_DIR / META_FILE
    if meta_path.is_file():
        earlier = json.loads(meta_path.read_text()).get("data_hash")
        if earlier and earlier != prepared_meta.get("data_hash"):
            raise ArtifactError(
                f"train.resume={resume} trained on other data (hash {earlier}, now "
                f"{prepared_meta.get('data_hash')}); resume with the same data config, or start "
                "a new run without train.resume."
            )
    return checkpoint


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint, memory-mapped on the CPU (only what is read is loaded)."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=False, mmap=True)


def check_checkpoint_fits(checkpoint: Path, model: Any) -> None:
    """Refuse a checkpoint whose weights are not this config's network (other hidden sizes or
    normalizations, or a network saved before ensemble members): Lightning would otherwise stop
    deep inside the fit with a list of state_dict keys."""
    try:
        saved = read_checkpoint(checkpoint)["state_dict"]
    except Exception as err:  # whatever a damaged or foreign file makes torch raise
        raise ArtifactError(
            f"train.resume checkpoint {checkpoint} cannot be read as a training checkpoint "
            f"({type(err).__name__}); resume from another run or start a new run without "
            "train.resume."
        ) from None
    ours = model.state_dict()
    differing = sorted(
        key
        for key in ours.keys() | saved.keys()
        if key not in ours or key not in saved or ours[key].shape != saved[key].shape
    )
    if differing:
        shown = ", ".join(differing[:3]) + (" ..." if len(differing) > 3 else "")
        raise ArtifactError(
            f"train.resume checkpoint {checkpoint} holds another network than this config builds "
            f"({shown}); resume with the config that fit was started with, or start a new run "
            "without train.resume."
        )
