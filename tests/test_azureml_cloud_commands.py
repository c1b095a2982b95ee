"""The cloud command lines really run: each component's command, with local folders for its
`${{...}}` bindings, executed by bash from a copy of the code snapshot; together they register
a model. This is what catches a broken command before anyone pays for a cloud run.

The commands start with the test session, in the background (`prestart`); the tests check what
they wrote and imported.
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import shlex
import shutil
import sys
from importlib import metadata
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from stockcast.evaluation.reports import REPORT_FILE
from stockcast.orchestration.azureml.components import (
    step_environment_spec,
    substitute_placeholders,
)
from stockcast.orchestration.azureml.jobs import build_training_job
from stockcast.orchestration.azureml.pipeline import build_pipeline_job
from stockcast.orchestration.azureml.settings import SubmitConfig, compose_submit_config
from stockcast.orchestration.steps.table import STEPS
from stockcast.paths import PROJECT_ROOT
from stockcast.registry.ledger import LEDGER_FILE
from tests.code_snapshot import uploaded_files
from tests.conftest import CLI_ENV, Command, Job, JobContext, prestart

pytestmark = [
    pytest.mark.slow,
    pytest.mark.azureml,
    pytest.mark.skipif(
        not all(importlib.util.find_spec(step.module) for step in STEPS),
        reason="not every step entry point exists yet",
    ),
]

# What Azure ML uploads and runs from: the code, not tests, logs or stores (see .amlignore).
SNAPSHOT_DIRS = ("src", "configs")
TINY_RUN = (
    "data.length=300",
    "trainer.max_epochs=2",
    "data.steps_per_batch=2",
    "data.batch_size=32",
)
# A two-epoch model must still pass the gate, so the test sees a registration.
LENIENT_GATE = (
    "gate.max_mase=1000",
    "gate.max_mase_vs_naive=null",
    "gate.require_beat_champion=false",
)


def code_snapshot(tmp: Path) -> Path:
    """The code a cloud step runs from: what the SDK would upload of the project's code
    folders (a copy of the folders themselves had hidden that `.amlignore` left a package out)."""
    snapshot = tmp / "snapshot"
    for relative, source in uploaded_files().items():
        if Path(relative).parts[0] in SNAPSHOT_DIRS:
            (snapshot / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, snapshot / relative)
    return snapshot


def cloud_env(tracking_uri: str, env: dict[str, str]) -> dict[str, str]:
    """A command's environment as Azure ML sets it up: the tracking URI it injects, this
    environment's python first on PATH; a new interpreter's stderr lists every module the run
    imported (PYTHONPROFILEIMPORTTIME)."""
    return env | {
        "PYTHONPROFILEIMPORTTIME": "1",
        "MLFLOW_TRACKING_URI": tracking_uri,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        **CLI_ENV,
    }


def in_snapshot(command: str, snapshot: Path, tracking_uri: str, env: dict[str, str]) -> Command:
    """bash -c from the code snapshot, as Azure ML runs a command."""
    return Command(
        ("bash", "-c", command), cwd=snapshot, env=cloud_env(tracking_uri, env), python=False
    )


def step_conda_file(sc: SubmitConfig, step: str) -> Path:
    """The conda file a step's environment installs, directly or through its Docker context."""
    spec = step_environment_spec(sc.azure.environments, step, PROJECT_ROOT)
    if spec.get("conda_file"):
        return PROJECT_ROOT / spec.conda_file
    return PROJECT_ROOT / spec.build_context / "conda.yaml"


def the_pipeline_component_commands(job: JobContext) -> Job:
    tmp_path = job.tmp
    snapshot = code_snapshot(tmp_path)
    tracking_uri = f"sqlite:///{tmp_path}/mlruns.db"
    overrides = [*TINY_RUN, *LENIENT_GATE, f"paths.log_dir={tmp_path}/logs"]
    sc = compose_submit_config(overrides)
    pipeline = build_pipeline_job(sc)
    folders = {
        port.name: str(tmp_path / "ports" / port.name) for step in STEPS for port in step.ports
    }
    folders["model_name"] = sc.cfg.registry.model_name
    # The monitor's ledger: a datastore folder mounted read-write in the cloud.
    folders["ledger"] = str(tmp_path / "ports" / "ledger")
    commands = [
        in_snapshot(
            substitute_placeholders(pipeline.jobs[step.name].component.command, folders),
            snapshot,
            tracking_uri,
            job.env,
        )
        for step in STEPS
    ]
    return job.run(*commands, snapshot=snapshot, sc=sc, folders=folders, tracking_uri=tracking_uri)


