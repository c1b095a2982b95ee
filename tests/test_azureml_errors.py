"""Bad settings are refused on the laptop, in one sentence, before anything is sent."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from stockcast.errors import ConfigError
from stockcast.orchestration.azureml import workspace
from stockcast.orchestration.azureml.cli import main
from stockcast.orchestration.azureml.settings import (
    AzureMLConfigError,
    compose_submit_config,
    data_binding,
)
from stockcast.orchestration.azureml.workspace import resolve_workspace
from stockcast.paths import CONFIG_DIR

# Builds and checks Azure ML objects with the SDK offline: make test runs them, test-fast not.
pytestmark = pytest.mark.azureml

WORKSPACE_ENV = (
    "AZUREML_SUBSCRIPTION_ID",
    "AZURE_SUBSCRIPTION_ID",
    "AZUREML_RESOURCE_GROUP",
    "AZURE_RESOURCE_GROUP",
    "AZUREML_WORKSPACE_NAME",
    "AZURE_ML_WORKSPACE",
    "DRY_RUN",
)


@pytest.fixture
def no_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in WORKSPACE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(workspace, "find_config_json", lambda start: None)


def _error_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def _one_sentence(message: str) -> None:
    assert message.endswith(".") and ". " not in message.rstrip(".").replace("e.g. ", "")


@pytest.mark.parametrize("verb", ["pipeline", "schedule", "train", "deploy", "schedule-status"])
def test_missing_workspace_says_what_and_how_to_dry_run(
    verb: str, no_workspace: None, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _error_of([verb], capsys)
    for needed in ("subscription", "resource group", "workspace name", "DRY_RUN=1"):
        assert needed in err
    _one_sentence(err)
    # A schedule verb's dry run writes no YAML; it says what the command would do.
    does = "see what it would do" if verb.startswith("schedule-") else "only write the YAML"
    assert err.endswith(f" to {does}.")


def test_missing_part_of_the_workspace_is_named(
    no_workspace: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AZUREML_SUBSCRIPTION_ID", "sub")
    monkeypatch.setenv("AZUREML_WORKSPACE_NAME", "ws")
    err = _error_of(["pipeline"], capsys)
    assert "missing resource group" in err and "subscription" not in err


def test_config_json_fills_the_workspace(no_workspace: None, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"subscription_id": "s", "resource_group": "r", "workspace_name": "w"})
    )
    sc = compose_submit_config([f"azureml.workspace.config_file={config}"])
    assert resolve_workspace(sc.azure.workspace, tmp_path) == workspace.WorkspaceRef("s", "r", "w")


@pytest.mark.parametrize("content", ['{"subscription_id": "s",\n}', '["s", "r", "w"]', "\xff"])
def test_a_damaged_config_json_is_one_sentence(
    content: str, no_workspace: None, tmp_path: Path
) -> None:
    """It was a JSONDecodeError or AttributeError traceback on every command."""
    config = tmp_path / "config.json"
    config.write_bytes(content.encode("latin-1"))
    sc = compose_submit_config([f"azureml.workspace.config_file={config}"])
    with pytest.raises(workspace.AzureMLConfigError) as refused:
        resolve_workspace(sc.azure.workspace, tmp_path)
    message = str(refused.value)
    assert message.startswith(f"{config} is not the workspace's config.json (")
    assert message.endswith("set the azureml.workspace keys (or dry-run with DRY_RUN=1).")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["azureml.compute.steps.trian=gpu"], "Unknown compute key 'trian'"),
        (["+azureml.compute.steps.score=gpu"], "Unknown compute key 'score'"),
        (["azureml.schedule.hour=25"], "hour=25 must be an integer between 0 and 23"),
        (["azureml.schedule.minute=-1"], "minute=-1 must be an integer between 0 and 59"),
        (["azureml.schedule.interval=0"], "interval=0 must be an integer at least 1"),
        (["azureml.schedule.time_zone=Mars/Olympus"], "Unknown time zone 'Mars/Olympus'"),
        (["azureml.schedule.cron='0 6 * *'"], "has 4 fields"),
        (["azureml.schedule.cron=''"], "azureml.schedule.cron is empty; give five fields"),
        (["azureml.schedule.cron='61 6 * * *'"], "invalid minute field '61'"),
        (["azureml.schedule.cron='0 25 * * *'"], "invalid hour field '25'"),
        (["azureml.schedule.cron='0 6 * * 1-9'"], "invalid day of week field '1-9'"),
        (["azureml.schedule.cron='0 6 */0 * *'"], "invalid day of month field '*/0'"),
        (["azureml.schedule.start_time=tomorrow"], "is not an ISO 8601 time"),
        (["azureml.data.source=asset"], "is resolved once, when the schedule is created"),
        (
            ["azureml.data.source=asset", "azureml.data.asset.path=azureml:stock_prices:3"],
            "is resolved once, when the schedule is created",
        ),
        (
            [
                "azureml.data.source=asset",
                "azureml.data.asset.path=azureml://registries/r/data/prices/versions/3",
            ],
            "is resolved once, when the schedule is created",
        ),
        (
            ["azureml.data.source=asset", "azureml.data.asset.path=/tmp/prices.csv"],
            "is resolved once, when the schedule is created",
        ),
        (["azureml.data.source=weekly"], "is not one of synthetic, asset"),
        (["azureml.force_rerun=maybe"], "azureml.force_rerun='maybe' must be true or false"),
        (["experiment=does_not_exist"], "experiment=does_not_exist is not one of the experiment"),
        (["model.no_such_key=1"], "cannot compose the config"),
        # A key the azureml group lacks, added with +, which Hydra would accept.
        (
            ["+azureml.schedule.hours=5"],
            "azureml.schedule.hours is not a setting of the azureml config; did you mean "
            "azureml.schedule.hour?",
        ),
        (
            ["+azureml.environments.steps.train.conda_fle=environments/train/conda.yaml"],
            "did you mean azureml.environments.steps.train.conda_file?",
        ),
        (
            ["+azureml.environments.job.conda_fil=x"],
            "did you mean azureml.environments.job.conda_file?",
        ),
        (
            ["+azureml.datastore_folders.ledger.pth=x"],
            "did you mean azureml.datastore_folders.ledger.path?",
        ),
        (
            ["+azureml.datastore_folders.extra.key=monitor.ledger_dir"],
            "azureml.datastore_folders.extra has no path; give both key",
        ),
        # A step's own environment given without its '+': "remove it" was the advice.
        (
            ["azureml.environments.steps.train.conda_file=environments/train/conda.yaml"],
            "cannot compose the config: azureml.environments.steps.train is no entry of "
            "azureml.environments.steps yet (it holds refit); add one with a '+': "
            "+azureml.environments.steps.train.conda_file=environments/train/conda.yaml.",
        ),
        # A near name is a typo of an entry it holds, not a new one.
        (
            ["azureml.environments.steps.refti.conda_file=x"],
            "did you mean azureml.environments.steps.refit?",
        ),
    ],
)
def test_bad_schedule_inputs_are_refused(
    overrides: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _error_of(["schedule", "--dry-run", *overrides], capsys)
    assert expected in err


@pytest.mark.parametrize("verb", ["pipeline", "schedule", "train"])
@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("optim.lr=-1", "error: optim.lr is -1; it must be a number above 0."),
        ("+model.hiden_sizes=[1]", "did you mean model.hidden_sizes?"),
    ],
)
def test_a_cloud_run_refuses_what_a_local_run_refuses(
    verb: str, override: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole config, as the step's node will check it, not only its data section."""
    assert expected in _error_of([verb, "--dry-run", "experiment=mlp_w10", override], capsys)


