"""`scripts/predict.py` against a really registered model: each input kind, plots, bad input.

The forecasts run predict's task in this process, against one store registered once per session
(`registered_store`); the subprocess tests are about the script itself: what a fresh process
imports, `--help`, and a refusal's exit status and single line on stderr (started with the
session, in the background: `prestart`).
"""

from __future__ import annotations

import json
import socket
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockcast.errors import StockcastError
from stockcast.prediction.task import run_predict
from tests.conftest import (
    MODEL,
    TRAINING_SEED,
    Command,
    Job,
    JobContext,
    Ran,
    prestart,
    run_task,
)
from tests.conftest import isolated_overrides as store_overrides

pytestmark = pytest.mark.slow


@pytest.fixture
def store(registered_store: Path) -> Path:
    return registered_store


def predict(store: Path, run_dir: Path, *overrides: str) -> Ran:
    """`scripts/predict.py <overrides> hydra.run.dir=<run_dir>`, in this process."""
    return run_task(run_predict, "predict", [*store_overrides(store), *overrides], run_dir)


def predict_command(store: Path, run_dir: Path, *overrides: str, check: bool = True) -> Command:
    """The script as a user types it; outputs go to run_dir."""
    return Command(
        ("scripts/predict.py", *store_overrides(store), f"hydra.run.dir={run_dir}", *overrides),
        check=check,
    )


def read_json(run_dir: Path) -> dict:
    return json.loads((run_dir / "forecast.json").read_text())


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG header; fails unless the file is a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def business_day_csv(path: Path, n: int = 80) -> Path:
    dates = pd.bdate_range("2024-01-01", periods=n + 1).delete(15)  # a holiday in the middle
    values = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, n)))
    pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Close": values}).to_csv(path, index=False)
    return path


def load_version_1(store: Path, into: Path):
    from stockcast.registry.store import ModelRegistry
    from stockcast.serving.model import open_version

    registry = ModelRegistry(f"sqlite:///{store}/mlruns.db", MODEL)
    return open_version(registry, registry.resolve(version=1), into).pyfunc


# -- each input kind -------------------------------------------------------------------------


