"""What a model and its runs record about the code that made them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from stockcast.training import metadata


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A committed project checkout that `git_commit` reads in place of this one."""
    repo = tmp_path / "project"
    (repo / "src" / "pkg").mkdir(parents=True)
    (repo / "configs").mkdir()
    (repo / "src" / "pkg" / "fit.py").write_text("x = 1\n")
    (repo / "configs" / "train.yaml").write_text("seed: 0\n")
    (repo / ".gitignore").write_text("__pycache__/\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    monkeypatch.setattr(metadata, "PROJECT_ROOT", repo)
    return repo


def test_a_clean_checkout_records_its_head(checkout: Path) -> None:
    assert metadata.git_commit() == _git(checkout, "rev-parse", "HEAD")


@pytest.mark.parametrize("new_file", ["src/pkg/new_kind.py", "configs/model/new.yaml"])
def test_an_uncommitted_new_module_or_config_makes_the_commit_dirty(
    checkout: Path, new_file: str
) -> None:
    """A module or config that was never committed changes the fit as much as an edit of a
    tracked one, yet the commit was recorded clean: HEAD does not hold the code that ran."""
    (checkout / new_file).parent.mkdir(parents=True, exist_ok=True)
    (checkout / new_file).write_text("y = 2\n")
    assert metadata.git_commit() == _git(checkout, "rev-parse", "HEAD") + "-dirty"


def test_ignored_files_and_untracked_files_outside_the_code_leave_it_clean(
    checkout: Path,
) -> None:
    (checkout / "src" / "pkg" / "__pycache__").mkdir()
    (checkout / "src" / "pkg" / "__pycache__" / "fit.pyc").write_bytes(b"\0")
    (checkout / "notes.txt").write_text("todo\n")
    assert metadata.git_commit() == _git(checkout, "rev-parse", "HEAD")


@pytest.mark.parametrize(
    ("remote", "recorded"),
    [("{upstream}", ".../upstream"), ("https://example.com/team/stockcast.git", None)],
)
def test_a_training_run_names_its_git_remote_without_this_machines_paths(
    checkout: Path,
    monkeypatch: pytest.MonkeyPatch,
    remote: str,
    recorded: str | None,
) -> None:
    """MLflow tags a run with the checkout's first remote: where that is a local clone, the
    absolute path of the folder it was cloned from, a machine path like those the project
    keeps out of every other tag and param. A URL stays as it is."""
    from mlflow.tracking.context.registry import resolve_tags

    from stockcast.registry import runs

    url = remote.format(upstream=checkout.parent / "upstream")
    _git(checkout, "remote", "add", "origin", url)
    monkeypatch.setattr("sys.argv", [str(checkout / "src" / "pkg" / "fit.py")])
    monkeypatch.delenv(runs.RUN_CONTEXT_ENV, raising=False)
    runs.tag_runs_of_this_process()
    assert resolve_tags({})["mlflow.source.git.repoURL"] == (recorded or url)


@pytest.mark.parametrize(
    ("loggers", "tagged"),
    [
        (None, False),
        ({"csv": {"_target_": "lightning.pytorch.loggers.CSVLogger"}, "mlflow": None}, False),
        ({"mlflow": {"_target_": "lightning.pytorch.loggers.MLFlowLogger"}}, True),
    ],
)
def test_only_a_fit_with_an_mlflow_logger_tags_its_runs(
    monkeypatch: pytest.MonkeyPatch, loggers: dict | None, tagged: bool
) -> None:
    """Tagging reads the git remote through MLflow (two seconds of imports): a fit with no
    MLflow logger (logger=none, csv) has no run to tag and paid for it on every fit."""
    from stockcast.registry import runs

    called: list[bool] = []
    monkeypatch.setattr(runs, "tag_runs_of_this_process", lambda: called.append(True))
    runs.close_orphaned_training_runs(loggers)
    assert bool(called) is tagged


def test_reading_the_commit_writes_nothing_into_the_checkouts_git_folder(checkout: Path) -> None:
    """`git status` refreshes the index where a file's times changed, under `.git/index.lock`:
    a fit stopped (Ctrl-C, SIGTERM to its process group) while it ran left that lock behind,
    and the user's next commit in the checkout was refused as another git process's."""
    tracked = checkout / "src" / "pkg" / "fit.py"
    index = checkout / ".git" / "index"
    before = index.stat()
    later = before.st_mtime_ns + 5_000_000_000
    os.utime(tracked, ns=(later, later))
    assert metadata.git_commit() == _git(checkout, "rev-parse", "HEAD")
    after = index.stat()
    assert (after.st_mtime_ns, after.st_ino, after.st_size) == (
        before.st_mtime_ns,
        before.st_ino,
        before.st_size,
    )
