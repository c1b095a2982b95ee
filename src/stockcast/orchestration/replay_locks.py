"""The ledger locks of replays and pipelines: a pipeline whose monitor writes the ledger a
replay's days write claims it for its own store, and the replay's later days then lose their
forecasts to the ledger's check of which store it belongs to. A replay holds one lock in its
ledger folder, which a pipeline checks; each pipeline holds one of its own there (pipelines may
share a ledger with each other), which a replay checks."""

from __future__ import annotations

import hmac
import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from stockcast.errors import ConfigError

# Held in the folder a replay's days write the ledger in (monitor.ledger_dir, else its store's)
# by the replay (named apart from its own lock files: the folder may be its run or store folder).
LEDGER_LOCK_FILE = "replay_ledger.lock"
# Beside it while it is held (this user's only): the run folder of the replay holding it, for a
# person, then the replay's mark.
LEDGER_OWNER_FILE = "replay_ledger.run"
# Set by a replay holding its ledger lock to a random mark of its own, so its days' steps (in this
# process, or inherited by a subprocess step) are known as its own: a monitor step finding the
# lock held runs only where this is the mark in the owner file. Not its run folder, which anyone
# reading the owner file could set by hand and so write the ledger of a replay running now.
REPLAY_RUN_ENV = "STOCKCAST_REPLAY_RUN"
# Held in the ledger's folder by each pipeline writing it, as `<prefix><pid>-<random>.lock`,
# beside `<prefix><pid>-<random>.run`, which names the pipeline's run folder for the replay it
# refuses.
PIPELINE_LOCK_PREFIX = "pipeline_ledger."


@contextmanager
def _taken_at_once(lock_file: Path) -> Iterator[bool]:
    """Hold the file lock `lock_file` for the block where no other process holds it (True),
    never waiting for it (False): every lock of replays and pipelines is looked at this way."""
    lock = FileLock(str(lock_file))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


@contextmanager
def held_or_refused(lock_file: Path, refusal: str) -> Iterator[None]:
    """Hold the file lock `lock_file` for the block, or refuse at once with `refusal` where
    another process holds it: a replay never waits on another's run folder, store or ledger."""
    with _taken_at_once(lock_file) as taken:
        if not taken:
            raise ConfigError(refusal)
        yield


@contextmanager
def replay_writes_ledger(folder: Path, where: str, fix: str, run_dir: Path) -> Iterator[None]:
    """Hold the ledger lock in `folder`, where the days of the replay in `run_dir` write the
    ledger (monitor.ledger_dir, else beside its store), for the block: a pipeline, a monitor
    step run alone or another replay started meanwhile on that ledger is refused; the replay's
    own steps are marked as its own (`REPLAY_RUN_ENV`). Another replay holding it is refused,
    naming `where` (the setting and its value), with `fix` (what to do) after the sentence."""
    refusal = f"{where} holds the forecast ledger of another replay running now; {fix}."
    owner_file = folder / LEDGER_OWNER_FILE
    with held_or_refused(folder / LEDGER_LOCK_FILE, refusal):
        # Written once the lock is held (a replay refused it must not overwrite the holder's)
        # and removed before it is given back.
        mark = secrets.token_hex(16)
        _write_private(owner_file, f"{run_dir}\n{mark}\n")
        before = os.environ.get(REPLAY_RUN_ENV)
        os.environ[REPLAY_RUN_ENV] = mark
        try:
            yield
        finally:
            if before is None:
                os.environ.pop(REPLAY_RUN_ENV, None)
            else:
                os.environ[REPLAY_RUN_ENV] = before
            owner_file.unlink(missing_ok=True)


def refuse_a_replays_ledger(ledger: Path, run: str = "pipeline") -> None:
    """Refuse a `run` (a pipeline, a monitor step) whose forecast ledger `ledger` is in the
    ledger folder of a replay running now, unless it is one of that replay's own steps
    (`REPLAY_RUN_ENV` is the mark of the lock's owner; looked at first, as its own process's
    lock reads as held). The lock is taken and given back at once, never made: a folder without
    the file is no replay's."""
    lock_file = ledger.parent / LEDGER_LOCK_FILE
    if not lock_file.exists() or _the_replays_own(ledger.parent / LEDGER_OWNER_FILE):
        return
    if _held(lock_file):
        raise ConfigError(
            f"the forecast ledger {ledger} is written by a replay running now, whose days would "
            f"lose their forecasts to this run's; set monitor.ledger_dir to another folder for "
            f"this {run}, or run it once the replay has ended."
        )


def _write_private(path: Path, text: str) -> None:
    """Write `path` anew, readable by this user only (a killed replay's may be left there)."""
    path.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    with os.fdopen(os.open(path, flags, 0o600), "w") as written:
        written.write(text)


def _the_replays_own(owner_file: Path) -> bool:
    """Whether this process runs a step of the replay whose mark `owner_file` (beside its
    folder's ledger lock) holds after the replay's run folder."""
    marked = os.environ.get(REPLAY_RUN_ENV)
    if not marked or not owner_file.is_file():
        return False
    try:
        mark = owner_file.read_text().splitlines()[-1]
    except (OSError, IndexError):  # not this user's, or emptied by hand
        return False
    return hmac.compare_digest(os.fsencode(mark), os.fsencode(marked))


@contextmanager
def pipeline_writes_ledger(ledger: Path, run_dir: Path) -> Iterator[None]:
    """Hold this pipeline's lock in the folder of its forecast ledger `ledger` for the block, so
    a replay started meanwhile is refused naming `run_dir`; refused at once where a replay
    writes the ledger now. Its own lock is taken before the replay's is looked at (a replay
    takes its own before it looks at the pipelines'), so of the two started at once, at least
    one is refused. Once its own is held it removes those of pipelines killed there."""
    # The process id names the pipeline for a person; the random part keeps two pipelines of
    # one id (containers sharing a volume, each its own pid 1) from sharing, then deleting, one
    # lock.
    base = f"{PIPELINE_LOCK_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
    run_file, lock_file = ledger.parent / f"{base}.run", ledger.parent / f"{base}.lock"
    # Written before the lock is taken and removed after it is given back: a replay that finds
    # the lock held finds the run folder it names.
    run_file.write_text(str(run_dir))
    lock = FileLock(str(lock_file))
    try:
        # A pipeline starting meanwhile may have taken the lock file, made but not yet locked,
        # for a killed pipeline's and removed the pair: filelock then locks a new file of that
        # name (it takes no lock on a removed one, setup.cfg's floor), and the run file, removed
        # first, is written again.
        lock.acquire()
        if not run_file.exists():
            run_file.write_text(str(run_dir))
        try:
            remove_abandoned_pipeline_locks(ledger.parent)
            refuse_a_replays_ledger(ledger)
            yield
        finally:
            lock.release()
    finally:
        lock_file.unlink(missing_ok=True)
        run_file.unlink(missing_ok=True)


def remove_abandoned_pipeline_locks(folder: Path) -> list[Path]:
    """Remove the lock and run files in `folder` of pipelines gone without removing them
    (killed outright: the operating system gave their locks back, but the files stayed, and a
    person reading the folder took them for pipelines running); returns the lock files removed.
    Each is taken at once or passed over: one held is a pipeline running now. A run file with
    no lock file beside it is left: it may be a pipeline's about to take its lock."""
    removed = []
    for lock_file in sorted(folder.glob(f"{PIPELINE_LOCK_PREFIX}*.lock")):
        try:
            with _taken_at_once(lock_file) as taken:
                if not taken:  # a pipeline running now
                    continue
                # Removed while held, the lock file last: the pipeline that made it, had it not
                # locked it yet, finds it gone once it does, and makes both again.
                lock_file.with_suffix(".run").unlink(missing_ok=True)
                lock_file.unlink(missing_ok=True)
                removed.append(lock_file)
        except OSError:  # not ours to take, or to remove
            continue
    return removed


def refuse_running_pipelines(folder: Path, where: str, fix: str) -> None:
    """Refuse a replay whose days would write the forecast ledger in `folder` (named by
    `where`, its setting and value) while a pipeline writes it, saying which, with `fix` (what
    to do) after the sentence. Locks no pipeline holds (one killed) are passed over."""
    for lock_file in sorted(folder.glob(f"{PIPELINE_LOCK_PREFIX}*.lock")):
        if _held(lock_file):
            run_file = lock_file.with_suffix(".run")
            pid = lock_file.stem.removeprefix(PIPELINE_LOCK_PREFIX).partition("-")[0]
            run = run_file.read_text() if run_file.exists() else f"process {pid}"
            raise ConfigError(
                f"{where} holds the forecast ledger that the pipeline running now in {run} "
                f"writes; {fix}."
            )


def _held(lock_file: Path) -> bool:
    """Whether another process holds the file lock `lock_file`: taken and given back at once."""
    with _taken_at_once(lock_file) as taken:
        return not taken
