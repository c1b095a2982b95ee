"""What a replay records: its plan before the first day, one entry per finished day, and how a
stopped replay is taken up again.

`replay.json` holds the replay's plan (its days, store, ledger folder and the overrides it was
given) beside one entry per finished day, read back from the day's steps' files. A resume
(`replay.resume_from`) reads that record back and refuses, in one sentence, what cannot go on:
no record, a damaged one, other overrides, other data, no day left, a store that is gone. The day that was
running when the replay stopped is set aside here, and the store says whether it had registered
its version.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from stockcast.config.compose import LOCAL_STORE_DB, local_store_uri
from stockcast.config.overrides import as_typed, override_key
from stockcast.data.prepared import data_hash
from stockcast.data.series import Series
from stockcast.errors import ConfigError, StockcastError
from stockcast.evaluation.champion import refusal_reasons
from stockcast.orchestration.monitor_rerun import register_decision
from stockcast.orchestration.steps.run_folders import port_folder
from stockcast.orchestration.steps.table import MONITOR, MONITOR_REPORT_FILE
from stockcast.paths import user_path
from stockcast.registry.freshness import AS_OF_TAG
from stockcast.registry.store import ModelRegistry

REPLAY_FILE = "replay.json"
REPLAY_PLOT_FILE = "replay.png"
# The folder of a replay's run directory that holds each day's pipeline run.
DAYS_DIR = "days"
# The setting that names the replay a resume goes on with.
RESUME_KEY = "replay.resume_from"
# What a replay's plan records (`ledger_dir` too, from the replays that could resume, and
# `data_hash` from those that fingerprinted their data).
PLAN_KEYS = {"days", "store_dir", "overrides"}
# What each day's entry records (`day_entry`), which the resume and the plot read back.
ENTRY_KEYS = {"as_of", "registered_version", "refusal", "champion_version", "live", "seconds"}


def replay_goes_on(run_dir: Path) -> str | None:
    """How a replay stopped by a signal goes on: from its record in `run_dir`, where it wrote
    one (the same command again would start a new replay from its first day), or, for a resume,
    whose own run folder holds only its log, from the replay it resumes. The folder is not the
    sentence's last word: its full stop, copied with it, named no folder."""
    if (run_dir / REPLAY_FILE).is_file():
        return f"go on with replay.resume_from={run_dir} added to the same command"
    resumed = _resumed_replay()
    if resumed is not None and (resumed / REPLAY_FILE).is_file():
        return f"the replay it resumes, in {resumed}, goes on with the same command again"
    return None


def resumed_run_dir(typed: str) -> Path:
    """The run directory `replay.resume_from` names (`~` the home, a relative one from the shell's
    folder), absolute as a new replay's is: its days record their folders relative to it."""
    return user_path(typed).absolute()


def _resumed_replay() -> Path | None:
    """The run directory the running command resumes; None for a new replay."""
    task = as_typed(HydraConfig.get().overrides.task)
    given = [o for o in task if override_key(o) == RESUME_KEY]
    value = OverridesParser.create().parse_override(given[-1]).value() if given else None
    return resumed_run_dir(str(value)) if value else None


def plan_path(folder: Path, run_dir: Path) -> str:
    """A folder as the plan records it: relative to the run directory where it lies inside it
    (the replay's own store, which moves with the run directory), else absolute."""
    folder, run_dir = folder.resolve(), run_dir.resolve()
    return str(folder.relative_to(run_dir)) if folder.is_relative_to(run_dir) else str(folder)


def planned(recorded: str | None, run_dir: Path) -> Path | None:
    """A folder the plan recorded, where it is now (an absolute path stays as it is)."""
    return None if recorded is None else run_dir.resolve() / recorded


