"""What a trained model says about itself in its MLmodel metadata: windows, data, code, fit."""

from __future__ import annotations

import subprocess
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from stockcast.data.calendar import date_bound
from stockcast.data.prepared import PreparedData
from stockcast.forecasting.guard import ALLOW_NON_POSITIVE
from stockcast.paths import PROJECT_ROOT, portable
from stockcast.serving.metadata import MODEL_KIND

# The libraries that compute a fit's numbers beside the project's code (`git_commit`): torch and
# numpy, Lightning's loop, and statsforecast, which fits the ets kind. The model's
# requirements.txt pins only what its served forecast imports, which leaves the last two out.
TRAINING_PACKAGES = ("torch", "lightning", "numpy", "statsforecast")
# The folders whose files decide what a fit runs: a file there that git does not ignore but was
# never committed (a new module or config) is code HEAD does not hold. Untracked files elsewhere
# (notes, a local environment's link) change no fit.
CODE_FOLDERS = ("src", "configs")


def _git(*args: str) -> str:
    # Without optional locks `git status` reads the index and never rewrites it under
    # .git/index.lock, which a fit stopped meanwhile (its process group signalled) left behind
    # to refuse the user's next commit.
    return subprocess.run(
        ["git", "--no-optional-locks", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def git_commit() -> str | None:
    """HEAD of the project checkout, with '-dirty' if it has uncommitted changes to tracked files
    or files in CODE_FOLDERS that git neither tracks nor ignores; None outside git."""
    try:
        head = _git("rev-parse", "HEAD")
        changed = _git("status", "--porcelain", "--untracked-files=no")
        new = _git("ls-files", "--others", "--exclude-standard", "--", *CODE_FOLDERS)
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}-dirty" if changed or new else head


def training_packages() -> dict[str, str | None]:
    """The installed version of each of TRAINING_PACKAGES (None where one is not installed)."""
    found: dict[str, str | None] = {}
    for name in TRAINING_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def fit_data_end(prepared: PreparedData) -> str | None:
    """The last date the fit saw (weights or model selection: the end of validation), so a later
    comparison can score this model only on windows after it; None for undated data."""
    return date_bound(prepared.splits["val"].dates)


def model_metadata(
    prepared: PreparedData,
    val_mase: float | None,
    training_run_id: str | None,
    warm_start: dict[str, Any] | None,
    fell_back_to_naive: bool = False,
) -> dict[str, Any]:
    """The metadata block of the model folder a fit writes."""
    return {
        "kind": MODEL_KIND,
        **prepared.window.as_dict(),
        "normalization": prepared.scaler["kind"],
        # The season the windows and the seasonal kinds were built for, and where it came from
        # (data.season_length, the dates or the changes' autocorrelation).
        "season_length": prepared.meta.get("season_length"),
        "season_from": prepared.meta.get("season_from"),
        # The dates' rhythm (daily, weekly, monthly, ...): predict refuses an input of another.
        "date_rhythm": prepared.meta.get("date_rhythm"),
        "data_hash": prepared.meta["data_hash"],
        "data_source": portable(prepared.meta["source"]),
        "has_dates": prepared.meta["has_dates"],
        # What the input and output guards hold every forecast to: prices (> 0) unless the
        # training data was allowed values <= 0.
        ALLOW_NON_POSITIVE: bool(prepared.meta["source"].get(ALLOW_NON_POSITIVE, False)),
        "mase_scale": prepared.mase_scale,
        "training_run_id": training_run_id,
        "git_commit": git_commit(),
        "training_packages": training_packages(),
        "val_mase": val_mase,
        "fit_data_end": fit_data_end(prepared),
        # What the freshness check of the next run compares with (data.require_new_data).
        "data_as_of": prepared.meta.get("as_of"),
        "data_last_date": prepared.meta.get("last_date"),
        "data_series_at_last_date": prepared.meta.get("series_at_last_date"),
        "warm_start": warm_start,
        # Its point outputs were zeroed (fit.naive_fallback): a warm start from it starts
        # those outputs anew, as a cold fit's (`warm_start.restart_outputs`).
        "naive_fallback": fell_back_to_naive,
    }
