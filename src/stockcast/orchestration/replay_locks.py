"""The ledger lock a running replay holds, and the pipeline's look at it: a pipeline whose
monitor writes the ledger a replay's days write claims it for its own store, and the replay's
later days then lose their forecasts to the ledger's check of which store it belongs to."""

from __future__ import annotations

from pathlib import Path

from stockcast.errors import ConfigError

# Held in monitor.ledger_dir by the replay whose days write the ledger there (named apart from
# the replay's own lock file: the folder may be the replay's own run or store folder).
LEDGER_LOCK_FILE = "replay_ledger.lock"


def refuse_a_replays_ledger(ledger: Path) -> None:
    """Refuse a pipeline whose forecast ledger `ledger` is in the ledger folder of a replay
    running now. The lock is taken and given back at once, never made: a folder without the
    file is no replay's."""
    from filelock import FileLock, Timeout

    lock_file = ledger.parent / LEDGER_LOCK_FILE
    if not lock_file.exists():
        return
    lock = FileLock(str(lock_file))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ConfigError(
            f"the forecast ledger {ledger} is written by a replay running now, whose days would "
            "lose their forecasts to this run's; set monitor.ledger_dir to another folder for "
            "this pipeline, or run it once the replay has ended."
        ) from None
    lock.release()
