"""Resume a killed fit: `python src/train.py ... train.resume=<the killed run's directory>`.

A checkpoint holds the weights, the optimizer and scheduler, the step and epoch counters, the
callbacks' state (early stopping, best checkpoint), the shuffle position and the random state
(`resume_state`), so a fit continued from the latest one ends where, and with the model, an
uninterrupted one would. Only with the same settings: the checkpoint records them, and a resume
that changes one (other than resume_settings.FREE_KEYS) is refused. The data must be the same too:
when the old run's prepared folder is there, its data hash is compared with this run's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from stockcast.data.prepared import META_FILE
from stockcast.errors import ArtifactError
from stockcast.paths import user_path
from stockcast.training.checkpoint_file import CHECKPOINT_DIR, RESUME_CHECKPOINTS
from stockcast.training.resume_settings import check_same_settings

PREPARED_DIR = "prepared"
# A training run's folder under paths.log_dir (configs/hydra/default.yaml's run.dir).
TRAIN_RUNS_EXAMPLE = "train/runs/<time>"


def train_runs_example(cfg: DictConfig) -> str:
    """Where this config's training runs are written, as a path to give `train.resume`: under
    `paths.log_dir`, which `STOCKCAST_ROOT` moves away from the folder a command runs in, so a
    bare `logs/...` would not reach them there."""
    return str(Path(OmegaConf.select(cfg, "paths.log_dir", default="logs")) / TRAIN_RUNS_EXAMPLE)


def resume_checkpoint(cfg: DictConfig, prepared_meta: dict[str, Any]) -> Path | None:
    """The checkpoint `train.resume` names (a run directory, its checkpoints folder or a .ckpt
    file), or None."""
    resume = OmegaConf.select(cfg, "train.resume")
    if not resume:
        return None
    given = user_path(str(resume))
    # The checkpoints folder itself (where the files are seen) was refused as holding none.
    folders = [given / CHECKPOINT_DIR, given]
    candidates = (
        [given]
        if given.suffix == ".ckpt"
        else [folder / name for folder in folders for name in RESUME_CHECKPOINTS]
    )
    checkpoint = next((path for path in candidates if path.is_file()), None)
    if checkpoint is None and not given.exists():
        raise ArtifactError(
            f"train.resume={resume} does not exist; point it at the run directory of the fit to "
            f"resume ({train_runs_example(cfg)}), or at a .ckpt file."
        )
    if checkpoint is None:
        # A fit writes its first at its first validation, and a model that takes no optimizer
        # steps (a lone ets) writes none: such a run has nothing to continue from.
        raise ArtifactError(
            f"train.resume={resume} has no {CHECKPOINT_DIR}/{' or '.join(RESUME_CHECKPOINTS)} "
            "(a fit writes one at its first validation, and a model that takes no optimizer "
            "steps, such as model=ets, writes none); run the command again without "
            "train.resume, or point it at the run directory of a fit that validated, or at a "
            ".ckpt file."
        )
    check_same_settings(cfg, checkpoint)
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
