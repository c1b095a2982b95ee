"""Every Azure ML object builds from the composed config and passes the SDK's offline checks."""

from __future__ import annotations

import re

import pytest

from stockcast.orchestration.azureml.dry_run import entity_dict
from stockcast.orchestration.azureml.jobs import (
    build_deployment,
    build_endpoint,
    build_training_job,
)
from stockcast.orchestration.azureml.pipeline import build_pipeline_job, build_schedule
from stockcast.orchestration.azureml.settings import (
    ASSET_READ_BY_PREPARE,
    AzureMLConfigError,
    SubmitConfig,
    compose_submit_config,
    data_binding,
)
from stockcast.orchestration.steps.table import STEPS
from stockcast.paths import PROJECT_ROOT

# Builds and checks Azure ML objects with the SDK offline: make test runs them, test-fast not.
pytestmark = pytest.mark.azureml

LOCATION = "westeurope"
USER_OVERRIDES = ("experiment=mlp_w30", "model.hidden_sizes=[64,64]")


@pytest.fixture(scope="module")
def sc() -> SubmitConfig:
    return compose_submit_config([*USER_OVERRIDES, "azureml.compute.steps.train=gpu-cluster"])


@pytest.fixture(scope="module")
def pipeline_job(sc: SubmitConfig):
    return build_pipeline_job(sc)


def test_pipeline_validates_and_converts_to_rest(pipeline_job) -> None:
    assert pipeline_job._validate().passed
    pipeline_job._to_rest_object()
    assert list(pipeline_job.jobs) == [step.name for step in STEPS]
    for node in pipeline_job.jobs.values():
        assert node.component._validate().passed
        node.component._to_rest_object()


def test_pipeline_wiring_compute_and_rerun(pipeline_job) -> None:
    jobs = pipeline_job.jobs
    assert pipeline_job.settings.default_compute == "cpu-cluster"
    assert pipeline_job.settings.force_rerun is True
    assert jobs["train"].compute == "gpu-cluster"
    # The refit trains with the train step's trainer (trainer=gpu) in its image: on a CPU
    # cluster it failed every day, after the GPU training was paid for.
    assert jobs["refit"].compute == "gpu-cluster"
    assert jobs["prepare"].compute is None, "steps without their own cluster use the default"
    wiring = {
        step: {name: port.get("path") for name, port in node.get("inputs", {}).items()}
        for step, node in entity_dict(pipeline_job)["jobs"].items()
    }
    assert wiring["train"] == {"prepared": "${{parent.jobs.prepare.outputs.prepared}}"}
    assert wiring["evaluate"]["model"] == "${{parent.jobs.train.outputs.model}}"
    assert wiring["register"]["report"] == "${{parent.jobs.evaluate.outputs.report}}"
    # The model's name also names the schedule and the ledger folder, fixed at submission: an
    # input a run could change reached evaluate, register and monitor but not prepare or train.
    assert "model_name" not in entity_dict(pipeline_job).get("inputs", {})
    assert all("model_name" not in node.component.inputs for node in jobs.values())
    assert jobs["prepare"].component.is_deterministic is False, "prepare reads new data daily"
    types = {
        step: {name: port.type for name, port in node.component.outputs.items()}
        for step, node in jobs.items()
    }
    assert types["train"] == {"model": "mlflow_model", "train_output": "uri_folder"}
    assert types["prepare"] == {"prepared": "uri_folder"}


def test_the_pipelines_model_output_is_the_candidate_it_registers(pipeline_job) -> None:
    """`az ml job download --output-name model` fetches what register was handed: the refit's
    candidate, not the evaluated model it replaces."""
    entity = entity_dict(pipeline_job)
    assert entity["outputs"] == {
        "model": {"type": "mlflow_model"},
        "report": {"type": "uri_folder"},
    }
    assert entity["jobs"]["refit"]["outputs"] == {"candidate": "${{parent.outputs.model}}"}
    assert entity["jobs"]["evaluate"]["outputs"] == {"report": "${{parent.outputs.report}}"}
    assert not entity["jobs"]["train"].get("outputs"), "the evaluated model is no pipeline output"
    register = entity["jobs"]["register"]["inputs"]["candidate"]["path"]
    assert register == "${{parent.jobs.refit.outputs.candidate}}"


