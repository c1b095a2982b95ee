"""The report folder evaluate writes: its file names, reading it back, and checking that it
scored the model at hand. Light on purpose: the step table and the runner read these names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stockcast.errors import ArtifactError
from stockcast.files import read_json_object

REPORT_KIND = "stockcast.report"
REPORT_FILE = "report.json"
# The scored test windows with the model's forecasts: what the champion comparison re-scores.
WINDOWS_FILE = "test_windows.npz"


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