def test_default_forecast_uses_fresh_synthetic_data_from_the_training_generator(
    store: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    result = predict(store, run_dir, "model.version=1")
    out = read_json(run_dir)
    assert out["model"] == out["model"] | {"name": MODEL, "version": 1, "aliases": ["champion"]}
    assert out["input"]["kind"] == "synthetic" and out["input"]["generator"] == "gbm"
    assert out["input"]["seed"] == TRAINING_SEED + 1  # the documented seed policy
    assert [row["step"] for row in out["forecast"]] == [1, 2, 3, 4, 5]
    assert all(row["date"] is None for row in out["forecast"])
    assert len(out["input_window"]) == 10
    frame = pd.read_csv(run_dir / "forecast.csv")
    bands = ["lower_80", "upper_80", "lower_95", "upper_95"]
    assert list(frame.columns) == ["step", "date", "forecast", *bands] and len(frame) == 5
    assert (frame["lower_95"] <= frame["lower_80"]).all() and (
        frame["lower_80"] < frame["forecast"]
    ).all()
    assert (frame["forecast"] < frame["upper_80"]).all() and (
        frame["upper_80"] <= frame["upper_95"]
    ).all()
    first = f"{out['forecast'][0]['forecast']:.4f}"
    assert f"{MODEL} version 1 (champion)" in result.stdout and first in result.stdout


def test_explicit_values_use_the_last_window_and_match_the_model(
    store: Path, tmp_path: Path
) -> None:
    values = [round(100 + 0.3 * i + (-1) ** i, 2) for i in range(13)]
    run_dir = tmp_path / "run"
    predict(store, run_dir, f"input.values=[{','.join(map(str, values))}]")
    out = read_json(run_dir)
    assert out["input"]["kind"] == "values" and out["input_window"] == values[-10:]
    served = load_version_1(store, tmp_path / "model").predict(np.array([values[-10:]]))
    expected = served[[f"forecast_{h}" for h in range(1, 6)]].to_numpy()[0]
    got = [row["forecast"] for row in out["forecast"]]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # The same values as a file of one column, as long inputs are pointed to: the same forecast.
    csv = tmp_path / "values.csv"
    pd.DataFrame({"price": values}).to_csv(csv, index=False)
    from_file = ("input=csv", f"input.path={csv}", "input.date_column=null")
    predict(store, tmp_path / "file", *from_file, "input.value_column=price")
    assert [row["forecast"] for row in read_json(tmp_path / "file")["forecast"]] == got


def test_an_opened_model_answers_its_frames_numbers_without_building_a_frame(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Predict, serve and the monitor read the model's own arrays, not MLflow's DataFrame (most
    of a one-window call's time); a model whose class has no array answer (saved before it had
    one) still forecasts through its frame. Both give the frame's numbers."""
    from stockcast.forecasting.frame import split_forecast_frame
    from stockcast.registry.store import ModelRegistry
    from stockcast.serving.model import open_version

    registry = ModelRegistry(f"sqlite:///{store}/mlruns.db", MODEL)
    windows = 100 + np.cumsum(np.random.default_rng(3).normal(0, 1, (4, 10)), axis=1)
    model = open_version(registry, registry.resolve(version=1), tmp_path / "new")
    frame_point, frame_bands = split_forecast_frame(model.pyfunc.predict(windows))

    def no_frame(*args: object, **kwargs: object) -> None:
        raise AssertionError("the DataFrame path was taken")

    monkeypatch.setattr(model.pyfunc, "predict", no_frame)
    older = open_version(registry, registry.resolve(version=1), tmp_path / "older")
    # An older model's class: predict() only.
    monkeypatch.setattr(older.pyfunc, "unwrap_python_model", lambda: object())
    for point, bands in (model.forecast(windows), older.forecast(windows)):
        np.testing.assert_array_equal(point, frame_point)
        assert list(bands) == list(frame_bands) == ["80", "95"]
        for level, (lower, upper) in bands.items():
            np.testing.assert_array_equal(lower, frame_bands[level][0])
            np.testing.assert_array_equal(upper, frame_bands[level][1])
    with pytest.raises(StockcastError, match="exactly 10 prices"):
        model.forecast(windows[:, :9])


def test_csv_input_forecasts_business_days_after_the_last_date(store: Path, tmp_path: Path) -> None:
    csv = business_day_csv(tmp_path / "prices.csv")
    run_dir = tmp_path / "run"
    predict(store, run_dir, "input=csv", f"input.path={csv}", "input.value_column=Close")
    out = read_json(run_dir)
    last = pd.Timestamp(pd.read_csv(csv)["Date"].iloc[-1])
    expected = pd.bdate_range(last, periods=6)[1:].strftime("%Y-%m-%d").tolist()
    assert [row["date"] for row in out["forecast"]] == expected
    assert out["date_frequency"] == "B"
    assert out["input_window_dates"][-1] == last.strftime("%Y-%m-%d")


def test_zoned_closes_forecast_at_their_zones_time_after_a_clock_change(
    store: Path, tmp_path: Path
) -> None:
    days = pd.bdate_range("2023-10-02", "2024-03-08")
    closes = (days + pd.Timedelta(hours=16)).tz_localize("America/New_York")
    values = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, len(days))))
    csv = tmp_path / "prices.csv"
    pd.DataFrame({"Date": [t.isoformat() for t in closes], "Close": values}).to_csv(
        csv, index=False
    )
    predict(store, tmp_path / "run", "input=csv", f"input.path={csv}")
    out = read_json(tmp_path / "run")
    # 16:00 in New York: 21:00 UTC before 10 March 2024, 20:00 after it.
    assert out["input_window_dates"][-1] == "2024-03-08T21:00:00"
    assert out["forecast"][0]["date"] == "2024-03-11T20:00:00"


