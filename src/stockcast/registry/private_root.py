"""Where a process keeps its private copies of model folders, and who cleans up after a crash.

Each process copies the folders it loads into one temporary root of its own, removed at exit (and
by a server about to end by a signal). A process killed outright (SIGKILL, the out-of-memory
killer, a lost machine) runs no exit handler, so its copies would stay in the temporary folder
for good, which is memory where that folder is a tmpfs. So a root has an owner file beside it,
locked for as long as its process lives (the operating system drops the lock when the process
dies, however it dies), and a process making its root removes every root whose owner file it can
lock. The owner file is locked before it gets the name sweepers look for, so a root under
construction is never taken for an abandoned one. Where the platform has no `fcntl` (Windows)
roots are still removed at exit, but not swept.
"""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

ROOT_PREFIX = "stockcast-verified-"
OWNER_SUFFIX = ".owner"


@dataclass(frozen=True)
class _Root:
    """A process's root, the process that made it (a forked child inherits the record, and its
    exit must not remove its parent's copies) and the descriptor holding its owner file's lock
    (None where the filesystem locks nothing)."""

    path: Path
    pid: int
    owner: int | None


# This process's root, once made (at most one).
_MINE: list[_Root] = []


def owner_file(root: Path) -> Path:
    return root.with_name(root.name + OWNER_SUFFIX)


def _current() -> _Root | None:
    """This process's root; one a forked child inherited is dropped, never removed (the
    parent's lock stays held by the parent's descriptor)."""
    if _MINE and _MINE[0].pid != os.getpid():
        _MINE.clear()
    return _MINE[0] if _MINE else None


def private_root() -> Path:
    """This process's root for verified copies (made on first use, removed at exit); making it
    also removes the roots of processes that died without removing theirs."""
    root = _current()
    if root is None:
        path = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX))
        atexit.register(remove_private_copies)
        root = _Root(path, os.getpid(), _claim(path) if fcntl is not None else None)
        _MINE.append(root)
        if root.owner is not None:
            remove_abandoned_roots(path.parent)
    return root.path


def _claim(root: Path) -> int | None:
    """Lock a fresh file, then give it the owner file's name: visible only once held. None where
    the temporary folder's filesystem locks nothing (the root is then removed at exit only)."""
    descriptor, staged = tempfile.mkstemp(prefix=".stockcast-owner-", dir=root.parent)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        os.replace(staged, owner_file(root))
    except OSError:
        os.close(descriptor)
        Path(staged).unlink(missing_ok=True)
        return None
    return descriptor


def remove_abandoned_roots(folder: Path) -> list[Path]:
    """Remove the roots in `folder` whose process is gone (their owner file, a regular file of
    this user, is not locked); returns them. Roots of live processes, this one's included, and
    anything this user does not own are left alone; nothing here fails a load."""
    removed = []
    for owner in sorted(folder.glob(f"{ROOT_PREFIX}*{OWNER_SUFFIX}")):
        try:
            # Not blocking either: opening a FIFO waits for a writer, and anyone may make one.
            flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
            if not stat.S_ISREG(os.lstat(owner).st_mode):
                continue
            descriptor = os.open(owner, flags)
        except OSError:  # removed meanwhile, a link, or another user's
            continue
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode) or status.st_uid != os.getuid():
                continue
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            root = owner.with_name(owner.name[: -len(OWNER_SUFFIX)])
            shutil.rmtree(root, ignore_errors=True)
            owner.unlink(missing_ok=True)
            removed.append(root)
        except OSError:  # held (its process is alive), or not ours to remove
            continue
        finally:
            os.close(descriptor)
    return removed


def remove_private_copies() -> None:
    """Remove this process's verified copies now: what exit does, for a process about to end
    by a signal, which runs no exit handlers. A forked child's exit removes nothing."""
    root = _current()
    if root is None:
        return
    _MINE.clear()
    shutil.rmtree(root.path, ignore_errors=True)
    owner_file(root.path).unlink(missing_ok=True)
    if root.owner is not None:
        os.close(root.owner)
