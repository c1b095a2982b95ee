"""The step table as one Azure ML pipeline job (a node per row, wired by port names) and the
daily JobSchedule around it.

An input takes the output of the same name from the nearest earlier step (`wiring`); the data
input goes to the steps that read the outside world. Nothing here names a step.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from azure.ai.ml import Input, dsl
from azure.ai.ml.constants import TimeZone
from azure.ai.ml.entities import (
    CommandComponent,
    CronTrigger,
    JobSchedule,
    PipelineJob,
    RecurrencePattern,
    RecurrenceTrigger,
)
from omegaconf import DictConfig

from stockcast.orchestration.azureml.components import (
    build_components,
    step_bindings,
    step_compute,
)
from stockcast.orchestration.azureml.datastore import bind_folders, folder_bindings
from stockcast.orchestration.azureml.dry_run import ensure_valid
from stockcast.orchestration.azureml.preflight import check_cloud_overrides
from stockcast.orchestration.azureml.settings import (
    AzureMLConfigError,
    DataBinding,
    SubmitConfig,
    data_binding,
)
from stockcast.orchestration.steps.table import MLFLOW_MODEL, STEPS, Step, wiring

PIPELINE_NAME = "stockcast_pipeline"
PIPELINE_DESCRIPTION = (
    "Prepare, train, evaluate and register the price forecaster, then monitor the champion."
)
# The outputs a pipeline run shows (and `az ml job download` fetches): the model the run hands to
# the registry (the last model any step writes: the refit's candidate, not the evaluated one it
# replaces) and the evaluation's report.
MODEL_OUTPUT = "model"
REPORT_OUTPUT = "report"


def pipeline_parameters(data: DataBinding, steps: Sequence[Step] = STEPS) -> dict[str, Any]:
    """The pipeline's inputs: the data input of a step that reads the outside world (when the
    data is an asset)."""
    parameters: dict[str, Any] = {}
    for step in steps:
        if step.reads_outside_world and data.input_path is not None:
            for name, kind in data.inputs.items():
                parameters[name] = Input(type=kind, path=data.input_path)
    return parameters


def _wire(
    components: Mapping[str, CommandComponent],
    steps: Sequence[Step],
    parameters: Mapping[str, Any],
    data: DataBinding,
) -> dict[str, Any]:
    """Call each component on its producers' outputs (and a step that reads the outside world on
    the pipeline's data input); return the pipeline's outputs."""
    edges = wiring(steps)
    nodes: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for step in steps:
        inputs = {
            port: nodes[producer].outputs[port] for port, producer in edges[step.name].items()
        }
        if step.reads_outside_world:
            inputs |= {name: parameters[name] for name in data.inputs if name in parameters}
        node = components[step.name](**inputs)
        node.name = step.name
        nodes[step.name] = node
        for port in step.outputs:
            if port.kind == MLFLOW_MODEL:
                outputs[MODEL_OUTPUT] = node.outputs[port.name]
            elif port.name == REPORT_OUTPUT:
                outputs[REPORT_OUTPUT] = node.outputs[port.name]
    return outputs


def _pipeline_function(
    parameters: Mapping[str, Any], body: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> Callable[..., dict[str, Any]]:
    """A function whose signature declares `parameters`.

    The dsl reads a pipeline's inputs from its function's signature and annotations; here the
    table decides them, so the signature is built rather than written.
    """

    def stockcast_pipeline(**inputs: Any) -> dict[str, Any]:
        return body(inputs)

    keyword = inspect.Parameter.KEYWORD_ONLY
    stockcast_pipeline.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, keyword) for name in parameters]
    )
    stockcast_pipeline.__annotations__ = {name: type(v) for name, v in parameters.items()}
    return stockcast_pipeline


def _set_step_computes(job: PipelineJob, sc: SubmitConfig, steps: Sequence[Step]) -> None:
    """Only steps with their own cluster get one; the rest use the pipeline's default compute."""
    default = sc.azure.compute.default
    for name, node in job.jobs.items():
        compute = step_compute(sc.azure.compute, name, steps)
        if compute != default:
            node.compute = compute


def build_pipeline_job(
    sc: SubmitConfig, data: DataBinding | None = None, steps: Sequence[Step] = STEPS
) -> PipelineJob:
    """Build, wire and validate the pipeline job of `steps` for the composed config."""
    data = data or data_binding(sc)
    bindings = {key: value for step in steps for key, value in step_bindings(step, sc.cfg).items()}
    bindings |= {
        key: value for step in steps for key, value in folder_bindings(sc.azure, step).items()
    }
    check_cloud_overrides(sc, data, bindings, sections=tuple(step.name for step in steps))
    components = build_components(sc, data, steps)
    parameters = pipeline_parameters(data, steps)
    pipeline = dsl.pipeline(
        name=PIPELINE_NAME,
        display_name=PIPELINE_NAME,
        description=PIPELINE_DESCRIPTION,
        default_compute=sc.azure.compute.default,
    )(_pipeline_function(parameters, lambda inputs: _wire(components, steps, inputs, data)))
    job = pipeline(**parameters)
    _set_step_computes(job, sc, steps)
    for step in steps:  # folders that outlive the run: mounted read-write from their datastore
        bind_folders(sc.azure, step, job.jobs[step.name])
    job.experiment_name = sc.azure.experiment_name
    if not isinstance(sc.azure.force_rerun, bool):
        raise AzureMLConfigError(
            f"azureml.force_rerun={sc.azure.force_rerun!r} must be true or false."
        )
    job.settings.force_rerun = sc.azure.force_rerun
    return ensure_valid(job, "The pipeline job")


