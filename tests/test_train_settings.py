"""Training runs under other settings than the defaults: precisions, the debug configs, CSV data,
gradient clipping, time limits, loggers and callbacks switched off; what a fresh run imports."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from stockcast.config.compose import flatten
from stockcast.data.prepared import PreparedData
from stockcast.errors import ConfigError
from stockcast.serving.metadata import model_artifact
from stockcast.serving.model import open_model_dir
from tests.conftest import (
    FAST_OVERRIDES,
    Command,
    Job,
    JobContext,
    isolated_overrides,
    prestart,
    run_train,
)

pytestmark = pytest.mark.slow


def test_a_cpu_fit_asked_for_16_mixed_says_and_records_it_ran_in_bf16_mixed(
    seeded_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On a CPU Lightning runs 16-mixed as bf16-mixed (fp16 autocast is CUDA's): the run's
    params said 16-mixed, and only Lightning's warning on stderr (not the run's log) said what
    ran."""
    run_dir = seeded_tmp / "run"
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        run_train(seeded_tmp, run_dir, *FAST_OVERRIDES, "+trainer.precision=16-mixed")
    summary = json.loads((run_dir / "metrics.json").read_text())
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{seeded_tmp}/mlruns.db")
    params = client.get_run(summary["training_run_id"]).data.params
    assert params["trainer.precision"] == "bf16-mixed"
    said = [r.getMessage() for r in caplog.records if r.name == "stockcast.training.precision_used"]
    assert said == [
        "trainer.precision=16-mixed runs as bf16-mixed on a CPU, which has no fp16 mixed "
        "precision: ask for +trainer.precision=bf16-mixed there, or train on a CUDA GPU "
        "(trainer=gpu) for fp16."
    ]
    assert not [w for w in shown if "AMP with fp16" in str(w.message)], "said once, by us"


def test_a_fit_refused_after_lightning_ended_it_leaves_its_run_failed(tmp_path: Path) -> None:
    """Lightning marks the MLflow run FINISHED as its fit ends: a fit then refused (diverged,
    without the fallback: no model saved) read in the store as one that finished."""
    diverging = (*FAST_OVERRIDES, "optim.lr=1e8", "fit.naive_fallback=false")
    with pytest.raises(ConfigError, match=r"^the fit diverged: its validation forecasts are not"):
        run_train(tmp_path, tmp_path / "run", *diverging)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    experiment = client.get_experiment_by_name("stockcast")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"


def test_fast_dev_run_debug_config(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_train(tmp_path, run_dir, "debug=fdr", "data.length=300")
    assert (run_dir / "model" / "MLmodel").is_file()


def test_the_overfit_debug_config_keeps_the_model_that_learned(tmp_path: Path) -> None:
    """debug=overfit set callbacks to null: Lightning's own checkpoint was restored, no
    resume.ckpt was written, and the naive fallback replaced the model that learned the batches
    (a model fitted to two batches forecasts unseen windows no better than naive)."""
    run_dir = tmp_path / "run"
    run_train(tmp_path, run_dir, "debug=overfit", "trainer.max_epochs=30")
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["fell_back_to_naive"] is False
    assert summary["best_checkpoint"].startswith("checkpoints/")
    assert (run_dir / "checkpoints" / "resume.ckpt").is_file()
    with (run_dir / "csv" / "metrics.csv").open() as logged:
        losses = [float(row["train/loss"]) for row in csv.DictReader(logged) if row["train/loss"]]
    assert len(losses) > 2 and losses[-1] < losses[0] * 0.9, losses


def test_csv_training_with_several_ids(seeded_tmp: Path) -> None:
    rng = np.random.default_rng(0)
    lines = ["Date,Ticker,Close"]
    for ticker in ("AAA", "BBB"):
        prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 200)))
        for day, price in zip(
            np.arange("2023-01-02", 200, dtype="datetime64[D]"), prices, strict=False
        ):
            lines.append(f"{day},{ticker},{price:.4f}")
    csv = seeded_tmp / "prices.csv"
    csv.write_text("\n".join(lines) + "\n")
    run_dir = seeded_tmp / "run"
    run_train(
        seeded_tmp,
        run_dir,
        "data=csv",
        f"data.path={csv}",
        "data.id_column=Ticker",
        *FAST_OVERRIDES[1:],
    )
    meta = json.loads((run_dir / "prepared" / "meta.json").read_text())
    assert meta["series_ids"] == ["AAA", "BBB"] and meta["has_dates"]


