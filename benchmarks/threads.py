"""Intra-op thread policy: one MLP training step at 1 vs 2 threads, idle and next to a busy process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from benchmarks.common import BenchOptions, Row, compose_train_cfg, median

BURNER = (
    "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
)


@contextmanager
def busy_process(seconds: float) -> Iterator[subprocess.Popen]:
    """A CPU-burning subprocess that also stops by itself after `seconds`."""
    proc = subprocess.Popen([sys.executable, "-c", BURNER.format(seconds=seconds)])
    try:
        time.sleep(0.3)  # let it get scheduled
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def step_times(threads: int, steps: int, budget_s: float, seed: int, cfg) -> list[float]:
    """Per-step wall times of forward + backward + Adam at the project's batch size and net."""
    import hydra

    from stockcast.models.kinds.mlp import MLP
    from stockcast.training.losses import make_loss

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    model_cfg = cfg.model
    past, future = int(cfg.data.previous_time_window), int(cfg.data.next_time_window)
    net = MLP(
        past,
        future,
        list(model_cfg.hidden_sizes),
        model_cfg.activation,
        float(model_cfg.dropout),
    )
    optimizer = hydra.utils.instantiate(cfg.optim.optimizer)(params=net.parameters())
    loss_fn = make_loss(model_cfg.loss, model_cfg.huber_delta)
    x = torch.randn(int(cfg.data.batch_size), past)
    y = torch.randn(int(cfg.data.batch_size), future)
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    for i in range(steps + 10):
        begin = time.perf_counter()
        loss = loss_fn(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i >= 10:  # warm-up
            times.append(time.perf_counter() - begin)
        if time.perf_counter() > deadline and len(times) >= 5:
            break
    return times


def bench_threads(opts: BenchOptions) -> list[Row]:
    cfg = compose_train_cfg(opts.overrides)
    configured = int(cfg.num_threads)
    before = torch.get_num_threads()
    rows: list[Row] = []
    try:
        for busy in (False, True):
            results = {}
            for threads in (1, 2):
                if busy:
                    with busy_process(opts.thread_budget_s * 3 + 10):
                        times = step_times(
                            threads, opts.thread_steps, opts.thread_budget_s, int(cfg.seed), cfg
                        )
                else:
                    times = step_times(
                        threads, opts.thread_steps, opts.thread_budget_s, int(cfg.seed), cfg
                    )
                results[threads] = times
            base_ms = sum(results[1]) / len(results[1]) * 1e3
            for threads, times in results.items():
                mean_ms = sum(times) / len(times) * 1e3
                p90_ms = sorted(times)[int(0.9 * (len(times) - 1))] * 1e3
                setting = "1 busy process beside it" if busy else "idle"
                note = (
                    f"mean ms/step (median {median(times) * 1e3:.2f}, p90 {p90_ms:.2f}, "
                    f"{len(times)} steps); ratio × 1 thread"
                )
                if threads == configured:
                    note += f"; configs/train.yaml num_threads={configured}"
                rows.append(
                    Row(
                        "threads",
                        f"{threads} thread{'s' if threads > 1 else ''}, {setting}",
                        mean_ms,
                        "ms",
                        mean_ms / base_ms,
                        note=note,
                    )
                )
    finally:
        torch.set_num_threads(before)
    return rows
