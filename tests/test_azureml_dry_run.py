"""DRY_RUN writes YAML that the SDK reads back unchanged, with no secret and no local path.

The verbs run in this process (`stockcast.orchestration.azureml.cli.main`); `scripts/submit.py`
itself runs once as a user types it.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.ai.ml import load_component, load_job, load_online_deployment, load_online_endpoint
from azure.ai.ml.entities._load_functions import load_schedule

from stockcast.orchestration.azureml import preflight
from stockcast.orchestration.azureml.cli import main
from stockcast.orchestration.steps.table import STEPS
from stockcast.paths import PROJECT_ROOT
from tests.conftest import Command, Job, JobContext, prestart

# Builds and checks Azure ML objects with the SDK offline: make test runs them, test-fast not.
pytestmark = pytest.mark.azureml

FAKE_SUBSCRIPTION = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
FAKE_CLIENT_SECRET = "not-a-real-secret-value"
# A workspace named in the environment, as a user would set it.
WORKSPACE_ENV = {
    "AZUREML_SUBSCRIPTION_ID": FAKE_SUBSCRIPTION,
    "AZUREML_RESOURCE_GROUP": "rg-forecast",
    "AZUREML_WORKSPACE_NAME": "ws-forecast",
}
CHECK_CLOUD_CONFIG = preflight.check_cloud_config
OVERRIDES = ("experiment=mlp_w30", "model.hidden_sizes=[64,64]", "azureml.compute.steps.train=gpu")


@pytest.fixture(scope="module")
def dry_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every verb's dry run, once, with a workspace and a credential in the environment."""
    out = tmp_path_factory.mktemp("dry_run")
    with pytest.MonkeyPatch.context() as env:
        for name, value in WORKSPACE_ENV.items():
            env.setenv(name, value)
        env.setenv("AZURE_CLIENT_SECRET", FAKE_CLIENT_SECRET)
        for verb in ("pipeline", "schedule", "train", "deploy"):
            # A dry run reads no registry: the deployment names a version by number.
            version = ["azureml.endpoint.model_version=3"] if verb == "deploy" else []
            main([verb, "--dry-run", *OVERRIDES, *version, f"azureml.dry_run_dir={out}"])
    return out


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.yaml"))


def test_every_file_is_written(dry_run_dir: Path) -> None:
    names = {p.relative_to(dry_run_dir).as_posix() for p in _yaml_files(dry_run_dir)}
    assert names == {
        "pipeline.yaml",
        "schedule.yaml",
        "schedule_pipeline.yaml",
        "train_job.yaml",
        "endpoint.yaml",
        "deployment.yaml",
        *(f"components/{step.name}.yaml" for step in STEPS),
    }


def _strings(node: object) -> list[str]:
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (str(key), *_strings(value))]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [str(node)]


def test_no_secret_subscription_or_absolute_path_in_yaml(dry_run_dir: Path) -> None:
    for path in _yaml_files(dry_run_dir):
        text = path.read_text()
        assert FAKE_SUBSCRIPTION not in text and FAKE_CLIENT_SECRET not in text, path
        assert "rg-forecast" not in text and "ws-forecast" not in text, path
        # Every value and every word of a command: nothing absolute (URIs like azureml:// aside).
        words = [w for s in _strings(yaml.safe_load(text)) for w in re.split(r"[\s=]+", s)]
        absolute = [w for w in words if w.startswith(("/", "~")) or re.match(r"^[A-Za-z]:\\", w)]
        assert not absolute, (path, absolute)


def test_pipeline_round_trips_with_its_essentials(dry_run_dir: Path) -> None:
    loaded = load_job(dry_run_dir / "pipeline.yaml")
    assert loaded._validate().passed
    loaded._to_rest_object()
    dumped = yaml.safe_load((dry_run_dir / "pipeline.yaml").read_text())
    assert loaded.settings.force_rerun is True
    assert loaded.settings.default_compute == "cpu-cluster"
    assert loaded.jobs["train"].compute == "gpu"
    for step in (step.name for step in STEPS):
        component = loaded.jobs[step].component
        assert component.command == dumped["jobs"][step]["component"]["command"]
        assert f"stockcast.orchestration.steps.{step}" in component.command
        assert (dry_run_dir / component.code).resolve() == PROJECT_ROOT
    outputs = loaded.jobs["train"].component.outputs
    assert {name: port.type for name, port in outputs.items()} == {
        "model": "mlflow_model",
        "train_output": "uri_folder",
    }


