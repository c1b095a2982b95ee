"""The daily JobSchedule for the pipeline, with the checks Azure's local validation skips."""

from __future__ import annotations

from datetime import datetime

from azure.ai.ml.constants import TimeZone
from azure.ai.ml.entities import (
    CronTrigger,
    JobSchedule,
    PipelineJob,
    RecurrencePattern,
    RecurrenceTrigger,
)
from omegaconf import DictConfig

from stockcast.orchestration.azureml.dry_run import ensure_valid
from stockcast.orchestration.azureml.settings import AzureMLConfigError

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
    if value is None:
        return None
    try:
        datetime.fromisoformat(str(value))
    except ValueError as err:
        raise AzureMLConfigError(
            f"azureml.schedule.start_time={value!r} is not an ISO 8601 time like 2025-01-01T06:00:00."
        ) from err
    return str(value)


def build_trigger(settings: DictConfig) -> RecurrenceTrigger | CronTrigger:
    """A daily recurrence at hour:minute, or the configured cron expression."""
    time_zone = parse_time_zone(str(settings.time_zone))
    start_time = _start_time(settings.start_time)
    if settings.cron:
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
