"""Many tickers: the synthetic market panel through prepare, training and a peer.

At full size the panel is 500 tickers × 2,520 business days (1.26 M points) of
`experiment=market_global`; `--quick` shrinks the ticker count (`BenchOptions.panel_series`).

- prepare: `prepare_data` on the panel in a fresh subprocess, so that what earlier benchmarks left
  on the heap neither hides nor inflates its peak (peak RSS delta, `common.peak_memory`).
- train: windows/s of the global model over the panel against the single-series path, built from
  what `benchmarks/training.py` uses (`build_datamodule_and_model`, the configured Trainer), same
  optimizer steps and batch for every case.
- peer: NeuralForecast's MLP (the optional `.[peers]` extra) against stockcast's
  `experiment=market_global`, both scored on stockcast's held-out test windows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from benchmarks.common import BenchOptions, Row, compose_train_cfg
from benchmarks.panel.peer import peer_rows
from benchmarks.panel.prepare import prepare_rows
from benchmarks.panel.size import EXPERIMENT, panel_overrides
from benchmarks.panel.train import train_rows
from stockcast.errors import ConfigError


def check_panel_overrides(opts: BenchOptions) -> None:
    """Refuse overrides the train config takes but the panel's (`EXPERIMENT`, data=market) does
    not, such as another experiment: the panel runs last, after minutes of the other benchmarks,
    and failed there asking to remove its own data.num_series."""
    try:
        compose_train_cfg(panel_overrides(opts.panel_series, opts.overrides))
    except ConfigError:
        raise ValueError(
            f"the panel benchmark's experiment={EXPERIMENT} cannot take the overrides "
            f"{' '.join(opts.overrides)}; leave them out, or leave panel out of --only"
        ) from None


def bench_panel(opts: BenchOptions) -> list[Row]:
    parts: Sequence[Callable[[BenchOptions], list[Row]]] = (prepare_rows, train_rows, peer_rows)
    return [row for part in parts for row in part(opts)]