def test_components_round_trip(dry_run_dir: Path) -> None:
    pipeline = yaml.safe_load((dry_run_dir / "pipeline.yaml").read_text())
    for step in (step.name for step in STEPS):
        component = load_component(dry_run_dir / "components" / f"{step}.yaml")
        assert component._validate().passed
        component._to_rest_object()
        assert component.command == pipeline["jobs"][step]["component"]["command"]
        inline = pipeline["jobs"][step]["component"]
        assert set(component.inputs) == set(inline.get("inputs", {}))
        assert set(component.outputs) == set(inline.get("outputs", {}))
    train = load_component(dry_run_dir / "components" / "train.yaml")
    context = dry_run_dir / "components" / train.environment.build.path
    assert (context / "Dockerfile").is_file()


def test_schedule_references_its_own_pipeline_file_and_round_trips(dry_run_dir: Path) -> None:
    raw = yaml.safe_load((dry_run_dir / "schedule.yaml").read_text())
    assert raw["create_job"] == "./schedule_pipeline.yaml"
    schedule = load_schedule(dry_run_dir / "schedule.yaml")
    assert schedule._validate().passed
    schedule._to_rest_object()
    assert schedule.trigger.frequency == "day" and schedule.trigger.interval == 1
    assert schedule.trigger.schedule.hours == [6] and schedule.trigger.schedule.minutes == [0]
    assert schedule.trigger.time_zone == "UTC"
    assert schedule.create_job.settings.force_rerun is True
    assert schedule.create_job.jobs["prepare"].component.command.count("$(date -u +%Y-%m-%d)") == 1


def test_a_later_pipeline_dry_run_leaves_the_schedules_job_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The schedule's create_job was ./pipeline.yaml, which `make submit DRY_RUN=1` of another
    experiment rewrote: `az ml schedule create` then made a schedule named for one experiment
    that trained and registered another."""
    out = tmp_path / "dry_run"
    for name, value in WORKSPACE_ENV.items():
        monkeypatch.setenv(name, value)
    main(["schedule", "--dry-run", *OVERRIDES, f"azureml.dry_run_dir={out}"])
    main(["pipeline", "--dry-run", "experiment=auto", f"azureml.dry_run_dir={out}"])
    assert "experiment=auto" in (out / "pipeline.yaml").read_text()
    schedule = load_schedule(out / "schedule.yaml")
    command = schedule.create_job.jobs["train"].component.command
    assert "experiment=mlp_w30" in command and "experiment=auto" not in command


def test_training_job_round_trips(dry_run_dir: Path) -> None:
    job = load_job(dry_run_dir / "train_job.yaml")
    job._to_rest_object()
    assert job.command.startswith("python src/train.py experiment=mlp_w30")
    assert job.compute == "cpu-cluster"
    assert (
        dry_run_dir / job.environment.build.path
    ).resolve() == PROJECT_ROOT / "environments/train"


def test_endpoint_and_deployment_round_trip(dry_run_dir: Path) -> None:
    endpoint = load_online_endpoint(dry_run_dir / "endpoint.yaml")
    deployment = load_online_deployment(dry_run_dir / "deployment.yaml")
    assert endpoint.name == deployment.endpoint_name == "stockcast-forecast"
    assert deployment.model == "stock_predictor_mlp_w30:3"  # the experiment's name
    assert deployment.instance_type == "Standard_DS3_v2" and deployment.instance_count == 1
    endpoint._to_rest_online_endpoint("westeurope")
    deployment._to_rest_object("westeurope")


def test_dry_run_comes_from_the_environment_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DRY_RUN", "1")
    main(["schedule-disable"])
    assert "would disable schedule pipeline_stock_predictor-daily" in capsys.readouterr().out


def submit_a_pipeline_dry_run(job: JobContext) -> Job:
    command = ("scripts/submit.py", "pipeline", "--dry-run", f"azureml.dry_run_dir={job.tmp}")
    return job.run(Command(command))


@prestart(submit_a_pipeline_dry_run)
def test_the_submit_script_as_a_user_types_it(prestarted_job: Job) -> None:
    """`make submit DRY_RUN=1`: the script itself, in a fresh process (exit status 0)."""
    out = prestarted_job.tmp
    names = {p.relative_to(out).as_posix() for p in _yaml_files(out)}
    assert names == {"pipeline.yaml", *(f"components/{step.name}.yaml" for step in STEPS)}
    assert load_job(out / "pipeline.yaml")._validate().passed
    assert f"dry run: nothing was sent; to send it yourself: az ml job create -f {out}" in (
        prestarted_job.result.stdout
    )


def test_a_dry_run_writes_under_stockcast_root_where_it_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Like the logs and the store, the YAML moves with STOCKCAST_ROOT: a checkout another user
    or a read-only mount holds is not written into. Without it, under the project."""
    from stockcast.orchestration.azureml.settings import compose_submit_config

    monkeypatch.delenv("STOCKCAST_ROOT", raising=False)
    unset = Path(compose_submit_config([]).azure.dry_run_dir)
    assert unset == PROJECT_ROOT / "outputs" / "azureml"
    monkeypatch.setenv("STOCKCAST_ROOT", str(tmp_path))
    main(["train", "--dry-run"])
    assert (tmp_path / "outputs" / "azureml" / "train_job.yaml").is_file()
    assert f"wrote {tmp_path / 'outputs' / 'azureml' / 'train_job.yaml'}" in capsys.readouterr().out
    assert load_job(tmp_path / "outputs" / "azureml" / "train_job.yaml")._validate().passed