def test_commands_are_the_step_entry_points_with_the_users_overrides(pipeline_job) -> None:
    for step, node in pipeline_job.jobs.items():
        command = node.component.command
        assert command.startswith(f"PYTHONPATH=src python -m stockcast.orchestration.steps.{step} ")
        assert "experiment=mlp_w30 'model.hidden_sizes=[64,64]'" in command, "shell-quoted"
        assert "registry=azureml" in command
        assert f"hydra.run.dir=outputs/{step}" in command
        assert "azureml." not in command.replace("registry=azureml", ""), "executor keys stay out"
    prepare = pipeline_job.jobs["prepare"].component.command
    assert "data.as_of=$(date -u +%Y-%m-%d)" in prepare
    assert prepare.endswith("prepare.output_dir=${{outputs.prepared}}")
    assert "train.model_dir=${{outputs.model}}" in pipeline_job.jobs["train"].component.command


def test_asset_source_feeds_a_csv_input_to_prepare() -> None:
    sc = compose_submit_config(["azureml.data.source=asset"])
    job = build_pipeline_job(sc)
    assert entity_dict(job)["inputs"]["raw_data"]["path"] == "azureml:stock_prices@latest"
    prepare = job.jobs["prepare"]
    assert prepare.component.inputs["raw_data"].type == "uri_file"
    assert "data=csv data.path=${{inputs.raw_data}}" in prepare.component.command
    assert "data.path=${{inputs.raw_data}} data.as_of=$(date -u +%Y-%m-%d)" in (
        prepare.component.command
    ), "a file's rows after the run's date are ignored"
    job._to_rest_object()


@pytest.mark.parametrize(
    "path",
    [
        "azureml://datastores/workspaceblobstore/paths/monthly.csv",
        # A partition's = and a SAS URL's ?& would split an override or a command line.
        "azureml://datastores/workspaceblobstore/paths/year=2024/monthly.csv",
        "https://account.blob.core.windows.net/c/monthly.csv?sv=2020&sig=abc",
    ],
)
def test_an_asset_read_with_the_users_csv_columns_reaches_every_step(path: str) -> None:
    """`data=csv data.value_column=Sales` (the README's monthly CSV) makes every step compose csv
    data, which needs a path: prepare reads the mounted asset, the other steps (which read only
    prepared folders) a stand-in. Before, they had none and each failed on its node."""
    import re
    import shlex

    from stockcast.config.compose import compose_config
    from stockcast.orchestration.azureml.components import substitute_placeholders
    from stockcast.orchestration.azureml.preflight import check_cloud_config

    overrides = ["experiment=auto", "data=csv", "data.value_column=Sales"]
    sc = compose_submit_config(
        [*overrides, "azureml.data.source=asset", f"azureml.data.asset.path='{path}'"]
    )
    job = build_pipeline_job(sc)
    for step in STEPS:
        command = job.jobs[step.name].component.command
        reads = step.reads_outside_world
        paths = re.findall(r"data\.path=(\S+)", command)
        assert paths == (["${{inputs.raw_data}}"] if reads else [ASSET_READ_BY_PREPARE]), step.name
        # The command as its node's shell reads it, placeholders filled.
        tokens = shlex.split(substitute_placeholders(command))
        cfg = compose_config("pipeline", tokens[tokens.index("experiment=auto") :])
        check_cloud_config(cfg)  # as the step checks it on its node
        assert cfg.data.value_column == "Sales"
    job._to_rest_object()


