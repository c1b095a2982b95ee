"""A train run refuses bad input, an optimizer torch refuses and a trainer this machine cannot
run in one sentence before any work; on the command line, exit 2 and no traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stockcast.errors import ConfigError, StockcastError
from tests.conftest import (
    Command,
    Job,
    JobContext,
    compose_config,
    isolated_overrides,
    prestart,
    run_train,
)

pytestmark = pytest.mark.slow


BAD_INPUT = [
    ("data.previous_time_window=0", "data.previous_time_window is 0"),
    ("data.length=30", "each split needs at least"),
    ("data.split.test=0.5", "sum to 1.35"),
    # Lightning refused it mid-fit, with a traceback: the module steps its optimizer by hand.
    ("+trainer.accumulate_grad_batches=2", "trainer.accumulate_grad_batches is 2"),
    # Lightning's traceback, or silently replaced by the fit's own schedule (fit.val_every_steps).
    ("+trainer.val_check_interval=2", "trainer.val_check_interval is 2; the fit validates"),
    ("+trainer.check_val_every_n_epoch=3", "so set fit.val_every_steps instead"),
]


@pytest.mark.parametrize(("override", "message"), BAD_INPUT)
def test_bad_input_is_one_clear_sentence_before_training(
    tmp_path: Path, override: str, message: str
) -> None:
    with pytest.raises(StockcastError) as refused:
        run_train(tmp_path, tmp_path / "run", override)
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert not (tmp_path / "mlruns.db").exists(), "refused before any tracking or training"


OPTIM_REFUSED = [
    (
        ["optim.optimizer._target_=torch.optim.Nope"],
        "optim.optimizer._target_ is 'torch.optim.Nope', which cannot be imported; name a class "
        "that can (torch.optim.AdamW, torch.optim.lr_scheduler.StepLR).",
    ),
    (
        ["optim.optimizer._target_=torch.optim.RMSprop"],
        "optim.optimizer cannot be built (RMSprop.__init__() got an unexpected keyword argument "
        "'fused'); change the setting it names, or remove an argument its class does not take "
        "with ~optim.optimizer.<argument>.",
    ),
    (
        ["optim.scheduler._target_=torch.optim.lr_scheduler.StepLR"],
        "optim.scheduler cannot be built (StepLR.__init__() got an unexpected keyword argument "
        "'mode'); change the setting it names, or remove an argument its class does not take "
        "with ~optim.scheduler.<argument>.",
    ),
    (
        ["optim.scheduler.factor=2"],
        "optim.scheduler cannot be built (Factor should be < 1.0); change the setting it names, "
        "or remove an argument its class does not take with ~optim.scheduler.<argument>.",
    ),
]


def refused_by_train_and_pipeline_first(
    tmp_path: Path, overrides: list[str], sentence: str
) -> None:
    """`overrides` refused in `sentence` by a train run before its data is read, and by a local
    pipeline's check before its first step."""
    from stockcast.orchestration.preflight import check_before_first_step

    with pytest.raises(ConfigError) as refused:
        run_train(tmp_path, tmp_path / "run", *overrides)
    assert str(refused.value) == sentence
    assert not (tmp_path / "run" / "prepared").exists(), "refused before the data was read"
    cfg = compose_config("pipeline", overrides, tmp_path)
    with pytest.raises(ConfigError, match=re.escape(sentence)):
        check_before_first_step(cfg, tmp_path / "pipeline")


