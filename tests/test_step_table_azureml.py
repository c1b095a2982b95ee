"""Adding a step is one table row and one module: the Azure ML builder takes the real table plus a
dummy `publish` step and gives it a component, a command and its wiring by port name alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from azure.ai.ml import load_job

from stockcast.errors import ConfigError
from stockcast.evaluation.reports import REPORT_FILE
from stockcast.orchestration.azureml.components import substitute_placeholders
from stockcast.orchestration.azureml.dry_run import entity_dict, write_entity
from stockcast.orchestration.azureml.pipeline import build_pipeline_job
from stockcast.orchestration.azureml.settings import (
    AzureMLConfigError,
    SubmitConfig,
    compose_submit_config,
)
from stockcast.orchestration.steps.table import STEPS, URI_FOLDER, Port, Step
from stockcast.paths import PROJECT_ROOT
from tests.dummy_step import PUBLISH_STEP, PUBLISHED_FILE

# Builds and checks Azure ML objects with the SDK offline: make test runs them, test-fast not.
pytestmark = pytest.mark.azureml

STEPS_WITH_PUBLISH = (*STEPS, PUBLISH_STEP)
# configs/azureml/ configures the real steps only; the dummy borrows evaluate's environment.
PUBLISH_ENVIRONMENT = (
    "+azureml.environments.steps.publish.conda_file=environments/evaluate/conda.yaml"
)
EVALUATE_REPORT = "${{parent.jobs.evaluate.outputs.report}}"


@pytest.fixture(scope="module")
def sc() -> SubmitConfig:
    return compose_submit_config([PUBLISH_ENVIRONMENT, "+azureml.compute.steps.publish=small"])


@pytest.fixture(scope="module")
def pipeline_job(sc: SubmitConfig):
    return build_pipeline_job(sc, steps=STEPS_WITH_PUBLISH)


def test_one_component_per_row(pipeline_job) -> None:
    assert list(pipeline_job.jobs) == [step.name for step in STEPS_WITH_PUBLISH]
    component = pipeline_job.jobs["publish"].component
    assert component.name == "stockcast_publish"
    assert component.description == PUBLISH_STEP.description
    assert component.is_deterministic is True, "only steps reading the outside world rerun"
    assert {name: port.type for name, port in component.inputs.items()} == {"report": URI_FOLDER}
    assert {name: port.type for name, port in component.outputs.items()} == {
        "published": URI_FOLDER
    }
    assert pipeline_job.jobs["publish"].compute == "small"


def test_the_dummy_command_runs_its_module_with_its_port_bindings(pipeline_job) -> None:
    command = pipeline_job.jobs["publish"].component.command
    assert command.startswith(f"PYTHONPATH=src python -m {PUBLISH_STEP.module} ")
    assert "publish.report_dir=${{inputs.report}}" in command
    assert "publish.output_dir=${{outputs.published}}" in command
    assert "registry=azureml hydra.run.dir=outputs/publish" in command
    assert "data.as_of" not in command, "only the step reading the outside world gets the data"


def test_the_dummy_reads_the_report_evaluate_writes(pipeline_job) -> None:
    jobs = entity_dict(pipeline_job)["jobs"]
    assert jobs["publish"]["inputs"] == {"report": {"path": EVALUATE_REPORT}}
    assert jobs["register"]["inputs"]["report"] == {"path": EVALUATE_REPORT}, "unchanged"
    assert jobs["train"]["inputs"] == {
        "prepared": {"path": "${{parent.jobs.prepare.outputs.prepared}}"}
    }


def test_the_pipeline_validates_dumps_and_loads_back(pipeline_job, tmp_path: Path) -> None:
    assert pipeline_job._validate().passed
    pipeline_job._to_rest_object()
    path = write_entity(pipeline_job, tmp_path / "pipeline.yaml")
    loaded = load_job(path)
    assert loaded._validate().passed
    loaded._to_rest_object()
    assert list(loaded.jobs) == [step.name for step in STEPS_WITH_PUBLISH]
    publish = loaded.jobs["publish"]
    assert publish.component.command == pipeline_job.jobs["publish"].component.command
    assert entity_dict(loaded)["jobs"]["publish"]["inputs"]["report"]["path"] == EVALUATE_REPORT


def test_the_dummy_cloud_command_runs(pipeline_job, tmp_path: Path) -> None:
    """The exact command, bindings filled with local folders, run by bash from a snapshot."""
    for name in ("src", "tests"):
        (tmp_path / name).symlink_to(PROJECT_ROOT / name)
    report_dir = tmp_path / "ports" / "report"
    report_dir.mkdir(parents=True)
    gate = {"passed": True, "reason": "test MASE 0.9 is below the gate's max_mase 10"}
    (report_dir / REPORT_FILE).write_text(json.dumps({"gate": gate}))
    folders = {"report": str(report_dir), "published": str(tmp_path / "ports" / "published")}
    command = substitute_placeholders(pipeline_job.jobs["publish"].component.command, folders)
    env = os.environ | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlruns.db",
    }
    result = subprocess.run(
        ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    published = json.loads((Path(folders["published"]) / PUBLISHED_FILE).read_text())
    assert published == {"gate": gate}


def test_a_step_without_an_environment_folder_or_entry_is_refused() -> None:
    with pytest.raises(AzureMLConfigError) as caught:
        build_pipeline_job(compose_submit_config(), steps=STEPS_WITH_PUBLISH)
    assert str(caught.value) == (
        "the publish step has no environment: add environments/publish/conda.yaml (or a "
        "Dockerfile there), or name one in azureml.environments.steps.publish."
    )


def test_each_step_takes_the_environment_of_its_own_folder() -> None:
    jobs = build_pipeline_job(compose_submit_config()).jobs
    assert jobs["prepare"].component.environment.conda_file is not None
    assert Path(jobs["train"].component.environment.build.path).name == "train"
    # refit has no folder of its own: its config entry names the train image.
    assert Path(jobs["refit"].component.environment.build.path).name == "train"


def test_a_misspelt_key_in_an_existing_section_is_still_refused(sc: SubmitConfig) -> None:
    typo = Step(
        "publish",
        PUBLISH_STEP.entry,
        PUBLISH_STEP.description,
        inputs=(Port("report", URI_FOLDER, "register.reprot_dir"),),
    )
    with pytest.raises(ConfigError, match="cannot compose the cloud run's overrides"):
        build_pipeline_job(sc, steps=(*STEPS, typo))
