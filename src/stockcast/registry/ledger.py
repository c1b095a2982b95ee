"""The forecast ledger: what each champion forecast, from which origin, kept so it can be scored
once the targets arrive.

One SQLite file beside the MLflow store (or in a datastore folder on Azure ML). Append-only:
triggers refuse updates and deletes (the tables and triggers: `ledger_schema`), and a forecast
is stored once per (model name, version, series, origin date) with `INSERT ... ON CONFLICT DO
NOTHING`, so a rerun adds nothing. Every write is one `BEGIN IMMEDIATE` transaction, so
concurrent writers queue instead of corrupting it. A second table records each champion the
monitor has seen, which makes "the previous champion" known without the register step writing
anything here. A third records which store's model each model name's forecasts are of
(`claim_store`, `ledger_stores.py`): a ledger beside two stores, or copied beside a fresh one,
would mix their versions of one name.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from stockcast.errors import ConfigError, LedgerUnusable
from stockcast.redaction import redacted_uri
from stockcast.registry.ledger_schema import INSERT_FORECAST, create_tables
from stockcast.registry.ledger_stores import claimed_registration, store_mismatch
from stockcast.registry.lock import sqlite_file

# The forecast ledger's file, in `monitor.ledger_dir` (beside the local MLflow store by default).
LEDGER_FILE = "ledger.db"


@dataclass(frozen=True)
class LedgerForecast:
    """One stored forecast: H target dates, the point forecast, the naive forecast made at the
    same origin (the last observed value) and {level: (lower, upper)} bounds."""

    model_name: str
    model_version: int
    series_id: str
    origin_date: str
    target_dates: tuple[str, ...]
    point: tuple[float, ...]
    naive: float
    bands: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict)
    # The order the ledger stored it in (its row number; 0 for one not read from a ledger).
    stored_seq: int = field(default=0, compare=False)
    # When it was stored (UTC, as the ledger writes times; "" for one not read from a ledger).
    stored_at: str = field(default="", compare=False)

    @property
    def key(self) -> tuple[str, int, str, str]:
        return (self.model_name, self.model_version, self.series_id, self.origin_date)


@dataclass(frozen=True)
class ChampionSeen:
    """The alias was seen on `model_version` on `seen_on` (a data date), for `reason`, and
    recorded at `recorded_at` (UTC, as the ledger writes times)."""

    model_version: int
    seen_on: str
    reason: str
    recorded_at: str = field(default="", compare=False)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Ledger:
    """The ledger file at `path`, created on first use."""

    def __init__(self, path: str | Path, timeout_s: float) -> None:
        self.path = Path(path)
        self.timeout_s = float(timeout_s)
        self._ready = False

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        """One connection, one transaction: `BEGIN IMMEDIATE` takes the write lock up front,
        so two writers queue (for up to `timeout_s`) rather than fail half-way."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        except (OSError, sqlite3.Error) as err:
            raise LedgerUnusable(
                f"cannot open the forecast ledger {self.path} ({err}); check monitor.ledger_dir.",
                str(err),
            ) from None
        try:
            connection.execute("BEGIN IMMEDIATE" if write or not self._ready else "BEGIN")
            if not self._ready:
                create_tables(connection)
            yield connection
            connection.execute("COMMIT")
            self._ready = True
        except BaseException as err:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            if isinstance(err, sqlite3.DatabaseError) and not isinstance(
                err, sqlite3.IntegrityError
            ):
                raise LedgerUnusable(
                    f"the forecast ledger {self.path} cannot be written ({err}); if another run "
                    "holds it, rerun when it is done, otherwise move the damaged file aside.",
                    str(err),
                ) from None
            raise
        finally:
            connection.close()

    def append(self, forecasts: Iterable[LedgerForecast]) -> int:
        """Store forecasts not stored yet; returns how many were new."""
        stamp = _now()
        rows = [
            (
                f.model_name,
                int(f.model_version),
                f.series_id,
                f.origin_date,
                json.dumps(list(f.target_dates)),
                json.dumps([float(v) for v in f.point]),
                float(f.naive),
                json.dumps(
                    {
                        k: [list(map(float, b[0])), list(map(float, b[1]))]
                        for k, b in f.bands.items()
                    }
                ),
                stamp,
            )
            for f in forecasts
        ]
        with self._transaction(write=True) as connection:
            before = connection.total_changes
            connection.executemany(INSERT_FORECAST, rows)
            return connection.total_changes - before

    def has(self, key: tuple[str, int, str, str]) -> bool:
        with self._transaction(write=False) as connection:
            found = connection.execute(
                "SELECT 1 FROM forecasts WHERE model_name = ? AND model_version = ? "
                "AND series_id = ? AND origin_date = ?",
                key,
            ).fetchone()
        return found is not None

    def forecasts(self, model_name: str) -> list[LedgerForecast]:
        """Every forecast of `model_name`, by origin date, then version and series."""
        with self._transaction(write=False) as connection:
            rows = connection.execute(
                "SELECT model_name, model_version, series_id, origin_date, target_dates, point, "
                "naive, bands, rowid, stored_at FROM forecasts WHERE model_name = ? "
                "ORDER BY origin_date, model_version, series_id",
                (model_name,),
            ).fetchall()
        return [
            LedgerForecast(
                model_name=name,
                model_version=int(version),
                series_id=series_id,
                origin_date=origin,
                target_dates=tuple(json.loads(targets)),
                point=tuple(json.loads(point)),
                naive=float(naive),
                bands={k: (tuple(lo), tuple(up)) for k, (lo, up) in json.loads(bands).items()},
                stored_seq=int(seq),
                stored_at=stored_at,
            )
            for name, version, series_id, origin, targets, point, naive, bands, seq, stored_at in rows
        ]

    def claim_store(self, model_name: str, registered: str | None) -> None:
        """Record that `model_name`'s forecasts here are of the store that registered it at
        `registered` (`ModelRegistry.registered_stamp`), or refuse where they are of another
        (`store_mismatch`): version 1 of one store would be stored over version 1 of another (a
        conflict the append-only ledger drops) and judged, or rolled back to, on its forecasts."""
        if registered is None:
            return
        with self._transaction(write=True) as connection:
            mismatch = store_mismatch(connection, self.path, model_name, registered)
            if mismatch is None and not claimed_registration(connection, model_name):
                connection.execute(
                    "INSERT INTO stores (model_name, registered, recorded_at) VALUES (?, ?, ?)",
                    (model_name, registered, _now()),
                )
        if mismatch is not None:
            raise ConfigError(mismatch)

    def of_store(self, model_name: str, registered: str | None) -> bool:
        """Whether its forecasts and champions of `model_name` may be those of the store that
        registered it at `registered` (`store_mismatch`), read without claiming them for it."""
        with self._transaction(write=False) as connection:
            return store_mismatch(connection, self.path, model_name, registered) is None

    def last_day(self, model_name: str) -> str | None:
        """The latest origin, or day a champion was seen on, the ledger holds of `model_name`:
        the data a monitor last ran on, which a rerun of an earlier day must not judge after."""
        with self._transaction(write=False) as connection:
            return connection.execute(
                "SELECT MAX(day) FROM (SELECT origin_date AS day FROM forecasts WHERE model_name "
                "= ?1 UNION ALL SELECT seen_on FROM champions WHERE model_name = ?1)",
                (model_name,),
            ).fetchone()[0]

    def champion_history(self, model_name: str, alias: str) -> list[ChampionSeen]:
        """Each change of the alias the monitor saw, oldest first."""
        with self._transaction(write=False) as connection:
            return self._history(connection, model_name, alias)

    @staticmethod
    def _history(connection: sqlite3.Connection, model_name: str, alias: str) -> list[ChampionSeen]:
        rows = connection.execute(
            "SELECT model_version, seen_on, reason, recorded_at FROM champions "
            "WHERE model_name = ? AND alias = ? ORDER BY seq",
            (model_name, alias),
        ).fetchall()
        return [
            ChampionSeen(int(v), seen_on, reason, recorded) for v, seen_on, reason, recorded in rows
        ]

    def record_champion(
        self, model_name: str, alias: str, version: int, seen_on: str, reason: str
    ) -> bool:
        """Record the alias on `version` unless that is already the last one recorded (a
        compare-and-insert in one transaction); returns whether it was new."""
        with self._transaction(write=True) as connection:
            history = self._history(connection, model_name, alias)
            if history and history[-1].model_version == int(version):
                return False
            connection.execute(
                "INSERT INTO champions (model_name, alias, model_version, seen_on, reason, "
                "recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
                (model_name, alias, int(version), seen_on, reason, _now()),
            )
        return True


def champion_since(history: Sequence[ChampionSeen], version: int) -> str | None:
    """When `version`'s present time as champion began: when the history recorded the last
    change of the alias, where it is to `version` (the history records changes only); None
    where the history does not end on it (or, written before the time was read, holds none)."""
    if history and history[-1].model_version == int(version):
        return history[-1].recorded_at or None
    return None


def ledger_folder(ledger_dir: str | None, tracking_uri: str) -> Path | None:
    """The ledger's folder: `ledger_dir` (`monitor.ledger_dir`), or the local MLflow store's
    when that is null; None where it is null and the store is not a local SQLite file."""
    if ledger_dir:
        return Path(ledger_dir)
    store = sqlite_file(tracking_uri)
    return None if store is None else store.parent


def ledger_path(ledger_dir: str | None, tracking_uri: str) -> Path:
    """The ledger's file in `ledger_folder`, refused where there is none."""
    folder = ledger_folder(ledger_dir, tracking_uri)
    if folder is None:
        raise ConfigError(
            f"monitor.ledger_dir is not set and the registry {redacted_uri(tracking_uri)} is "
            "not a local SQLite store to keep it beside; set monitor.ledger_dir to a folder."
        )
    return folder / LEDGER_FILE
