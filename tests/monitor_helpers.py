"""What the monitor test modules share: the scenario's dated prices, anchored linear models
registered as champions, and one monitored day of that data prepared and run in this
process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from stockcast.evaluation.reports import REPORT_FILE
from stockcast.orchestration.steps.monitor import run_monitor
from stockcast.orchestration.steps.prepare import run_prepare
from stockcast.orchestration.steps.table import MONITOR_PLOT_FILE
from stockcast.registry.store import ModelRegistry
from tests.conftest import MODEL, isolated_overrides, run_task

PREVIOUS, HORIZON = 10, 2
N_ROWS = 110
# Origins of the scenario: the data ends on row 100, then one more business day per run.
FIRST_DAY = 100
SPEC = {
    "previous_time_window": PREVIOUS,
    "next_time_window": HORIZON,
    "num_threads": 1,
    "mlp": {"hidden_sizes": [], "activation": "relu", "dropout": 0.0, "anchor": "last"},
    "scaler": {"kind": "per_window", "loc": 0.0, "scale": 1.0, "min_relative_scale": 1e-4},
    "intervals": {
        "method": "split_conformal",
        "calibration_windows": 100,
        "min_relative_scale": 1e-4,
        "bounds": {"80": [[-1.5, -2.0], [1.5, 2.0]]},
    },
}


def prices() -> pd.DataFrame:
    """A random walk on business days from 2024-01-01 (a Monday)."""
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2024-01-01", periods=N_ROWS)
    return pd.DataFrame({"Date": dates, "Close": 100.0 + rng.normal(0, 1, N_ROWS).cumsum()})


def model_folder(folder: Path, bias: float, horizon: int = HORIZON) -> Path:
    """An anchored linear model: bias 0 repeats the last price (naive); a bias adds that many
    window standard deviations to every forecast. Of another `horizon` than the scenario's, it
    has no bands."""
    import torch

    from stockcast.models.spec import build_price_forecaster
    from stockcast.training.export import save_model_dir

    spec = SPEC
    if horizon != HORIZON:
        spec = {key: value for key, value in SPEC.items() if key != "intervals"}
        spec["next_time_window"] = horizon
    net = build_price_forecaster(spec)
    with torch.no_grad():
        net.core.biases[-1].fill_(bias)
    metadata = {
        "kind": "stockcast.model",
        "previous_time_window": PREVIOUS,
        "next_time_window": horizon,
    }
    return save_model_dir(net, spec, folder, metadata, np.arange(PREVIOUS) + 100.0)


def panel(tickers: str) -> pd.DataFrame:
    """One random walk per ticker (a letter) on the same business days, under a Ticker column."""
    frames = []
    for seed, ticker in enumerate(tickers):
        rng = np.random.default_rng(seed)
        close = 100.0 + rng.normal(0, 1, N_ROWS).cumsum()
        frames.append(prices().assign(Close=close, Ticker=ticker))
    return pd.concat(frames, ignore_index=True)


def data_overrides(
    csv: Path, dated: bool = True, panel: bool = False, horizon: int = HORIZON
) -> list[str]:
    return [
        "data=csv",
        f"data.path={csv}",
        f"data.previous_time_window={PREVIOUS}",
        f"data.next_time_window={horizon}",
        *([] if dated else ["data.date_column=null"]),
        *(["data.id_column=Ticker"] if panel else []),
    ]


def monitor_day(
    tmp: Path,
    rows: int,
    *extra: str,
    dated: bool = True,
    tickers: str = "",
    horizon: int = HORIZON,
    young: str = "",
    stopped: dict[str, int] | None = None,
    data: pd.DataFrame | None = None,
) -> dict:
    """Prepare the first `rows` rows (the data as of that day, windows of `horizon` targets) and
    run the monitor on it, both with the `extra` overrides; with `tickers`, of a panel of those
    series, of which the `young` ones hold only that day's last 5 rows (listed days ago) and the
    `stopped` ones only their first rows (their values stopped coming); of `data` in place of
    `prices()` where given."""
    whole = prices() if data is None else data
    frame = panel(tickers).groupby("Ticker").head(rows) if tickers else whole.iloc[:rows]
    for ticker, kept in (stopped or {}).items():
        cut = frame[frame.Ticker == ticker].iloc[kept:].index
        frame = frame.drop(cut)
    if young:
        listed = frame[frame.Ticker.isin(list(young))].groupby("Ticker").tail(5)
        frame = pd.concat([frame[~frame.Ticker.isin(list(young))], listed])
    csv = tmp / f"prices_{rows}.csv"
    (frame if dated else frame[["Close"]]).to_csv(csv, index=False)
    base = [*isolated_overrides(tmp), *data_overrides(csv, dated, bool(tickers), horizon), *extra]
    prepared = tmp / f"prepared_{rows}"
    run_task(run_prepare, "pipeline", [*base, f"prepare.output_dir={prepared}"], tmp / "prep")
    output = tmp / f"monitor_{rows}"
    overrides = [
        *base,
        f"monitor.prepared_dir={prepared}",
        f"monitor.output_dir={output}",
        "monitor.min_matured=2",
    ]
    report = run_task(run_monitor, "pipeline", overrides, tmp / "run").value
    assert json.loads((output / REPORT_FILE).read_text())["status"] == report["status"]
    assert (output / MONITOR_PLOT_FILE).stat().st_size > 0
    return report


def registry(tmp: Path) -> ModelRegistry:
    return ModelRegistry(
        f"sqlite:///{tmp}/mlruns.db", MODEL, artifact_location=f"{tmp}/mlartifacts", create=True
    )


def register(tmp: Path, name: str, bias: float) -> int:
    """Register a model folder and make it the champion."""
    reg = registry(tmp)
    folder = model_folder(tmp / name, bias)
    with reg.writing():
        info, _ = reg.register(folder, {}, promote=True)
        reg.promote("champion", info)
    return info.version


def iso(row: int) -> str:
    return prices()["Date"].iloc[row].date().isoformat()


def change_registered_files(tmp: Path, version: int) -> None:
    """Change a registered version's files in the store after registration."""
    reg = registry(tmp)
    store_copy = reg.download(reg.resolve(version=version), tmp / "dl")
    with (store_copy / "MLmodel").open("a") as file:
        file.write("# changed\n")