def test_gradient_clipping_is_applied_by_the_training_module(make_cfg, tmp_path: Path) -> None:
    """Lightning refuses trainer.gradient_clip_val for a module that steps its optimizer by
    hand (a traceback once the data was prepared): the module clips itself, in a fixed-step fit
    and in the evaluated one."""
    from stockcast.orchestration.steps.prepare import run_prepare
    from stockcast.training.fixed_steps import refit_network

    data = ("data=seasonal", "data.length=130", "logger=none")
    prepared = PreparedData.load(run_prepare(make_cfg(*data), tmp_path / "prepared"))

    def weights(*overrides: str, steps: int = 20) -> torch.Tensor:
        net = refit_network(make_cfg(*data, *overrides), prepared, steps, 9).net
        return torch.cat([p.detach().flatten() for p in net.parameters()])

    start = weights(steps=0)
    moved = (weights() - start).abs().max()
    # Each gradient clipped to 1e-12 leaves Adam's step at about lr * 1e-12 / eps.
    tiny = ("trainer.gradient_clip_val=1e-12", "trainer.gradient_clip_algorithm=value")
    by_value = weights(*tiny)
    assert (by_value - start).abs().max() < 1e-3 * moved
    # Clipped by their norm instead, the gradients keep their direction: other steps.
    by_norm = weights("trainer.gradient_clip_val=1e-12", "trainer.gradient_clip_algorithm=norm")
    assert (by_norm - start).abs().max() < 1e-3 * moved
    assert not torch.equal(by_norm, by_value)

    def evaluated(name: str, *overrides: str) -> dict[str, torch.Tensor]:
        short = ("data.length=300", "trainer.max_steps=20", "fit.naive_fallback=false")
        run_train(tmp_path, tmp_path / name, *short, "logger=none", *overrides)
        return load_file(str(tmp_path / name / "model" / "artifacts" / "weights.safetensors"))

    free, clipped = evaluated("free"), evaluated("clipped", *tiny)
    assert any(not torch.equal(free[key], clipped[key]) for key in free), "the fit clipped"
    # Under mixed precision Lightning clips only an optimizer that leaves it the unscaling: the
    # fused Adam (the default) is refused in one sentence, an unfused one clips.
    mixed = ("+trainer.precision=bf16-mixed", *tiny)
    with pytest.raises(ConfigError, match=r"set optim.optimizer.fused=false, or leave"):
        weights(*mixed)
    unfused = weights(*mixed, "optim.optimizer.fused=false")
    assert (unfused - start).abs().max() < 1e-3 * moved


@pytest.mark.parametrize(
    ("max_time", "seconds"), [("{days:1,hours:0.5}", 88200.0), ("01:00:30:00", 88200.0)]
)
def test_a_max_time_mapping_or_duration_limits_the_fit_and_the_refit(
    make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_time: str, seconds: float
) -> None:
    """Lightning's Timer reads a mapping only as a dict: the DictConfig Hydra handed it for
    `trainer.max_time={days:1}` was a traceback once the data was prepared."""
    from lightning.pytorch.callbacks import timer

    from stockcast.orchestration.steps.prepare import run_prepare
    from stockcast.training.fixed_steps import refit_network

    limits: list[float | None] = []
    built = timer.Timer.__init__

    def recording(self: timer.Timer, *args: object, **kwargs: object) -> None:
        built(self, *args, **kwargs)
        limits.append(self._duration)

    monkeypatch.setattr(timer.Timer, "__init__", recording)
    override = f"+trainer.max_time={max_time}"
    run_train(tmp_path, tmp_path / "run", *FAST_OVERRIDES, "logger=none", override)
    assert (tmp_path / "run" / "model" / "MLmodel").is_file()
    data = ("data=seasonal", "data.length=130", "logger=none")
    prepared = PreparedData.load(run_prepare(make_cfg(*data), tmp_path / "prepared"))
    refit_network(make_cfg(*data, override), prepared, 2, 9)
    assert limits == [seconds, seconds]


