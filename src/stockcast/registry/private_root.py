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
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

ROOT_PREFIX = "stockcast-verified-"
OWNER_SUFFIX = ".owner"

# This process's root and the descriptor holding its owner file's lock, once made.
_ROOT: list[Path] = []
_OWNER: list[int] = []


def owner_file(root: Path) -> Path:
    return root.with_name(root.name + OWNER_SUFFIX)


def private_root() -> Path:
    """This process's root for verified copies (made on first use, removed at exit); making it
    also removes the roots of processes that died without removing theirs."""
    if not _ROOT:
        root = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX))
        atexit.register(remove_private_copies)
        _ROOT.append(root)
        if fcntl is not None:
            _OWNER.append(_claim(root))
            remove_abandoned_roots(root.parent)
    return _ROOT[0]


def _claim(root: Path) -> int:
    """Lock a fresh file, then give it the owner file's name: visible only once held."""
    descriptor, staged = tempfile.mkstemp(prefix=".stockcast-owner-", dir=root.parent)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    os.replace(staged, owner_file(root))
    return descriptor


def remove_abandoned_roots(folder: Path) -> list[Path]:
    """Remove the roots in `folder` whose process is gone (their owner file is not locked);
    returns them. Roots of live processes, this one's included, are left alone."""
    removed = []
    for owner in sorted(folder.glob(f"{ROOT_PREFIX}*{OWNER_SUFFIX}")):
        try:
            descriptor = os.open(owner, os.O_RDONLY)
        except OSError:  # removed meanwhile, or another user's
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: its process is alive
            os.close(descriptor)
            continue
        try:
            root = owner.with_name(owner.name[: -len(OWNER_SUFFIX)])
            shutil.rmtree(root, ignore_errors=True)
            owner.unlink(missing_ok=True)
            removed.append(root)
        finally:
            os.close(descriptor)
    return removed


def remove_private_copies() -> None:
    """Remove this process's verified copies now: what exit does, for a process about to end
    by a signal, which runs no exit handlers."""
    while _ROOT:
        root = _ROOT.pop()
        shutil.rmtree(root, ignore_errors=True)
        owner_file(root).unlink(missing_ok=True)
    while _OWNER:
        os.close(_OWNER.pop())
