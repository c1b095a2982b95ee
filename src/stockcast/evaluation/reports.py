"""The report folder evaluate writes: its file names, reading it back, and checking that it
scored the model at hand. Light on purpose: the step table and the runner read these names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stockcast.errors import ArtifactError, first_few
from stockcast.files import read_json_object

REPORT_KIND = "stockcast.report"
REPORT_FILE = "report.json"
# The scored test windows with the model's forecasts: what the champion comparison re-scores.
WINDOWS_FILE = "test_windows.npz"
# How many missing files a refusal names before counting the rest.
SHOWN_FILES = 3
# What the steps after evaluate read from a report: the scored bytes, scores and data.
REPORT_KEYS = ("model_hash", "metrics", "model_metadata", "data_hash", "plots")


def read_report(report_dir: str | Path) -> dict[str, Any]:
    report_dir = Path(report_dir)
    path = report_dir / REPORT_FILE
    if not report_dir.is_dir():
        raise ArtifactError(
            f"report folder {report_dir} does not exist; run the evaluate step first."
        )
    report = read_json_object(path) if path.is_file() else {}
    if report is None:
        raise ArtifactError(
            f"{path} is not a JSON object (cut short or edited); run the evaluate step again to "
            "write it."
        )
    if report.get("kind") != REPORT_KIND:
        raise ArtifactError(
            f"{report_dir} is not an evaluation report folder (no {REPORT_FILE} of kind "
            f"{REPORT_KIND!r}); point it at the evaluate step's output."
        )
    missing = [key for key in REPORT_KEYS if key not in report]
    if missing:
        raise ArtifactError(
            f"{path} has no {' or '.join(missing)} (edited, or written by an older stockcast); "
            "run the evaluate step again to write it."
        )
    return report


def check_report_matches(
    report: dict[str, Any],
    report_dir: str | Path,
    digest: str,
    scored: str = "this model folder",
) -> None:
    """Refuse a report that scored other bytes than the model at hand (hash `digest`), naming
    the folder to evaluate (`scored`: a refit's is the model inside it, never the refit)."""
    if report["model_hash"] != digest:
        raise ArtifactError(
            f"report {report_dir} was made for another model (hash {report['model_hash']}, this "
            f"model {digest}); evaluate {scored} first."
        )


def check_report_files(report: dict[str, Any], report_dir: str | Path) -> None:
    """Refuse a report folder without the files the evaluate step wrote beside report.json: the
    register step logs its plots with the version and re-scores the champion on its windows, and
    a missing one was a traceback from MLflow or numpy, after the gate, in the middle of
    registering."""
    report_dir = Path(report_dir)
    wanted = [WINDOWS_FILE, *(report.get("plots") or [])]
    missing = [name for name in wanted if not (report_dir / name).is_file()]
    if missing:
        raise ArtifactError(
            f"report {report_dir} lacks {first_few(missing, SHOWN_FILES)}, which the evaluate "
            f"step wrote beside its {REPORT_FILE} (moved or deleted); point it at the whole "
            "folder the evaluate step wrote, or run that step again."
        )
