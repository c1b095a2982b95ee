"""A resume under the settings and the warm start the checkpoint was written under, or one
refusal naming what changed (`train.resume`, training/resume.py).

The checkpoint records the settings its fit ran with (`resume_state`); a resume that changes one,
other than the keys in FREE_KEYS, is refused, since the fit would continue under the old ones
from the checkpoint's optimizer state while the run recorded the new ones.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from stockcast.config.compose import flatten, plain
from stockcast.errors import ArtifactError, first_few
from stockcast.redaction import redacted
from stockcast.training.checkpoint_file import read_checkpoint
from stockcast.training.resume_state import SETTINGS_KEY, WARM_KEY

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
