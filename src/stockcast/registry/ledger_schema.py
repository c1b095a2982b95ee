"""The forecast ledger's tables, and the triggers that keep them append-only: what `Ledger`
creates on first use, in the transaction that first opens the file."""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS forecasts (
    model_name TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    series_id TEXT NOT NULL,
    origin_date TEXT NOT NULL,
    target_dates TEXT NOT NULL,
    point TEXT NOT NULL,
    naive REAL NOT NULL,
    bands TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    PRIMARY KEY (model_name, model_version, series_id, origin_date)
);
CREATE TABLE IF NOT EXISTS champions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    model_name TEXT NOT NULL,
    alias TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    seen_on TEXT NOT NULL,
    reason TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stores (
    model_name TEXT PRIMARY KEY,
    registered TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS stores_no_update BEFORE UPDATE ON stores
BEGIN SELECT RAISE(ABORT, 'the store a ledger keeps forecasts of is kept'); END;
CREATE TRIGGER IF NOT EXISTS forecasts_no_update BEFORE UPDATE ON forecasts
BEGIN SELECT RAISE(ABORT, 'the forecast ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS forecasts_no_delete BEFORE DELETE ON forecasts
BEGIN SELECT RAISE(ABORT, 'the forecast ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS champions_no_update BEFORE UPDATE ON champions
BEGIN SELECT RAISE(ABORT, 'the champion history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS champions_no_delete BEFORE DELETE ON champions
BEGIN SELECT RAISE(ABORT, 'the champion history is append-only'); END;
"""

INSERT_FORECAST = """
INSERT INTO forecasts (model_name, model_version, series_id, origin_date, target_dates, point,
                       naive, bands, stored_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (model_name, model_version, series_id, origin_date) DO NOTHING
"""


def create_tables(connection: sqlite3.Connection) -> None:
    """The ledger's tables and triggers, where missing (an existing ledger is left as it is)."""
    for statement in SCHEMA.split(";\n"):
        if statement.strip():
            connection.execute(statement)
