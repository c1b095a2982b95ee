"""Interpolations a config cannot resolve, refused when it is checked: read only where a task
uses them, they failed as OmegaConf's traceback after the data was prepared."""

from __future__ import annotations

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

from stockcast.config.mistakes import unresolved
from stockcast.errors import ConfigError


def unresolved_error(err: InterpolationResolutionError) -> ConfigError:
    """OmegaConf's failure to resolve a value as the one sentence that names its key."""
    detail = str(err).splitlines()[0].split(": ", 1)[-1].strip('"')
    return ConfigError(unresolved(str(err.full_key), detail))


# What resolving `${hydra:...}` raises outside a running Hydra app (the compose API's config):
# the run folder it names is bound by the step that runs, so it is no mistake of the config's.
OUTSIDE_HYDRA_APP = "HydraConfig was not set"
# What `${oc.env:NAME}` and `${stockcast_env:NAME}` raise where NAME is unset.
UNSET_VARIABLE = "Environment variable '"


def refuse_unresolvable(
    node: DictConfig | ListConfig, top: bool = True, unset_variables_ok: bool = False
) -> None:
    """Refuse the first value the schema does not judge whose interpolation cannot be resolved
    (`tags=[${nope}]`, `callbacks.early_stopping.monitor=${oops}`): read only where the task
    uses it, it failed as OmegaConf's traceback after the data was prepared. Hydra's own node
    is Hydra's to resolve; with `unset_variables_ok`, an environment variable unset here is
    the other machine's to set (a cloud node's `AZUREML_RUN_ID`)."""
    keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
    for key in keys:
        if (top and key == "hydra") or OmegaConf.is_missing(node, key):
            continue  # a `???` is the schema's to refuse, or a folder a step binds
        try:
            value = node[key]
        except InterpolationResolutionError as err:
            if OUTSIDE_HYDRA_APP in str(err) or (unset_variables_ok and UNSET_VARIABLE in str(err)):
                continue
            raise unresolved_error(err) from None
        if isinstance(value, DictConfig | ListConfig):
            refuse_unresolvable(value, top=False, unset_variables_ok=unset_variables_ok)
