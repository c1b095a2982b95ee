"""Resume a killed fit: `python src/train.py ... train.resume=<the killed run's directory>`.

A checkpoint holds the weights, the optimizer and scheduler, the step and epoch counters, the
callbacks' state (early stopping, best checkpoint), the shuffle position and the random state
(`resume_state`), so a fit continued from the latest one ends where, and with the model, an
uninterrupted one would. Only with the same settings: the checkpoint records them, and a resume
that changes one (other than the keys in FREE_KEYS) is refused. The data must be the same too:
when the old run's prepared folder is there, its data hash is compared with this run's.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from stockcast.config.compose import flatten, plain
from stockcast.data.prepared import META_FILE
from stockcast.errors import ArtifactError, first_few
from stockcast.paths import user_path
from stockcast.redaction import redacted
from stockcast.training.resume_state import SETTINGS_KEY, WARM_KEY

# Written at every validation by configs/callbacks/default.yaml's resume_checkpoint; Lightning's
# last.ckpt (the fallback) only moves when the monitored metric improves.
RESUME_CHECKPOINTS = ("resume.ckpt", "last.ckpt")
CHECKPOINT_DIR = "checkpoints"
PREPARED_DIR = "prepared"
# A training run's folder under paths.log_dir (configs/hydra/default.yaml's run.dir).
TRAIN_RUNS_EXAMPLE = "train/runs/<time>"
# The warm start a fit begins with: compared as the registered model it names, not as written.
INIT_FROM = "train.init_from"
# Settings a resume may change, as patterns over dotted keys (a section covers its keys): none
# changes what is trained or how it is scored. The resume key itself; the folders a run reads and
# writes (a new run directory each time; the data is compared by its hash instead); where and
# under which names the run is tracked (loggers, tags, the task name, the metric a sweeper
# reads); console output. Everything else, the thread count and data.as_of included (either can
# change the numbers), must match.
FREE_KEYS = (
    "train.resume",
    # Checked as the registered model it resolves to (check_same_warm_start): pinning a moved
    # alias to the version the fit started from is the same start.
    INIT_FROM,
    # Where the store is and whether versions are signed: the registry, not the fit (a store that
    # moved with paths.root_dir, keys created since by `make keys`).
    "registry.tracking_uri",
    "registry.registry_uri",
    "registry.signing",
    # Which alias the register step moves: the registry's, not the fit's (and where a pipeline
    # run's fit saved it before it moved there).
    "registry.champion_alias",
    "register.alias",
    "paths",
    "trainer.default_root_dir",
    "callbacks.*.dirpath",
    "train.prepared_dir",
    "train.output_dir",
    "train.model_dir",
    "logger",
    "tags",
    "task_name",
    "optimized_metric",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.log_every_n_steps",
)
# Settings added since a run could be killed, at the value that keeps what such a run did: a run
# that saved none had it.
ADDED_SETTINGS = {
    "data.release_lag_days": 0,
    "data.separator": ",",
    "data.decimal": ".",
    # Norm, the default: a run saved before it was a key clipped nothing (gradient_clip_val null).
    "trainer.gradient_clip_algorithm": "norm",
}
# Settings removed since a run could be killed, at the value such a run saved that did what
# today's runs do without it: the fit set Lightning's check_val_every_n_epoch itself already.
REMOVED_SETTINGS = {"trainer.check_val_every_n_epoch": 1}
# What identifies the registered model a warm-started fit started from.
WARM_IDENTITY = ("model_name", "version", "model_hash")
# Differences named in the refusal; the rest are counted.
SHOWN_DIFFERENCES = 5
SHOWN_TENSORS = 3  # how many of a checkpoint's differing tensors a refusal names


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


def check_same_settings(cfg: DictConfig, checkpoint: Path) -> None:
    """Refuse a resume whose settings differ from those the checkpoint was written under: the
    fit would continue under the old ones from the checkpoint's optimizer state (or a mix), while
    the run recorded the new ones. A checkpoint without the record (written before it was kept)
    is not checked."""
    try:
        saved = read_checkpoint(checkpoint).get(SETTINGS_KEY)
    except Exception:  # unreadable: check_checkpoint_fits says so in its own sentence
        return
    if saved is None:
        return
    refuse_other_settings(cfg, settings_differences(flatten(saved), cfg))


def refuse_other_settings(cfg: DictConfig, differing: list[str]) -> None:
    """The one refusal of a resume under other settings, naming the first few (`key: old ->
    new`); nothing where none differs."""
    if not differing:
        return
    named = first_few(differing, SHOWN_DIFFERENCES)
    raise ArtifactError(
        f"train.resume={OmegaConf.select(cfg, 'train.resume')} was started with other "
        f"settings ({named}); resume with the same settings, or start a new run without "
        "train.resume."
    )


def check_same_warm_start(
    cfg: DictConfig, checkpoint: Path, warm_source: dict[str, Any] | None
) -> None:
    """Refuse a resume whose `train.init_from` now names another registered model than the one
    the fit started from (an alias moved since): the checkpoint's weights came from that one,
    and the folds a fit runs after training start from `train.init_from` again. A checkpoint
    without the record (written before it was kept) is held to the same setting instead."""
    try:
        saved = read_checkpoint(checkpoint)
    except Exception:  # unreadable: check_checkpoint_fits says so in its own sentence
        return
    if WARM_KEY not in saved:
        # Written before the record was kept: the setting itself must be the same.
        settings = flatten(saved.get(SETTINGS_KEY) or {})
        if INIT_FROM in settings:
            before, now = settings[INIT_FROM], OmegaConf.select(cfg, INIT_FROM)
            if str(before) != str(now):
                change = f"{INIT_FROM}: {shown_value(before)} -> {shown_value(now)}"
                refuse_other_settings(cfg, [change])
        return
    before, now = saved[WARM_KEY], warm_source
    if _model_of(before) == _model_of(now):
        return
    init_from = OmegaConf.select(cfg, INIT_FROM)
    resume = OmegaConf.select(cfg, "train.resume")
    if before is not None and now is not None and before["version"] == now["version"]:
        raise ArtifactError(
            f"train.resume={resume} started from version {before['version']}, and "
            f"train.init_from={init_from} now names a version {now['version']} whose files "
            "differ (another store); resume against the store the fit started from."
        )
    started = "cold" if before is None else f"from version {before['version']}"
    names = "nothing" if now is None else f"version {now['version']}"
    pinned = "null" if before is None else before["version"]
    raise ArtifactError(
        f"train.resume={resume} started {started}, and train.init_from={init_from} now names "
        f"{names}; resume with train.init_from={pinned}."
    )


def _model_of(source: dict[str, Any] | None) -> tuple[Any, ...] | None:
    # Its files' hash too: version 1 of a store that moved may be another model.
    return None if source is None else tuple(source[key] for key in WARM_IDENTITY)


def settings_differences(saved: dict[str, Any], cfg: DictConfig) -> list[str]:
    """`key: old -> new` for each setting that differs (FREE_KEYS aside). Keys that merely
    follow another (`optim.optimizer.lr: ${optim.lr}`) are named only when nothing else is."""
    # As the checkpoint saved them (`ResumeState`): with their secrets redacted.
    current = flatten(redacted(plain(cfg)))
    written = flatten(OmegaConf.to_container(cfg, resolve=False))  # type: ignore[arg-type]
    missing = object()
    saved = {key: value for key, value in ADDED_SETTINGS.items() if key in current} | saved
    saved = {
        key: value
        for key, value in saved.items()
        if not (key not in current and REMOVED_SETTINGS.get(key, missing) == value)
    }
    differing = [
        key
        for key in [*current, *(key for key in saved if key not in current)]
        if not is_free(key) and saved.get(key, missing) != current.get(key, missing)
    ]
    derived = {key for key in differing if "${" in str(written.get(key, ""))}
    named = [key for key in differing if key not in derived] or differing
    return [f"{key}: {shown(saved, key)} -> {shown(current, key)}" for key in named]


def is_free(key: str) -> bool:
    return any(
        fnmatchcase(key, pattern) or fnmatchcase(key, f"{pattern}.*") for pattern in FREE_KEYS
    )


def shown(settings: dict[str, Any], key: str) -> str:
    return shown_value(settings[key]) if key in settings else "unset"


def shown_value(value: Any) -> str:
    return json.dumps(value) if value is None or isinstance(value, bool) else str(value)


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
