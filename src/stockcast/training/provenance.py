"""Where a model came from: the git commit of the code that trained it."""

from __future__ import annotations

import subprocess

from stockcast.paths import PROJECT_ROOT


def git_commit() -> str | None:
    """HEAD of the project checkout, with '-dirty' if it has uncommitted changes; None outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}-dirty" if dirty else head
