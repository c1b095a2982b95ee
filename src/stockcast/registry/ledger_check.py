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
from stockcast.registry.ledger import another_stores_ledger, ledger_path
from stockcast.registry.lock import sqlite_file


def check_ledger_folder(ledger_dir: str | None, tracking_uri: str) -> Path:
    """The ledger's path, its folder made; refused where this user cannot write there."""
    path = ledger_path(ledger_dir, tracking_uri)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"cannot make the forecast ledger's folder {path.parent} ({err.strerror or err}); "
            "set monitor.ledger_dir to a folder this user can write."
        ) from None
    writable = os.access(path.parent, os.W_OK | os.X_OK)
    if not writable or (path.exists() and not os.access(path, os.R_OK | os.W_OK)):
        raise ConfigError(
            f"the forecast ledger {path} cannot be written by this user; set monitor.ledger_dir "
            "to a folder this user can write."
        )
    return path


def check_ledger(ledger_dir: str | None, tracking_uri: str, model_name: str) -> None:
    """Refuse a ledger the monitor could not write (`check_ledger_folder`), a file there that is
    no SQLite database, and, beside a local store, a ledger that keeps `model_name`'s forecasts
    of another store (a claim that differs from this store's registration, or forecasts of a
    model this store never registered)."""
    path = check_ledger_folder(ledger_dir, tracking_uri)
    if not path.exists():
        return
    held, has_forecasts = _ledger_holds(path, model_name)
    store = sqlite_file(tracking_uri)
    if store is None:  # a remote store: the monitor compares it with the claim
        return
    registered = _registered_in(store, model_name)
    if (held is not None and held != registered) or (has_forecasts and registered is None):
        raise ConfigError(another_stores_ledger(path, model_name, held, registered))


def _ledger_holds(path: Path, model_name: str) -> tuple[str | None, bool]:
    """The store `model_name`'s forecasts in the ledger at `path` are claimed for, and whether it
    holds any, read without writing; a file that is no ledger is refused."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as read:
            tables = {row[0] for row in read.execute("SELECT name FROM sqlite_master")}
            held = None
            if "stores" in tables:
                row = read.execute(
                    "SELECT registered FROM stores WHERE model_name = ?", (model_name,)
                ).fetchone()
                held = row and row[0]
            has_forecasts = "forecasts" in tables and (
                read.execute(
                    "SELECT 1 FROM forecasts WHERE model_name = ? LIMIT 1", (model_name,)
                ).fetchone()
                is not None
            )
    except sqlite3.DatabaseError as err:
        if "locked" in str(err):  # held by a writer past sqlite's wait
            raise ConfigError(
                f"the forecast ledger {path} is held by another run ({err}); rerun when it is done."
            ) from None
        raise ConfigError(
            f"the forecast ledger {path} cannot be read ({err}); move the damaged file aside, "
            "or set monitor.ledger_dir to another folder."
        ) from None
    return held, has_forecasts


def _registered_in(store: Path, model_name: str) -> str | None:
    """When the local store at `store` registered `model_name` (milliseconds since 1970, as
    text, as `ModelRegistry.registered_stamp` gives it), None where it has not or does not
    exist yet: read from MLflow's own table, without importing MLflow before the first step."""
    if not store.is_file():
        return None
    try:
        with closing(sqlite3.connect(f"{store.resolve().as_uri()}?mode=ro", uri=True)) as read:
            row = read.execute(
                "SELECT creation_time FROM registered_models WHERE name = ?", (model_name,)
            ).fetchone()
    except sqlite3.DatabaseError:  # no registry tables yet: nothing registered
        return None
    return None if row is None else str(int(row[0]))