@pytest.mark.parametrize(("overrides", "sentence"), OPTIM_REFUSED)
def test_an_optimizer_or_schedule_torch_refuses_is_refused_before_any_work(
    tmp_path: Path, overrides: list[str], sentence: str
) -> None:
    """Both were built only inside the fit: torch's traceback once the data was prepared (in a
    pipeline, after its prepare step). A train run and a pipeline now build them first."""
    refused_by_train_and_pipeline_first(tmp_path, overrides, sentence)


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine as one without a CUDA or MPS GPU, whatever it has."""
    from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator

    for accelerator in (CUDAAccelerator, MPSAccelerator):
        monkeypatch.setattr(accelerator, "is_available", staticmethod(lambda: False))


@pytest.mark.parametrize(
    ("overrides", "missing"),
    [
        (["trainer=gpu"], "'gpu', but this machine has no GPU"),
        (["trainer.accelerator=cuda"], "'cuda', but this machine has no CUDA GPU"),
        (["trainer=ddp", "trainer.accelerator=gpu"], "'gpu', but this machine has no GPU"),
    ],
)
def test_an_accelerator_this_machine_lacks_is_refused_before_any_work(
    tmp_path: Path, no_gpu: None, overrides: list[str], missing: str
) -> None:
    """Lightning refused it only when the fit built its trainer: after the data was prepared
    (in a pipeline, after its prepare step). A train run and a pipeline now ask first."""
    sentence = (
        f"trainer.accelerator is {missing} (Lightning finds cpu); choose trainer=cpu here, or "
        "train where one is (an Azure ML job on a GPU cluster)."
    )
    refused_by_train_and_pipeline_first(tmp_path, overrides, sentence)


def test_the_nccl_backend_without_a_cuda_gpu_is_refused_before_any_work(
    tmp_path: Path, no_gpu: None
) -> None:
    """torch stopped the fit with "Distributed package doesn't have NCCL built in" and its
    traceback as DDP started, after the data was prepared."""
    sentence = (
        "trainer.strategy.process_group_backend is 'nccl', which runs only on CUDA GPUs, but "
        "this machine has no CUDA GPU; set trainer.strategy.process_group_backend=gloo here, or "
        "train where one is (an Azure ML job on a GPU cluster)."
    )
    overrides = ["trainer=ddp", "trainer.devices=1", "trainer.strategy.process_group_backend=nccl"]
    refused_by_train_and_pipeline_first(tmp_path, overrides, sentence)


def test_several_nodes_no_launcher_started_are_refused_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fit prepared the data, then waited for the other machine forever, deaf to Ctrl-C."""
    from stockcast.training.runtime import NODE_LAUNCHER_VARIABLES

    for name in NODE_LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    sentence = (
        "trainer.num_nodes is 2, but nothing started the other machines' processes (none of "
        "NODE_RANK, RANK, WORLD_SIZE or SLURM_NODEID is set), so the fit would wait for them "
        "forever; set trainer.num_nodes=1 here, or run on a cluster (make submit-train "
        'ARGS="trainer=ddp azureml.job.instance_count=2").'
    )
    refused_by_train_and_pipeline_first(tmp_path, ["+trainer.num_nodes=2"], sentence)


def test_several_nodes_a_launcher_started_are_not_refused(make_cfg) -> None:
    """Azure ML sets NODE_RANK, RANK and WORLD_SIZE on every node it starts."""
    from stockcast.training.runtime import refuse_nodes_nothing_started

    trainer = make_cfg("trainer=ddp", "trainer.num_nodes=2").trainer
    refuse_nodes_nothing_started(trainer, {"NODE_RANK": "1", "RANK": "2", "WORLD_SIZE": "4"})


@pytest.mark.parametrize("accelerator", ["cpu", "auto"])
def test_devices_a_cpu_cannot_take_are_refused_before_any_work(
    tmp_path: Path, no_gpu: None, accelerator: str
) -> None:
    """`trainer.devices=[0,1]` (GPU indices) on the CPU, asked or chosen by `auto`: Lightning
    refused it only when the fit built its trainer, after the data was prepared."""
    sentence = (
        "the trainer settings cannot run here: `devices` selected with `CPUAccelerator` should "
        "be an int > 0; change the trainer setting it names, or choose trainer=cpu where this "
        "machine lacks the accelerator or devices asked for."
    )
    overrides = [f"trainer.accelerator={accelerator}", "trainer.devices=[0,1]"]
    refused_by_train_and_pipeline_first(tmp_path, overrides, sentence)


@pytest.mark.parametrize(
    "overrides",
    [
        ["optim.optimizer._target_=torch.optim.RMSprop", "~optim.optimizer.fused"],
        [
            "optim.scheduler._target_=torch.optim.lr_scheduler.StepLR",
            "~optim.scheduler.mode",
            "~optim.scheduler.factor",
            "~optim.scheduler.patience",
            "+optim.scheduler.step_size=2",
        ],
        ["optim.scheduler=null"],
    ],
)
def test_another_optimizer_or_schedule_with_its_own_arguments_is_built(
    make_cfg, overrides: list[str]
) -> None:
    from stockcast.config.optimizer_check import refuse_an_unbuildable_optimizer

    refuse_an_unbuildable_optimizer(make_cfg(*overrides))


def train_with_too_few_points(job: JobContext) -> Job:
    override, _ = BAD_INPUT[1]  # refused by the data, after the config was accepted
    return job.run(Command(("src/train.py", override, *isolated_overrides(job.tmp)), check=False))


@prestart(train_with_too_few_points)
def test_bad_input_exits_2_with_one_line_and_no_traceback(prestarted_job: Job) -> None:
    result, message = prestarted_job.result, BAD_INPUT[1][1]
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (prestarted_job.tmp / "mlruns.db").exists(), "refused before tracking or training"
