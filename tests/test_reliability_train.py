"""Training and prediction as a user sees them: a killed fit resumes to the same budget, the run
ends with a result summary and no library noise, machine-specific trainer settings and bad
predict input are one sentence with paths intact."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch
from lightning.pytorch import Callback
from mlflow import MlflowClient

from stockcast.config.compose import local_store_overrides
from stockcast.paths import PROJECT_ROOT
from stockcast.training.resume_state import SETTINGS_KEY
from tests.conftest import run_cli
from tests.prewarmed import run_forked
from tests.reliability_helpers import (
    FAST,
    assert_one_sentence_refusal,
    environment,
    global_step,
    shared_pipeline_run,
)
from tests.reliability_kill import (
    HANG_UP_AT_EPOCH,
    INTERRUPT_AT_EPOCH,
    KILL_AT_EPOCH,
    TERM_AT_EPOCH,
)

pytestmark = pytest.mark.slow

# Validation (and so a checkpoint) after every epoch; 6 epochs of a tiny model, never stopped
# early (the budget is what a resumed fit must finish).
EVERY_EPOCH = (
    *FAST,
    "trainer.max_epochs=6",
    "fit.val_every_steps=1",
    "callbacks.early_stopping.patience=1000",
    "callbacks.naive_gain_stopping.enabled=false",
)
NOISE = ("Add type hints", "LeafSpec", "litlogger", "Restoring states", "Traceback")


def train(
    store: Path, run_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    args = [
        "src/train.py",
        *EVERY_EPOCH,
        *local_store_overrides(store),
        f"hydra.run.dir={run_dir}",
        *extra,
    ]
    # The kill callback lives in tests/.
    env = environment() | {"PYTHONPATH": str(PROJECT_ROOT)} | (env or {})
    return run_forked(args, PROJECT_ROOT, env, timeout=600)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    store = tmp_path_factory.mktemp("train_store")
    result = train(store, store / "whole")
    assert result.returncode == 0, result.stderr[-3000:]
    return store, result.stdout + result.stderr


def test_training_ends_with_a_result_summary_and_no_library_noise(
    uninterrupted: tuple[Path, str],
) -> None:
    store, output = uninterrupted
    assert "result: val MASE" in output and "(naive " in output and "test MASE" in output
    assert f"model folder: {store / 'whole' / 'model'}" in output
    assert "MLflow run: " in output
    for noise in NOISE:
        assert noise not in output


def test_a_killed_fit_resumes_to_the_uninterrupted_result(
    uninterrupted: tuple[Path, str],
) -> None:
    store, _ = uninterrupted
    # The same settings for both runs (a resume refuses others); the variable kills the first.
    kill = "+callbacks.kill._target_=tests.reliability_kill.KillAtEpoch"
    killed = train(store, store / "killed", kill, env={KILL_AT_EPOCH: "3"})
    assert killed.returncode == -9
    assert not (store / "killed" / "model").exists()
    # Other settings: one sentence and exit 2, before any training.
    other = train(store, store / "other", kill, "optim.lr=0.5", f"train.resume={store / 'killed'}")
    assert_one_sentence_refusal(
        other,
        f"train.resume={store / 'killed'} was started with other settings (optim.lr: 0.001 -> 0.5); ",
    )
    assert not (store / "other" / "checkpoints").exists()
    resumed = train(store, store / "resumed", kill, f"train.resume={store / 'killed'}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    whole = json.loads((store / "whole" / "metrics.json").read_text())
    again = json.loads((store / "resumed" / "metrics.json").read_text())
    assert again["epochs"] == whole["epochs"] == 6
    assert global_step(store / "resumed") == global_step(store / "whole") == 54
    assert again["best_step"] == whole["best_step"]
    for stage in ("val", "test"):
        assert again[stage] == pytest.approx(whole[stage], rel=1e-6)
    assert global_step(store / "killed") == 27  # three epochs of 9 optimizer steps survived
    # The killed process's MLflow run was closed when the resumed run started.
    client = MlflowClient(f"sqlite:///{store}/mlruns.db")
    experiment = client.get_experiment_by_name("stockcast")
    statuses = sorted(r.info.status for r in client.search_runs([experiment.experiment_id]))
    assert statuses == ["FINISHED", "FINISHED", "KILLED"]


def test_a_command_stops_on_ctrl_c_after_a_fit_in_this_process_ignored_it() -> None:
    """Lightning ignores Ctrl-C while it shuts down a fit Ctrl-C stopped and never puts the
    handler back; a forkserver started after such a fit in a test process passed SIG_IGN on to
    every command, whose Ctrl-C then did nothing (the Ctrl-C test below passed or failed by
    which tests its process had run first)."""
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        shown = run_forked(
            ["-c", "import signal; print(signal.getsignal(signal.SIGINT).__name__)"],
            PROJECT_ROOT,
            environment(),
            timeout=120,
        )
    finally:
        signal.signal(signal.SIGINT, handler)
    assert shown.stdout.strip() == "default_int_handler", shown.stderr[-2000:]


@pytest.mark.parametrize(
    ("callback", "variable", "status", "by"),
    [
        # Lightning ends a fit that gets SIGTERM with a SystemExit of no code, which exited 0:
        # a scheduler, a sweep or the pipeline read the stopped run as finished.
        ("TermAtEpoch", TERM_AT_EPOCH, 143, "SIGTERM"),
        # A closed terminal's SIGHUP killed the fit at once: exit -1, no line, the MLflow run
        # left RUNNING. It now stops as SIGTERM does.
        ("HangUpAtEpoch", HANG_UP_AT_EPOCH, 129, "SIGHUP"),
        # A fit it interrupted it ends with exit status 1 and a line of its own: nothing said
        # where the run stopped or how it continues.
        ("InterruptAtEpoch", INTERRUPT_AT_EPOCH, 130, "Ctrl-C"),
    ],
)
def test_a_fit_stopped_by_a_signal_fails_and_names_its_resume(
    uninterrupted: tuple[Path, str], callback: str, variable: str, status: int, by: str
) -> None:
    store, _ = uninterrupted
    stop = f"+callbacks.stop._target_=tests.reliability_kill.{callback}"
    stopped_dir, resumed_dir = store / f"stopped_{status}", store / f"resumed_{status}"
    stopped = train(store, stopped_dir, stop, env={variable: "3"})
    assert stopped.returncode == status, stopped.stderr[-3000:]
    assert not (stopped_dir / "model").exists()
    assert not (stopped_dir / "metrics.json").exists()
    sentence = (
        f"error: stopped by {by} before it finished (its folder: {stopped_dir}); "
        f"continue it with train.resume={stopped_dir} and the same settings.\n"
    )
    assert stopped.stderr.endswith(sentence), stopped.stderr[-3000:]
    # Stopped by the user, to be resumed: KILLED, as MLflow names it, where Lightning said FAILED.
    client = MlflowClient(f"sqlite:///{store}/mlruns.db")
    experiment = client.get_experiment_by_name("stockcast")
    (run,) = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"params.`callbacks.stop._target_` LIKE '%{callback}'",
    )
    assert run.info.status == "KILLED"
    resumed = train(store, resumed_dir, stop, f"train.resume={stopped_dir}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    whole = json.loads((store / "whole" / "metrics.json").read_text())
    assert json.loads((resumed_dir / "metrics.json").read_text())["epochs"] == whole["epochs"]
    assert global_step(resumed_dir) == global_step(store / "whole")


def test_resuming_from_a_folder_without_a_checkpoint_is_one_sentence(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    from stockcast.errors import ArtifactError
    from stockcast.training.resume import resume_checkpoint

    cfg = OmegaConf.create({"train": {"resume": str(tmp_path)}})
    with pytest.raises(
        ArtifactError, match=r"has no checkpoints/resume\.ckpt or last\.ckpt"
    ) as err:
        resume_checkpoint(cfg, {"data_hash": "x"})
    # A run that stopped before its first validation, or a lone ets, is run again.
    assert "run the command again without train.resume" in str(err.value)
    # A folder that is not there is named as such, not as one without checkpoints.
    cfg = OmegaConf.create({"train": {"resume": str(tmp_path / "nothere")}})
    with pytest.raises(ArtifactError, match=r"nothere does not exist; point it at the run dir"):
        resume_checkpoint(cfg, {"data_hash": "x"})


def test_a_missing_resume_folder_names_where_runs_are_written(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    from stockcast.errors import ArtifactError
    from stockcast.training.resume import resume_checkpoint

    # STOCKCAST_ROOT puts the logs elsewhere: a bare logs/train/runs/... would not reach them.
    root_logs = tmp_path / "root" / "logs"
    cfg = OmegaConf.create(
        {"train": {"resume": "logs/train/runs/x"}, "paths": {"log_dir": str(root_logs)}}
    )
    with pytest.raises(ArtifactError) as err:
        resume_checkpoint(cfg, {"data_hash": "x"})
    assert f"resume ({root_logs / 'train' / 'runs' / '<time>'})" in str(err.value)


def test_resuming_a_checkpoint_of_another_network_is_one_sentence(tmp_path: Path) -> None:
    import torch

    from stockcast.errors import ArtifactError
    from stockcast.training.checkpoint_file import check_checkpoint_fits

    model = torch.nn.Module()
    model.net = torch.nn.Linear(10, 5)
    same = tmp_path / "same.ckpt"
    torch.save({"state_dict": model.state_dict(), "optimizer_states": []}, same)
    check_checkpoint_fits(same, model)
    # A network saved before ensemble members: one Sequential, one scaler.
    old = tmp_path / "old.ckpt"
    torch.save({"state_dict": {"net.core.layers.0.weight": torch.zeros(100, 10)}}, old)
    with pytest.raises(ArtifactError) as refused:
        check_checkpoint_fits(old, model)
    assert str(refused.value) == (
        f"train.resume checkpoint {old} holds another network than this config builds "
        "(net.bias, net.core.layers.0.weight, net.weight); resume with the config that fit was "
        "started with, or start a new run without train.resume."
    )
    # Other hidden sizes: the same keys, other shapes.
    wider = tmp_path / "wider.ckpt"
    torch.save({"state_dict": torch.nn.Linear(10, 6).state_dict()}, wider)
    wider_state = {f"net.{key}": value for key, value in torch.load(wider)["state_dict"].items()}
    torch.save({"state_dict": wider_state}, wider)
    with pytest.raises(ArtifactError, match=r"\(net\.bias, net\.weight\); resume with"):
        check_checkpoint_fits(wider, model)
    # A file that is no checkpoint at all.
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ArtifactError) as unreadable:
        check_checkpoint_fits(garbage, model)
    assert str(unreadable.value).startswith(
        f"train.resume checkpoint {garbage} cannot be read as a training checkpoint ("
    )


def test_a_cut_resume_checkpoint_names_the_last_checkpoint_beside_it(tmp_path: Path) -> None:
    """A resume.ckpt cut short was refused with "resume from another run or start a new run",
    though the fit's whole last.ckpt beside it continues it without losing its steps."""
    import torch

    from stockcast.errors import ArtifactError
    from stockcast.training.checkpoint_file import check_checkpoint_fits

    model = torch.nn.Module()
    model.net = torch.nn.Linear(10, 5)
    whole = {"state_dict": model.state_dict(), "optimizer_states": []}
    cut, last = tmp_path / "resume.ckpt", tmp_path / "last.ckpt"
    torch.save(whole, cut)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    torch.save(whole, last)
    with pytest.raises(ArtifactError) as refused:
        check_checkpoint_fits(cut, model)
    assert str(refused.value).endswith(
        f"; resume from the earlier checkpoint beside it, train.resume={last}, or start a new "
        "run without train.resume."
    )
    check_checkpoint_fits(last, model)