def test_the_schedule_a_refit_repeats_is_the_one_before_the_best_step() -> None:
    """A drop recorded after N steps sets the rate of step N + 1 on: one at the best step's own
    validation took no part in the evaluated model. Shares are of the best step; a schedule not
    known (null) or not recorded (an older train step) is the starting rate throughout."""
    from stockcast.training.evaluated_recipe import evaluated_lr_drops, lr_drops_before

    drops = [[30, [0.5, 0.5]], [60, [0.25, 0.5]], [90, [0.125, 0.25]]]
    assert lr_drops_before(drops, 60) == [[30, [0.5, 0.5]]]
    assert lr_drops_before(drops, 61) == drops[:2]
    assert lr_drops_before(None, 60) is None
    metrics = {"best_step": 120, "lr_drops": drops}
    assert evaluated_lr_drops(metrics) == [
        (0.25, (0.5, 0.5)),
        (0.5, (0.25, 0.5)),
        (0.75, (0.125, 0.25)),
    ]
    assert evaluated_lr_drops({"best_step": 120, "lr_drops": None}) == []
    assert evaluated_lr_drops({"best_step": 120}) == []


def test_flatten() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}


# After a training run, the local pipeline's first step is imported too: neither may pull in
# the Azure SDK.
NO_AZURE_PROBE = """
import runpy, sys
sys.argv = ["src/train.py", *sys.argv[1:]]
try:
    runpy.run_path("src/train.py", run_name="__main__")
finally:
    import stockcast.orchestration.steps.prepare
    print("AZURE=" + ",".join(sorted(m for m in sys.modules if m.startswith(("azure", "azureml")))))
"""


def train_with_an_import_probe(job: JobContext) -> Job:
    probe = Command(
        (
            "-c",
            NO_AZURE_PROBE,
            "debug=fdr",
            "data.length=300",
            "logger=mlflow",
            *isolated_overrides(job.tmp),
            f"hydra.run.dir={job.tmp / 'run'}",
        ),
        fresh=True,
    )
    return job.run(probe)


@prestart(train_with_an_import_probe)
def test_local_training_imports_nothing_from_azure(prestarted_job: Job) -> None:
    result = prestarted_job.result
    assert "AZURE=\n" in result.stdout, result.stdout[-500:]
    assert (prestarted_job.tmp / "run" / "model" / "MLmodel").is_file()