def test_an_asset_feeds_every_step_the_data_settings_prepare_used() -> None:
    """experiment=mlp_seasonal's own data config (seasonal) sets a season that csv's does not:
    prepare composed data=csv, the other steps seasonal, and the train step, which refuses data
    settings its prepared folder was not made with, failed on its node every day."""
    import shlex

    from stockcast.config.compose import compose_config, plain
    from stockcast.data.prepared import SHAPING_KEYS
    from stockcast.orchestration.azureml.components import substitute_placeholders

    path = "azureml://datastores/workspaceblobstore/paths/prices.csv"
    sc = compose_submit_config(
        ["experiment=mlp_seasonal", "azureml.data.source=asset", f"azureml.data.asset.path={path}"]
    )
    job = build_pipeline_job(sc)
    shaping = {}
    for step in STEPS:
        tokens = shlex.split(substitute_placeholders(job.jobs[step.name].component.command))
        data = plain(
            compose_config("pipeline", tokens[tokens.index("experiment=mlp_seasonal") :]).data
        )
        shaping[step.name] = {key: data.get(key) for key in SHAPING_KEYS}
    assert all(found == shaping["prepare"] for found in shaping.values()), shaping


def test_schedule_is_daily_in_the_configured_time_zone(sc: SubmitConfig, pipeline_job) -> None:
    schedule = build_schedule(sc.azure.schedule, pipeline_job)
    assert schedule._validate().passed
    rest = schedule._to_rest_object()
    assert rest.properties.trigger.frequency.lower() == "day"
    assert schedule.trigger.schedule.hours == [6] and schedule.trigger.schedule.minutes == [0]
    assert schedule.trigger.time_zone == "UTC"
    assert schedule.create_job is pipeline_job


@pytest.mark.parametrize(
    ("given", "written"),
    [
        ("2025-01-01", "2025-01-01T00:00:00"),
        ("20250101", "2025-01-01T00:00:00"),
        ("2025-01-01T06:30:00", "2025-01-01T06:30:00"),
        ("'2025-01-01 06:30'", "2025-01-01T06:30:00"),
    ],
)
def test_a_schedule_starts_at_a_date_and_time_the_sdk_takes(given: str, written: str) -> None:
    """A date alone passed Python's reading and failed the SDK's with a page of traceback."""
    sc = compose_submit_config([f"azureml.schedule.start_time={given}"])
    schedule = build_schedule(sc.azure.schedule, build_pipeline_job(sc))
    assert schedule.trigger.start_time == written
    assert schedule._validate().passed
    schedule._to_rest_object()


@pytest.mark.parametrize("given", ["'2025-01-01T06:00:00+01:00'", "2025-01-01T06:00:00Z"])
def test_a_schedule_start_with_an_offset_is_refused(given: str) -> None:
    """The schedule built with it kept the offset, and its YAML, as `az ml schedule create`
    reads it, dropped it: the schedule started an hour off in its time zone."""
    sc = compose_submit_config([f"azureml.schedule.start_time={given}"])
    with pytest.raises(AzureMLConfigError, match=r"has a UTC offset, which the schedule's YAML"):
        build_schedule(sc.azure.schedule, build_pipeline_job(sc))


def test_cron_schedule_replaces_the_recurrence() -> None:
    sc = compose_submit_config(
        [
            "azureml.schedule.cron='30 5 * * 1-5'",
            "azureml.schedule.time_zone=W_EUROPE_STANDARD_TIME",
        ]
    )
    schedule = build_schedule(sc.azure.schedule, build_pipeline_job(sc))
    assert schedule.trigger.expression == "30 5 * * 1-5"
    assert schedule.trigger.time_zone == "W. Europe Standard Time"
    schedule._to_rest_object()


def test_training_job_builds_its_environment_from_the_docker_context(sc: SubmitConfig) -> None:
    job = build_training_job(sc)
    assert job._validate().passed
    job._to_rest_object()
    assert job.environment.build.path == str(PROJECT_ROOT / "environments" / "train")
    assert job.command.startswith("python src/train.py experiment=mlp_w30 ")
    assert job.compute == "cpu-cluster"