def test_resuming_a_checkpoint_of_the_weights_alone_is_one_sentence(tmp_path: Path) -> None:
    """callbacks.model_checkpoint.save_weights_only=true writes the best and last.ckpt without
    the optimizer state: Lightning stopped a resume from one with a KeyError traceback."""
    import torch

    from stockcast.errors import ArtifactError
    from stockcast.training.checkpoint_file import check_checkpoint_fits

    model = torch.nn.Module()
    model.net = torch.nn.Linear(10, 5)
    weights = tmp_path / "last.ckpt"
    torch.save({"state_dict": model.state_dict(), "epoch": 3, "global_step": 40}, weights)
    with pytest.raises(ArtifactError) as refused:
        check_checkpoint_fits(weights, model)
    assert str(refused.value) == (
        f"train.resume checkpoint {weights} holds the weights alone (saved with "
        "save_weights_only=true), not the optimizer state a fit continues from; point "
        "train.resume at the run directory (its checkpoints/resume.ckpt), or start a new run "
        "without train.resume."
    )


def test_a_trainer_this_machine_cannot_run_is_one_sentence() -> None:
    from hydra.errors import InstantiationException

    from stockcast.errors import ConfigError
    from stockcast.training.runtime import trainer_refusals

    class MisconfigurationException(Exception):  # Lightning's, by name: no Lightning import
        pass

    refused = pytest.raises(ConfigError, match="cannot run here: No supported gpu backend found!;")
    with refused, trainer_refusals():
        try:
            raise MisconfigurationException("No supported gpu backend found!")
        except MisconfigurationException as cause:
            raise InstantiationException("Error in call to target Trainer") from cause


