"""A real training run's outputs: the metrics, the checkpoint and the model folder, which loads
in a fresh process without Lightning, serves with the code it ships and agrees with the fit."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pytest
import torch

from stockcast.data.prepared import PreparedData
from stockcast.errors import ArtifactError
from stockcast.forecasting.frame import split_forecast_frame
from stockcast.forecasting.intervals import volatility_scale
from stockcast.models.spec import build_price_forecaster
from stockcast.serving.metadata import read_model_metadata
from stockcast.serving.model import open_model_dir
from stockcast.training.module import Forecaster
from tests.conftest import Command, Job, JobContext, prestart

pytestmark = pytest.mark.slow


def test_training_writes_metrics_checkpoint_and_config(trained_run: Path) -> None:
    summary = json.loads((trained_run / "metrics.json").read_text())
    for stage in ("val", "test"):
        assert {"mae", "rmse", "mape", "mase", "naive_mase", "loss"} <= set(summary[stage])
        assert all(np.isfinite(v) for v in summary[stage].values())
    # Named relative to the run folder: metrics.json is logged and copied with the run.
    assert (trained_run / summary["best_checkpoint"]).is_file()
    assert summary["model_dir"] == "model"
    assert (trained_run / "config_resolved.yaml").is_file()
    assert summary["training_run_id"], "the MLflow logger recorded a run"


def test_model_directory_forecast_equals_the_lightning_module(trained_run: Path) -> None:
    model = mlflow.pyfunc.load_model(str(trained_run / "model"))
    prepared = PreparedData.load(trained_run / "prepared")
    window = prepared.window
    prices = prepared.splits["test"].values[: window.previous_time_window * 3]
    rows = prices.reshape(3, window.previous_time_window)
    from_model, bands = split_forecast_frame(model.predict(rows))

    summary = json.loads((trained_run / "metrics.json").read_text())
    checkpoint = torch.load(
        trained_run / summary["best_checkpoint"], map_location="cpu", weights_only=False
    )
    spec = json.loads((trained_run / "model" / "artifacts" / "spec.json").read_text())
    net = build_price_forecaster(spec)
    module = Forecaster(net, torch.nn.MSELoss(), torch.optim.Adam)
    module.load_state_dict(checkpoint["state_dict"])
    # The spec's member weights (test_validation_fallback_and_bands_score_the_weighted_forecast
    # checks how they were fitted) are part of the served model.
    assert len(spec["combination"]["weights"]) == 3
    if summary["fell_back_to_naive"]:
        module.net.fall_back_to_naive()
    with torch.no_grad():
        from_module = module(torch.as_tensor(rows, dtype=torch.float32)).double().numpy()
    assert from_model.shape == (3, window.next_time_window)
    np.testing.assert_allclose(from_model, from_module, rtol=0, atol=1e-9)
    assert np.abs(from_model - rows[:, -1:]).max() < 0.5 * rows.mean(), "forecasts are prices"
    assert list(bands) == ["80", "95"]
    assert np.all(bands["95"][0] <= bands["80"][0]) and np.all(bands["80"][1] <= bands["95"][1])


def test_a_halted_tickers_window_gets_a_band_as_wide_as_the_train_windows_typical(
    trained_run: Path,
) -> None:
    """Ten equal prices carry no volatility of their own: the band takes the train windows'
    median unit relative to the price (recorded in the spec), not the floor's 1e-4 of it."""
    spec = json.loads((trained_run / "model" / "artifacts" / "spec.json").read_text())
    intervals = spec["intervals"]
    prepared = PreparedData.load(trained_run / "prepared")
    train = prepared.splits["train"].origins(prepared.window).inputs
    units = (
        volatility_scale(
            train, span=intervals["scale_span"], min_relative_scale=intervals["min_relative_scale"]
        )[:, 0]
        / train[:, -1]
    )
    assert intervals["still_unit"] == pytest.approx(np.median(units))
    price = float(train[-1, -1])
    halted = np.full((1, prepared.window.previous_time_window), price)
    served = open_model_dir(trained_run / "model").pyfunc
    _, bands = split_forecast_frame(served.predict(halted))
    lower, upper = intervals["bounds"]["80"]
    width = (bands["80"][1] - bands["80"][0])[0]
    np.testing.assert_allclose(
        width, (np.array(upper) - lower) * intervals["still_unit"] * price, rtol=1e-5
    )
    assert width[0] > 50 * intervals["min_relative_scale"] * price


OLDER_BANDS = """
_apply_intervals_today = apply_intervals


def apply_intervals(forecast, scale, bounds):
    return _apply_intervals_today(forecast, 2 * np.asarray(scale), bounds)
"""


NO_FLOOR = """
def guarded_forecast(windows, point, bands, *args, **kwargs):
    return point, bands
"""