# -- the daily schedule: with the checks Azure's local validation skips ---------------------------

DAILY = "day"
# (name, lowest, highest) of the five cron fields, in order.
CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 6),
)


def parse_time_zone(name: str) -> TimeZone:
    """Accept a TimeZone value ("W. Europe Standard Time") or member name (W_EUROPE_STANDARD_TIME)."""
    for zone in TimeZone:
        if name in (zone.value, zone.name):
            return zone
    raise AzureMLConfigError(
        f"Unknown time zone {name!r} in azureml.schedule.time_zone; use a name from "
        f"azure.ai.ml.constants.TimeZone such as UTC or 'W. Europe Standard Time'."
    )


def _check_range(what: str, value: int, low: int, high: int | None = None) -> int:
    """An integer schedule setting within [low, high] (no upper bound when high is None)."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if not is_int or value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise AzureMLConfigError(f"azureml.schedule.{what}={value!r} must be an integer {bounds}.")
    return value


def _cron_field_ok(field: str, low: int, high: int) -> bool:
    """One field: `*`, `*/n`, `a`, `a-b`, `a-b/n`, or a comma list of those."""
    for part in field.split(","):
        base, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        if base == "*":
            continue
        bounds = base.split("-")
        if len(bounds) > 2 or not all(b.isdigit() and low <= int(b) <= high for b in bounds):
            return False
        if len(bounds) == 2 and int(bounds[0]) > int(bounds[1]):
            return False
    return True


def check_cron(expression: str) -> str:
    """Refuse a cron expression Azure would reject only when the schedule is created."""
    fields = expression.split()
    if not fields:
        # Read as no cron before: the daily recurrence was scheduled without a word.
        raise AzureMLConfigError(
            "azureml.schedule.cron is empty; give five fields such as '0 6 * * *', or null to "
            "run every azureml.schedule.interval days at hour:minute."
        )
    if len(fields) != len(CRON_FIELDS):
        raise AzureMLConfigError(
            f"Cron expression {expression!r} has {len(fields)} fields; Azure ML expects five "
            f"(minute hour day-of-month month day-of-week), e.g. '0 6 * * *'."
        )
    for field, (name, low, high) in zip(fields, CRON_FIELDS, strict=True):
        if not _cron_field_ok(field, low, high):
            raise AzureMLConfigError(
                f"Cron expression {expression!r} has an invalid {name} field {field!r} "
                f"(allowed: *, */n, a-b or lists of numbers {low}-{high})."
            )
    return expression


def _start_time(value: str | None) -> str | None:
    """The schedule's start as Azure ML takes it: a date and a time (a date alone, which
    Python reads and the SDK refuses after a page of traceback, starts at its midnight), in
    `azureml.schedule.time_zone` (an offset or `Z` the schedule's YAML drops is refused)."""
    if value is None:
        return None
    try:
        start = datetime.fromisoformat(str(value))
    except ValueError as err:
        raise AzureMLConfigError(
            f"azureml.schedule.start_time={value!r} is not an ISO 8601 time like 2025-01-01T06:00:00."
        ) from err
    if start.tzinfo is not None:
        raise AzureMLConfigError(
            f"azureml.schedule.start_time={value!r} has a UTC offset, which the schedule's YAML "
            "drops; give the time without one, in azureml.schedule.time_zone."
        )
    return start.isoformat()


def build_trigger(settings: DictConfig) -> RecurrenceTrigger | CronTrigger:
    """A daily recurrence at hour:minute, or the configured cron expression."""
    time_zone = parse_time_zone(str(settings.time_zone))
    start_time = _start_time(settings.start_time)
    if settings.cron is not None:
        return CronTrigger(
            expression=check_cron(str(settings.cron)), start_time=start_time, time_zone=time_zone
        )
    pattern = RecurrencePattern(
        hours=[_check_range("hour", settings.hour, 0, 23)],
        minutes=[_check_range("minute", settings.minute, 0, 59)],
    )
    return RecurrenceTrigger(
        frequency=DAILY,
        interval=_check_range("interval", settings.interval, 1),
        schedule=pattern,
        start_time=start_time,
        time_zone=time_zone,
    )


def build_schedule(settings: DictConfig, pipeline_job: PipelineJob) -> JobSchedule:
    """The schedule that creates the pipeline job on each trigger."""
    schedule = JobSchedule(
        name=settings.name,
        description=settings.description,
        trigger=build_trigger(settings),
        create_job=pipeline_job,
    )
    return ensure_valid(schedule, f"The schedule {settings.name!r}")
