"""What a Lightning checkpoint leaves out that a resumed fit needs to repeat the uninterrupted one.

Lightning saves the weights, the optimizer and scheduler, the loop counters, the callbacks' state
and (WindowBatches being stateful) the shuffle position. Three things it does not keep, and each
made a resumed fit drift from the one it continues:

- the random generators: dropout draws its masks from torch's, so a resumed fit drew new ones;
- the best checkpoint so far: Lightning forgets `best_model_score` when the checkpoint folder
  changes, and a resumed run writes to a folder of its own, so its first validation was "best"
  whatever its score;
- the settings the fit ran with, which `train.resume` compares with the resumed run's, and the
  registered model an alias in `train.init_from` named then (it may name another now);
- whether the fit had decided to stop: early stopping restores its patience counter but decides
  again only at the next validation, so a fit killed after it had stopped (in its folds, its
  member weights or its export) trained on for one more validation interval;
- the epoch its last step fell in: a fit killed after its step budget was spent resumes with
  nothing left to train, and Lightning then skips its loop, leaving that epoch uncounted.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from stockcast.errors import ArtifactError

# Top-level entries this callback adds to every checkpoint.
SETTINGS_KEY = "stockcast_settings"
RNG_KEY = "stockcast_rng_states"
STOPPED_KEY = "stockcast_should_stop"
WARM_KEY = "stockcast_warm_start"
# The ModelCheckpoint state fields that name checkpoint files.
PATH_FIELDS = ("best_model_path", "kth_best_model_path", "last_model_path")


class ResumeState(L.Callback):
    """Writes the settings and the generators' states into each checkpoint; when a fit resumes
    from one, moves the checkpoint callbacks' state (and the files it names) into this run's
    folder and restores the generators as training starts (after the sanity check)."""

    def __init__(
        self,
        settings: dict[str, Any],
        warm_source: dict[str, Any] | None = None,
        resumed_from: Path | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        # The registered model the fit started from (train.init_from resolved), or None.
        self.warm_source = warm_source
        # The checkpoint a resume continues from (train.resume), or None: the files its state
        # names are looked for beside it too, where its run folder has moved since.
        self.resumed_from = resumed_from
        self._restore: dict[str, Any] | None = None
        self._stopped = False
        # Whether the fit loop ran (it is skipped when the checkpoint already ends the fit).
        self._trained = False

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[SETTINGS_KEY] = self.settings
        checkpoint[WARM_KEY] = self.warm_source
        checkpoint[RNG_KEY] = rng_states()
        # Saved after the stopping callbacks have decided at this validation.
        checkpoint[STOPPED_KEY] = bool(trainer.should_stop)

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        self._restore = checkpoint.get(RNG_KEY)
        self._stopped = bool(checkpoint.get(STOPPED_KEY, False))
        saved = checkpoint.get("callbacks") or {}
        beside = None if self.resumed_from is None else Path(self.resumed_from).parent
        for callback in trainer.checkpoint_callbacks:
            state = saved.get(callback.state_key)
            if state and callback.dirpath and state.get("dirpath") != callback.dirpath:
                move_checkpoint_state(
                    state, str(callback.dirpath), copy=trainer.is_global_zero, beside=beside
                )

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._trained = True
        if self._restore is not None:
            set_rng_states(self._restore)
            self._restore = None
        if self._stopped:
            trainer.should_stop = True
            # Where the stop could end the fit (trainer.min_epochs met), the uninterrupted fit
            # ended the epoch it stopped in and counted it; the checkpoint, taken inside that
            # epoch, had not. Where it could not, that fit trained on to the epoch's end, and so
            # does this one.
            progress = trainer.fit_loop.epoch_progress
            if stop_may_end_fit(trainer) and progress.current.completed < (
                progress.current.started
            ):
                progress.increment_processed()
                progress.increment_completed()

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.resumed_from is not None and not self._trained:
            # The uninterrupted fit ended the epoch its last step fell in and counted it; the
            # checkpoint, taken at that step, had not, and Lightning skipped the loop that would.
            progress = trainer.fit_loop.epoch_progress.current
            progress.processed = progress.completed = progress.started


def stop_may_end_fit(trainer: L.Trainer) -> bool:
    """Whether `trainer.should_stop` ends the fit now: once `min_epochs` and `min_steps` are met
    (Lightning's own rule, kept in a private property of its fit loop)."""
    loop = trainer.fit_loop
    epochs = not loop.min_epochs or loop.epoch_progress.current.processed >= loop.min_epochs
    steps = not loop.min_steps or trainer.global_step >= loop.min_steps
    return bool(epochs and steps)


def move_checkpoint_state(
    state: dict[str, Any], folder: str, *, copy: bool, beside: Path | None = None
) -> None:
    """Point a ModelCheckpoint state at `folder` (copying the files it names there when `copy`),
    so Lightning keeps its best score, and the resumed run never deletes the killed run's files.

    A file not where the state names it is taken from `beside` (the resumed checkpoint's
    folder): a run folder moved since (downloaded from another machine, a project root moved)
    still holds its best checkpoint. A best found in neither place is refused now, before
    training: the fit ends by loading it, and stopped there with a FileNotFoundError."""
    old = Path(state["dirpath"]) if state.get("dirpath") else None

    def moved(path: str) -> str:
        if not path or old is None or Path(path).parent != old:
            return path
        target = Path(folder) / Path(path).name
        source = saved_file(Path(path), beside)
        if copy and source is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        return str(target)

    best = state.get("best_model_path")
    if copy and state.get("monitor") and best and saved_file(Path(best), beside) is None:
        elsewhere = beside is not None and beside.resolve() != Path(best).parent.resolve()
        raise ArtifactError(
            f"the checkpoint train.resume continues from names {best} as the best so far, which "
            f"is not there{f' nor in {beside}' if elsewhere else ''}; the resumed fit ends on "
            "its best weights, so put that file back, or start a new run without train.resume."
        )

    for field in PATH_FIELDS:
        if field in state:
            state[field] = moved(state[field])
    if "best_k_models" in state:
        state["best_k_models"] = {
            moved(path): score for path, score in state["best_k_models"].items()
        }
    state["dirpath"] = folder


def saved_file(path: Path, beside: Path | None) -> Path | None:
    """`path`, or the file of its name in `beside`, whichever exists first; None for neither."""
    for candidate in (path, None if beside is None else beside / path.name):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def rng_states() -> dict[str, Any]:
    """The process's random generators (CUDA's only where a GPU fit initialised it), in types
    Lightning's weights-only checkpoint loading accepts (no numpy arrays)."""
    name, keys, position, has_gauss, cached = np.random.get_state()
    states = {
        "torch": torch.get_rng_state(),
        "numpy": [name, keys.tolist(), position, has_gauss, cached],
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    name, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