def test_endpoint_and_deployment_serve_a_registered_mlflow_model(sc: SubmitConfig) -> None:
    settings = sc.azure.endpoint
    assert settings.model_version == "champion"  # resolved to its number before building
    endpoint = build_endpoint(settings, with_traffic=True)
    deployment = build_deployment(settings, sc.cfg.registry.model_name, "2")
    assert endpoint.traffic == {"blue": 100}
    assert deployment.model == "azureml:stock_predictor_mlp_w30:2"  # the experiment's name
    assert deployment.environment is None and deployment.code_configuration is None, "no-code"
    endpoint._to_rest_online_endpoint(LOCATION)
    deployment._to_rest_object(LOCATION)


def test_registry_azureml_keeps_the_local_keys_and_reads_the_injected_uri(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "azureml://example/tracking")
    cfg = compose_submit_config(["registry=azureml"]).cfg
    local = compose_submit_config([]).cfg
    assert set(cfg.registry) == set(local.registry)
    assert cfg.registry.tracking_uri == "azureml://example/tracking"
    assert cfg.registry.registry_uri == cfg.registry.tracking_uri
    assert cfg.registry.model_name == local.registry.model_name


def test_data_binding_passes_the_run_date_as_as_of() -> None:
    binding = data_binding(compose_submit_config([]))
    assert binding.overrides == ("data.as_of=$(date -u +%Y-%m-%d)",)
    assert binding.input_path is None


