"""The config groups `--help` lists: those the command's config chooses from, with the options a
user may choose. Hydra's own list (`$APP_CONFIG_GROUPS`) holds every folder of configs/, so
predict's help offered train's groups (which its config refuses), and pieces other configs
include (`data: _common`, `experiment_data`) as if they were choices."""

from __future__ import annotations

# Hydra's placeholder for its own list, kept where the command's choices are not known.
HYDRA_GROUPS = "$APP_CONFIG_GROUPS"


def config_groups_help(*chosen_by_configs: str) -> str:
    """`group: option, ...` lines for the groups in the running command's defaults tree, less
    Hydra's own, those in `chosen_by_configs` (a config picks the option, not the user) and
    options named `_...` (pieces other configs include); Hydra's own list outside a command."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    if not (HydraConfig.initialized() and GlobalHydra.instance().is_initialized()):
        return HYDRA_GROUPS
    loader = GlobalHydra.instance().config_loader()
    lines = []
    for group in sorted(HydraConfig.get().runtime.choices):
        if group == "hydra" or group.startswith("hydra/") or group in chosen_by_configs:
            continue
        options = sorted(o for o in loader.get_group_options(group) if not o.startswith("_"))
        if options:  # an optional group with no config (configs/local/ not made)
            lines.append(f"{group}: {', '.join(options)}")
    return "\n".join(lines)
