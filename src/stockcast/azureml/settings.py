"""Compose the Azure ML settings together with the same step config tree local runs use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from stockcast.azureml.errors import AzureMLConfigError
from stockcast.config import CONFIG_DIR, PROJECT_ROOT

PRIMARY_CONFIG = "pipeline"
AZUREML_GROUP_OVERRIDE = "+azureml=default"


@dataclass(frozen=True)
class SubmitConfig:
    """The composed config plus the user's step overrides, which the cloud command lines repeat."""

    cfg: DictConfig
    step_overrides: tuple[str, ...]
    root: Path = PROJECT_ROOT

    @property
    def azure(self) -> DictConfig:
        return self.cfg.azureml

    @property
    def data_choice(self) -> str | None:
        """The data config the steps will use (`gbm`, `csv`, ...), after experiments apply."""
        return OmegaConf.select(self.cfg, "hydra.runtime.choices.data")


def override_key(override: str) -> str:
    """The config key (or group) an override sets: `+model.x=1` -> `model.x`, `data=csv` -> `data`."""
    return override.split("=", 1)[0].lstrip("+~")


def is_azure_override(override: str) -> bool:
    """Whether an override configures the executor rather than the steps."""
    key = override_key(override)
    return key == "azureml" or key.startswith(("azureml.", "azureml/"))


def compose_submit_config(
    overrides: Sequence[str] = (), config_dir: Path = CONFIG_DIR
) -> SubmitConfig:
    """Compose pipeline.yaml + the azureml group with the user's overrides, as a local run would.

    Composing (rather than forwarding overrides blindly) catches a misspelt experiment or key on
    the laptop instead of in a paid cloud run.
    """
    overrides = list(overrides)
    step_overrides = tuple(o for o in overrides if not is_azure_override(o))
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            cfg = compose(
                PRIMARY_CONFIG,
                overrides=[AZUREML_GROUP_OVERRIDE, *overrides],
                return_hydra_config=True,
            )
    except (HydraException, OmegaConfBaseException) as err:
        first_line = str(err).strip().splitlines()[0]
        raise AzureMLConfigError(
            f"Cannot compose the config from {overrides}: {first_line}"
        ) from err
    return SubmitConfig(cfg=cfg, step_overrides=step_overrides, root=config_dir.parent)


def plain(node: DictConfig | None) -> dict:
    """A resolved plain dict of a config node (empty for None)."""
    if node is None:
        return {}
    return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]