def test_a_data_as_of_given_is_kept_by_one_run_and_refused_by_a_schedule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The run's date came after the user's overrides on the command line, so Hydra kept it:
    a backfill to 2024-06-28 ran on the day's data, and the dry run showed the asked date. The
    date given is forwarded as this machine reads it: the node has not its environment."""
    from stockcast.orchestration.azureml.settings import check_schedulable

    binding = data_binding(compose_submit_config(["data.as_of=2024-06-28"]))
    assert binding.overrides == ("data.as_of=2024-06-28",) and binding.as_of_pinned
    with pytest.raises(
        AzureMLConfigError,
        match=r"^data.as_of is given \(on the command line or by the experiment\), but",
    ):
        check_schedulable(binding)
    monkeypatch.setenv("BACKFILL_DAY", "2024-07-01")
    binding = data_binding(compose_submit_config(["data.as_of=${oc.env:BACKFILL_DAY}"]))
    assert binding.overrides == ("data.as_of=2024-07-01",) and binding.as_of_pinned
    # Every step composes the user's override, so every step gets the date (train, monitor).
    elsewhere = binding.for_step(reads_outside_world=False)
    assert elsewhere is not None and elsewhere.overrides == ("data.as_of=2024-07-01",)


def test_an_asset_source_refuses_a_data_path_it_would_not_read() -> None:
    """The user's data.path was replaced by the asset's without a word."""
    from stockcast.orchestration.azureml.settings import AzureMLConfigError

    sc = compose_submit_config(
        ["data=csv", "data.path=data/my_prices.csv", "azureml.data.source=asset"]
    )
    with pytest.raises(AzureMLConfigError) as refused:
        data_binding(sc)
    assert str(refused.value) == (
        "azureml.data.source=asset reads azureml.data.asset.path, not data.path="
        "data/my_prices.csv; name the file there (a datastore path or azureml:<asset>@latest)."
    )


def test_the_monitor_mounts_the_ledger_folder_of_the_datastore(pipeline_job, tmp_path) -> None:
    from azure.ai.ml import load_job

    from stockcast.orchestration.azureml.dry_run import write_entity

    monitor = pipeline_job.jobs["monitor"]
    assert list(pipeline_job.jobs)[-1] == "monitor"
    assert "monitor.ledger_dir=${{outputs.ledger}}" in monitor.component.command
    assert monitor.component.outputs["ledger"].mode == "rw_mount"
    loaded = load_job(write_entity(pipeline_job, tmp_path / "pipeline.yaml"))
    assert loaded._validate().passed
    loaded._to_rest_object()
    ledger = entity_dict(loaded)["jobs"]["monitor"]["outputs"]["ledger"]
    assert ledger == {
        "mode": "rw_mount",
        "type": "uri_folder",
        "path": "azureml://datastores/workspaceblobstore/paths/stockcast/ledger/stock_predictor_mlp_w30/",
    }, "each registered model name has its own ledger folder, as it has its own schedule"
    assert "ledger" not in entity_dict(loaded)["jobs"]["register"].get("outputs", {})
    auto = build_pipeline_job(compose_submit_config(["experiment=auto"]))
    path = entity_dict(auto)["jobs"]["monitor"]["outputs"]["ledger"]["path"]
    assert path.endswith("/stockcast/ledger/stock_predictor_auto/")


def test_a_datastore_folder_must_name_a_step_and_a_datastore() -> None:
    from stockcast.orchestration.azureml.datastore import datastore_folders
    from stockcast.orchestration.azureml.settings import AzureMLConfigError

    sc = compose_submit_config(["azureml.datastore_folders.ledger.key=monitr.ledger_dir"])
    with pytest.raises(AzureMLConfigError, match="names no step"):
        datastore_folders(sc.azure)
    sc = compose_submit_config(["azureml.datastore_folders.ledger.path=/tmp/ledger"])
    with pytest.raises(AzureMLConfigError, match="is not a datastore folder"):
        datastore_folders(sc.azure)


def test_the_code_snapshot_uploads_every_package_and_config_and_no_keys_or_tests() -> None:
    """`.amlignore`'s `data/` matched at any depth: src/stockcast/data and configs/data were
    left out of every job's snapshot, and each cloud step failed importing stockcast.data."""
    import subprocess

    from tests.code_snapshot import uploaded_files

    uploaded = uploaded_files()
    tracked = subprocess.run(
        ["git", "ls-files", "src", "configs", "environments", "scripts", "setup.cfg"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert tracked and [path for path in tracked if path not in uploaded] == []
    left_out = ("tests/", "keys/", "logs/", ".venv/", ".git/")
    assert [path for path in uploaded if path.startswith(left_out)] == []


def test_the_code_snapshot_leaves_out_stores_logs_and_keys_at_any_depth(tmp_path) -> None:
    """A STOCKCAST_ROOT inside the checkout (one per experiment) holds a store, logs and a
    private signing key: the snapshot leaves them out as it does at the root, and keeps the
    code's own data folders."""
    import shutil

    from tests.code_snapshot import uploaded_files

    shutil.copyfile(PROJECT_ROOT / ".amlignore", tmp_path / ".amlignore")
    kept = ["src/stockcast/data/reader.py", "configs/data/csv.yaml"]
    left_out = [
        "data/prices.csv",
        "tests/test_x.py",
        "keys/model-signing.key",
        "exp1/keys/model-signing.key",
        "exp1/mlruns.db",
        "exp1/ledger.db",
        "exp1/logs/run/metrics.json",
        "exp1/mlartifacts/1/model.bin",
    ]
    for name in kept + left_out:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert sorted(set(uploaded_files(tmp_path)) - {".amlignore"}) == sorted(kept)


def test_a_variable_only_the_node_sets_passes_the_cloud_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every interpolation is resolved when a config is checked, and the cloud check on the
    laptop refused `${oc.env:AZUREML_RUN_ID}`, which the node sets and the laptop never has:
    a run that would work was refused before it was submitted."""
    from stockcast.config.compose import compose_config
    from stockcast.config.schema import validate_config
    from stockcast.errors import ConfigError
    from stockcast.orchestration.azureml.preflight import check_cloud_config

    monkeypatch.delenv("AZUREML_RUN_ID", raising=False)
    tag = "+logger.mlflow.tags.node_run=${oc.env:AZUREML_RUN_ID}"
    cloud = ["registry=azureml", "logger=mlflow", tag]
    check_cloud_config(compose_config("pipeline", cloud))
    # Anything else unresolvable is still refused there, and an unset variable here.
    with pytest.raises(ConfigError, match=r"^logger.mlflow.tags.other cannot be resolved"):
        check_cloud_config(
            compose_config("pipeline", [*cloud, "+logger.mlflow.tags.other=${nope}"])
        )
    with pytest.raises(ConfigError, match=r"^logger.mlflow.tags.node_run cannot be resolved"):
        validate_config(compose_config("pipeline", ["logger=mlflow", tag]))


OWN_KIND = "tests.model_kinds.drift"


def own_kind_project(root, path: str, package: str, configs: str):
    """A project at `root` holding the test-only drift kind as `<package>.drift` in folder
    `path` and its config in `<configs>/model/drift.yaml`, with the project's `.amlignore`."""
    import shutil

    kind = f"{package}.drift"
    module = root / path / package / "drift.py"
    module.parent.mkdir(parents=True)
    (module.parent / "__init__.py").write_text("")
    text = (PROJECT_ROOT / "tests" / "model_kinds" / "drift.py").read_text()
    module.write_text(text.replace(OWN_KIND, kind))
    config = root / configs / "model" / "drift.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(
        (PROJECT_ROOT / "tests/configs/model/drift.yaml").read_text().replace(OWN_KIND, kind)
    )
    shutil.copyfile(PROJECT_ROOT / ".amlignore", root / ".amlignore")
    return root / configs


def test_configs_or_a_kind_the_code_snapshot_lacks_are_refused() -> None:
    """README's own kind (tests/, which .amlignore leaves out) composed on the laptop, and the
    dry run wrote a pipeline whose every step named this machine's tests/configs and imported
    a module the node never gets: each run failed after being paid for."""
    folder = PROJECT_ROOT / "tests" / "configs"
    sc = compose_submit_config(["model=drift", f"hydra.searchpath=[file://{folder}]"])
    refusal = re.escape(f"hydra.searchpath names {folder}, which the code snapshot")
    with pytest.raises(AzureMLConfigError, match=refusal):
        build_pipeline_job(sc)
    with pytest.raises(AzureMLConfigError, match=refusal):
        build_training_job(sc)


def test_a_kind_in_the_snapshot_runs_from_its_place_there(tmp_path, monkeypatch) -> None:
    """A searchpath folder inside the project is named by its path in the snapshot, where the
    node starts (it named this machine's absolute path); a kind outside src/ is refused."""
    from stockcast.orchestration.azureml.components import build_command, step_entry
    from stockcast.orchestration.azureml.snapshot import check_snapshot_holds

    configs = own_kind_project(tmp_path, "src", "snapshot_kinds", "kind_configs")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    given = compose_submit_config(["model=drift", f"hydra.searchpath=[file://{configs}]"])
    sc = SubmitConfig(cfg=given.cfg, step_overrides=given.step_overrides, root=tmp_path)
    check_snapshot_holds(sc)
    command = build_command(
        step_entry("stockcast.orchestration.steps.train"), sc, "train", None, {}
    )
    assert "file://kind_configs" in command and str(tmp_path) not in command

    configs = own_kind_project(tmp_path, ".", "elsewhere_kinds", "elsewhere_configs")
    monkeypatch.syspath_prepend(str(tmp_path))
    given = compose_submit_config(["model=drift", f"hydra.searchpath=[file://{configs}]"])
    sc = SubmitConfig(cfg=given.cfg, step_overrides=given.step_overrides, root=tmp_path)
    with pytest.raises(AzureMLConfigError, match=r"model\.kind=elsewhere_kinds\.drift is imported"):
        check_snapshot_holds(sc)


def test_a_sweep_job_searches_the_folders_the_sweep_searched() -> None:
    """A job's overrides hold no Hydra setting, so each Azure ML sweep job's command lost the
    sweep's `hydra.searchpath` and could not find a config of one's own (`model=<own kind>`)."""
    from pathlib import Path

    from stockcast.config.compose import compose_config
    from stockcast.orchestration.azureml import jobs

    folder = PROJECT_ROOT / "configs"
    chosen = ["+azureml=default", f"hydra.searchpath=[file://{folder}]"]
    cfg = compose_config("train", chosen, return_hydra_config=True)
    spec = jobs.SweepJobSpec(0, ("optim.lr=0.001",), "sweep", Path("sweep"))
    job = jobs.build_sweep_job(cfg, spec, jobs.SweepJobSettings(None, None, None))
    assert "hydra.searchpath=['\"'\"'file://configs'\"'\"']" in job.command
    assert str(PROJECT_ROOT) not in job.command
