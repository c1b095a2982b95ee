"""The replay's databases as a day found them, kept until the next day starts.

A day stopped part way may have registered a version, moved the champion alias (a promotion or a
rollback) and stored forecasts in the ledger. Its rerun must start from what the day found, or
it compares its candidate with another champion, registers a second version of the same day
(the rerun's model folder is not byte for byte the first one's: new run ids and times) and
scores a ledger the day already wrote to. So before each day the replay copies its store's
database and its ledger aside, and a resume copies them back before it runs the stopped day
again. Artifacts the stopped day wrote stay in the store's artifact folder, named by no run.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path

from stockcast.errors import ConfigError
from stockcast.files import read_json_object, write_json

DAY_START_DIR = "day_start"
DAY_START_FILE = "day.json"
# What SQLite keeps beside a database while it writes: gone with it.
SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")


# What SQLite's backup step answers while another connection holds a database it copies.
BUSY_STATUSES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class _Held(Exception):
    """A database another run held past the wait: the copy is abandoned."""


def _copy_database(source: Path, target: Path, timeout_s: float) -> None:
    """A consistent copy through SQLite's backup, also onto a database that is open elsewhere;
    one held by another run past `timeout_s` raises `_Held` (the backup retried forever)."""
    deadline = time.monotonic() + timeout_s

    def waited(status: int, remaining: int, total: int) -> None:
        if status in BUSY_STATUSES and time.monotonic() > deadline:
            raise _Held

    # Read-only: a copy that is not there is an error, never a new empty database to copy over.
    reading = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout_s)
    with closing(reading) as read, closing(sqlite3.connect(target, timeout=timeout_s)) as write:
        read.backup(write, progress=waited)


def _held(run_dir: Path, role: str, path: Path, timeout_s: float, what: str) -> ConfigError:
    """The refusal of a day's start that could not be copied: the replay stops before the day."""
    return ConfigError(
        f"the replay's {role} database {path} was held by another run for {timeout_s:g} s "
        f"(monitor.ledger_timeout_s), so {what}; once no other run holds it, resume the replay "
        f"(replay.resume_from={run_dir}) to go on."
    )


def keep_day_start(
    run_dir: Path, as_of: str, databases: Mapping[str, Path], timeout_s: float
) -> None:
    """Copy each database (by its role: the store's, the ledger) aside for the day `as_of`,
    recording which did not exist yet. Written beside, then renamed over the previous day's:
    stopped while copying, the day had not started, and the previous copy names another day.
    A database another run holds past `timeout_s` stops the replay before the day."""
    staging = run_dir / f"{DAY_START_DIR}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    kept: dict[str, str | None] = {}
    for role, path in databases.items():
        kept[role] = f"{role}-{path.name}" if path.is_file() else None
        if kept[role] is not None:
            try:
                _copy_database(path, staging / kept[role], timeout_s)
            except _Held:
                what = f"its day {as_of} did not start"
                raise _held(run_dir, role, path, timeout_s, what) from None
    write_json(staging / DAY_START_FILE, {"as_of": as_of, "databases": kept})
    final = run_dir / DAY_START_DIR
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)


def restore_day_start(
    run_dir: Path, as_of: str, databases: Mapping[str, Path], timeout_s: float
) -> bool:
    """Put back the databases as the day `as_of` found them (one that did not exist then is
    removed); False where no copy of that day's start was kept (a replay from before copies were
    kept), and nothing is changed. A database another run holds past `timeout_s` stops the
    resume before the day (restored again by the next)."""
    folder = run_dir / DAY_START_DIR
    record = read_json_object(folder / DAY_START_FILE)
    if record is None or record.get("as_of") != as_of:
        return False
    kept = record.get("databases")
    if not isinstance(kept, dict) or set(kept) != set(databases):
        return False
    gone = [
        role for role, name in kept.items() if name is not None and not (folder / name).is_file()
    ]
    if gone:
        raise ConfigError(
            f"the replay in {run_dir} kept the start of its day {as_of} in {DAY_START_DIR}/, but "
            f"its copy of the {' and '.join(gone)} database is gone, so the day cannot run again "
            "from it; start a new replay."
        )
    for role, path in databases.items():
        if kept[role] is None:
            for name in (path.name, *(path.name + side for side in SQLITE_SIDE_FILES)):
                path.with_name(name).unlink(missing_ok=True)
        else:
            try:
                _copy_database(folder / kept[role], path, timeout_s)
            except _Held:
                what = f"its day {as_of} could not be put back to its start"
                raise _held(run_dir, role, path, timeout_s, what) from None
    return True