def test_alias_with_vis_writes_a_readable_png(store: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    predict(store, run_dir, "model.alias=champion", "vis=true")
    png = run_dir / "forecast.png"
    width, height = png_size(png)
    assert 600 <= width <= 3000 and 300 <= height <= 2000
    assert png.stat().st_size > 10_000


def test_backtest_on_the_test_split_shows_actuals_errors_and_rolling_forecasts(
    store: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    result = predict(store, run_dir, "input=test_split", "mode=backtest", "vis=true")
    out = read_json(run_dir)
    rows = out["forecast"]
    assert all({"actual", "error"} <= set(row) for row in rows)
    assert out["mae"] == pytest.approx(np.mean([abs(row["error"]) for row in rows]))
    rolling = out["rolling_backtest"]
    assert rolling["origins"] > 10 and len(rolling["mae_by_step"]) == 5
    backtest = pd.read_csv(run_dir / "backtest.csv")
    assert len(backtest) == rolling["origins"] * 5
    for name in ("forecast.png", "backtest.png"):
        assert png_size(run_dir / name)[0] >= 600
    assert "MAE of the held-out forecast" in result.stdout


def test_backtest_over_a_csv_holds_out_the_last_dates(store: Path, tmp_path: Path) -> None:
    csv = business_day_csv(tmp_path / "prices.csv")
    run_dir = tmp_path / "run"
    predict(store, run_dir, "input=csv", f"input.path={csv}", "mode=backtest")
    frame = pd.read_csv(csv)
    rows = read_json(run_dir)["forecast"]
    assert [row["date"] for row in rows] == frame["Date"].iloc[-5:].tolist()
    np.testing.assert_allclose([row["actual"] for row in rows], frame["Close"].iloc[-5:])


def test_a_reused_output_dir_holds_only_this_runs_outputs(
    store: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A forecast written where a backtest with plots ran leaves no stale plot or backtest
    beside it, says what it replaced, and keeps the user's own files."""
    run_dir = tmp_path / "run"
    predict(store, run_dir, "input=test_split", "mode=backtest", "vis=true")
    (run_dir / "notes.txt").write_text("mine\n")
    with caplog.at_level("INFO", logger="stockcast.prediction.task"):
        predict(store, run_dir, "model.version=1")
    names = {path.name for path in run_dir.iterdir() if path.is_file()}
    assert names == {"forecast.csv", "forecast.json", "notes.txt"}
    assert read_json(run_dir)["mode"] == "forecast"
    assert (
        f"paths.output_dir {run_dir} holds an earlier predict run's outputs: replacing "
        "forecast.csv, forecast.json; removing backtest.csv, forecast.png, backtest.png, which "
        "this run does not write"
    ) in caplog.text


# -- refused input ---------------------------------------------------------------------------


def refused(store: Path, tmp_path: Path, *overrides: str) -> str:
    """The task refuses with a user error (exit status 2 at the command line: see
    test_a_refusal_is_exit_status_2_and_one_line_on_stderr) whose message is one line."""
    with pytest.raises(StockcastError) as caught:
        predict(store, tmp_path / "run", *overrides)
    message = f"error: {caught.value}"
    assert len(message.splitlines()) == 1, message
    return message


def test_a_window_override_that_disagrees_with_the_model_is_refused(
    store: Path, tmp_path: Path
) -> None:
    message = refused(store, tmp_path, "previous_time_window=20")
    assert "the model takes 10 values and forecasts 5" in message
    assert "the command line asks for previous_time_window=20; drop" in message
    assert "asks for next_time_window=3; drop" in refused(store, tmp_path, "next_time_window=3")


def test_without_a_version_or_alias_the_champion_forecasts(
    registered_store: Path, tmp_path: Path
) -> None:
    """A newer version the gate registered without promoting it (or one a monitor rolled back)
    is not what a bare `predict.py` or `serve.py` uses: the champion is."""
    import shutil

    from stockcast.registry.store import ModelRegistry
    from tests.test_horizon_change import naive_folder

    store = tmp_path / "store"
    shutil.copytree(registered_store, store)
    registry = ModelRegistry(f"sqlite:///{store}/mlruns.db", MODEL)
    with registry.writing():
        newer, _ = registry.register(naive_folder(tmp_path / "unpromoted", 5), {}, promote=False)
    assert newer.version == 2 and registry.champion("champion").version == 1
    window = "input.values=[100,101,102,103,104,105,106,107,108,109]"
    predict(store, tmp_path / "bare", window)
    assert read_json(tmp_path / "bare")["model"]["version"] == 1
    predict(store, tmp_path / "latest", window, "model.default_alias=null")
    assert read_json(tmp_path / "latest")["model"]["version"] == 2
    # A store whose gate moves another alias: the one setting the register step reads is the
    # one predict (and serve) open by default.
    with registry.writing():
        registry.promote("staging", newer)
    predict(store, tmp_path / "staging", window, "registry.champion_alias=staging")
    assert read_json(tmp_path / "staging")["model"]["version"] == 2


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["model.version=7"], "has no version 7; 'pipeline_stock_predictor' has version(s) 1"),
        (["model.alias=staging"], "has no alias 'staging'; 'pipeline_stock_predictor' has"),
        (["model.name=nope"], "no registered model named 'nope'"),
    ],
)
def test_unknown_model_version_or_alias_lists_what_exists(
    store: Path, tmp_path: Path, overrides: list[str], expected: str
) -> None:
    message = refused(store, tmp_path, *overrides)
    assert expected in message
    assert "1 (champion)" in message or "pipeline_stock_predictor" in message