@pytest.mark.parametrize("package_init", [True, False])
def test_a_model_folder_is_served_in_process_with_the_code_it_ships(
    trained_run: Path, tmp_path: Path, package_init: bool
) -> None:
    """Predict, serve and the monitor open a folder inside a process running today's stockcast;
    they must answer what `mlflow models serve` answers from the folder alone: its own code. Here
    the folder's code (as if saved by an older stockcast) drew bands twice as wide and did not
    floor them at zero."""
    older = Path(shutil.copytree(trained_run / "model", tmp_path / "model"))
    forecasting = older / "code" / "stockcast" / "forecasting"
    with (forecasting / "intervals.py").open("a") as shipped:
        shipped.write(OLDER_BANDS)
    with (forecasting / "output_guard.py").open("a") as shipped:  # and did not floor at zero
        shipped.write(NO_FLOOR)
    if not package_init:  # a namespace package, which the project's regular one would shadow
        (older / "code" / "stockcast" / "__init__.py").unlink()
        # and a module beside it that imports it first, if anything imported it
        (older / "code" / "aaa_first.py").write_text("import stockcast.forecasting.intervals\n")
    project_intervals = sys.modules["stockcast.forecasting.intervals"]
    path = list(sys.path)
    windows = 100 + np.cumsum(np.sin(np.arange(30)).reshape(3, 10), axis=1)

    point, bands = open_model_dir(trained_run / "model").forecast(windows)
    older_point, older_bands = open_model_dir(older).forecast(windows)

    np.testing.assert_allclose(older_point, point, rtol=0, atol=1e-12)
    for level, (lower, upper) in bands.items():
        older_lower, older_upper = older_bands[level]
        np.testing.assert_allclose(older_upper - older_lower, 2 * (upper - lower), rtol=1e-9)
    near_zero = np.tile([1.0, 0.1], (1, 5))
    _, bands = open_model_dir(trained_run / "model").forecast(near_zero)
    _, older_bands = open_model_dir(older).forecast(near_zero)
    assert bands["95"][0].min() == 0 and older_bands["95"][0].min() < 0
    # The project's own modules and import path are as they were.
    assert sys.modules["stockcast.forecasting.intervals"] is project_intervals
    assert not hasattr(project_intervals, "_apply_intervals_today")
    assert sys.path == path


@pytest.mark.parametrize(
    ("shipped", "reason"),
    [("raise SystemExit(3)\n", "its code exits, with status 3"), ("def (:\n", "invalid syntax")],
)
def test_a_folder_whose_own_code_cannot_load_is_one_sentence_naming_it(
    trained_run: Path, tmp_path: Path, shipped: str, reason: str
) -> None:
    folder = Path(shutil.copytree(trained_run / "model", tmp_path / "model"))
    (folder / "code" / "stockcast" / "models" / "spec.py").write_text(shipped)
    project_spec, path = sys.modules["stockcast.models.spec"], list(sys.path)
    with pytest.raises(ArtifactError) as caught:
        open_model_dir(folder)
    message = str(caught.value)
    assert message.startswith(f"cannot load the model in {folder} (") and reason in message
    assert "stockcast-verified" not in message and "stack trace" not in message
    assert sys.modules["stockcast.models.spec"] is project_spec and sys.path == path


def load_the_model_in_a_fresh_process(job: JobContext) -> Job:
    trained_run = job.fixture("trained_run")
    code = (
        "import sys, pickle, mlflow.pyfunc\n"
        "calls = []\n"
        "real = pickle.load\n"
        "pickle.load = lambda *a, **k: calls.append(1) or real(*a, **k)\n"
        f"m = mlflow.pyfunc.load_model({str(trained_run / 'model')!r})\n"
        "import numpy as np\n"
        "print(m.predict(np.array([[100.0 + i for i in range(10)]])).shape)\n"
        "assert not [k for k in sys.modules if k.startswith(('lightning', 'pytorch_lightning'))]\n"
        "assert not calls, 'pickle.load was used'\n"
        "import stockcast.models.network as net\n"
        "print('net from', net.__file__)\n"
    )
    return job.run(Command(("-c", code), env=job.env, check=False, fresh=True))


@prestart(load_the_model_in_a_fresh_process)
def test_loading_the_model_imports_no_lightning_and_unpickles_nothing(
    trained_run: Path, prestarted_job: Job
) -> None:
    result = prestarted_job.result
    assert result.returncode == 0, result.stderr[-2000:]
    assert "(1, 25)" in result.stdout
    # The model carries the few modules it needs: a fresh process imports them from the model.
    assert f"net from {trained_run / 'model' / 'code'}" in result.stdout
    # What ships is followed from the served code's imports: the kind (with the field types its
    # settings use), the network, the core's frame, intervals and quantile bands; nothing of training,
    # evaluation, the registry or how bands are calibrated.
    code = trained_run / "model" / "code" / "stockcast"
    shipped = sorted(p.relative_to(code).as_posix() for p in code.rglob("*.py"))
    assert shipped == [
        "__init__.py",
        "data/__init__.py",
        "data/calendar.py",
        "errors.py",
        "fields.py",
        "forecasting/__init__.py",
        "forecasting/float_limits.py",
        "forecasting/frame.py",
        "forecasting/guard.py",
        "forecasting/intervals.py",
        "forecasting/output_guard.py",
        "forecasting/quantiles.py",
        "forecasting/windows.py",
        "models/__init__.py",
        "models/cores.py",
        "models/kind.py",
        "models/kinds/__init__.py",
        "models/kinds/mlp.py",
        "models/level_range.py",
        "models/log_view.py",
        "models/member_prices.py",
        "models/network.py",
        "models/scaled_windows.py",
        "models/scaling.py",
        "models/served_weights.py",
        "models/settings.py",
        "models/spec.py",
        "serving/__init__.py",
        "serving/pyfunc_model.py",
    ]
    weights = trained_run / "model" / "artifacts" / "weights.safetensors"
    assert weights.is_file()


