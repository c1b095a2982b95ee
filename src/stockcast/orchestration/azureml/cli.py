"""The verbs behind `scripts/submit.py` / `make submit*`: build, validate, then dry-run or send."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from azure.core.exceptions import ResourceNotFoundError

from stockcast.azure_failures import describe_azure_failure
from stockcast.config.overrides import typed_word
from stockcast.config.task import user_errors_exit
from stockcast.files import file_in_the_way, folder_not_made
from stockcast.orchestration.azureml.components import check_compute_overrides
from stockcast.orchestration.azureml.deployed_version import (
    EXAMPLE_VERSION,
    dry_run_version,
    is_alias,
    registered_version,
)
from stockcast.orchestration.azureml.dry_run import (
    DEPLOYMENT_FILE,
    ENDPOINT_FILE,
    PIPELINE_FILE,
    SCHEDULE_PIPELINE_FILE,
    TRAINING_JOB_FILE,
    write_components,
    write_entity,
    write_schedule,
)
from stockcast.orchestration.azureml.jobs import (
    build_deployment,
    build_endpoint,
    build_training_job,
    check_deployment_settings,
)
from stockcast.orchestration.azureml.pipeline import (
    build_pipeline_job,
    build_schedule,
    build_trigger,
)
from stockcast.orchestration.azureml.settings import (
    DRY_RUN_ENV,
    AzureMLConfigError,
    SubmitConfig,
    check_schedulable,
    compose_submit_config,
    data_binding,
    dry_run_from_env,
    missing_sdk,
    quiet_sdk_warnings,
)
from stockcast.orchestration.azureml.workspace import (
    DRY_RUN,
    AzureUnavailable,
    ml_client,
    mlflow_tracking_uri,
    resolve_workspace,
)


def _client(sc: SubmitConfig, dry_run_does: str = "only write the YAML"):
    """The workspace's client; without a workspace, a refusal that offers the command's dry
    run, which does `dry_run_does`."""
    return ml_client(resolve_workspace(sc.azure.workspace, sc.root, DRY_RUN, dry_run_does))


def _dry_run_dir(sc: SubmitConfig) -> Path:
    """The folder a dry run writes into, made; one sentence where it cannot be (a file in its
    place was the operating system's traceback)."""
    folder = sc.root / sc.azure.dry_run_dir
    reason = folder_not_made(folder)
    if reason is not None:
        blocking = file_in_the_way(folder)
        why = f"{blocking} is a file, not a folder" if blocking is not None else reason.lower()
        raise AzureMLConfigError(
            f"cannot write the dry run's files to {folder} ({why}); point azureml.dry_run_dir "
            "or STOCKCAST_ROOT at a folder that can be written."
        )
    return folder


def _shown(path: Path, sc: SubmitConfig) -> str:
    """A path as the user would type it from the project root."""
    return str(path.relative_to(sc.root)) if path.is_relative_to(sc.root) else str(path)


def _typed(path: Path, sc: SubmitConfig) -> str:
    """A path as one word of a command the user copies (a root holding a space split it)."""
    return typed_word(_shown(path, sc))


def _report(paths: Sequence[Path], sc: SubmitConfig, how: str) -> None:
    for path in paths:
        print(f"wrote {_shown(path, sc)}")
    print(f"dry run: nothing was sent; to send it yourself: {how}")


def submit_pipeline(sc: SubmitConfig, dry_run: bool) -> None:
    job = build_pipeline_job(sc)
    if dry_run:
        out = _dry_run_dir(sc)
        components = {step: node.component for step, node in job.jobs.items()}
        paths = [write_entity(job, out / PIPELINE_FILE), *write_components(components, out)]
        _report(paths, sc, f"az ml job create -f {_typed(paths[0], sc)}")
        return
    created = _client(sc).jobs.create_or_update(job, experiment_name=sc.azure.experiment_name)
    print(f"submitted pipeline {created.name}: {created.studio_url}")


def submit_schedule(sc: SubmitConfig, dry_run: bool) -> None:
    data = data_binding(sc)
    check_schedulable(data)
    # The trigger's settings refused before the pipeline's components are built and validated.
    build_trigger(sc.azure.schedule)
    job = build_pipeline_job(sc, data)
    schedule = build_schedule(sc.azure.schedule, job)
    if dry_run:
        out = _dry_run_dir(sc)
        paths = [write_entity(job, out / SCHEDULE_PIPELINE_FILE), write_schedule(schedule, out)]
        _report(paths, sc, f"az ml schedule create -f {_typed(paths[1], sc)}")
        return
    created = _client(sc).schedules.begin_create_or_update(schedule).result()
    print(f"schedule {created.name} created or updated; enabled: {created.is_enabled}")


def submit_training_job(sc: SubmitConfig, dry_run: bool) -> None:
    job = build_training_job(sc)
    if dry_run:
        out = _dry_run_dir(sc)
        path = write_entity(job, out / TRAINING_JOB_FILE)
        _report([path], sc, f"az ml job create -f {_typed(path, sc)}")
        return
    created = _client(sc).jobs.create_or_update(job)
    print(f"submitted training job {created.name}: {created.studio_url}")


def deploy(sc: SubmitConfig, dry_run: bool) -> None:
    """Endpoint first (without traffic), then the deployment of the version the setting names
    (an alias read from the workspace's registry), then all traffic to it."""
    settings = sc.azure.endpoint
    model_name = sc.cfg.registry.model_name
    endpoint = build_endpoint(settings)
    # Every setting refused before any workspace or registry is read.
    wanted = check_deployment_settings(settings)
    with_traffic = build_endpoint(settings, with_traffic=True)
    if dry_run:
        deployment = build_deployment(settings, model_name, dry_run_version(wanted))
        out = _dry_run_dir(sc)
        paths = [write_entity(endpoint, out / ENDPOINT_FILE)]
        paths.append(write_entity(deployment, out / DEPLOYMENT_FILE))
        how = (
            f"az ml online-endpoint create -f {_typed(paths[0], sc)} && az ml online-deployment "
            f"create -f {_typed(paths[1], sc)} --all-traffic"
        )
        _report(paths, sc, how)
        return
    # A dry run of an alias is refused (it reads no registry): offer one that runs.
    dry = f"{DRY_RUN} {EXAMPLE_VERSION}" if is_alias(wanted) else DRY_RUN
    workspace = resolve_workspace(sc.azure.workspace, sc.root, dry)
    client = ml_client(workspace)
    if is_alias(wanted):
        tracking_uri = mlflow_tracking_uri(client, workspace)
        version = registered_version(wanted, model_name, tracking_uri, settings.registry_connection)
        print(f"azureml.endpoint.model_version={wanted}: version {version} of {model_name}")
    else:
        version = wanted
    deployment = build_deployment(settings, model_name, version)
    try:
        client.online_endpoints.get(settings.name)
    except ResourceNotFoundError:
        client.online_endpoints.begin_create_or_update(endpoint).result()
    client.online_deployments.begin_create_or_update(deployment).result()
    client.online_endpoints.begin_create_or_update(with_traffic).result()
    scoring_uri = client.online_endpoints.get(settings.name).scoring_uri
    print(f"deployed {deployment.model} to {settings.name}/{settings.deployment}: {scoring_uri}")


def _schedule_verb(action: str) -> Callable[[SubmitConfig, bool], None]:
    """status / enable / disable / delete of the configured schedule."""

    def run(sc: SubmitConfig, dry_run: bool) -> None:
        name = sc.azure.schedule.name
        if dry_run:
            print(f"dry run: would {action} schedule {name}")
            return
        # Their dry run writes no YAML: it says what the command would do.
        schedules = _client(sc, "see what it would do").schedules
        try:
            schedules.get(name)
        except ResourceNotFoundError as err:
            # Azure answers 404 for a workspace that does not exist too: that one stays the
            # workspace's failure (describe_azure_failure).
            if "schedule" not in str(err).lower():
                raise
            raise AzureMLConfigError(
                f"the workspace has no schedule {name} (its name comes from "
                "registry.model_name); create it with make submit-schedule, or pass the "
                'experiment it was made for, e.g. ARGS="experiment=auto".'
            ) from None
        if action == "show the status of":
            schedule = schedules.get(name)
            print(
                f"schedule {schedule.name}: enabled={schedule.is_enabled}, "
                f"state={schedule.provisioning_state}, trigger={schedule.trigger._to_dict()}"
            )
            return
        operation = {
            "enable": schedules.begin_enable,
            "disable": schedules.begin_disable,
            "delete": schedules.begin_delete,
        }[action]
        operation(name).result()
        print(f"schedule {name}: {action}d")

    return run


def print_tracking_uri(sc: SubmitConfig, dry_run: bool) -> None:
    """For `export MLFLOW_TRACKING_URI=$(...)` before `scripts/predict.py registry=azureml`."""
    workspace = resolve_workspace(sc.azure.workspace, sc.root, dry_run=None)
    print(mlflow_tracking_uri(ml_client(workspace), workspace))


VERBS: dict[str, Callable[[SubmitConfig, bool], None]] = {
    "pipeline": submit_pipeline,
    "schedule": submit_schedule,
    "schedule-status": _schedule_verb("show the status of"),
    "schedule-enable": _schedule_verb("enable"),
    "schedule-disable": _schedule_verb("disable"),
    "schedule-delete": _schedule_verb("delete"),
    "train": submit_training_job,
    "deploy": deploy,
    "tracking-uri": print_tracking_uri,
}


# What shows a cloud step's config on this machine: its command line, as the node runs it.
STEP_COMMAND = "PYTHONPATH=src python -m stockcast.orchestration.steps.train"


def refuse_hydra_flags(argv: Sequence[str]) -> None:
    """Refuse Hydra's own flags (`--cfg job`, `--info`, `-m`) in one sentence: argparse read
    `pipeline --cfg job` as the verb `job` and refused it as no verb, and swallowed the overrides
    after `-m` into "unrecognized arguments"."""
    from hydra._internal.utils import get_args_parser

    flags = {
        option
        for action in get_args_parser()._actions
        for option in action.option_strings
        if action.dest != "help"
    }
    given = [arg for arg in argv if arg.split("=", 1)[0] in flags]
    if given:
        flag = given[0].split("=", 1)[0]
        raise AzureMLConfigError(
            f"submit.py takes Hydra overrides, not Hydra's flag {flag}; drop it, and to see the "
            f"config a cloud step composes run its command here: {STEP_COMMAND} --cfg job "
            "<the same overrides but azureml.*>."
        )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="submit.py",
        description="Run the stockcast steps on Azure ML. Overrides are the same Hydra overrides "
        "local runs take (experiment=mlp_w30, data=csv ...) plus azureml.* settings.",
    )
    parser.add_argument("verb", choices=list(VERBS))
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. experiment=mlp_w30")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        default=dry_run_from_env(),
        help=f"write the YAML, send nothing (also: {DRY_RUN_ENV}=1)",
    )
    return parser.parse_intermixed_args(argv)


@user_errors_exit
def main(argv: Sequence[str] | None = None) -> None:
    refuse_hydra_flags(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    quiet_sdk_warnings()
    check_compute_overrides(args.overrides)
    sc = compose_submit_config(args.overrides)
    try:
        VERBS[args.verb](sc, args.dry_run)
    except ImportError as err:
        raise missing_sdk(err) from err
    except Exception as err:
        described = describe_azure_failure(err)
        if described is None:
            raise
        raise AzureUnavailable(f"{args.verb} failed: {described}") from None
