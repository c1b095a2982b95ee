"""What a cloud run reads of this machine: the code snapshot (the project root less
`.amlignore`), from its root, with `src/` on its path. A config folder in `hydra.searchpath` or a
model kind of one's own composes on the laptop from anywhere; on the node only what the
snapshot holds is there, and a folder is found only by its path inside it.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from stockcast.config.overrides import override_key
from stockcast.config.search_path import (
    FOLDER_SCHEME,
    SEARCHPATH_KEY,
    searchpath_entries,
    searchpath_override,
)
from stockcast.models.kind import kind_module_name
from stockcast.orchestration.azureml.settings import AzureMLConfigError, SubmitConfig

# The folder of the snapshot a cloud run puts on its path (`PYTHONPATH=src`, `python src/train.py`).
NODE_PACKAGE_FOLDER = "src"
# A config file's name in a folder, to ask `.amlignore` about the folder without walking it.
FOLDER_PROBE = "config.yaml"


def code_root(sc: SubmitConfig) -> Path:
    """The folder Azure ML uploads as the snapshot, and the cloud run's working folder."""
    return (sc.root / sc.azure.code).resolve()


def left_out(path: Path, root: Path) -> bool:
    """Whether the snapshot lacks `path`: outside `root`, or left out by its `.amlignore`."""
    from azure.ai.ml._utils._asset_utils import get_ignore_file

    if not path.resolve().is_relative_to(root):
        return True
    return bool(get_ignore_file(root).is_file_excluded(path.resolve().as_posix()))


def searched_config_folders(cfg: DictConfig) -> list[Path]:
    """The `file://` folders of the config's `hydra.searchpath`, as Hydra reads them here."""
    entries = OmegaConf.select(cfg, SEARCHPATH_KEY, default=None) or []
    return [
        Path(os.path.abspath(e.removeprefix(FOLDER_SCHEME)))
        for e in map(str, entries)
        if e.startswith(FOLDER_SCHEME)
    ]


def searchpath_overrides(cfg: DictConfig) -> tuple[str, ...]:
    """The config's `hydra.searchpath` as an override, where it has one."""
    entries = OmegaConf.select(cfg, SEARCHPATH_KEY, default=None) or []
    return (searchpath_override([str(entry) for entry in entries]),) if entries else ()


def own_kinds(cfg: DictConfig) -> list[str]:
    """The model kinds outside the package the run trains: the model's, an ensemble's
    candidates'."""
    model = cfg.get("model") or {}
    kinds = [model.get("kind"), *(c.get("kind") for c in model.get("candidates") or [])]
    return [str(kind) for kind in kinds if kind and "." in str(kind)]


def check_snapshot_holds(sc: SubmitConfig, cfg: DictConfig | None = None) -> None:
    """Refuse a run whose configs or model kind the node would not find, in one sentence."""
    cfg = sc.cfg if cfg is None else cfg
    root = code_root(sc)
    for folder in searched_config_folders(cfg):
        # A folder is left out where a config in it would be (`.amlignore` matches files).
        if left_out(folder / FOLDER_PROBE, root):
            raise AzureMLConfigError(
                f"hydra.searchpath names {folder}, which the code snapshot a cloud run reads "
                f"(the project {root} less .amlignore) does not hold; move those configs into "
                "a folder of the project that .amlignore keeps (not tests/) and name that one."
            )
    for kind in own_kinds(cfg):
        spec = importlib.util.find_spec(kind_module_name(kind))
        origin = Path(spec.origin) if spec is not None and spec.origin else None
        packages = root / NODE_PACKAGE_FOLDER
        if (
            origin is None
            or not origin.resolve().is_relative_to(packages)
            or left_out(origin, root)
        ):
            where = f"from {origin}" if origin is not None else "nowhere"
            raise AzureMLConfigError(
                f"model.kind={kind} is imported {where}, but a cloud run imports only from "
                f"{NODE_PACKAGE_FOLDER}/ of the code snapshot (the project {root} less "
                f".amlignore); move its package under {packages}."
            )


def node_overrides(overrides: Iterable[str], root: Path) -> list[str]:
    """The overrides as the node reads them: `hydra.searchpath` folders inside the snapshot
    named by their path in it, which is where the run starts."""
    return [
        _node_searchpath(o, root) if override_key(o) == SEARCHPATH_KEY else o for o in overrides
    ]


def _node_searchpath(override: str, root: Path) -> str:
    return searchpath_override(
        [_node_entry(entry, root) for entry in searchpath_entries([override])]
    )


def _node_entry(entry: str, root: Path) -> str:
    if not entry.startswith(FOLDER_SCHEME):
        return entry
    folder = Path(os.path.abspath(entry.removeprefix(FOLDER_SCHEME)))
    if not folder.resolve().is_relative_to(root):
        return entry
    return f"{FOLDER_SCHEME}{folder.resolve().relative_to(root).as_posix() or '.'}"
