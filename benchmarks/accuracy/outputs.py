"""What `make bench-accuracy` writes: its table, its CSV (which `--peers-from` reads back) and its
plot."""

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


def table(results: list[Result]) -> str:
    """One row per series: each forecaster's MASE, stockcast's ratio to the best peer and to
    naive, coverage, fit seconds, and milliseconds per served one-window forecast."""
    forecasters = list(dict.fromkeys(r.forecaster for r in results))
    by_series: dict[str, dict[str, Result]] = {}
    for r in results:
        by_series.setdefault(r.series, {})[r.forecaster] = r
    head = ["series", *forecasters, "vs best peer", "vs naive"]
    head += [f"cover {level}" for level in LEVELS] + ["fit s", "NF fit s", "serve ms"]
    rows, ratios = [head], []
    for series, found in by_series.items():
        # What the pipeline registers: the refit when there is one (pipeline.refit's default).
        ours = found.get("stockcast+refit", found["stockcast"])
        # A peer that failed to forecast (MASE not a number) is no peer.
        peers = [
            r.mase
            for name, r in found.items()
            if not name.startswith("stockcast") and np.isfinite(r.mase)
        ]
        row = [series, *(f"{found[f].mase:.3f}" if f in found else "-" for f in forecasters)]
        ratios.append(ours.mase / min(peers))
        row += [f"{ratios[-1]:.3f}", f"{ours.mase / found['naive'].mase:.3f}"]
        row += [f"{ours.coverage.get(level, float('nan')):.2f}" for level in LEVELS]
        nf = found.get("NeuralForecast MLP")
        row += [f"{ours.fit_seconds:.1f}", f"{nf.fit_seconds:.1f}" if nf else "-"]
        row += [f"{ours.serve_ms:.2f}" if np.isfinite(ours.serve_ms) else "-"]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.append(f"geometric mean of the ratios to the best peer: {geometric_mean(ratios):.3f}")
    return "\n".join(lines)


def geometric_mean(values: list[float]) -> float:
    """The mean of ratios that treats 0.5x and 2x alike."""
    return float(np.exp(np.mean(np.log(values)))) if values else float("nan")


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