@pytest.mark.parametrize(
    ("verb", "files"),
    [
        ("train", ["train_job.yaml"]),
        ("pipeline", ["pipeline.yaml"]),
        ("schedule", ["schedule.yaml"]),
        ("deploy", ["endpoint.yaml", "deployment.yaml"]),
    ],
)
def test_the_dry_runs_command_keeps_a_folder_holding_a_space_one_word(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: str, files: list[str]
) -> None:
    """The command a dry run offers was printed unquoted: a root holding a space split each
    file the copied command names in two."""
    out = tmp_path / "r x"
    version = ["azureml.endpoint.model_version=3"] if verb == "deploy" else []
    main([verb, "--dry-run", *version, f"azureml.dry_run_dir={out}"])
    command = capsys.readouterr().out.split("to send it yourself: ", 1)[1]
    words = shlex.split(command)
    assert [words[i + 1] for i, word in enumerate(words) if word == "-f"] == [
        str(out / name) for name in files
    ]


def test_a_relative_stockcast_root_is_read_from_the_current_folder_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Logs and the store (SQLite's relative path) were under the current folder's `relroot/`,
    the dry run's YAML under the project's: one relative root now means one place."""
    from stockcast.orchestration.azureml.settings import compose_submit_config

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STOCKCAST_ROOT", "relroot")
    cfg = compose_submit_config([])
    assert cfg.cfg.paths.root_dir == str(tmp_path / "relroot")
    assert cfg.cfg.paths.log_dir == str(tmp_path / "relroot" / "logs")
    assert Path(cfg.azure.dry_run_dir) == tmp_path / "relroot" / "outputs" / "azureml"


def test_a_dry_run_folder_that_is_a_file_is_one_sentence_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file where the dry run's folder goes was FileExistsError's (NotADirectoryError's)
    traceback, after every object was built."""
    file = tmp_path / "out"
    file.write_text("not a folder")
    version = "azureml.endpoint.model_version=3"
    with pytest.raises(SystemExit) as stopped:
        main(["deploy", "--dry-run", version, f"azureml.dry_run_dir={file}/azureml"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip() == (
        f"error: cannot write the dry run's files to {file}/azureml ({file} is a file, not a "
        "folder); point azureml.dry_run_dir or STOCKCAST_ROOT at a folder that can be written."
    )


# The user's own settings (git-ignored configs/local/default.yaml) and workspace settings.
LOCAL_SETTINGS = "# @package _global_\ntrainer:\n  max_steps: 50\nregistry:\n  model_name: mine\n"
LOCAL_WORKSPACE = "experiment_name: my-experiment\n"
SETTINGS_LOG = "stockcast.orchestration.azureml.settings"


def _project(tmp_path: Path, local_settings: bool) -> Path:
    """A project of the repo's configs (src/, environments/ and .amlignore linked), with a
    configs/local/ holding the workspace settings and, where asked, the user's own settings."""
    root = tmp_path / "project"
    root.mkdir(parents=True)
    ignore_local = shutil.ignore_patterns("local")
    shutil.copytree(PROJECT_ROOT / "configs", root / "configs", ignore=ignore_local)
    for name in ("src", "environments", ".amlignore"):
        (root / name).symlink_to(PROJECT_ROOT / name)
    local = root / "configs" / "local"
    local.mkdir()
    (local / "azureml.yaml").write_text(LOCAL_WORKSPACE)
    if local_settings:
        (local / "default.yaml").write_text(LOCAL_SETTINGS)
    return root


def _said(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the submission itself logged (not the SDK's notes), as `LEVEL: message`."""
    return [f"{r.levelname}: {r.getMessage()}" for r in caplog.records if r.name == SETTINGS_LOG]


def _dry_runs(root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[Any]]:
    """The schedule's and the training job's dry runs in `root`: their submit config and every
    config the preflight checked."""
    from stockcast.orchestration.azureml import cli
    from stockcast.orchestration.azureml.settings import compose_submit_config

    checked: list[Any] = []

    def check(cfg: Any, *args: Any) -> None:
        checked.append(cfg)
        CHECK_CLOUD_CONFIG(cfg, *args)

    monkeypatch.setattr(preflight, "check_cloud_config", check)
    out = f"azureml.dry_run_dir={root / 'out'}"
    sc = compose_submit_config([out], config_dir=root / "configs")
    cli.submit_schedule(sc, dry_run=True)
    cli.submit_training_job(sc, dry_run=True)
    return sc, checked


def test_a_cloud_run_is_composed_and_checked_without_the_users_local_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """.amlignore leaves configs/local/ out of the code snapshot: the nodes ran without
    configs/local/default.yaml while the submission was composed, checked and its schedule
    named with it (`mine-daily`, max_steps 50)."""
    bare, bare_checked = _dry_runs(_project(tmp_path / "bare", False), monkeypatch)
    assert not _said(caplog), "without the file nothing is said"
    root = _project(tmp_path / "mine", True)
    sc, checked = _dry_runs(root, monkeypatch)
    default_steps = bare.cfg.trainer.max_steps
    assert default_steps != 50
    assert sc.cfg.trainer.max_steps == default_steps
    assert sc.cfg.registry.model_name == bare.cfg.registry.model_name != "mine"
    assert len(checked) == len(bare_checked) > 0
    assert {cfg.trainer.max_steps for cfg in checked} == {default_steps}
    assert {cfg.registry.model_name for cfg in checked} == {bare.cfg.registry.model_name}
    assert sc.azure.experiment_name == "my-experiment", "the workspace settings are still read"
    schedule = yaml.safe_load((root / "out" / "schedule.yaml").read_text())
    assert schedule["name"] == f"{bare.cfg.registry.model_name}-daily"
    for path in _yaml_files(root / "out"):
        text = path.read_text()
        assert "max_steps" not in text and "mine" not in text and "local" not in text
    assert _said(caplog) == [
        f"WARNING: {root / 'configs' / 'local' / 'default.yaml'}'s settings stay on this machine "
        "(.amlignore leaves it out of the code snapshot), so the cloud run is checked and run "
        "without them; give the ones it needs as overrides."
    ]


def test_a_sweeps_cloud_jobs_are_composed_without_the_users_local_settings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The Azure ML launcher composed and checked each job with configs/local/default.yaml,
    which its node lacks; the job's command line stays the sweep's overrides."""
    from hydra import initialize_config_dir
    from hydra._internal.callbacks import Callbacks
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import HydraContext, RunMode
    from hydra.utils import instantiate

    from stockcast.config.resolvers import register_resolvers
    from stockcast.orchestration.azureml import jobs

    register_resolvers()
    config_dir = _project(tmp_path, True) / "configs"
    sweep = ["hydra/launcher=azureml", "hydra.launcher.dry_run=true", "experiment=mlp_w10"]
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        cfg = loader.load_configuration("train", sweep, run_mode=RunMode.MULTIRUN)
        assert cfg.trainer.max_steps == 50, "the sweep's own config has the user's settings"
        launcher = instantiate(cfg.hydra.launcher)
        context = HydraContext(config_loader=loader, callbacks=Callbacks(cfg))
        launcher.setup(hydra_context=context, task_function=None, config=cfg)
        job_cfg = launcher._job_config(["experiment=mlp_w10", "optim.lr=0.003"], 0)
    assert job_cfg.trainer.max_steps != 50
    assert job_cfg.registry.model_name != "mine"
    assert job_cfg.azureml.experiment_name == "my-experiment"
    spec = jobs.SweepJobSpec(0, ("experiment=mlp_w10", "optim.lr=0.003"), "s", tmp_path / "s")
    job = jobs.build_sweep_job(job_cfg, spec, jobs.SweepJobSettings())
    assert "local" not in job.command
    said = _said(caplog)
    assert len(said) == 1 and said[0].startswith(f"WARNING: {config_dir / 'local'}"), said