@prestart(the_pipeline_component_commands)
def test_the_pipeline_component_commands_register_a_model(prestarted_job: Job) -> None:
    snapshot, sc, folders = (prestarted_job.info[k] for k in ("snapshot", "sc", "folders"))
    for step, result in zip((step.name for step in STEPS), prestarted_job.results, strict=True):
        assert (snapshot / "outputs" / step).is_dir(), "Hydra's run dir lands under ./outputs"
        conda_file = step_conda_file(sc, step)
        missing = imported_requirements(result.stderr) - declared_closure(conda_file)
        assert not missing, f"{step} imports {sorted(missing)}, which {conda_file.name} lacks"

    assert (Path(folders["model"]) / "MLmodel").is_file()
    tracking_uri = prestarted_job.info["tracking_uri"]
    versions = MlflowClient(tracking_uri).search_model_versions(f"name='{folders['model_name']}'")
    assert len(versions) == 1
    monitor = json.loads((Path(folders["monitor"]) / REPORT_FILE).read_text())
    assert monitor["champion"] == 1 and monitor["stored"] == 1, monitor["message"]
    assert monitor["ledger"] == LEDGER_FILE, "named within monitor.ledger_dir, not by its path"


def forked_in_snapshot(
    command: str, snapshot: Path, tracking_uri: str, env: dict[str, str]
) -> Command:
    """`in_snapshot` for a plain `python ...` line, as a fork of the prewarmed interpreter: the
    words bash would pass, without seconds of imports (the pipeline's commands, whose imports
    are judged, run in new interpreters)."""
    words = shlex.split(command)
    assert words[0] == "python" and not set("|&;<>$`") & set(command), command
    return Command(tuple(words[1:]), cwd=snapshot, env=cloud_env(tracking_uri, env))


def the_standalone_training_job_command(job: JobContext) -> Job:
    snapshot = code_snapshot(job.tmp)
    sc = compose_submit_config([*TINY_RUN, f"paths.log_dir={job.tmp}/logs"])
    command = substitute_placeholders(build_training_job(sc).command)
    return job.run(
        forked_in_snapshot(command, snapshot, f"sqlite:///{job.tmp}/mlruns.db", job.env),
        snapshot=snapshot,
    )


@prestart(the_standalone_training_job_command)
def test_the_standalone_training_job_command_runs(prestarted_job: Job) -> None:
    snapshot = prestarted_job.info["snapshot"]
    assert (snapshot / "outputs" / "train" / "model" / "MLmodel").is_file()


def project_requirements() -> set[str]:
    """The distributions the project itself depends on (setup.cfg install_requires)."""
    parser = configparser.ConfigParser()
    parser.read(PROJECT_ROOT / "setup.cfg")
    lines = parser["options"]["install_requires"].strip().splitlines()
    return {canonicalize_name(Requirement(line).name) for line in lines}


def imported_requirements(stderr: str) -> set[str]:
    """Which of the project's own dependencies a run imported (PYTHONPROFILEIMPORTTIME lines).

    Only dependencies the project names are judged: optional imports of other packages (rich,
    attrs, ...) come and go with what is installed. Namespace packages (azure.*) that several
    distributions share are skipped, as their owner is ambiguous.
    """
    modules = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    owners = packages_distributions()
    found = {canonicalize_name(owners[m][0]) for m in modules if len(owners.get(m, ())) == 1}
    return found & project_requirements()


def declared_closure(conda_file: Path) -> set[str]:
    """The pip packages a step's conda file declares, with everything they depend on."""
    pip_section = next(
        d["pip"]
        for d in yaml.safe_load(conda_file.read_text())["dependencies"]
        if isinstance(d, dict)
    )
    todo = [Requirement(line).name for line in pip_section]
    seen: set[str] = set()
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen
