"""Compose the exact overrides a cloud run will receive, so a broken one fails here, not there."""

from __future__ import annotations

from collections.abc import Mapping

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from stockcast.azureml.command_line import substitute_placeholders, system_overrides
from stockcast.azureml.data_source import DataBinding
from stockcast.azureml.errors import AzureMLConfigError
from stockcast.azureml.settings import PRIMARY_CONFIG, SubmitConfig
from stockcast.azureml.steps import STEP_SPECS

TRAIN_CONFIG = "train"


def all_step_bindings() -> dict[str, str]:
    """Every step's port bindings; they target distinct keys, so one composition covers all."""
    return {key: value for spec in STEP_SPECS.values() for key, value in spec.bindings.items()}


def check_cloud_overrides(
    sc: SubmitConfig,
    data: DataBinding,
    bindings: Mapping[str, str],
    config_name: str = PRIMARY_CONFIG,
) -> None:
    """Compose `config_name` with the user's overrides plus the executor's, placeholders filled."""
    extra = system_overrides(sc, "preflight", data, bindings)
    overrides = [*sc.step_overrides, *(substitute_placeholders(o) for o in extra)]
    try:
        with initialize_config_dir(config_dir=str(sc.root / "configs"), version_base="1.3"):
            compose(config_name, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as err:
        first_line = str(err).strip().splitlines()[0]
        raise AzureMLConfigError(f"The cloud run's overrides do not compose: {first_line}") from err