def test_more_gpus_than_this_machine_has_are_refused_before_any_work(
    make_cfg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`trainer=ddp trainer.accelerator=gpu trainer.devices=2` on a one-GPU machine: Lightning's
    refusal, which it gave only once the data was prepared, on two lines."""
    from lightning.fabric.utilities import device_parser
    from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator

    from stockcast.errors import ConfigError
    from stockcast.training.runtime import refuse_a_missing_accelerator

    monkeypatch.setattr(MPSAccelerator, "is_available", staticmethod(lambda: False))
    monkeypatch.setattr(CUDAAccelerator, "is_available", staticmethod(lambda: True))
    monkeypatch.setattr(device_parser, "_get_all_available_gpus", lambda **_: [0])
    cfg = make_cfg("trainer=ddp", "trainer.accelerator=gpu", "trainer.devices=2")
    with pytest.raises(ConfigError) as refused:
        refuse_a_missing_accelerator(cfg.trainer)
    assert str(refused.value) == (
        "the trainer settings cannot run here: You requested gpu: [0, 1] But your machine only "
        "has: [0]; change the trainer setting it names, or choose trainer=cpu where this machine "
        "lacks the accelerator or devices asked for."
    )
    refuse_a_missing_accelerator(make_cfg("trainer=gpu").trainer)


@pytest.mark.parametrize(
    ("override", "said"),
    [
        ("trainer.accelerator=tpu", "Requirement 'torch_xla"),
        ("trainer.devices=[0,1]", "`devices` selected with `CPUAccelerator` should be an int > 0"),
        ("+trainer.max_time=abc", "`Timer(duration='abc')` is not a valid duration"),
    ],
)
def test_every_refusal_of_the_trainers_arguments_is_one_sentence(
    make_cfg, override: str, said: str
) -> None:
    """Lightning refuses some arguments with plain errors, not its own exception: they were
    tracebacks; and its refusal of a value was told to choose other accelerator values."""
    import hydra

    from stockcast.errors import ConfigError
    from stockcast.training.runtime import trainer_refusals

    if "torch_xla" in said and importlib.util.find_spec("torch_xla") is not None:
        pytest.skip("torch_xla is installed")
    cfg = make_cfg(override)
    with pytest.raises(ConfigError) as refused, trainer_refusals():
        hydra.utils.instantiate(cfg.trainer, logger=False)
    sentence = str(refused.value)
    assert sentence.startswith("the trainer settings cannot run here: ") and said in sentence
    assert sentence.endswith(
        "; change the trainer setting it names, or choose trainer=cpu where this machine lacks "
        "the accelerator or devices asked for."
    )


class _FaultyCallback(Callback):
    """A callback whose fault shows only when Lightning's Trainer asks for its state key."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    @property
    def state_key(self) -> str:
        raise TypeError("a fault in the callback")


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        ({"max_steps": "5"}, "'<' not supported between instances of 'str' and 'int'"),
        ({"callbacks": [_FaultyCallback()]}, "a fault in the callback"),
    ],
)
def test_a_fault_in_our_code_as_the_trainer_is_built_is_no_refusal_of_its_settings(
    make_cfg, arguments: dict[str, Any], said: str
) -> None:
    """A plain error that Lightning did not raise while reading the trainer settings (a value our
    code built, a callback of ours it called) was told as settings that cannot run here."""
    import hydra
    from hydra.errors import InstantiationException

    from stockcast.training.runtime import trainer_refusals

    with pytest.raises(InstantiationException) as raised, trainer_refusals():
        hydra.utils.instantiate(make_cfg().trainer, logger=False, **arguments)
    assert type(raised.value.__cause__) is TypeError
    assert str(raised.value.__cause__) == said


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, registered_store: Path) -> Path:
    return shared_pipeline_run(tmp_path_factory, registered_store).root


