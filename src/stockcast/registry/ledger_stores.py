"""Which store a forecast ledger keeps a model name's forecasts of: the ledger records when the
store registered the model (its `stores` table), since two stores' versions of one name (a second
store in the ledger's folder, an old ledger copied beside a fresh store) would mix in it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path


def store_mismatch(
    connection: sqlite3.Connection, path: Path, model_name: str, registered: str | None
) -> str | None:
    """Why the ledger's forecasts of `model_name` are not of the store that registered it at
    `registered` (None: a store that has not): a claim of another registration, or (a ledger
    written before claims) forecasts stored before this store registered the model, or of a
    model it never registered. None where they may be its own."""
    tables = _tables(connection)
    held = claimed_registration(connection, model_name, tables)
    if held is not None:
        return (
            None
            if held == registered
            else another_stores_ledger(path, model_name, held, registered)
        )
    if "forecasts" not in tables:
        return None
    first = connection.execute(
        "SELECT MIN(stored_at) FROM forecasts WHERE model_name = ?", (model_name,)
    ).fetchone()[0]
    if first is None or (registered is not None and first >= _stamp_time(registered)):
        return None
    return another_stores_ledger(path, model_name, None, registered)


def claimed_registration(
    connection: sqlite3.Connection, model_name: str, tables: set[str] | None = None
) -> str | None:
    """The registration `model_name`'s forecasts are claimed for, None where none is (or the
    ledger has no table of claims yet; `tables`: the ledger's tables, where already read)."""
    if "stores" not in (_tables(connection) if tables is None else tables):
        return None
    row = connection.execute(
        "SELECT registered FROM stores WHERE model_name = ?", (model_name,)
    ).fetchone()
    return None if row is None else str(row[0])


def _tables(connection: sqlite3.Connection) -> set[str]:
    return {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}


def another_stores_ledger(
    path: Path, model_name: str, held: str | None, registered: str | None
) -> str:
    """The refusal of a ledger that keeps forecasts of another store's `model_name`, registered
    at `held` (None: a ledger written before it recorded stores)."""
    theirs = f"its model was registered at {_stamp_shown(held)}, " if held else ""
    ours = f"this one's at {_stamp_shown(registered)}" if registered else "this one has none"
    return (
        f"the forecast ledger {path} keeps the forecasts of {model_name} from another store "
        f"({theirs}{ours}): their versions would be mixed; give this store a ledger of its own "
        "with monitor.ledger_dir, or point registry.tracking_uri back at that store."
    )


def _stamp_time(stamp: str) -> str:
    """A registration stamp (milliseconds since 1970) as the ledger's `stored_at` writes a time."""
    return datetime.fromtimestamp(int(stamp) / 1000, UTC).isoformat(timespec="seconds")


def _stamp_shown(stamp: str) -> str:
    """A registration stamp as a UTC time to the millisecond (a model registered again in one
    store can differ from the first by less than a second)."""
    shown = datetime.fromtimestamp(int(stamp) / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return f"{shown[:-3]} UTC"
