"""A cloud run's config checked on the laptop, as its step will check it on its node, so a
value the run would refuse fails here in one sentence rather than in a paid run (or in every day
of a schedule)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager

from omegaconf import DictConfig

from stockcast.config.compose import compose_config
from stockcast.config.schema import validate_config
from stockcast.environment import environment_set
from stockcast.orchestration.azureml.components import substitute_placeholders, system_overrides
from stockcast.orchestration.azureml.settings import (
    PRIMARY_CONFIG,
    DataBinding,
    SubmitConfig,
    node_composition,
)
from stockcast.orchestration.azureml.snapshot import check_snapshot_holds

PREFLIGHT_RUN_NAME = "preflight"
# What an Azure ML node sets that a laptop lacks (registry=azureml reads it), stood in while a
# cloud run's config is checked here.
NODE_ENVIRONMENT = {"MLFLOW_TRACKING_URI": "azureml://set-on-the-node"}


def check_cloud_overrides(
    sc: SubmitConfig,
    data: DataBinding,
    bindings: Mapping[str, str],
    config_name: str = PRIMARY_CONFIG,
    sections: Sequence[str] = (),
) -> None:
    """Compose and check `config_name` with exactly the overrides a cloud run gets,
    placeholders filled, and without the configs/local/ settings its node lacks: once as the
    steps that read the data get them, once as the others do. Then the code snapshot must hold
    its configs and model kind. `sections`: the steps' own config sections, which each checks
    on its node (hydra_task's `sections`); a step added to the table brings one the shared
    schema does not know."""
    others = data.for_step(reads_outside_world=False)
    as_on_the_node = node_composition(sc.config_dir)
    for view in (data,) if others == data else (data, others):
        extra = system_overrides(sc, PREFLIGHT_RUN_NAME, view, bindings)
        overrides = [
            *as_on_the_node,
            *sc.step_overrides,
            *(substitute_placeholders(o) for o in extra),
        ]
        cfg = compose_config(
            config_name, overrides, config_dir=sc.config_dir, what="the cloud run's overrides"
        )
        check_cloud_config(cfg, sections)
    check_snapshot_holds(sc)


def check_cloud_config(cfg: DictConfig, sections: Sequence[str] = ()) -> None:
    """The whole composed config, as the step will check it on its node, where the node's
    environment (its MLflow tracking URI) resolves what a laptop cannot."""
    with node_environment():
        validate_config(cfg, sections=sections, on_another_machine=True)


def node_environment() -> AbstractContextManager[None]:
    """The variables an Azure ML node sets, stood in for this machine's (a laptop's own value,
    empty or not, is not what the node will read), and this machine's put back after."""
    return environment_set(NODE_ENVIRONMENT)
