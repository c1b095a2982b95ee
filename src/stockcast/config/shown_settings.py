"""`--cfg hydra --resolve` printed resolved. Hydra (pinned hydra-core 1.3) drops every key but
`hydra` before it resolves, so its settings built from the task's (the run folder,
`${paths.log_dir}/...`) could not be resolved and the command failed: here they are resolved
against the whole config first, as `--cfg all --resolve` resolves them."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig, OmegaConf, read_write

# Hydra's `--cfg` choice that prints its own settings alone.
HYDRA_SETTINGS = "hydra"


def resolved_against_whole(sanitize: Any) -> Any:
    """Hydra's `get_sanitized_hydra_cfg`, with the `hydra` node resolved before the task's
    keys it reads are dropped."""

    def sanitized(src_cfg: DictConfig) -> DictConfig:
        cfg = copy.deepcopy(src_cfg)
        with read_write(cfg.hydra):
            OmegaConf.resolve(cfg.hydra)
        return sanitize(cfg)

    return staticmethod(sanitized)


@contextlib.contextmanager
def hydra_settings_resolvable() -> Iterator[None]:
    """While the command runs: `--cfg hydra --resolve` resolves Hydra's settings in the whole
    config; every other `--cfg` (and a run) is Hydra's own."""
    from hydra._internal.hydra import Hydra

    show = Hydra.show_cfg
    sanitize = Hydra.get_sanitized_hydra_cfg

    def show_cfg(
        self: Any,
        config_name: str | None,
        overrides: list[str],
        cfg_type: str,
        package: str | None,
        resolve: bool = False,
    ) -> None:
        shown = (config_name, overrides, cfg_type, package, resolve)
        if cfg_type != HYDRA_SETTINGS or not resolve:
            return show(self, *shown)
        Hydra.get_sanitized_hydra_cfg = resolved_against_whole(sanitize)
        try:
            return show(self, *shown)
        finally:
            Hydra.get_sanitized_hydra_cfg = staticmethod(sanitize)

    Hydra.show_cfg = show_cfg
    try:
        yield
    finally:
        Hydra.show_cfg = show
