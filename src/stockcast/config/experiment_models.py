"""An experiment given to a command that opens a registered model (predict, serve): the
experiment is how that model was trained, so the command is told the model it registered, by
the name it registered under (`registry.model_name`), not that it composes no experiment."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from stockcast.config.hydra_compose import searching
from stockcast.paths import CONFIG_DIR

# The configs that open a registered model (model.name, model.version, model.alias).
REGISTRY_CLIENTS = ("predict", "serve")
# The config whose run registers an experiment's model under its registry.model_name.
REGISTERING_CONFIG = "pipeline"


def experiment_model_instead(
    group: str, chosen: str, config_name: str, config_dirs: Sequence[str | Path] = ()
) -> str | None:
    """One sentence for `experiment=<chosen>` given to a registry client, naming the model that
    experiment registers; None for any other group or config."""
    if group != "experiment" or config_name not in REGISTRY_CLIENTS:
        return None
    name = _registered_name(chosen, config_dirs) or "<its registry.model_name>"
    return (
        f"experiment={chosen} chooses a config the {config_name} config does not read: an "
        f"experiment says how a model is trained, and {config_name} opens the model it "
        f"registered; choose model.name={name} instead (with model.version=N or "
        "model.alias=NAME for one of its versions)."
    )


def _registered_name(chosen: str, config_dirs: Sequence[str | Path]) -> str | None:
    """The name the experiment `chosen` registers its model under; None where it cannot be
    composed (the sentence then names the setting to read)."""
    try:
        cfg = searching(config_dirs)(REGISTERING_CONFIG, [f"experiment={chosen}"], CONFIG_DIR)
        name = OmegaConf.select(cfg, "registry.model_name")
    except Exception:  # a sentence without the name, rather than another error
        return None
    return str(name) if name else None