def recorded_replay(
    run_dir: Path, given: list[str], runs_dir: Path
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The plan and day entries of the replay in `run_dir`, which a resume given the overrides
    `given` (those it started with) goes on with: from its first unfinished day, or, where it
    was stopped after its last day, to its plot. `runs_dir` is where replays' run directories
    are written (under STOCKCAST_ROOT where it is set), named where `run_dir` is none."""
    summary_file = run_dir / REPLAY_FILE
    if not summary_file.is_file() and (run_dir / DAYS_DIR).is_dir():
        # A replay of a version from before resuming wrote its record only after its last day:
        # stopped part way, it left days and no record, and naming it again cannot help.
        raise ConfigError(
            f"the replay in {run_dir} stopped before it wrote {REPLAY_FILE} (a replay of a "
            "version from before resuming writes it only after its last day), so it cannot be "
            "resumed; start a new replay."
        )
    if not summary_file.is_file():
        raise ConfigError(
            f"replay.resume_from {run_dir} holds no {REPLAY_FILE}; name the run directory of an "
            f"earlier replay ({runs_dir / '<timestamp>'})."
        )
    try:
        written = json.loads(summary_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError(
            f"{summary_file} is not the JSON a replay writes (cut short or edited), so the replay "
            "cannot be resumed; start a new replay."
        ) from None
    plan = written.get("plan") if isinstance(written, dict) else None
    entries = written.get("days") if isinstance(written, dict) else None
    if not _well_formed(plan, entries):
        raise ConfigError(
            f"the replay in {run_dir} recorded no plan of its days as a replay writes it (it "
            "predates resuming, or was edited), so it cannot be resumed; start a new replay."
        )
    if sorted(given) != sorted(plan["overrides"]):
        started = " ".join(plan["overrides"]) or "no overrides"
        missing = [o for o in plan["overrides"] if o not in given]
        extra = [o for o in given if o not in plan["overrides"]]
        differ = "; ".join(
            part
            for part in (
                f"not given {' '.join(missing)}" if missing else "",
                f"given {' '.join(extra)} besides" if extra else "",
            )
            if part
        )
        raise ConfigError(
            f"the replay in {run_dir} resumes with the overrides it started with ({started}), "
            f"and this command's differ ({differ}); give exactly those with replay.resume_from."
        )
    if len(entries) >= len(plan["days"]) and (run_dir / REPLAY_PLOT_FILE).is_file():
        raise ConfigError(
            f"the replay in {run_dir} ran all its {len(plan['days'])} days; there is nothing to "
            "resume."
        )
    store = planned(plan["store_dir"], run_dir)
    # Drawing the plot of a replay that ran all its days needs only the ledger, wherever it is.
    if len(entries) < len(plan["days"]) and (store is None or not store.is_dir()):
        raise ConfigError(
            f"the replay in {run_dir} ran into the store {store}, which is gone, so it cannot be "
            "resumed; start a new replay."
        )
    return plan, [_with_every_coverage(entry) for entry in entries]


def refuse_other_data(run_dir: Path, plan: dict[str, Any], series: Sequence[Series]) -> None:
    """Refuse to resume a replay whose data (`series`, as of its last day) is not the data it
    fingerprinted when it started: its remaining days would train on other values than its first
    ones did, and it would not end as the uninterrupted replay would have. A replay that
    recorded no fingerprint (from before they were kept) is not checked."""
    recorded, now = plan.get("data_hash"), data_hash(list(series))
    if recorded is not None and recorded != now:
        raise ConfigError(
            f"the data the replay in {run_dir} reads has changed since it started (as of its "
            f"last day, {plan['days'][-1]}, its hash was {recorded} and is now {now}), so what "
            "remains of it would run on other data than its first days did; put back the data "
            "it started with to resume it, or start a new replay."
        )


def _with_every_coverage(entry: dict[str, Any]) -> dict[str, Any]:
    """A day recorded before the live coverage of every band was (only `coverage_80`), as a day
    is recorded now: one `replay.json` keeps one shape."""
    live = dict(entry["live"])
    if "coverage_80" in live:
        share = live.pop("coverage_80")
        live["coverage"] = {} if share is None else {"80": share}
    return {**entry, "live": live}


def _well_formed(plan: Any, entries: Any) -> bool:
    """Whether `replay.json` holds a plan and day entries of the shapes a replay writes."""

    def texts(value: Any) -> bool:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)

    return (
        isinstance(plan, dict)
        and set(plan) >= PLAN_KEYS
        and texts(plan["days"])
        and texts(plan["overrides"])
        and isinstance(plan["store_dir"], str)
        and isinstance(plan.get("ledger_dir"), str | None)
        and isinstance(plan.get("data_hash"), str | None)
        and isinstance(entries, list)
        and len(entries) <= len(plan["days"])
        and all(
            isinstance(entry, dict)
            and set(entry) >= ENTRY_KEYS
            and entry["as_of"] == day
            and isinstance(entry["live"], dict)
            for entry, day in zip(entries, plan["days"], strict=False)
        )
    )


def set_aside(day_dir: Path) -> Path | None:
    """Move the folder of a day the replay was running when it stopped to `<day>.interrupted`
    (numbered after the first), so its rerun starts clean; None where there is none."""
    if not day_dir.exists():
        return None
    target = day_dir.with_name(f"{day_dir.name}.interrupted")
    number = 1
    while target.exists():
        number += 1
        target = day_dir.with_name(f"{day_dir.name}.interrupted{number}")
    day_dir.rename(target)
    return target


def _local_registry(store: Path, model_name: str) -> ModelRegistry | None:
    """The replay's store as a registry of `model_name`; None before its first version."""
    if not (store / LOCAL_STORE_DB).is_file():
        return None
    return ModelRegistry(local_store_uri(store), model_name)


def registered_on(model_name: str, store: Path, as_of: str) -> int | None:
    """The newest version of the replay's store registered from `as_of`'s data, if any."""
    registry = _local_registry(store, model_name)
    if registry is None:
        return None
    found = [info.version for info in registry.versions() if info.tags.get(AS_OF_TAG) == as_of]
    return max(found, default=None)


def why_not(decision: dict[str, Any]) -> str | None:
    """Why a day registered nothing, the deciding reason first (the register step's message
    without its "not registered: " lead, which the day's line already says)."""
    decided = decision.get("decision") or {}
    return refusal_reasons(decided) if decided.get("reasons") else decision.get("message")


def day_entry(run_dir: Path, as_of: str, seconds: float, error: str | None) -> dict[str, Any]:
    """What one simulated day produced, read back from its steps' files."""
    monitor_file = port_folder(run_dir, MONITOR) / MONITOR_REPORT_FILE
    decision = register_decision(run_dir)
    monitor = json.loads(monitor_file.read_text()) if monitor_file.is_file() else {}
    rollback = monitor.get("rollback") or {}
    registered = decision.get("version") if decision.get("registered") else None
    live = monitor.get("live") or {}
    return {
        "as_of": as_of,
        "registered_version": registered,
        "refusal": error if error is not None else (None if registered else why_not(decision)),
        "champion_version": rollback["to"] if rollback.get("done") else monitor.get("champion"),
        "live": {
            "mase": live.get("mase"),
            "naive_mase": live.get("naive_mase"),
            "coverage": live.get("coverage") or {},
            "matured": int(live.get("matured", 0)),
        },
        "seconds": round(seconds, 3),
    }


def store_champion(cfg: DictConfig, store: Path) -> int | None:
    """The version the champion alias names in the replay's store (None: none yet, or a store
    that cannot be read: the day's own error already says why)."""
    registry = _local_registry(store, cfg.registry.model_name)
    if registry is None:
        return None
    try:
        found = registry.champion(cfg.registry.champion_alias)
    except StockcastError:
        return None
    return None if found is None else found.version


@contextmanager
def log_appended_to(path: Path) -> Iterator[None]:
    """The log lines of this process also appended to `path` meanwhile, in the format of its
    own log file: a resume's Hydra run folder is a new one, and the replay's log is in its own
    run directory."""
    root = logging.getLogger()
    own = next((h for h in root.handlers if isinstance(h, logging.FileHandler)), None)
    if own is not None and Path(own.baseFilename) == path.resolve():
        yield
        return
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    if own is not None:
        handler.setFormatter(own.formatter)
        handler.setLevel(own.level)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
