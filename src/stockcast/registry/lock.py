"""One writer at a time per MLflow store, so registration and promotion are compare-and-set.

Local SQLite store: a file lock beside the database (`mlruns.db.lock`). The operating system
holds it for the process, so a process killed with -9 releases it at once; the lock also covers
creating a fresh store's tables, which MLflow cannot do from several processes at once.

A remote store (Azure ML's MLflow) shares no filesystem with its writers: a tag on the registered
model serves as a lease there, set only when absent or expired and re-read after a pause to see
whose write won, in a retry loop. MLflow offers no atomic compare-and-set, so this narrows the
race to that pause instead of closing it; the lease expires so a killed writer cannot block others,
and a live writer extends it while it works.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stockcast.errors import StockcastError

LOCK_SUFFIX = ".lock"
WAIT_S = 600.0
# A wait longer than this is announced: a reader (predict, serve) otherwise sat silent for as long
# as a registration held the store.
NOTICE_S = 2.0
LEASE_TAG = "stockcast.write_lease"
LEASE_TTL_S = 300.0
LEASE_SETTLE_S = 1.0
LEASE_POLL_S = 2.0
# A held lease is extended each time this fraction of its TTL has passed.
LEASE_RENEW_FRACTION = 1 / 3
# How long a release waits for a renewal under way.
LEASE_JOIN_S = 5.0

_FILE_LOCKS: dict[str, Any] = {}

log = logging.getLogger(__name__)


class StoreBusy(StockcastError):
    """Another writer held the store for longer than we wait."""


def sqlite_file(uri: str) -> Path | None:
    """The database file of a `sqlite:///` tracking URI; None for other stores."""
    prefix = "sqlite:///"
    return Path(uri[len(prefix) :]) if uri.startswith(prefix) else None


def _file_lock(path: Path) -> Any:
    """One reentrant lock object per path in this process (nested `with` blocks do not deadlock)."""
    from filelock import FileLock

    key = str(path.resolve())
    if key not in _FILE_LOCKS:
        _FILE_LOCKS[key] = FileLock(key)
    return _FILE_LOCKS[key]


@contextmanager
def store_lock(tracking_uri: str, wait_s: float = WAIT_S) -> Iterator[None]:
    """Hold the local store's file lock (a no-op for remote stores, see `TagLease`)."""
    from filelock import Timeout

    database = sqlite_file(tracking_uri)
    if database is None:
        yield
        return
    database.parent.mkdir(parents=True, exist_ok=True)
    lock_path = database.with_name(database.name + LOCK_SUFFIX)
    lock = _file_lock(lock_path)
    try:
        try:
            lock.acquire(timeout=min(NOTICE_S, wait_s))
        except Timeout:
            if wait_s <= NOTICE_S:
                raise
            log.warning(
                "another process is writing to %s (it holds %s): waiting up to %.0f s for it",
                database,
                lock_path,
                wait_s,
            )
            lock.acquire(timeout=wait_s - NOTICE_S)
    except Timeout:
        raise StoreBusy(
            f"another process has been writing to {database} for over {wait_s:.0f} s (it holds "
            f"{lock_path}); wait for it to finish and rerun."
        ) from None
    try:
        yield
    finally:
        lock.release()


class TagLease:
    """Mutual exclusion among writers of one registered model through one of its tags."""

    def __init__(self, client: Any, model_name: str, ttl_s: float = LEASE_TTL_S) -> None:
        self.client = client
        self.model_name = model_name
        self.ttl_s = ttl_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def _holder(self) -> tuple[str, float] | None:
        value = (self.client.get_registered_model(self.model_name).tags or {}).get(LEASE_TAG)
        if not value or "|" not in value:
            return None
        owner, _, expires = value.rpartition("|")
        try:
            return owner, float(expires)
        except ValueError:
            return None

    def _write(self) -> None:
        """Claim (or extend) the lease for another `ttl_s` from now."""
        expires = time.time() + self.ttl_s
        self.client.set_registered_model_tag(
            self.model_name, LEASE_TAG, f"{self.owner}|{expires:.3f}"
        )

    def acquire(self, wait_s: float = WAIT_S) -> None:
        deadline = time.time() + wait_s
        while True:
            holder = self._holder()
            if holder is None or holder[1] < time.time():
                self._write()
                time.sleep(LEASE_SETTLE_S)  # a rival that wrote at the same time wins or loses now
                holder = self._holder()
                if holder is not None and holder[0] == self.owner:
                    return
            if time.time() > deadline:
                raise StoreBusy(
                    f"another writer has held registered model {self.model_name!r} for over "
                    f"{wait_s:.0f} s (tag {LEASE_TAG}); wait for it to finish and rerun."
                )
            time.sleep(LEASE_POLL_S)

    def release(self) -> None:
        holder = self._holder()
        if holder is not None and holder[0] == self.owner:
            self.client.delete_registered_model_tag(self.model_name, LEASE_TAG)

    def _renew_until(self, stop: threading.Event) -> None:
        """Extend the lease while the holder works (a large upload outlasts one `ttl_s`), so no
        rival takes it over as expired; stops once the lease is lost."""
        while not stop.wait(self.ttl_s * LEASE_RENEW_FRACTION):
            try:
                holder = self._holder()
                if stop.is_set():  # released while reading: nothing to renew or report
                    return
                if holder is None or holder[0] != self.owner:
                    log.warning(
                        "lost the write lease of registered model %r to another writer; what "
                        "this one writes now may interleave with its writes",
                        self.model_name,
                    )
                    return
                self._write()
            except Exception as err:  # the store unreachable for a moment: try again next round
                log.warning("could not renew the write lease of %r: %s", self.model_name, err)

    @contextmanager
    def held(self, wait_s: float = WAIT_S) -> Iterator[None]:
        self.acquire(wait_s)
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew_until, args=(stop,), daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            # A renewal stuck in a slow call does not hold the writer up for long; it writes
            # nothing once it sees the stop.
            renewer.join(LEASE_JOIN_S)
            self.release()