@pytest.mark.parametrize(
    ("overrides", "phrases"),
    [
        (
            ("input=csv", "input.path=bad/missing_data.csv"),
            ("CSV file bad/missing_data.csv does not exist; set input.path",),
        ),
        (
            ("input.values=[1e300,1e300,1e300,1e300,1e300,1e300,1e300,1e300,1e300,1e300]",),
            ("the input holds 1e+300 at position 1 (and 9 more), too large", "rescale"),
        ),
        (("input.values=[100,101,inf,103]",), ("holds inf at position 3",)),
    ],
)
def test_predict_refuses_bad_input_in_one_sentence_with_paths_intact(
    store: Path, tmp_path: Path, overrides: tuple[str, ...], phrases: tuple[str, ...]
) -> None:
    result = run_cli(
        [
            "scripts/predict.py",
            f"registry.tracking_uri=sqlite:///{store}/mlruns.db",
            f"paths.log_dir={tmp_path}",
            *overrides,
        ],
        tmp_path,
        check=False,
    )
    assert_one_sentence_refusal(result, *phrases)
    assert not list(tmp_path.rglob("forecast.json"))


def test_a_fit_resumed_from_another_networks_checkpoint_is_refused_before_training(
    trained_run: Path, seeded_tmp: Path
) -> None:
    """The train step checks the checkpoint against the network it built, before Lightning
    loads it (which would stop deep in the fit with a list of state_dict keys)."""
    from stockcast.errors import ArtifactError
    from tests.conftest import FAST_OVERRIDES, global_state_restored, run_train

    # A copy away from its run directory (no prepared/ beside it, so no data-hash check first)
    # without the settings record, as checkpoints written before it was kept.
    checkpoint = seeded_tmp / "elsewhere" / "resume.ckpt"
    checkpoint.parent.mkdir()
    saved = torch.load(trained_run / "checkpoints" / "resume.ckpt", weights_only=False)
    del saved[SETTINGS_KEY]
    torch.save(saved, checkpoint)
    run_dir = seeded_tmp / "run"
    with global_state_restored(), pytest.raises(ArtifactError) as refused:
        run_train(
            seeded_tmp,
            run_dir,
            *FAST_OVERRIDES,
            "logger=none",
            "model.hidden_sizes=[8]",
            f"train.resume={checkpoint}",
        )
    assert str(refused.value).startswith(
        f"train.resume checkpoint {checkpoint} holds another network than this config builds ("
    )
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "model").exists()