def test_a_sweep_job_refuses_an_azure_key_its_group_lacks() -> None:
    from stockcast.config.compose import compose_config
    from stockcast.orchestration.azureml import jobs

    cfg = compose_config(
        "train",
        ["experiment=mlp_w10", "+azureml=default", "+azureml.job.instance_counts=2"],
        return_hydra_config=True,
    )
    spec = jobs.SweepJobSpec(0, ("experiment=mlp_w10",), "sweep", Path("sweep"))
    settings = jobs.SweepJobSettings(None, None, None)
    with pytest.raises(ConfigError, match=r"did you mean azureml\.job\.instance_count\?"):
        jobs.build_sweep_job(cfg, spec, settings)


def test_a_sweep_job_refuses_a_file_of_this_machine_and_binds_the_run_date() -> None:
    """A local CSV went into the cloud command as written (never uploaded: data/ is left out of
    the snapshot), so every job failed on its node after being paid for; a market's job read
    the node's own date, now the run's as make submit-train's does."""
    from stockcast.config.compose import compose_config
    from stockcast.orchestration.azureml import jobs

    def job(*overrides: str) -> object:
        cfg = compose_config(
            "train",
            ["experiment=mlp_w10", "+azureml=default", *overrides],
            return_hydra_config=True,
        )
        spec = jobs.SweepJobSpec(0, ("experiment=mlp_w10", *overrides), "sweep", Path("sweep"))
        return jobs.build_sweep_job(cfg, spec, jobs.SweepJobSettings(None, None, None))

    with pytest.raises(ConfigError, match=r"^the Azure ML launcher's jobs read a synthetic market"):
        job("data=csv", "data.path=/home/me/prices.csv")
    assert "data.as_of=$(date -u +%Y-%m-%d)" in job().command