def test_a_csv_input_without_a_path_says_so(store: Path, tmp_path: Path) -> None:
    assert refused(store, tmp_path, "input=csv", "input.path=''") == refused(
        store, tmp_path, "input=csv"
    )
    assert refused(store, tmp_path, "input=csv") == (
        "error: input.path is not set; give the file to forecast from, e.g. input.path=prices.csv."
    )


def test_too_few_values_says_how_many_are_needed(store: Path, tmp_path: Path) -> None:
    message = refused(store, tmp_path, "input.values=[100,101,102]")
    assert "needs at least 10 input values" in message and "holds 3" in message


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ("[100,101,nan,103]", "holds nan at position 3"),
        ("[100,101,abc,103]", "holds 'abc' at position 3, which is not a number"),
    ],
)
def test_nan_or_non_numeric_values_are_refused(
    store: Path, tmp_path: Path, values: str, expected: str
) -> None:
    assert expected in refused(store, tmp_path, f"input.values={values}")


def test_a_csv_with_a_missing_value_is_refused(store: Path, tmp_path: Path) -> None:
    csv = business_day_csv(tmp_path / "prices.csv")
    frame = pd.read_csv(csv)
    frame.loc[40, "Close"] = np.nan
    frame.to_csv(csv, index=False)
    message = refused(store, tmp_path, "input=csv", f"input.path={csv}")
    assert "1 missing value(s) in column 'Close' at data row(s) 41" in message