def test_the_models_example_input_is_its_last_validation_window(trained_run: Path) -> None:
    """MLflow's input example of the evaluated model held the test split's last window: test
    values in a model that was never to see them (and in the copy a refit keeps of it)."""
    prepared = PreparedData.load(trained_run / "prepared")
    p = prepared.window.previous_time_window
    example = json.loads((trained_run / "model" / "input_example.json").read_text())
    np.testing.assert_allclose(np.ravel(example), prepared.splits["val"].values[-p:])


def test_the_model_requires_what_its_shipped_code_imports(
    trained_run: Path, tmp_path: Path
) -> None:
    """An endpoint installs the folder's requirements.txt: a kind that imports a package at its
    top level needs it there; one imported inside a training function does not."""
    from importlib.metadata import version

    from stockcast.training.export import SERVING_REQUIREMENTS, serving_requirements

    pinned = (trained_run / "model" / "requirements.txt").read_text().split()
    assert sorted(line.split("==")[0] for line in pinned if "==" in line) == sorted(
        SERVING_REQUIREMENTS
    )
    kind = tmp_path / "mykinds" / "drift.py"
    kind.parent.mkdir()
    kind.write_text(
        "import json\nimport numpy as np\nfrom mykinds import helpers\n"
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import matplotlib\n"
        "else:\n    from mlflow import pyfunc\n"
        "try:\n    import yaml\nexcept ImportError:\n    yaml = None\n"
        # google is a namespace several distributions share: google.protobuf is protobuf's.
        "from google import protobuf\nfrom google.protobuf.message import Message\n\n"
        "def fit():\n    import statsforecast\n"
    )
    needed = serving_requirements({"mykinds.drift": kind})
    assert needed[-2:] == [f"protobuf=={version('protobuf')}", f"PyYAML=={version('PyYAML')}"]
    assert [line.split("==")[0] for line in needed[:-2]] == list(SERVING_REQUIREMENTS)


def test_the_model_records_the_versions_of_the_libraries_that_trained_it(
    trained_run: Path,
) -> None:
    """Its requirements.txt pins what serving imports: Lightning, which ran the fit, and
    statsforecast, which fits the ets kind, were recorded nowhere, so its git_commit and
    training config could not say what to install to train the same numbers again."""
    from importlib.metadata import version

    metadata = read_model_metadata(trained_run / "model")
    names = ("torch", "lightning", "numpy", "statsforecast")
    assert metadata.get("training_packages") == {name: version(name) for name in names}


def test_loading_the_model_warns_of_nothing(trained_run: Path) -> None:
    """MLflow nudges every PythonModel whose `predict` has no type hints, in colour codes, each
    time a client loads it; the served model's hint is one MLflow derives nothing from."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = mlflow.pyfunc.load_model(str(trained_run / "model"))
    assert model.predict(np.arange(100.0, 110.0).reshape(1, -1)).shape == (1, 25)
    assert [str(w.message) for w in caught if "type hint" in str(w.message)] == []


def test_mlflow_run_has_params_and_metrics(trained_run: Path) -> None:
    summary = json.loads((trained_run / "metrics.json").read_text())
    tmp = trained_run.parent
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp}/mlruns.db")
    run = client.get_run(summary["training_run_id"])
    assert run.data.params["data.previous_time_window"] == "10"
    assert "val/mase" in run.data.metrics


def test_mlflow_charts_metrics_at_the_optimizer_step_metrics_json_counts(
    trained_run: Path,
) -> None:
    """Lightning's own step counts its batches, each holding `data.steps_per_batch` optimizer
    steps: the run's charts ended at a fraction of the steps metrics.json, the checkpoints and
    `trainer.max_steps` count."""
    summary = json.loads((trained_run / "metrics.json").read_text())
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{trained_run.parent}/mlruns.db")
    run_id = summary["training_run_id"]
    val = client.get_metric_history(run_id, "val/mase")
    test = client.get_metric_history(run_id, "test/mase")
    assert val[-1].step == test[-1].step == summary["optimizer_steps"] > 0
    assert [m.step for m in val] == sorted(m.step for m in val)
    epochs = client.get_metric_history(run_id, "epoch")
    assert epochs[-1].value == summary["epochs"]
