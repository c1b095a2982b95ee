"""What a cloud run trains on: a series seeded by the run's date, or a CSV from Azure ML."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from omegaconf import OmegaConf

from stockcast.azureml.errors import AzureMLConfigError
from stockcast.azureml.settings import SubmitConfig, override_key

RAW_DATA_INPUT = "raw_data"
CSV_DATA_CONFIG = "csv"
SOURCES = ("synthetic", "asset")


@dataclass(frozen=True)
class DataBinding:
    """Overrides that point the data config at today's data, plus the input they read, if any.

    `overrides` are emitted unquoted: they hold a `$(date ...)` substitution or an Azure ML
    `${{inputs.*}}` binding that must reach the shell as written.
    """

    overrides: tuple[str, ...]
    inputs: dict[str, str] = field(default_factory=dict)
    input_path: str | None = None


def seed_date_command(date_format: str) -> str:
    """The shell substitution that yields today's UTC date as an integer seed."""
    stamp = date(2000, 12, 31).strftime(date_format)
    if not stamp.isdigit():
        raise AzureMLConfigError(
            f"azureml.data.seed_date_format={date_format!r} must produce digits only "
            f"(it gave {stamp!r}); use e.g. %Y%m%d."
        )
    return f"$(date -u +{date_format})"


def data_binding(sc: SubmitConfig) -> DataBinding:
    """Choose how each run gets new data, refusing data configs that cannot honour the choice."""
    settings = sc.azure.data
    if settings.source == "synthetic":
        if OmegaConf.select(sc.cfg, "data.seed", default=None) is None:
            raise AzureMLConfigError(
                f"azureml.data.source=synthetic reseeds the data config each day, but "
                f"data={sc.data_choice} has no data.seed; pick a synthetic source (data=gbm) "
                f"or set azureml.data.source=asset."
            )
        return DataBinding(overrides=(f"data.seed={seed_date_command(settings.seed_date_format)}",))
    if settings.source == "asset":
        asked = [o.split("=", 1)[1] for o in sc.step_overrides if override_key(o) == "data"]
        if asked and asked[-1] != CSV_DATA_CONFIG:
            raise AzureMLConfigError(
                f"azureml.data.source=asset feeds a CSV file to the steps, but data={asked[-1]} "
                f"was asked for; use data=csv or azureml.data.source=synthetic."
            )
        select_csv = () if sc.data_choice == CSV_DATA_CONFIG else (f"data={CSV_DATA_CONFIG}",)
        return DataBinding(
            overrides=(*select_csv, f"data.path=${{{{inputs.{RAW_DATA_INPUT}}}}}"),
            inputs={RAW_DATA_INPUT: settings.asset.type},
            input_path=settings.asset.path,
        )
    raise AzureMLConfigError(
        f"azureml.data.source={settings.source!r} is not one of {', '.join(SOURCES)}."
    )


def has_pinned_label(path: str) -> bool:
    """Whether an asset path names a label (`@latest`) that Azure resolves once, at creation."""
    return path.startswith("azureml:") and "@" in path


def check_schedulable(data: DataBinding) -> None:
    """Refuse a schedule whose daily runs would all read the version resolved at creation."""
    if data.input_path and has_pinned_label(data.input_path):
        raise AzureMLConfigError(
            f"azureml.data.asset.path={data.input_path} is resolved once, when the schedule is "
            f"created, so every daily run would train on that same version; point it at a "
            f"datastore file that each upload replaces (azureml://datastores/<store>/paths/"
            f"<file>.csv) or use azureml.data.source=synthetic."
        )
