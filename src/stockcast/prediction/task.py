"""The predict task: resolve a registered version, build the input, forecast, print and save.

Imports stay light until they are needed: MLflow comes in when the registry is opened, pandas
only for CSV input or dates, matplotlib only with vis=true. Lightning is never imported.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from stockcast.data.date_format import format_date
from stockcast.errors import ConfigError, counted
from stockcast.files import file_in_the_way, folder_not_writable, write_json
from stockcast.prediction import batch_outputs, outputs
from stockcast.prediction.batch import build_batch, is_batch, refuse_backtest
from stockcast.prediction.batch_forecast import forecast_batch
from stockcast.prediction.forecast import (
    Forecast,
    check_window_overrides,
    forecast_held_out,
    forecast_next,
    rolling_backtest,
)
from stockcast.prediction.inputs import InputSeries, build_input
from stockcast.serving.model import OpenModel, open_model

log = logging.getLogger(__name__)

# Every file a predict run may write into paths.output_dir: those of an earlier run that this one
# does not write are removed, so a reused folder never shows another run's plot or backtest.
OWN_FILES = (
    outputs.FORECAST_CSV,
    outputs.FORECAST_JSON,
    outputs.BACKTEST_CSV,
    outputs.FORECAST_PNG,
    outputs.BACKTEST_PNG,
    batch_outputs.REFUSED_CSV,
)


def run_predict(cfg: DictConfig) -> dict[str, Any]:
    """The whole task; returns what forecast.json holds."""
    input_cfg = OmegaConf.to_container(cfg.input, resolve=True)
    if input_cfg.get("skip_refused") and not is_batch(input_cfg):
        raise ConfigError(
            "input.skip_refused leaves refused series out of a batch (input=csv with "
            "input.id_column and no input.series_id); one series is forecast or refused whole, "
            "so drop input.skip_refused."
        )
    output_dir = Path(cfg.paths.output_dir)
    if file_in_the_way(output_dir) is not None:
        # Before the model is opened, in the steps' words: this was mkdir's traceback, exit 1.
        raise ConfigError(
            f"paths.output_dir {output_dir} is a file or inside one; point it at a folder."
        )
    reason = folder_not_writable(output_dir)
    if reason is not None:
        # Before the model is opened: this was the first write's traceback, after the forecast.
        raise ConfigError(
            f"cannot write predict's outputs to paths.output_dir {output_dir} ({reason.lower()}); "
            "point it (or hydra.run.dir) at a folder this user can write."
        )
    to_write = _files_to_write(cfg, input_cfg, output_dir)
    folder = next((path for path in to_write if path.is_dir()), None)
    if folder is not None:
        # A folder where a file goes: the write's traceback, after the work.
        raise ConfigError(
            f"cannot write {folder.name} to paths.output_dir {output_dir}: a folder of that "
            "name is there; move it, or point paths.output_dir (or hydra.run.dir) at another "
            "folder."
        )
    locked = [path for path in to_write if path.exists() and not os.access(path, os.W_OK)]
    if locked:
        # A previous run's file this user cannot replace: the same traceback, after the work.
        raise ConfigError(
            f"cannot replace {locked[0]} in paths.output_dir (permission denied); remove it or "
            "point paths.output_dir (or hydra.run.dir) at another folder."
        )
    with tempfile.TemporaryDirectory(prefix="stockcast-model-") as download_dir:
        model = open_model(cfg, download_dir)
    check_window_overrides(cfg, model.metadata)
    if is_batch(input_cfg):
        return run_batch_predict(cfg, model, input_cfg, output_dir, to_write)
    series = build_input(input_cfg, model.metadata)

    backtest = None
    if cfg.mode == "backtest":
        result = forecast_held_out(model, series)
        backtest = rolling_backtest(model, series, int(cfg.backtest.span))
    else:
        result = forecast_next(model, series)

    payload = outputs.summary(model, series, result, cfg.mode, backtest)
    rows = payload["forecast"]
    clear_earlier_outputs(output_dir, to_write)
    written = [
        outputs.write_csv(output_dir / outputs.FORECAST_CSV, rows),
        write_json(output_dir / outputs.FORECAST_JSON, payload),
    ]
    if backtest is not None:
        written.append(
            outputs.write_csv(
                output_dir / outputs.BACKTEST_CSV, outputs.backtest_rows(series, backtest)
            )
        )
    if cfg.vis:
        written.append(
            outputs.plot_forecast_png(
                output_dir / outputs.FORECAST_PNG, model, series, result, int(cfg.plot.history)
            )
        )
        if backtest is not None:
            written.append(
                outputs.plot_backtest_png(
                    output_dir / outputs.BACKTEST_PNG, model, series, backtest
                )
            )
    _print_report(model, series, result, payload, written, int(cfg.print_decimals))
    return payload


def _files_to_write(cfg: DictConfig, input_cfg: dict[str, Any], output_dir: Path) -> list[Path]:
    """The files this run writes into `output_dir`, as its settings say."""
    names = [outputs.FORECAST_CSV, outputs.FORECAST_JSON]
    if cfg.mode == "backtest":
        names.append(outputs.BACKTEST_CSV)
    if cfg.vis:
        names += [outputs.FORECAST_PNG] + [outputs.BACKTEST_PNG] * (cfg.mode == "backtest")
    if input_cfg.get("skip_refused"):
        names.append(batch_outputs.REFUSED_CSV)
    return [output_dir / name for name in names]


def clear_earlier_outputs(output_dir: Path, to_write: list[Path]) -> None:
    """Remove the files an earlier run left in `output_dir` that this run does not write (only
    predict's own names, never a user's other files), and log them and the ones it replaces.

    Called once the forecast stands, so a refused run leaves the earlier run's set whole."""
    earlier = [output_dir / name for name in OWN_FILES]
    earlier = [path for path in earlier if path.is_file() or path.is_symlink()]
    replaced = [path.name for path in earlier if path in to_write]
    removed = [path for path in earlier if path not in to_write]
    for path in removed:
        path.unlink()
    said = []
    if replaced:
        said.append(f"replacing {', '.join(replaced)}")
    if removed:
        said.append(f"removing {', '.join(p.name for p in removed)}, which this run does not write")
    if said:
        log.info(
            "paths.output_dir %s holds an earlier predict run's outputs: %s",
            output_dir,
            "; ".join(said),
        )


