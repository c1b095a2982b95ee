"""Before a pipeline's first step: a forecast ledger the monitor step can open and keep this
store's forecasts in. The monitor runs last, after the register step, and the rerun a failed step
asks for would find no new data to run on, so a ledger it cannot use would cost that day's
forecast."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from stockcast.errors import ConfigError
from stockcast.files import folder_not_made
from stockcast.registry.ledger import ledger_path
from stockcast.registry.ledger_stores import store_mismatch
from stockcast.registry.lock import WAIT_S, sqlite_file


def check_ledger_folder(ledger_dir: str | None, tracking_uri: str) -> Path:
    """The ledger's path, its folder made; refused where this user cannot write there. Without
    `ledger_dir` the ledger is kept beside the local store, whose folder the refusal names as
    registry.tracking_uri's: the train step could not open that store either."""
    path = ledger_path(ledger_dir, tracking_uri)
    reason = folder_not_made(path.parent)
    if reason is not None:
        if ledger_dir is None:
            raise ConfigError(
                f"cannot make the folder of the store registry.tracking_uri names, {path.parent} "
                f"({reason}), where the forecast ledger is kept too; set registry.tracking_uri "
                "to a store in a folder this user can write."
            )
        raise ConfigError(
            f"cannot make the forecast ledger's folder {path.parent} ({reason}); set "
            "monitor.ledger_dir to a folder this user can write."
        )
    writable = os.access(path.parent, os.W_OK | os.X_OK)
    if not writable or (path.exists() and not os.access(path, os.R_OK | os.W_OK)):
        raise ConfigError(
            f"the forecast ledger {path} cannot be written by this user; set monitor.ledger_dir "
            "to a folder this user can write."
        )
    return path


def check_ledger(
    ledger_dir: str | None,
    tracking_uri: str,
    model_name: str,
    timeout_s: float,
    store_wait_s: float = WAIT_S,
) -> None:
    """Refuse a ledger the monitor could not write (`check_ledger_folder`), a file there that is
    no SQLite database, and, beside a local store, a ledger that keeps `model_name`'s forecasts
    of another store (`store_mismatch`). Both files are opened as the monitor and MLflow open
    them, not read-only: a transaction a killed process left behind is rolled back, not read as
    damage. `timeout_s`: how long to wait for a writer of the ledger (monitor.ledger_timeout_s);
    `store_wait_s`: of the MLflow store, as long as a step waits for its lock (`store_lock`)."""
    path = check_ledger_folder(ledger_dir, tracking_uri)
    store = sqlite_file(tracking_uri)
    if not path.exists():
        return
    registered = None if store is None else _registered_in(store, model_name, store_wait_s)
    try:
        with closing(sqlite3.connect(path, timeout=timeout_s)) as ledger:
            # Every page, not only those the claim is read from: a damaged forecasts table
            # would fail only the monitor's write, after register.
            damage = ledger.execute("PRAGMA quick_check").fetchone()[0]
            mismatch = store_mismatch(ledger, path, model_name, registered)
    except sqlite3.DatabaseError as err:
        if "locked" in str(err):  # held by a writer past the wait
            raise ConfigError(
                f"the forecast ledger {path} is held by another run ({err}); rerun when it is done."
            ) from None
        damage = str(err)
    if damage != "ok":
        raise ConfigError(
            f"the forecast ledger {path} cannot be read ({damage}); move the damaged file "
            "aside, or set monitor.ledger_dir to another folder."
        )
    # Beside a remote store there is no registration to read here: the monitor compares it.
    if store is not None and mismatch is not None:
        raise ConfigError(mismatch)


def ledger_write_blocked(path: Path, timeout_s: float) -> str | None:
    """Why the ledger at `path` cannot be written now (the SQLite error, after waiting
    `timeout_s` for a writer), None where it can or does not exist yet: taken and given back
    at once, as the monitor's write would take it, without creating the file."""
    if not path.is_file():
        return None
    try:
        with closing(sqlite3.connect(path, timeout=timeout_s, isolation_level=None)) as ledger:
            ledger.execute("BEGIN IMMEDIATE")
            ledger.execute("ROLLBACK")
    except sqlite3.Error as err:
        return str(err)
    return None


def _registered_in(store: Path, model_name: str, timeout_s: float) -> str | None:
    """When the local store at `store` registered `model_name` (milliseconds since 1970, as
    text, as `ModelRegistry.registered_stamp` gives it), None where it has not or does not
    exist yet: read from MLflow's own table, without importing MLflow before the first step."""
    if not store.is_file():
        return None
    try:
        with closing(sqlite3.connect(store, timeout=timeout_s)) as read:
            row = read.execute(
                "SELECT creation_time FROM registered_models WHERE name = ?", (model_name,)
            ).fetchone()
    except sqlite3.DatabaseError as err:
        if "no such table" in str(err):  # a store MLflow has not set up yet: nothing registered
            return None
        raise ConfigError(
            f"the MLflow store {store} cannot be read ({err}); if another run holds it, rerun "
            "when it is done, otherwise check registry.tracking_uri."
        ) from None
    return None if row is None else str(int(row[0]))
