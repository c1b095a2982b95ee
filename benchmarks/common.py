"""Shared pieces: the row type, the table printer, timing and peak-memory helpers, config compose."""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import statistics
import subprocess
import tempfile
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from stockcast.config.compose import compose_config


class CommandFailed(RuntimeError):
    """A benchmark's own command (a fit, a replay, a measurement) exited non-zero."""


def command_failure(what: str, result: subprocess.CompletedProcess[str]) -> CommandFailed:
    """`what` failed, saying why in the last line the command wrote to stderr (its own error
    sentence, or an exception's last line): `make bench` prints it instead of a traceback."""
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    reason = lines[-1].removeprefix("error: ") if lines else "it wrote nothing to stderr"
    return CommandFailed(f"{what} exited with status {result.returncode}: {reason}")


def stopped_by_ctrl_c(err: SystemExit) -> bool:
    """Whether `err` is how Lightning ends a fit Ctrl-C interrupted: exit status 1, raised while
    it handles the KeyboardInterrupt. The benchmarks' own fits and NeuralForecast's call
    `Trainer.fit` directly, so a run stopped during one ended silently, with status 1, and lost
    what it had measured."""
    return err.code == 1 and isinstance(err.__context__, KeyboardInterrupt)


def quiet_environment() -> None:
    """The library noise the entry points silence (`stockcast.config.quiet`) and their environment (no
    progress bars), without importing Lightning: what a serving-path benchmark needs."""
    from stockcast.config.quiet import silence_library_noise
    from stockcast.config.task import QUIET_ENVIRONMENT

    silence_library_noise()
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def quiet_console() -> None:
    """Only the bench table on the console: `quiet_environment`, and Lightning's and
    NeuralForecast's chatter off.

    Lightning sets its loggers to INFO when imported, so this imports it first; NeuralForecast
    trains through the separate `pytorch_lightning` package, which resets them when it is first
    imported: call this again after importing NeuralForecast.
    """
    import lightning  # noqa: F401

    quiet_environment()
    for name in (
        "lightning",
        "lightning.pytorch",
        "lightning.fabric",
        "pytorch_lightning",
        "lightning_fabric",
    ):
        logging.getLogger(name).setLevel(logging.ERROR)


@dataclass
class BenchOptions:
    """Sizes for one bench run; `quick()` shrinks everything so it finishes in about a minute."""

    train_points: int = 200_000
    train_rounds: int = 3  # interleaved rounds over the training variants
    train_repeats: int = 2  # timed epochs per variant per round, after one warm-up epoch
    window_points: int = 10_000_000
    loop_points: int = 1_000_000  # the per-window Python loop runs on this prefix only
    startup_repeats: int = 3
    thread_steps: int = 300  # MLP steps per thread-policy case (also bounded by thread_budget_s)
    thread_budget_s: float = 3.0
    with_validation: bool = True  # also time one real fit with validation every epoch
    replay_days: int = 6  # business days of the simulated schedule (the first trains cold)
    panel_series: int = 500  # tickers of the many-tickers panel (2,520 business days each)
    panel_peer_steps: int | None = None  # NeuralForecast MLP's max_steps (None: its default)
    # Batch prediction's panels, (series, business days each): a watch list and a large universe
    # with a quarter of history each (the one with most series is judged), and the many-tickers
    # panel's 500 tickers with ten years (timed, no target: reading 1.26 M rows).
    batch_cases: tuple[tuple[int, int], ...] = ((500, 63), (5000, 63), (500, 2520))
    overrides: list[str] = field(default_factory=list)  # extra Hydra overrides for the configs

    @classmethod
    def quick(cls) -> BenchOptions:
        return cls(
            train_points=40_000,
            train_rounds=1,
            train_repeats=2,
            window_points=1_000_000,
            loop_points=100_000,
            startup_repeats=1,
            thread_steps=100,
            thread_budget_s=1.0,
            with_validation=False,
            replay_days=3,
            panel_series=20,
            panel_peer_steps=100,  # its default 1,000 takes minutes whatever the panel size
        )