def test_a_table_without_the_column_predict_chose_says_why_for_one_series_or_a_batch(
    store: Path, tmp_path: Path
) -> None:
    """With input.value_column unset, predict reads the column the model was trained on (Close
    for this synthetic market's): a file without it is told why that column, whether one series
    or every id of the file is forecast, not only that input.value_column names it."""
    csv = business_day_csv(tmp_path / "prices.csv")
    frame = pd.read_csv(csv).rename(columns={"Close": "Price"}).assign(Ticker="AAA")
    frame.to_csv(csv, index=False)
    why = (
        "(input.value_column, unset: Close, the default for a model trained on a synthetic series)"
    )
    for batch in ([], ["input.id_column=Ticker"]):
        message = refused(store, tmp_path, "input=csv", f"input.path={csv}", *batch)
        assert f"has no column 'Close' {why}; its columns are" in message


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_registry_is_one_clear_sentence(store: Path, tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{_closed_port()}"
    message = refused(store, tmp_path, f"registry.tracking_uri={uri}")
    assert f"cannot reach the model registry at {uri}" in message
    missing = tmp_path / "nowhere" / "mlruns.db"
    message = refused(store, tmp_path, f"registry.tracking_uri=sqlite:///{missing}")
    assert "does not exist" in message


def predict_from_an_unreachable_registry(job: JobContext) -> Job:
    uri = f"http://127.0.0.1:{_closed_port()}"
    store = job.fixture("registered_store")
    overrides = (f"registry.tracking_uri={uri}",)
    return job.run(predict_command(store, job.tmp / "run", *overrides, check=False), uri=uri)


@prestart(predict_from_an_unreachable_registry)
def test_a_refusal_is_exit_status_2_and_one_line_on_stderr(prestarted_job: Job) -> None:
    """The command-line contract, once: nothing but the message on stderr, even when MLflow's
    HTTP client fails underneath."""
    result, uri = prestarted_job.result, prestarted_job.info["uri"]
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert f"cannot reach the model registry at {uri}" in lines[0]


# -- what prediction must never do -----------------------------------------------------------

NO_LIGHTNING_PROBE = """
import runpy, sys
sys.argv = ["scripts/predict.py", *sys.argv[1:]]
try:
    runpy.run_path("scripts/predict.py", run_name="__main__")
finally:
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("lightning", "pytorch_lightning")
                   or m == "mlflow.pytorch" or m.startswith(("azure", "azureml")))
    print("HEAVY=" + ",".join(heavy))
"""


def backtest_with_an_import_probe(job: JobContext) -> Job:
    store = job.fixture("registered_store")
    args = ["-c", NO_LIGHTNING_PROBE, *store_overrides(store), f"hydra.run.dir={job.tmp}/run"]
    # What a command imports is only seen in a new interpreter.
    return job.run(Command((*args, "mode=backtest", "vis=true"), fresh=True))


@prestart(backtest_with_an_import_probe)
def test_prediction_never_imports_lightning_or_azure(prestarted_job: Job) -> None:
    result = prestarted_job.result
    assert "HEAVY=\n" in result.stdout, result.stdout[-500:]
    assert (prestarted_job.tmp / "run" / "forecast.json").is_file()


def test_prediction_never_unpickles(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    import cloudpickle
    import torch

    def refuse(*args, **kwargs):
        raise AssertionError("prediction tried to unpickle")

    for module, name in [
        (pickle, "load"),
        (pickle, "loads"),
        (cloudpickle, "load"),
        (cloudpickle, "loads"),
        (torch, "load"),
    ]:
        monkeypatch.setattr(module, name, refuse)
    model = load_version_1(store, tmp_path / "model")
    assert model.predict(np.linspace(100, 102, 10).reshape(1, -1)).shape == (1, 25)


def test_a_pickled_pyfunc_folder_is_refused_before_loading(tmp_path: Path) -> None:
    from stockcast.errors import ArtifactError
    from stockcast.serving.loading import check_safe_model_dir

    (tmp_path / "MLmodel").write_text(
        "flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n"
        "    python_model: python_model.pkl\n"
    )
    (tmp_path / "python_model.pkl").write_bytes(b"not read")
    with pytest.raises(ArtifactError, match="refusing to load it because that would unpickle"):
        check_safe_model_dir(tmp_path)


def test_a_version_that_cannot_be_loaded_is_named_by_its_model_and_version(
    registered_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registered version is loaded from a private temporary copy: a refusal that named that
    folder would point the user at a path that is gone by the time they read it."""
    import shutil

    from stockcast.errors import ArtifactError
    from stockcast.registry.store import ModelRegistry
    from stockcast.serving.model import open_version

    registry = ModelRegistry(f"sqlite:///{registered_store}/mlruns.db", MODEL)
    info = registry.resolve(version=1)
    verified = registry.verified_folder

    def with_a_broken_spec(version, workdir):  # the copy's bytes passed the hash check
        copy, digest = verified(version, workdir)
        broken = Path(workdir) / "broken"
        shutil.copytree(copy, broken)
        (broken / "artifacts" / "spec.json").write_text("[]")
        return broken, digest

    monkeypatch.setattr(registry, "verified_folder", with_a_broken_spec)
    with pytest.raises(ArtifactError) as refused:
        open_version(registry, info, tmp_path / "open")
    message = str(refused.value)
    assert message.startswith(
        f"artifacts/spec.json of {MODEL} version 1 is missing or not a JSON object;"
    )
    assert str(tmp_path) not in message


def help_with_an_import_probe(job: JobContext) -> Job:
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['scripts/predict.py', '--help']\n"
        "try:\n    runpy.run_path('scripts/predict.py', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('LOADED=' + ','.join(m for m in ('torch', 'mlflow') if m in sys.modules))\n"
    )
    return job.run(Command(("-c", probe), fresh=True))


@prestart(help_with_an_import_probe)
def test_help_answers_without_loading_torch_or_mlflow(prestarted_job: Job) -> None:
    result = prestarted_job.result
    assert "LOADED=\n" in result.stdout and "input" in result.stdout