def run_batch_predict(
    cfg: DictConfig,
    model: OpenModel,
    input_cfg: dict[str, Any],
    output_dir: Path,
    to_write: list[Path],
) -> dict[str, Any]:
    """Every id of the input table in one model call; one block per id in the files (`to_write`,
    checked before the model was opened)."""
    if cfg.mode != "forecast":
        refuse_backtest()
    batch = build_batch(input_cfg, model.metadata)
    skip_refused = bool(input_cfg.get("skip_refused"))
    result = forecast_batch(model, batch, skip_refused)
    frame = batch_outputs.batch_frame(result, batch.id_column)
    payload = batch_outputs.batch_summary(model, batch, result, frame)
    clear_earlier_outputs(output_dir, to_write)
    frame.to_csv(output_dir / outputs.FORECAST_CSV, index=False)
    written = [
        output_dir / outputs.FORECAST_CSV,
        batch_outputs.write_batch_json(output_dir / outputs.FORECAST_JSON, payload),
    ]
    if skip_refused:  # written even when empty: a scheduled reader finds the same files
        written.append(
            batch_outputs.write_refused_csv(
                output_dir / batch_outputs.REFUSED_CSV, result, batch.id_column
            )
        )
    if cfg.vis:  # the first id: thousands of fans on one chart would show nothing
        written.append(
            outputs.plot_forecast_png(
                output_dir / outputs.FORECAST_PNG,
                model,
                result.input_series(batch, 0),
                result.one(0),
                int(cfg.plot.history),
            )
        )
    batch_outputs.print_batch_report(
        model, batch, result, written, int(cfg.print_series), int(cfg.print_decimals)
    )
    return payload


def _print_report(
    model: OpenModel,
    series: InputSeries,
    result: Forecast,
    payload: dict[str, Any],
    written: list[Path],
    decimals: int,
) -> None:
    p, h = model.previous_time_window, len(result.forecast)
    if result.actual is not None:
        what = f"the last {h} input values (held out), forecast from the {p} before them"
    else:
        last = (
            ""
            if result.window_x is None
            else f" ({format_date(result.window_x[-1], outputs.timed(result))})"
        )
        what = f"the next {h} values after the last input value{last}, from the last {p}"
    print(f"{model.label}: {what}; input: {series.description}")
    print(outputs.format_table(payload["forecast"], decimals))
    if "mae" in payload:
        shown = outputs.shown_decimals([{"mae": payload["mae"]}], decimals)
        print(f"MAE of the held-out forecast: {payload['mae']:.{shown}f}")
    if "rolling_backtest" in payload:
        rolling = payload["rolling_backtest"]
        pairs = list(zip(rolling["mae_by_step"], rolling["naive_mae_by_step"], strict=True))
        # As the table shows small prices: errors of prices near 1e-6 are no 0.0000.
        shown = outputs.shown_decimals([{"model": m, "naive": n} for m, n in pairs], decimals)
        steps = ", ".join(f"{m:.{shown}f} (naive {n:.{shown}f})" for m, n in pairs)
        print(
            f"rolling backtest over {counted(rolling['origins'], 'origin')}, MAE by step: {steps}"
        )
        for level, share in rolling["coverage"].items():
            print(f"{level}% intervals covered {share:.1%} of the backtest targets")
    print("saved: " + ", ".join(str(p) for p in written))