@dataclass
class Row:
    """One line of the table. `ratio` is against the row's reference (named in `note`)."""

    bench: str
    case: str
    value: float | None
    unit: str
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""

    def result(self) -> str:
        if self.value is None:
            return "—"
        if self.unit == "B":
            return f"{self.value / 2**20:,.1f} MiB"
        if self.unit == "s" and self.value < 1:
            return f"{self.value * 1e3:,.2f} ms"
        if self.unit in ("s", "ms"):
            return (
                f"{self.value:,.3f} {self.unit}"
                if self.value < 10
                else f"{self.value:,.1f} {self.unit}"
            )
        return f"{self.value:,.0f} {self.unit}"


def format_table(rows: Sequence[Row]) -> str:
    header = ("benchmark", "case", "result", "ratio", "target", "met", "note")
    cells = [
        (
            r.bench,
            r.case,
            r.result(),
            "" if r.ratio is None else f"{r.ratio:,.2f}×",
            r.target,
            "" if r.met is None else ("yes" if r.met else "NO"),
            r.note,
        )
        for r in rows
    ]
    widths = [max(len(str(c[i])) for c in [header, *cells]) for i in range(len(header))]
    widths[-1] = 0  # the note column is last and unpadded
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * max(w, len(h)) for h, w in zip(header, widths, strict=True)))
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip() for cell in cells
    ]
    return "\n".join(lines)


def forecast_seconds(model: Any, window: Any, calls: int, warm_calls: int) -> float:
    """Median seconds of one forecast of one window (`window`, a row of prices) through an
    opened model (`model.forecast`: input guard, network, bands, output guard), after
    `warm_calls` untimed ones."""
    import numpy as np

    row = np.asarray(window, dtype=np.float64).reshape(1, -1)
    for _ in range(warm_calls):
        model.forecast(row)
    times = np.empty(calls)
    for i in range(calls):
        begin = time.perf_counter()
        model.forecast(row)
        times[i] = time.perf_counter() - begin
    return float(np.median(times))


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def compose_train_cfg(overrides: Sequence[str] = ()) -> DictConfig:
    """The project's `train` config, composed as the entry points and tests compose it."""
    cfg = compose_config("train", overrides, what="the bench's train config")
    with open_dict(cfg):
        # ${hydra:runtime.output_dir} only resolves inside @hydra.main; the bench writes nothing.
        cfg.paths.output_dir = str(Path(tempfile.gettempdir()) / "stockcast-bench")
    return cfg


# --- peak memory -------------------------------------------------------------------------------


def _libc() -> Any | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def fix_malloc_for_rss() -> None:
    """Make RSS deltas honest: large blocks always mmap'd (returned to the OS on free), heap trimmed.

    glibc otherwise raises its mmap threshold after a big free and serves later big blocks from
    already-resident heap, so an RSS delta would under-count.
    """
    libc = _libc()
    if libc is not None:
        m_mmap_threshold = -3
        libc.mallopt(m_mmap_threshold, 1 << 20)


def _status_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)


def _can_reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        _status_kib("VmHWM")
    except OSError:
        return False
    return True


@dataclass
class PeakMemory:
    method: str = ""
    peak_bytes: int = 0
    seconds: float = 0.0  # wall time of the block


@contextmanager
def peak_memory() -> Iterator[PeakMemory]:
    """Peak memory added by the block, and its wall time.

    Linux: peak RSS (VmHWM, reset through /proc/self/clear_refs) minus RSS before; sees torch and
    numpy alike. Elsewhere: tracemalloc peak, which does not see torch's allocator.
    """
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
    rss = _can_reset_hwm()
    result = PeakMemory("peak RSS delta" if rss else "tracemalloc peak")
    if rss:
        base = _status_kib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")
    else:
        tracemalloc.start()
    begin = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - begin
        if rss:
            result.peak_bytes = max(0, _status_kib("VmHWM") - base) * 1024
        else:
            result.peak_bytes = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()


def load_average() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"