@pytest.mark.parametrize("verb", ["schedule-status", "schedule-delete"])
def test_a_schedule_the_workspace_lacks_is_named_with_how_to_create_it(
    verb: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not blamed on the workspace: the schedule's name follows registry.model_name."""
    from unittest import mock

    from azure.core.exceptions import ResourceNotFoundError

    from stockcast.orchestration.azureml import cli

    def absent(name: str) -> None:
        raise ResourceNotFoundError(f"(UserError) Schedule {name} not found.")

    def no_workspace(name: str) -> None:
        raise ResourceNotFoundError("(ResourceNotFound) The Resource '.../workspaces/typo-ws'")

    client = mock.Mock(schedules=mock.Mock(get=absent))
    monkeypatch.setattr(cli, "_client", lambda sc, *_: client)
    err = _error_of([verb], capsys)
    assert err == (
        "error: the workspace has no schedule pipeline_stock_predictor-daily (its name comes "
        "from registry.model_name); create it with make submit-schedule, or pass the "
        'experiment it was made for, e.g. ARGS="experiment=auto".'
    )
    client.schedules.begin_delete.assert_not_called()
    # Azure's 404 for a workspace that does not exist stays the workspace's.
    client.schedules.get = no_workspace
    assert "Azure has no such workspace or resource" in _error_of([verb], capsys)


def test_deploying_an_alias_without_a_workspace_offers_a_dry_run_that_runs(
    no_workspace: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dry run reads no registry, so deploying the champion alias cannot be dry-run: the
    refusal offers the dry run of a version number instead."""
    err = _error_of(["deploy"], capsys)
    assert err.startswith("error: No Azure ML workspace configured")
    assert err.endswith(
        'or run with DRY_RUN=1 ARGS="azureml.endpoint.model_version=2" to only write the YAML.'
    )
    numbered = _error_of(["deploy", "azureml.endpoint.model_version=3"], capsys)
    assert numbered.endswith("or run with DRY_RUN=1 to only write the YAML.")


def test_the_tracking_uri_refusal_offers_no_dry_run(
    no_workspace: None, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _error_of(["tracking-uri"], capsys)
    assert err.startswith("error: No Azure ML workspace configured") and "DRY_RUN" not in err


def test_the_cloud_runs_are_checked_with_the_nodes_tracking_uri_not_the_laptops(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An empty MLFLOW_TRACKING_URI here (a failed `make -s tracking-uri`) is not what a step
    reads on its node; the laptop's value is put back after."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")
    main(["pipeline", "--dry-run", f"azureml.dry_run_dir={tmp_path}"])
    assert (tmp_path / "pipeline.yaml").is_file()
    assert os.environ["MLFLOW_TRACKING_URI"] == ""


def test_docker_context_without_dockerfile_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "conda.yaml").write_text("name: x\n")
    # A step's environment is its folder's unless azureml.environments.steps names one (`+`).
    for verb, key in (
        ("train", "azureml.environments.job"),
        ("pipeline", "+azureml.environments.steps.train"),
    ):
        override = f"{key}.build_context={tmp_path}"
        err = _error_of([verb, "--dry-run", override], capsys)
        assert "has no Dockerfile" in err


def test_asset_source_refuses_a_non_csv_data_config(capsys: pytest.CaptureFixture[str]) -> None:
    err = _error_of(["pipeline", "--dry-run", "azureml.data.source=asset", "data=gbm"], capsys)
    assert "use data=csv" in err


def test_synthetic_source_needs_a_market_data_config(capsys: pytest.CaptureFixture[str]) -> None:
    err = _error_of(["pipeline", "--dry-run", "data=csv", "data.path=prices.csv"], capsys)
    assert "data=csv is not a market" in err


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("azureml.endpoint.name=1-bad", "must be 3-32 letters"),
        ("azureml.endpoint.deployment=blue-", "must be 3-32 letters"),
        ("azureml.endpoint.model_version='two words'", "must be a version number from 1, 'la"),
        ("azureml.endpoint.model_version=0", "must be a version number from 1, 'latest' or"),
        ("azureml.endpoint.model_version=null", "model_version=None must be a version number"),
        ("azureml.endpoint.model_version=Latest", "registry reserves, which no alias can have; "),
        ("azureml.endpoint.model_version=v2", "did you mean the version number 2?"),
        ("azureml.endpoint.registry_connection.timeout_s=null", "timeout_s=None must be a"),
        ("azureml.endpoint.registry_connection.timeout_s=0.5", "a whole number of seconds"),
        ("azureml.endpoint.registry_connection.max_retries=-1", "max_retries=-1 must be a"),
        ("azureml.endpoint.instance_count=0", "instance_count=0 must be a whole number of at"),
        ("azureml.endpoint.instance_type=''", "instance_type is empty"),
        ("azureml.endpoint.instance_count=two", "instance_count='two' must be a whole number"),
        ("azureml.endpoint.auth_mode=password", "Value 'password' passed is not in set"),
    ],
)
def test_bad_endpoint_settings_are_refused(
    override: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert expected in _error_of(["deploy", "--dry-run", override], capsys)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["schedule", "azureml.schedule=5"], "azureml.schedule=5 replaces the section that holds"),
        (["pipeline", "azureml.compute=gpu"], "azureml.compute=gpu replaces the section"),
        (["deploy", "azureml.endpoint=5"], "azureml.endpoint=5 replaces the section"),
        (["pipeline", "azureml.environments.steps.refit=x"], "holds build_context and conda_file"),
        (["pipeline", "azureml.compute.default=123"], "\"azureml.compute.default='123'\""),
        (["pipeline", "azureml.environments.image=123"], "environments.image=123 must be text"),
        (["pipeline", "azureml.code=123"], "azureml.code=123 must be text"),
        (["pipeline", "azureml.environments.image=null"], "azureml.environments.image is empty"),
        (["pipeline", "azureml.environments.image=''"], "azureml.environments.image is empty"),
        (["train", "azureml.compute.job=[a,b]"], "compute.job takes one value, not a list"),
        (["pipeline", "azureml.compute.steps.train=[a]"], "takes one value, not a list"),
    ],
)
def test_an_azure_setting_of_the_wrong_shape_or_type_is_one_sentence(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A section replaced by a value, a list for a name, a number for a name: each went on to
    an AttributeError, a TypeError or the SDK's marshmallow traceback (or a list written into
    the YAML as its Python text, `compute: "['a', 'b']"`)."""
    assert expected in _error_of([argv[0], "--dry-run", *argv[1:]], capsys)


def test_errors_are_the_projects_user_error_type() -> None:
    with pytest.raises(ConfigError):
        compose_submit_config(["experiment=does_not_exist"])
    with pytest.raises(AzureMLConfigError):
        data_binding(compose_submit_config(["azureml.data.source=weekly"]))
    assert issubclass(AzureMLConfigError, ConfigError)


def test_the_sdks_http_logging_is_silenced_under_hydras_info_logging() -> None:
    import logging

    from stockcast.orchestration.azureml.settings import SDK_HTTP_LOGGER, quiet_sdk_warnings

    http, root = logging.getLogger(SDK_HTTP_LOGGER), logging.getLogger()
    saved = http.level, root.level
    try:
        root.setLevel(logging.INFO)  # what Hydra's job logging sets
        quiet_sdk_warnings()
        assert not http.isEnabledFor(logging.INFO)
        assert http.isEnabledFor(logging.WARNING)
    finally:
        http.setLevel(saved[0])
        root.setLevel(saved[1])


def test_the_submit_default_of_as_of_is_the_data_configs_own() -> None:
    """A submit tells a date the user gave from the default by the config's text: the data
    config's default must be the text it compares with, or every submit pins a date and every
    schedule is refused."""
    import yaml

    from stockcast.orchestration.azureml.settings import TODAY_DEFAULT
    from stockcast.paths import PROJECT_ROOT

    common = yaml.safe_load((PROJECT_ROOT / "configs" / "data" / "_common.yaml").read_text())
    assert common["as_of"] == TODAY_DEFAULT


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["pipeline", "--cfg", "job"], "--cfg"),
        (["train", "--dry-run", "--info"], "--info"),
        (["pipeline", "-m", "experiment=mlp_w30"], "-m"),
    ],
)
def test_hydras_flags_are_refused_with_the_command_that_shows_the_config(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse read `pipeline --cfg job` as the verb `job` ("invalid choice: 'job'" beside the
    verb given) and swallowed what followed `-m` as "unrecognized arguments", exit 2 with its
    usage."""
    err = _error_of(argv, capsys)
    assert err == (
        f"error: submit.py takes Hydra overrides, not Hydra's flag {flag}; drop it, and to see "
        "the config a cloud step composes run its command here: PYTHONPATH=src python -m "
        "stockcast.orchestration.steps.train --cfg job <the same overrides but azureml.*>."
    )


@pytest.mark.parametrize("override", ["local=short", "~local", "+local=short"])
def test_a_cloud_run_refuses_what_configs_local_would_give_it(
    override: str, tmp_path: Path
) -> None:
    """`local=short` (`~local`) composed here, where configs/local/ is, and was put on the
    command line of every node, which lacks the folder and refused it after the run was paid."""
    config_dir = shutil.copytree(
        CONFIG_DIR, tmp_path / "configs", ignore=shutil.ignore_patterns("local")
    )
    (config_dir / "local").mkdir()
    for name in ("default", "short"):
        (config_dir / "local" / f"{name}.yaml").write_text("# @package _global_\nseed: 5\n")
    with pytest.raises(AzureMLConfigError) as refused:
        compose_submit_config([override], config_dir=config_dir)
    assert str(refused.value) == (
        f"{override} names configs/local/, which stays on this machine (.amlignore leaves it "
        "out of the code snapshot) and a cloud run cannot read; drop it and give the settings "
        "the run needs as overrides."
    )


def test_a_cloud_sweep_refuses_what_configs_local_would_give_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import azureml_launcher_refusal

    last = azureml_launcher_refusal(
        tmp_path, capsys, task_overrides=["optim.lr=1e-3,3e-3", "local=short"]
    )
    assert last.startswith("error: local=short names configs/local/, which stays on this machine")
