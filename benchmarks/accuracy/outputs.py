"""What `make bench-accuracy` writes: its CSV (which `--peers-from` reads back) and its plot."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from benchmarks.accuracy.protocol import LEVELS, Result

# Where a run stopped with Ctrl-C writes the series it scored: beside, not over, the last whole
# run's CSV, which `--peers-from` may be reading from.
STOPPED_CSV = "bench_accuracy_stopped.csv"


# The CSV's columns: what `--peers-from` reads back (`peer_cache.REQUIRED` among them).
CSV_COLUMNS = (
    "series",
    "forecaster",
    "mase",
    *(f"coverage_{lv}" for lv in LEVELS),
    "fit_s",
    "serve_ms",
    "scored_sha256",
    "peer_version",
)


def write_outputs(results: list[Result], folder: Path, peers_from: str = "") -> list[Path]:
    """The CSV (with each row's `scoring_digest`, for `--peers-from`; it keeps the `peers_from`
    rows of the series this run did not score) and the PNG."""
    path = write_csv(results, folder / "bench_accuracy.csv", rows_not_scored(peers_from, results))
    return [path, plot(results, folder / "bench_accuracy.png")]


def write_csv(results: list[Result], path: Path, carried: list[list[str]] | None = None) -> Path:
    """One row per result, with its `scoring_digest` and peer version (`--peers-from` reads it),
    then the `carried` rows as they are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for r in results:
            cover = [r.coverage.get(level, "") for level in LEVELS]
            row = [r.series, r.forecaster, r.mase, *cover, r.fit_seconds, r.serve_ms]
            writer.writerow([*row, r.scored_sha256, r.peer_version])
        writer.writerows(carried or [])
    return path


def rows_not_scored(peers_from: str, results: list[Result]) -> list[list[str]]:
    """The rows of the `--peers-from` CSV whose series this run did not score, in this run's
    columns: a run of some series, or one stopped early, keeps them, since its CSV may be the one
    it read (README's `--peers-from bench_accuracy.csv` with `--series X` kept X's rows alone, and
    a run stopped again with --peers-from bench_accuracy_stopped.csv lost every series it had not
    reached)."""
    if not peers_from:
        return []
    scored = {r.series for r in results}
    try:
        with Path(peers_from).open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error):
        return []  # read at the start; gone or damaged since, it has nothing to keep
    return [
        [row.get(c) or "" for c in CSV_COLUMNS] for row in rows if row.get("series") not in scored
    ]


def plot(results: list[Result], path: Path) -> Path:
    """MASE relative to naive per series, one bar per forecaster."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = list(dict.fromkeys(r.series for r in results))
    forecasters = list(dict.fromkeys(r.forecaster for r in results))
    naive_mase = {r.series: r.mase for r in results if r.forecaster == "naive"}
    width = 0.8 / len(forecasters)
    fig, ax = plt.subplots(figsize=(12, 4.8), dpi=110)
    for i, name in enumerate(forecasters):
        found = {r.series: r.mase / naive_mase[r.series] for r in results if r.forecaster == name}
        xs = np.arange(len(series)) + (i - (len(forecasters) - 1) / 2) * width
        ax.bar(xs, [found.get(s, np.nan) for s in series], width, label=name)
    ax.axhline(1.0, color="grey", linewidth=1, linestyle=":")
    ax.set(
        xticks=np.arange(len(series)),
        title="MASE relative to the naive forecast (lower is better), last 20%, horizon 5",
        ylabel="MASE / naive MASE",
    )
    ax.set_xticklabels(series, rotation=30, ha="right")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
