"""trainer=ddp on Azure ML: a PyTorch distribution whose counts the command's trainer keys repeat,
for the standalone job and the pipeline's train step; checked offline by the SDK."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.ai.ml import load_job

from stockcast.orchestration.azureml.distribution import training_distribution
from stockcast.orchestration.azureml.dry_run import write_entity
from stockcast.orchestration.azureml.jobs import build_training_job
from stockcast.orchestration.azureml.pipeline import build_pipeline_job
from stockcast.orchestration.azureml.settings import (
    AzureMLConfigError,
    compose_submit_config,
)

# Builds and checks Azure ML objects with the SDK offline: make test runs them, test-fast not.
pytestmark = pytest.mark.azureml

DDP_ON_FOUR = ("trainer=ddp", "azureml.job.instance_count=4")


def test_distributed_training_job_round_trips_through_its_yaml(tmp_path: Path) -> None:
    job = build_training_job(compose_submit_config(DDP_ON_FOUR))
    assert job.command.endswith("++trainer.num_nodes=4 ++trainer.devices=2"), job.command
    path = write_entity(job, tmp_path / "train_job.yaml")
    text = path.read_text()
    assert "type: pytorch" in text and "instance_count: 4" in text
    loaded = load_job(path)
    assert loaded.distribution.type == "pytorch"
    assert loaded.distribution.process_count_per_instance == 2, "trainer.devices of trainer=ddp"
    assert loaded.resources.instance_count == 4
    assert loaded.command == job.command
    loaded._to_rest_object()


def test_a_sweep_job_spans_the_cluster_as_a_training_job_does(tmp_path: Path) -> None:
    """The Azure ML launcher's jobs left azureml.job.* out: a DDP sweep ran each job on one
    process of one machine, and an instance count of 0 was accepted."""
    from stockcast.config.compose import compose_config
    from stockcast.orchestration.azureml import jobs

    def sweep_job(*overrides: str) -> object:
        chosen = ("experiment=mlp_w10", "+azureml=default", *overrides)
        cfg = compose_config("train", list(chosen), return_hydra_config=True)
        spec = jobs.SweepJobSpec(0, chosen, "sweep", Path("sweep"))
        return jobs.build_sweep_job(cfg, spec, jobs.SweepJobSettings(None, None, None))

    job = sweep_job(*DDP_ON_FOUR)
    loaded = load_job(write_entity(job, tmp_path / "sweep_job.yaml"))
    assert loaded.resources.instance_count == 4
    assert loaded.distribution.process_count_per_instance == 2
    assert loaded.command.endswith("++trainer.num_nodes=4 ++trainer.devices=2")
    with pytest.raises(AzureMLConfigError, match=r"instance_count=0 must be a whole number"):
        sweep_job("trainer=ddp", "azureml.job.instance_count=0")


def test_a_gpu_cluster_takes_its_gpus_per_machine(tmp_path: Path) -> None:
    job = build_training_job(
        compose_submit_config(
            [
                *DDP_ON_FOUR,
                "trainer.accelerator=gpu",
                "trainer.strategy.process_group_backend=nccl",
                "azureml.compute.job=gpu-cluster",
                "azureml.job.process_count_per_instance=8",
            ]
        )
    )
    loaded = load_job(write_entity(job, tmp_path / "train_job.yaml"))
    assert loaded.compute.removeprefix("azureml:") == "gpu-cluster"
    assert loaded.distribution.process_count_per_instance == 8
    assert "trainer.accelerator=gpu" in loaded.command
    assert loaded.command.endswith("++trainer.num_nodes=4 ++trainer.devices=8")


def test_single_process_training_has_no_distribution() -> None:
    sc = compose_submit_config([])
    assert training_distribution(sc) is None
    job = build_training_job(sc)
    assert job.distribution is None and "trainer.num_nodes" not in job.command


def test_several_processes_without_ddp_are_refused() -> None:
    sc = compose_submit_config(["azureml.job.instance_count=4"])
    with pytest.raises(
        AzureMLConfigError, match="start 4 processes, but the trainer trains in one"
    ):
        build_training_job(sc)
    with pytest.raises(AzureMLConfigError, match="must be a whole number of at least 1"):
        training_distribution(
            compose_submit_config(["trainer=ddp", "azureml.job.instance_count=0"])
        )


def test_the_pipelines_train_step_takes_the_same_settings(tmp_path: Path) -> None:
    job = build_pipeline_job(compose_submit_config(DDP_ON_FOUR))
    loaded = load_job(write_entity(job, tmp_path / "pipeline.yaml"))
    train = loaded.jobs["train"]
    assert train.distribution.process_count_per_instance == 2
    assert train.resources.instance_count == 4
    assert "++trainer.num_nodes=4 ++trainer.devices=2" in train.component.command
    others = [node for name, node in loaded.jobs.items() if name != "train"]
    assert others and all(node.distribution is None for node in others)
    assert all("trainer.num_nodes" not in node.component.command for node in others)
    loaded._to_rest_object()


def test_distributed_steps_must_name_pipeline_steps() -> None:
    sc = compose_submit_config(["trainer=ddp", "azureml.distributed_steps=[trian]"])
    with pytest.raises(AzureMLConfigError, match=r"names \['trian'\], which are not pipeline"):
        build_pipeline_job(sc)