def test_a_callback_or_logger_set_to_null_is_switched_off(tmp_path: Path) -> None:
    """The schema took a null callback or logger as switched off, and the fit then failed after
    preparing its data with a TypeError from deep inside."""
    run_dir = tmp_path / "run"
    run_train(
        tmp_path,
        run_dir,
        *FAST_OVERRIDES,
        "callbacks.early_stopping=null",
        "callbacks.model_checkpoint=null",
        "logger.mlflow=null",
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # The fit ran its whole budget (no early stopping) and kept its latest state (the resume
    # checkpoint, the one left), with no MLflow run.
    assert metrics["epochs"] == 2 and metrics["best_checkpoint"] == "checkpoints/resume.ckpt"
    assert metrics["training_run_id"] is None and not (tmp_path / "mlruns.db").exists()


def test_mlflow_and_csv_loggers_together_each_get_the_run(tmp_path: Path) -> None:
    """`logger=[mlflow,csv]`: metrics.json was logged through every logger with an
    `experiment`, the CSV logger's writer too, and the run ended in an AttributeError traceback
    after its whole fit, its MLflow run without metrics.json."""
    run_dir = tmp_path / "run"
    run_train(tmp_path, run_dir, *FAST_OVERRIDES, "logger=[mlflow,csv]")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    with (run_dir / "csv" / "metrics.csv").open() as logged:
        assert any(row["val/mase"] for row in csv.DictReader(logged))
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns.db")
    run = client.get_run(metrics["training_run_id"])
    assert run.info.status == "FINISHED"
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["metrics.json"]


def test_a_stages_metrics_are_its_own_and_no_train_loss_reads_as_its_loss() -> None:
    """The validate run after the fit logged the train loss of the steps after the fit's last
    validation; read back without prefixes, it overwrote val/loss in metrics.json, and a sweep
    ranking by val/loss ranked training losses."""
    from stockcast.training.stages import stage_metrics

    def validate(model: object, datamodule: object, verbose: bool) -> list[dict[str, float]]:
        return [{"val/loss": 1.25, "val/mase": 0.9, "train/loss": 0.5, "step": 40.0, "epoch": 3.0}]

    assert stage_metrics(validate, None, None) == {"loss": 1.25, "mase": 0.9}


def test_a_fit_in_half_precision_weighs_calibrates_and_serves_in_float32(tmp_path: Path) -> None:
    """trainer.precision=bf16-true holds the network in bfloat16 for every stage; the member
    weights, the bands and the export then fed it float32 windows and failed with a traceback
    after the whole fit."""
    run_dir = tmp_path / "run"
    # With the folds, whose fits (as the refit's and the held-back check's) run apart.
    run_train(
        tmp_path,
        run_dir,
        *FAST_OVERRIDES,
        "logger=none",
        "+trainer.precision=bf16-true",
        "fit.folds_below_windows=1000",
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert np.isfinite(metrics["val"]["mase"]) and np.isfinite(metrics["test"]["mase"])
    assert metrics["folds"]
    weights = load_file(str(model_artifact(run_dir / "model", "weights")))
    assert {tensor.dtype for tensor in weights.values()} == {torch.float32}
    points, bands = open_model_dir(run_dir / "model").forecast(100 + np.arange(10.0)[None])
    assert np.isfinite(points).all() and bands


@pytest.mark.parametrize("precision", ["bf16-true", "64-true"])
def test_a_fit_in_another_precision_keeps_the_network_it_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, precision: str
) -> None:
    """bf16-true cast the buffers no state dict holds (Theta's constant matrices, the member
    weights) to bfloat16 and back: the network that fitted the bands forecast otherwise than
    the saved model, which rebuilds them exactly. 64-true weighed and calibrated the members
    in float64, and saved float64 weights that the served model runs in float32."""
    from stockcast.training import training_run

    exported = []
    real_save = training_run.save_model_dir

    def save_model_dir(net: torch.nn.Module, *args: object) -> Path:
        exported.append(net)
        return real_save(net, *args)

    monkeypatch.setattr(training_run, "save_model_dir", save_model_dir)
    run_dir = tmp_path / "run"
    run_train(
        tmp_path,
        run_dir,
        *FAST_OVERRIDES,
        "logger=none",
        "model=theta",
        "data=seasonal",
        "data.previous_time_window=auto",
        f"+trainer.precision={precision}",
    )
    (net,) = exported
    model = open_model_dir(run_dir / "model")
    steps = np.random.default_rng(0).normal(size=(4, model.previous_time_window))
    windows = 200 + np.cumsum(steps, axis=1)
    with torch.inference_mode():
        in_memory = net.eval()(torch.tensor(windows, dtype=torch.float32)).double().numpy()
    np.testing.assert_array_equal(model.forecast(windows)[0], in_memory)
