"""The sweep summary: every job's overrides and metrics in one table, best first.

Each job is read from its folder (`jobs`: its overrides and its metrics.json). The summary lists
the overrides that differ between jobs as columns, the ones shared by all jobs once, and ranks
the jobs by the optimised metric; a job without metrics.json (failed or still running) is ranked
last.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockcast.errors import counted
from stockcast.files import write_whole
from stockcast.orchestration.sweeps.jobs import JobResult, collect_jobs, jobs_metrics
from stockcast.orchestration.sweeps.metric import DIRECTIONS
from stockcast.orchestration.sweeps.sweep_config import ranking_settings, searched_in

SUMMARY_STEM = "sweep_summary"


@dataclass(frozen=True)
class SweepSummary:
    """Ranked jobs plus what the table needs to print them."""

    metric: str
    direction: str
    jobs: list[JobResult]
    swept_keys: list[str]
    common: dict[str, str]

    @property
    def best(self) -> JobResult | None:
        """The first job, where it has a finite value of the metric: one without (every job's
        fit diverged) is ranked last, and is no best."""
        first = self.jobs[0] if self.jobs else None
        value = None if first is None else first.metrics.get(self.metric)
        return first if value is not None and math.isfinite(value) else None

    def status(self, job: JobResult) -> str:
        """The job's status, and for one that finished without a finite value of the ranked
        metric, which it lacks: it is ranked last, where 'finished' read as a tie."""
        value = job.metrics.get(self.metric)
        if not job.finished or (value is not None and math.isfinite(value)):
            return job.status
        return f"finished, {self.metric} {'not finite' if value is not None else 'missing'}"

    def rows(self) -> list[dict[str, Any]]:
        """One flat record per job, best first: rank, job, swept overrides, metrics, folder."""
        metric_keys = sorted({key for job in self.jobs for key in job.metrics})
        rows = []
        for rank, job in enumerate(self.jobs, start=1):
            row: dict[str, Any] = {"rank": rank, "job": job.num}
            row |= {key: job.overrides.get(key, "") for key in self.swept_keys}
            row["status"] = self.status(job)
            row |= {key: job.metrics.get(key) for key in metric_keys}
            row["dir"] = str(job.dir)
            rows.append(row)
        return rows


def _sort_key(job: JobResult, metric: str, direction: str) -> tuple[int, float, int]:
    """Best first; a job without a finite value of `metric` (a fit that diverged to inf or NaN)
    last whichever the direction, as the Optuna sweeper ranks it: an inf ranked first where the
    metric is maximised."""
    value = job.metrics.get(metric)
    if value is None or not math.isfinite(value):
        # A job that finished before one that wrote nothing.
        return (1 if job.finished else 2, 0.0, job.num)
    return (0, value if direction == "minimize" else -value, job.num)


def summarize(
    jobs: Sequence[JobResult],
    metric: str,
    direction: str = "minimize",
    searched: Sequence[str] = (),
) -> SweepSummary:
    """Rank the jobs by `metric` (e.g. `val/mase`) and split swept from shared overrides: the
    keys that differ between jobs, and the `searched` ones (`searched_keys`) even where they
    do not (one trial added to a study, a search that drew one value)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
    keys = list(dict.fromkeys(key for job in jobs for key in job.overrides))
    swept = [
        key for key in keys if key in searched or len({job.overrides.get(key) for job in jobs}) > 1
    ]
    common = {key: jobs[0].overrides[key] for key in keys if key not in swept} if jobs else {}
    ranked = sorted(jobs, key=lambda job: _sort_key(job, metric, direction))
    return SweepSummary(metric, direction, ranked, swept, common)


def summary_of(
    config: Any, sweep_dir: Path, since: float | None = None
) -> tuple[SweepSummary | None, list[JobResult]]:
    """The summary of the jobs in `sweep_dir` (with `since`, of those written since) as the
    sweep's `config` asks for it (`ranking_settings`, `searched_in`): the live config at the
    sweep's end, or the `multirun.yaml` Hydra wrote at its start (`scripts/sweep_summary.py`).
    None where no job wrote metrics; the jobs either way (none for a task that writes no
    metrics, `jobs_metrics`: `unranked_sweep` says so)."""
    metrics_at = jobs_metrics(config)
    if metrics_at is None:
        return None, []
    jobs = collect_jobs(sweep_dir, since, metrics_at)
    if not any(job.finished for job in jobs):
        return None, jobs
    metric, direction = ranking_settings(config)
    return summarize(jobs, metric, direction, searched_in(config)), jobs


def _finite_or_none(value: Any) -> Any:
    """JSON has no inf or NaN: a diverged job's metric is written as null."""
    return value if not isinstance(value, float) or math.isfinite(value) else None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).replace("|", "\\|")


def to_markdown(summary: SweepSummary) -> str:
    """A compact table: rank, job, the swept overrides, the optimised metric and its test twin."""
    test_twin = "test/" + summary.metric.partition("/")[2]
    shown = [summary.metric] + ([test_twin] if test_twin != summary.metric else [])
    header = ["rank", "job", *summary.swept_keys, *shown, "status"]
    lines = [
        f"Sweep summary: {counted(len(summary.jobs), 'job')}, best first by {summary.metric} "
        f"({summary.direction}).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for row in summary.rows():
        lines.append("| " + " | ".join(_cell(row.get(column)) for column in header) + " |")
    if summary.common:
        shared = " ".join(f"{key}={value}" for key, value in summary.common.items())
        lines += ["", f"Shared by every job: {shared}"]
    return "\n".join(lines) + "\n"


def write_summary(summary: SweepSummary, sweep_dir: Path) -> list[Path]:
    """Write sweep_summary.csv, .md and .json into the sweep folder, each whole or not at all
    (a summary written again over a stopped sweep's keeps the previous one where this process
    is killed while writing); return their paths."""
    rows = summary.rows()
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=list(dict.fromkeys(c for row in rows for c in row)))
    writer.writeheader()
    writer.writerows(rows)
    best = summary.best
    content = {
        "metric": summary.metric,
        "direction": summary.direction,
        "best": None
        if best is None
        else {"job": best.num, "value": _finite_or_none(best.metrics[summary.metric])},
        "swept": summary.swept_keys,
        "common_overrides": summary.common,
        "jobs": [{key: _finite_or_none(value) for key, value in row.items()} for row in rows],
    }
    texts = {
        "csv": table.getvalue(),
        "md": to_markdown(summary),
        "json": json.dumps(content, indent=2, allow_nan=False) + "\n",
    }
    paths = [sweep_dir / f"{SUMMARY_STEM}.{suffix}" for suffix in texts]
    for path, text in zip(paths, texts.values(), strict=True):
        write_whole(path, lambda staged, text=text: staged.write_text(text, newline=""))
    return paths
