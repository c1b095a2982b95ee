"""What a local pipeline's later steps need, checked before its first step: the train, register
and monitor steps run after prepare, and where they fail the rerun a failed step asks for finds
no new data to run on (or fails the same way every day, after training again)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from omegaconf import DictConfig

from stockcast.config.optimizer_check import refuse_an_unbuildable_optimizer
from stockcast.errors import ConfigError, DamagedVersion
from stockcast.orchestration.replay_locks import refuse_a_replays_ledger
from stockcast.registry.ledger import ledger_path
from stockcast.registry.ledger_check import check_ledger
from stockcast.registry.lock import WAIT_S, sqlite_file
from stockcast.registry.runs import DELETED, deleted_experiment
from stockcast.registry.signing import SigningKeys, check_signing_keys
from stockcast.training.runtime import (
    refuse_a_missing_accelerator,
    refuse_nccl_without_cuda,
    refuse_nodes_nothing_started,
)

# Under the run folder: the champion's private copy the check opens, removed after it.
CHAMPION_CHECK_DIR = "preflight_champion"


def check_training_builds(cfg: DictConfig) -> None:
    """An optimizer or schedule the train step could not build, an accelerator this machine
    lacks, a process group backend it cannot run, or machines no launcher started: found only
    once a fit starts, after the data was prepared (and a replay's or a pipeline's earlier days
    or steps ran), so every command that trains refuses them first."""
    refuse_an_unbuildable_optimizer(cfg)
    refuse_a_missing_accelerator(cfg.get("trainer"))
    refuse_nccl_without_cuda(cfg.get("trainer"))
    refuse_nodes_nothing_started(cfg.get("trainer"))


def check_before_first_step(cfg: DictConfig, run_dir: Path) -> None:
    """An optimizer or schedule the train step could not build, an accelerator this machine
    lacks, keys the register step would refuse, a ledger the monitor step could not open, that
    keeps another store's forecasts or that a replay running now writes, an experiment the
    register or monitor step logs to that was deleted, and a champion no step may load."""
    check_training_builds(cfg)
    keys = SigningKeys.from_config(cfg.registry.get("signing"))
    check_signing_keys(keys)
    check_ledger(
        cfg.monitor.ledger_dir,
        cfg.registry.tracking_uri,
        cfg.registry.model_name,
        cfg.monitor.ledger_timeout_s,
    )
    refuse_a_replays_ledger(ledger_path(cfg.monitor.ledger_dir, cfg.registry.tracking_uri))
    refuse_deleted_experiments(cfg)
    if keys.public_key:
        check_champion_opens(cfg, run_dir / CHAMPION_CHECK_DIR)


def refuse_deleted_experiments(cfg: DictConfig) -> None:
    """An MLflow experiment the register step (registry.experiment_name) or the monitor step
    (monitor.experiment_name) logs to, deleted in a local store: the register step failed on it
    after the day's training, the monitor after the day's version was registered. Read from
    MLflow's own table, without importing MLflow before the first step; a remote store is asked
    by the steps themselves."""
    uri = str(cfg.registry.tracking_uri)
    store = sqlite_file(uri)
    if store is None or not store.is_file():
        return
    settings = {
        name: key
        for key, name in (
            ("registry.experiment_name", cfg.registry.get("experiment_name")),
            ("monitor.experiment_name", cfg.monitor.experiment_name),
        )
        if name
    }
    try:
        # A writer of the store is waited for as long as the steps wait for its lock: the
        # ledger's timeout (monitor.ledger_timeout_s) is no setting of this store.
        with closing(sqlite3.connect(store, timeout=WAIT_S)) as read:
            found = read.execute(
                "SELECT name, experiment_id FROM experiments WHERE lifecycle_stage = ? AND name "
                f"IN ({', '.join('?' * len(settings))})",
                (DELETED, *settings),
            ).fetchone()
    except sqlite3.DatabaseError:
        return  # a store MLflow has not set up yet, or one the steps refuse in their words
    if found is not None:
        name, experiment_id = found
        raise ConfigError(deleted_experiment(name, uri, str(experiment_id), settings[name]))


def check_champion_opens(cfg: DictConfig, workdir: Path) -> None:
    """The champion opened as the register step (to compare with it) and the monitor (to
    forecast with it) open it. One whose signature the configured public key refuses (the key
    pair was rotated, a version nobody signed) failed a day's run at register after its
    training, wherever a candidate came to be compared with it, and no day's forecast of it
    could be stored: refused first, in the signing check's own sentence, whether or not that
    day's candidate would have reached the comparison. Damaged files are no refusal here: the
    register step replaces such a champion."""
    # Imported here, not above: MLflow and the serving model load only for a pipeline that
    # signs (torch is loaded already, by the optimizer check).
    from stockcast.registry.store import ModelRegistry
    from stockcast.serving.model import check_version_opens

    store = sqlite_file(str(cfg.registry.tracking_uri))
    if store is not None and not store.is_file():
        return
    registry = ModelRegistry.from_config(cfg.registry)
    champion = registry.champion(cfg.registry.champion_alias)
    if champion is None:
        return
    try:
        check_version_opens(registry, champion, workdir)
    except DamagedVersion:
        return
